"""Fixtures of the formats tests: the shared samples tree and the golden-file switch.

Samples are never copied into the project: they live in ``../shared/samples`` beside
the checkout (or ``$ARBRIDGE_SAMPLES``). Regenerate goldens with
``pytest tests/formats --update-golden`` (or ``ARBRIDGE_UPDATE_GOLDEN=1``), then review
the diff by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN_DIR = REPO / "tests" / "golden" / "camt"


def samples_root() -> Path:
    override = os.environ.get("ARBRIDGE_SAMPLES")
    base = Path(override) if override else REPO / ".." / "shared" / "samples"
    return (base / "iso20022").resolve()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/camt/*.json from the current parser output (review the diff!)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    flag = bool(request.config.getoption("--update-golden"))
    return flag or os.environ.get("ARBRIDGE_UPDATE_GOLDEN") == "1"


@pytest.fixture
def iso_samples() -> Path:
    root = samples_root()
    if not root.is_dir():
        pytest.skip(f"ISO 20022 samples not found at {root} (set ARBRIDGE_SAMPLES)")
    return root
