"""The examples in the package's docstrings run and print what they say (so they do not
rot when an API or a default changes: two had, found when ``wiener_path`` was added)."""

import doctest
import importlib
import pkgutil

import pytest

import xraydeblur

MODULES = sorted(m.name for m in pkgutil.walk_packages(xraydeblur.__path__, "xraydeblur.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed (python -m pytest --doctest-modules {module.__file__})"
