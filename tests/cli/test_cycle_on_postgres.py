"""The command line on PostgreSQL: the demo's whole receivables cycle against a real cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from importlib import resources
from pathlib import Path

import pytest

from gateway.demo import DEMO_PAYMENTS, statement_xml

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"


@pytest.mark.postgres
def test_whole_cycle_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    config = tmp_path / "config"
    shutil.copytree(EXAMPLE, config)
    data = tmp_path / "data"
    data.mkdir()
    for name in ("customers.csv", "transactions.csv"):
        (data / name).write_text((resources.files("gateway") / "demo_data" / name).read_text())
    statement = data / "statement.xml"
    statement.write_text(
        statement_xml(booking_date=date(2026, 11, 20), payments=DEMO_PAYMENTS, statement_id="PG-1")
    )
    env = {k: v for k, v in os.environ.items() if k != "ARBRIDGE_CONFIG"}

    def arbridge(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "--config", str(config), "--db", postgres_url, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, f"arbridge {' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done

    arbridge("db", "upgrade")
    arbridge("customers", "import", str(data / "customers.csv"))
    arbridge("transactions", "import", str(data / "transactions.csv"))
    [result] = json.loads(arbridge("ingest", str(statement), "--json").stdout)
    assert (result["state"], result["receipts_created"]) == ("processed", len(DEMO_PAYMENTS))
    applications = json.loads(arbridge("report", "applications", "--json").stdout)
    assert {a["trx_number"] for a in applications} >= {"INV-000001", "INV-000002", "INV-000003"}
    assert all({"receipt", "trx_number", "amount", "rule", "evidence"} <= set(a) for a in applications)
    arbridge("report", "aging", "--json")
    reconcile = json.loads(arbridge("report", "reconcile", "--json").stdout)
    assert reconcile, reconcile
    arbridge("gl", "export", "--period", "2026-11")
    checks = json.loads(arbridge("check", "--json").stdout)
    assert checks["ok"] is True
    assert len(checks["checks"]) >= 9 and all(c["ok"] for c in checks["checks"])
