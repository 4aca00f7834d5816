"""The examples in the analytics docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import patron.analytics

MODULES = [
    f"patron.analytics.{info.name}"
    for info in pkgutil.iter_modules(patron.analytics.__path__)
    if not info.name.startswith("_")
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_library_imports_nothing_else_from_patron():
    import ast
    from pathlib import Path

    for path in Path(patron.analytics.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("patron"):
                assert node.module.startswith("patron.analytics"), f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("patron") or alias.name.startswith("patron.analytics")
