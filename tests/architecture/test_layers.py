"""Imports point one way (DESIGN.md): gateway -> (formats, ar, config); ar -> config; formats -> schemas.

Walks every module's imports (including those inside functions) and fails on a forbidden one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {"gateway", "formats", "ar", "config", "schemas"}
# Third-party packages each pure layer may use; everything else must be stdlib.
FORMATS_THIRD_PARTY = {"lxml", "stdnum"}

FORBIDDEN = {
    "formats": {"ar", "gateway", "config"},
    "ar": {"formats", "gateway"},
    "config": {"ar", "formats", "gateway"},
    "schemas": {"ar", "formats", "gateway", "config"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_forbidden_imports(package: str) -> None:
    violations = [
        f"{path.relative_to(ROOT)}:{line}: imports {name}"
        for path in _modules(package)
        for line, name in _imports(path)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert not violations, "\n".join(violations)


def test_formats_is_pure() -> None:
    """formats/ uses only the standard library, lxml and stdnum: no database, network or config."""
    stdlib = set(sys.stdlib_module_names)
    allowed = stdlib | FORMATS_THIRD_PARTY | {"formats", "schemas"}
    network = {"socket", "http", "urllib", "ftplib", "smtplib", "sqlite3", "subprocess"}
    violations = [
        f"{path.relative_to(ROOT)}:{line}: imports {name}"
        for path in _modules("formats")
        for line, name in _imports(path)
        if name.split(".")[0] not in allowed or name.split(".")[0] in network
    ]
    assert not violations, "\n".join(violations)


def test_the_walker_sees_imports(tmp_path: Path) -> None:
    """The check must be able to fail: a forbidden import in a sample file is found."""
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from gateway.db import make_engine\n")
    assert _imports(sample) == [(2, "gateway.db")]
