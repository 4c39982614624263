"""The module docstrings of formats are tests too (STYLE.md: the docstring is the first test)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "formats.errors",
    "formats.amount",
    "formats.registry",
    "formats.camt.profiles",
    "formats.camt.leaves",
    "formats.camt.fingerprint",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no doctest"
    assert result.failed == 0
