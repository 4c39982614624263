"""The command-line contract for inbound files: output shapes and exit codes (0 ok, 1 rejected, 2 usage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from gateway.demo import DEMO_PAYMENTS, statement_xml

ARBRIDGE = [sys.executable, "-m", "gateway.cli"]
DOC = b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'


def arbridge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARBRIDGE_CONFIG"}
    return subprocess.run([*ARBRIDGE, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


@pytest.fixture
def statement(tmp_path: Path) -> Path:
    path = tmp_path / "statement.xml"
    path.write_text(
        statement_xml(booking_date=date(2026, 11, 20), payments=DEMO_PAYMENTS, statement_id="S-9")
    )
    return path


def test_parse_json_has_the_design_shape(statement: Path, tmp_path: Path) -> None:
    done = arbridge("parse", str(statement), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["format"] == "camt.053.001.02"
    stmt = data["statements"][0]
    assert {"id", "kind", "account_iban", "currency", "opening_balance", "closing_balance", "entries"} <= set(
        stmt
    )
    entry = stmt["entries"][0]
    assert {
        "amount",
        "currency",
        "credit_debit",
        "reversal",
        "status",
        "booking_date",
        "value_date",
        "entry_ref",
        "bank_tx_code",
        "transactions",
    } <= set(entry)
    assert (entry["amount"], entry["credit_debit"], entry["bank_tx_code"]) == (
        "1190.00",
        "CRDT",
        "PMNT/RCDT/ESCT",
    )
    tx = entry["transactions"][0]
    assert {
        "amount",
        "end_to_end_id",
        "debtor_name",
        "debtor_iban",
        "remittance_unstructured",
        "creditor_references",
    } <= set(tx)
    assert tx["remittance_unstructured"] == ["Invoice INV-000001"]


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", 1, "unknown format"),
        (
            b'<?xml version="1.0"?>' + DOC + b"<BkToCstmrStmt>",
            1,
            "refused",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            + DOC
            + b"<BkToCstmrStmt>&x;</BkToCstmrStmt></Document>",
            1,
            "DOCTYPE",
        ),
    ],
)
def test_parse_refuses_bad_input_with_status_1(
    tmp_path: Path, content: bytes, status: int, message: str
) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(content)
    done = arbridge("parse", str(bad), cwd=tmp_path)
    assert done.returncode == status
    assert "bad.xml" in done.stderr and message in done.stderr
    assert "Traceback" not in done.stderr


def test_validate_lists_problems_with_line(statement: Path, tmp_path: Path) -> None:
    assert arbridge("validate", str(statement), cwd=tmp_path).returncode == 0
    broken = tmp_path / "broken.xml"
    broken.write_text(
        statement.read_text().replace("<CdtDbtInd>CRDT</CdtDbtInd><Sts>", "<CdtDbtInd>XX</CdtDbtInd><Sts>")
    )
    done = arbridge("validate", str(broken), cwd=tmp_path)
    assert done.returncode == 1
    assert "broken.xml:" in done.stdout and "CdtDbtInd" in done.stdout


def test_validate_checks_a_large_file_streaming(tmp_path: Path) -> None:
    """Over 16 MB no tree is built: every problem still comes, with its line."""
    from tests.formats.test_validate_streaming import VALID

    entry = VALID[VALID.index("<Ntry>") : VALID.index("</Stmt>")]
    entries = entry * 35_000 + entry.replace("BOOK", "BOKK") + entry * 35_000
    big = tmp_path / "big.xml"
    big.write_text(VALID.replace("</Stmt>", entries + "</Stmt>").replace("<Ntry>", "\n<Ntry>"))
    assert big.stat().st_size > 16 * 1024 * 1024
    done = arbridge("validate", "--json", str(big), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    [problem] = report["problems"]
    assert problem["code"] == "XSD-E001" and "Sts" in problem["message"]
    from formats import validate as validation

    if validation.IN_C:
        assert problem["line"] == 35_003  # the document's own entry on line 2, then 35,000 good ones


def test_init_check_ingest_and_exit_codes(statement: Path, tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    assert arbridge("init", str(config), cwd=tmp_path).returncode == 0
    assert arbridge("--config", str(config), "config", "check", cwd=tmp_path).returncode == 0
    done = arbridge("--config", str(config), "ingest", str(statement), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    assert (result["state"], result["receipts_created"]) == ("processed", len(DEMO_PAYMENTS))
    again = json.loads(
        arbridge("--config", str(config), "ingest", str(statement), "--json", cwd=tmp_path).stdout
    )
    assert again[0]["state"] == "duplicate"
    bank = config / "banks" / "demo-bank.yaml"
    bank.write_text(bank.read_text().replace("currency: EUR", "currency: EURO"))
    broken = arbridge("--config", str(config), "config", "check", cwd=tmp_path)
    assert broken.returncode == 2
    assert "banks/demo-bank.yaml:" in broken.stderr and "accounts[0].currency" in broken.stderr
    assert arbridge("ingest", str(statement), cwd=tmp_path).returncode == 2  # no configuration
