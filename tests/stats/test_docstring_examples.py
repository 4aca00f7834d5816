"""Every example in the patron.stats docstrings runs and prints what it says."""

import doctest
import importlib
import pkgutil

import pytest

import patron.stats

MODULES = [m.name for m in pkgutil.iter_modules(patron.stats.__path__, "patron.stats.")]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
