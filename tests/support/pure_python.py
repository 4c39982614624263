"""A pytest plugin (``-p tests.support.pure_python``) and import hook that load the compiled
hot modules (gateway/compiled.py) from their Python sources, so one interpreter can run the
sources while the tests' own runs the extensions, and the two can be compared."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

import pytest

from gateway import compiled


class _Sources(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in compiled.MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, compiled.source_of(fullname))


def install() -> None:
    """Load the hot modules from source from now on (none may have been imported before)."""
    early = [m for m in compiled.MODULES if m in sys.modules]
    if early:
        raise RuntimeError(f"imported before the import hook was installed: {', '.join(early)}")
    if not any(isinstance(f, _Sources) for f in sys.meta_path):
        sys.meta_path.insert(0, _Sources())


install()


def pytest_sessionstart(session: pytest.Session) -> None:
    if compiled.loaded_compiled():
        pytest.exit(f"pure Python was asked for, but compiled: {compiled.loaded_compiled()}", returncode=4)
