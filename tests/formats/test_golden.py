"""Golden files: every camt.052/053/054 sample parses and its JSON equals tests/golden/camt/<path>.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from formats import camt
from formats.errors import FormatError
from tests.formats.conftest import GOLDEN_DIR, samples_root


def _camt_samples() -> list[str]:
    root = samples_root()
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in ("", ".xml"):
            with path.open("rb") as f:
                if camt.identify(f.read(4096)):
                    found.append(path.relative_to(root).as_posix())
    return found


SAMPLES = _camt_samples()


def render(path: Path, relative: str) -> dict[str, Any]:
    """The parse result as JSON: the document, or the expected error of a refused file."""
    try:
        with path.open("rb") as f:
            document = camt.parse_document(f, source=relative)
    except FormatError as exc:
        return {
            "error": type(exc).__name__,
            "problems": [
                {
                    "code": p.code,
                    "severity": p.severity.value,
                    "line": p.line,
                    "path": p.path,
                    "message": p.message,
                }
                for p in exc.problems
            ],
        }
    return camt.document_to_json(document)


def test_samples_are_found(iso_samples: Path) -> None:
    assert len(SAMPLES) >= 30, SAMPLES


@pytest.mark.parametrize("relative", SAMPLES or ["<no samples>"])
def test_golden(relative: str, iso_samples: Path, update_golden: bool) -> None:
    actual = render(iso_samples / relative, relative)
    golden = GOLDEN_DIR / f"{relative}.json"
    text = json.dumps(actual, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    if update_golden:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    if not golden.exists():
        pytest.fail(f"no golden file {golden}; run pytest --update-golden and review it")
    assert json.loads(golden.read_text(encoding="utf-8")) == json.loads(text)


def test_no_orphan_goldens(iso_samples: Path) -> None:
    expected = {f"{relative}.json" for relative in SAMPLES}
    present = {p.relative_to(GOLDEN_DIR).as_posix() for p in GOLDEN_DIR.rglob("*.json")}
    assert present <= expected, sorted(present - expected)
