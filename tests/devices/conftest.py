"""Fixtures of the device suite."""

from __future__ import annotations

import pytest

from tests.devices.support import Api, without_processors


@pytest.fixture
def settings(settings):
    return without_processors(settings)


@pytest.fixture
def api(client, tenant) -> Api:
    return Api(client, tenant)


@pytest.fixture
def other_api(client, other_tenant) -> Api:
    return Api(client, other_tenant)
