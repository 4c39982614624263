"""The receivables commands end to end, in-process (CliRunner) on a copy of config/example:
customers and transactions import (with refusals), reports, GL export exactly once,
period close with its tie-out, posting into the closed period refused, `arbridge check`."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gateway.cli.main import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"

CUSTOMERS = """customer_number,name,class,profile,parent_number,iban,mandate_id,mandate_signed,country
C002,Child GmbH,trade,,C001,DE89 3704 0044 0532 0130 00,,,DE
C001,Parent AG,trade,key_accounts,,DE44500105175407324931,M-001,2026-01-15,DE
C003,Retail Ltd,retail,retail,,,,,GB
"""
BAD_CUSTOMERS = """customer_number,name,class,iban,email
X1,Bad,trade,DE89370400440532013001,
X2,,trade,,nobody
"""
HEADER = (
    "source_ref,customer_number,trx_number,trx_type,order_number,trx_date,description,"
    "quantity,unit_price,currency,tax_rate,credited_trx"
)
LINES = (
    HEADER
    + """
L1,C001,,,O-1,2026-11-03,Widget,3,0.125,EUR,19,
L2,C001,,,O-1,2026-11-04,Gadget,2,100,EUR,19,
L3,C002,,,O-2,2026-11-05,Service,1,500,EUR,19,
L4,C003,,,O-3,2026-11-05,Goods,1,100.01,EUR,0,
L5,C002,,,,2026-11-06,Return,-1,50,EUR,19,
"""
)


class Arbridge:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.runner = CliRunner()

    def __call__(self, *args: str, expect: int = 0) -> Result:
        result = self.runner.invoke(cli, ["--config", str(self.config), *args], catch_exceptions=False)
        assert result.exit_code == expect, result.output + result.stderr
        return result

    def json(self, *args: str, expect: int = 0) -> Any:
        return json.loads(self(*args, "--json", expect=expect).stdout)


@pytest.fixture
def arbridge(tmp_path: Path) -> Arbridge:
    config = tmp_path / "config"
    shutil.copytree(EXAMPLE, config, ignore=shutil.ignore_patterns("spool"))
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "bad.csv").write_text(BAD_CUSTOMERS)
    (tmp_path / "lines.csv").write_text(LINES)
    return Arbridge(config)


def test_customers_import_refuses_a_bad_file_then_imports_and_updates(
    arbridge: Arbridge, tmp_path: Path
) -> None:
    refused = arbridge("customers", "import", str(tmp_path / "bad.csv"), expect=1)
    assert refused.stderr.splitlines()[:3] == [
        "bad.csv:2: iban: invalid IBAN checksum",
        "bad.csv:3: name: required",
        "bad.csv:3: email: not an email address",
    ]
    assert arbridge.json("customers", "import", str(tmp_path / "customers.csv")) == {
        "imported": True,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "problems": [],
    }
    (tmp_path / "customers.csv").write_text(CUSTOMERS.replace("Retail Ltd", "Retail Limited"))
    assert arbridge.json("customers", "import", str(tmp_path / "customers.csv"))["updated"] == 1
    partial = arbridge.json("customers", "import", "--skip-invalid", str(tmp_path / "bad.csv"), expect=1)
    assert (partial["created"], len(partial["problems"])) == (0, 3)


def test_cycle_import_report_export_close(arbridge: Arbridge, tmp_path: Path) -> None:
    arbridge("customers", "import", str(tmp_path / "customers.csv"))
    imported = arbridge.json("transactions", "import", str(tmp_path / "lines.csv"))
    assert imported["transactions"] == {"INV": 3, "CM": 1}
    assert imported["numbers"] == {"INV": ["INV-000001", "INV-000003"], "CM": ["CM-000001", "CM-000001"]}
    again = arbridge.json("transactions", "import", str(tmp_path / "lines.csv"), expect=1)
    assert not again["imported"] and len(again["problems"]) == 5
    assert again["problems"][0]["message"] == "L1 is already imported"

    aging = arbridge.json("report", "aging", "--as-of", "2026-12-31")
    assert aging["buckets"] == ["current", "1-30", "31-60", "61-90", "91+"]
    assert aging["totals"] == {"EUR": "873.96"}
    c002 = next(r for r in aging["rows"] if r["customer"] == "C002")
    assert (c002["1-30"], c002["31-60"], c002["total"]) == ("595.00", "-59.50", "535.50")
    statement = arbridge.json("report", "statement", "C001", "--as-of", "2026-11-30")
    assert [(i["trx_number"], i["due_date"], i["remaining"]) for i in statement["items"]] == [
        ("INV-000001", "2026-12-04", "238.45")
    ]
    reconcile = arbridge.json("report", "reconcile")
    assert reconcile["ok"] and reconcile["rows"] == [
        {"currency": "EUR", "open_items": "873.96", "gl_receivables": "873.96", "difference": "0.00"}
    ]
    trial = {r["account"]: r["balance"] for r in arbridge.json("report", "trial-balance")["rows"]}
    assert trial == {"1200": "873.96", "2300": "-123.57", "4000": "-750.39"}

    exported = arbridge.json("gl", "export", "--period", "2026-11")
    assert (exported["journals"], exported["lines"]) == (4, 11)
    with Path(exported["file"]).open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 11 and rows[0]["account"] == "1200" and rows[0]["debit"] == "238.45"
    assert arbridge.json("gl", "export", "--period", "2026-11")["file"] is None  # exactly once

    closed = arbridge.json("period", "close", "2026-11")
    assert closed["closed"] and closed["tie_out"][0]["difference"] == "0.00"
    late = tmp_path / "late.csv"
    late.write_text(LINES.splitlines()[0] + "\nL9,C001,,,O-9,2026-11-20,Late,1,10,EUR,19,\n")
    refused = arbridge("transactions", "import", str(late), expect=1)
    assert "late.csv:2: trx_date: period 2026-11 is closed" in refused.stderr
    periods = arbridge.json("period", "list")
    assert [(p["period"], p["state"], p["journals"]) for p in periods] == [("2026-11", "closed", 4)]
    checks = arbridge.json("check")
    assert checks["ok"] and {"journals_balance", "open_items_equal_receivables"} <= {
        c["name"] for c in checks["checks"]
    }


def test_json_lines_input_and_check_finds_tampering(arbridge: Arbridge, tmp_path: Path) -> None:
    arbridge("customers", "import", str(tmp_path / "customers.csv"))
    lines = tmp_path / "lines.jsonl"
    lines.write_text(
        json.dumps({"source_ref": "J1", "customer_number": "C003", "trx_date": "2026-11-02", "quantity": 2})[
            :-1
        ]
        + ', "unit_price": 9.95}\n'
        "not json\n"
    )
    refused = arbridge("transactions", "import", str(lines), expect=1)
    assert "lines.jsonl:2: not JSON" in refused.stderr
    lines.write_text(lines.read_text().splitlines()[0] + "\n")
    assert arbridge.json("transactions", "import", str(lines))["transactions"] == {"INV": 1}
    # an open item changed behind the ledger's back: the invariants say so
    import sqlite3

    database = arbridge.config / "spool" / "arbridge.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE payment_schedules SET amount_due_remaining_minor = 1")
    result = arbridge.json("check", expect=1)
    failed = {c["name"]: c["violations"] for c in result["checks"] if not c["ok"]}
    assert "open_items_equal_receivables" in failed
    assert failed["open_items_match_their_ledger_lines"][0]["ids"] == [1]
