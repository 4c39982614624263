"""The hot modules compiled by mypyc (gateway/compiled.py, ADR 4) against their Python sources.

The tests run on the extensions (``make`` builds them). Here the sources run too, in a
second interpreter that loads them instead (tests/support/pure_python.py): the matching
tests must pass on both, and a match run must leave the same books on both. Records and
the engine must survive pickling on both (the planner process gets them through a pipe).
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from ar.applications import Setup
from ar.cashapp.run import CashApplication, run_batches
from ar.matching import model
from ar.matching.engine import MatchingEngine
from ar.matching.rules import RuleSet
from gateway import compiled
from tests.ar.cashapp.conftest import DEFAULT_RULES
from tests.ar.cashapp.test_pipeline import _books, _dispose, _ledger, _summary, fixed_now
from tests.ar.matching.helpers import ACME, IBAN_ACME, TODAY, item, ledger, receipt
from tests.support.components import component_missing

ROOT = Path(__file__).resolve().parents[3]


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that loads the hot modules from their sources."""
    prelude = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import tests.support.pure_python\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_hot_modules_run_compiled_from_the_sources_beside_them() -> None:
    missing = compiled.not_built()
    if missing:
        component_missing(
            f"not compiled: {', '.join(missing)} (`make` runs scripts/compile_modules.py; it needs gcc)"
        )
    assert compiled.loaded_compiled() == list(compiled.MODULES)
    assert compiled.stale() == []
    assert compiled.describe().startswith("compiled (mypyc)")


def test_a_process_started_elsewhere_runs_the_compiled_modules(tmp_path: Path) -> None:
    """The CLI and the planner are started from any folder: the extensions (and mypyc's shared
    library, inside the ``ar`` package) must be found from there, as the sources are."""
    if compiled.not_built():
        component_missing("not compiled (`make` runs scripts/compile_modules.py; it needs gcc)")
    code = (
        "import pathlib, gateway; print(pathlib.Path(gateway.__file__).resolve().parents[1], flush=True)\n"
        "from gateway import compiled; print(compiled.describe())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    root, *rest = result.stdout.splitlines() or [""]
    if root and Path(root) != ROOT:  # this interpreter's install points at another checkout
        pytest.skip(f"{sys.executable} imports arbridge from {root}, not from this checkout")
    assert result.returncode == 0, result.stderr[-3000:]
    assert rest and rest[0].startswith("compiled (mypyc)"), rest


def test_an_extension_is_stale_when_its_source_changed_since_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if compiled.not_built():
        component_missing("not compiled (`make` runs scripts/compile_modules.py; it needs gcc)")
    recorded = compiled.built_from()
    manifest = tmp_path / "sources.json"
    monkeypatch.setattr(compiled, "MANIFEST", manifest)
    assert compiled.stale() == list(compiled.MODULES)  # no manifest: nothing is known current
    manifest.write_text(json.dumps(recorded | {"ar.matching.engine": "0" * 64}), encoding="utf-8")
    assert compiled.stale() == ["ar.matching.engine"]
    manifest.write_text(json.dumps(recorded), encoding="utf-8")
    assert compiled.stale() == []
    # an extension of a module no longer in the list still shadows its source
    monkeypatch.setattr(compiled, "MODULES", tuple(m for m in compiled.MODULES if m != "ar.matching.scoring"))
    assert compiled.strays() == ["ar.matching.scoring"]
    assert compiled.stale() == ["ar.matching.scoring"]


def test_records_and_the_engine_survive_pickling_and_copying() -> None:
    """Compiled frozen records cannot be pickled field by field; each says how it is rebuilt."""
    open_item = item("INV-1", "100.00", due=TODAY)
    credit = receipt("100.00", iban=IBAN_ACME, ustrd=("INV-1",))
    records = [
        ACME,
        open_item,
        credit,
        model.DiscountTier(10, Decimal("2")),
        model.ProposedApplication("1", "INV-1", Decimal("100.00")),
    ]
    for record in records:
        assert pickle.loads(pickle.dumps(record)) == record
        assert copy.deepcopy(record) == record == copy.copy(record)
    engine = MatchingEngine([RuleSet.from_mapping(DEFAULT_RULES)])
    view = ledger(open_item)
    decision = engine.decide(credit, view)
    assert decision.outcome is model.Outcome.APPLIED
    again = pickle.loads(pickle.dumps(engine)).decide(credit, view)
    assert again == decision
    assert pickle.loads(pickle.dumps(decision)) == decision


def test_the_matching_tests_pass_on_the_sources() -> None:
    if compiled.not_built():
        pytest.skip("the hot modules are not compiled: the tests already run on the sources")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.support.pure_python",
            "-p",
            "no:cacheprovider",
            "-q",
            "-m",
            "not postgres",
            "tests/ar/matching",
            "tests/ar/cashapp/test_view.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=os.environ | {"PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout


_PURE_RUN = """
import json
from ar.applications import Setup
from ar.cashapp.run import CashApplication, run_batches
from ar.matching.engine import MatchingEngine
from ar.matching.rules import RuleSet
from config.approvals import Approvals
from config.loader import load_file
from gateway import compiled
from gateway.db import make_engine, session_factory
from tests.ar.cashapp.conftest import DEFAULT_RULES, EXAMPLE_APPROVALS
from tests.ar.cashapp.test_pipeline import fixed_now
from tests.ar.factories import ar_config

assert compiled.loaded_compiled() == [], compiled.loaded_compiled()
url, batch_size = sys.argv[1], int(sys.argv[2])
setup = Setup(ar=ar_config(), approvals=load_file(Approvals, EXAMPLE_APPROVALS))
cashapp = CashApplication(MatchingEngine([RuleSet.from_mapping(DEFAULT_RULES)]), setup)
engine = make_engine(url)
summary = run_batches(session_factory(engine), cashapp, now=fixed_now, batch_size=batch_size)
engine.dispose()
print(json.dumps(summary.as_dict() | {"timing": None}, default=str))
"""


@pytest.mark.parametrize(("seed", "batch_size"), [(1, 4), (3, 7)])
def test_a_run_on_the_sources_leaves_the_books_of_the_compiled_run(
    tmp_path: Path, setup: Setup, cashapp: CashApplication, seed: int, batch_size: int
) -> None:
    if compiled.not_built():
        pytest.skip("the hot modules are not compiled: there is one build to run")
    urls = f"sqlite:///{tmp_path / 'compiled.sqlite'}", f"sqlite:///{tmp_path / 'sources.sqlite'}"
    try:
        on_extensions, on_sources = (_ledger(url, setup, seed) for url in urls)
        expected = run_batches(on_extensions, cashapp, now=fixed_now, batch_size=batch_size)
        result = _python(_PURE_RUN, urls[1], str(batch_size))
        assert result.returncode == 0, result.stderr[-4000:]
        assert expected.receipts >= 50 and expected.applications >= 20
        assert json.loads(result.stdout.splitlines()[-1]) == json.loads(
            json.dumps(_summary(expected), default=str)
        )
        before, after = _books(on_extensions, setup), _books(on_sources, setup)
        for part in before:
            assert after[part] == before[part], part
    finally:
        _dispose()
