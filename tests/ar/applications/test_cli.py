"""The receipts, disputes and adjustments commands, driven through click on a temp configuration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ar.applications import check_receipt_amounts, check_receipts_accounted_for
from config.ar import ArConfig
from gateway.cli.main import cli
from gateway.db import make_engine, session_factory, upgrade
from tests.ar.factories import Factory

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "example"


@pytest.fixture
def env(tmp_path: Path) -> tuple[Path, str]:
    config = tmp_path / "config"
    shutil.copytree(EXAMPLE, config)
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as session, session.begin():
        make = Factory(session, config=ArConfig())
        customer = make.customer(number="C100")
        make.invoice(customer, "100.00", number="INV-1")
        make.invoice(customer, "2000.00", number="INV-2")
    engine.dispose()
    return config, url


def run(env: tuple[Path, str], *args: str, user: str = "alice") -> Result:
    config, url = env
    return CliRunner().invoke(
        cli,
        ["--config", str(config), "--db", url, *args],
        env={"ARBRIDGE_USER": user},
        catch_exceptions=False,
    )


def test_manual_receipt_apply_list_reverse(env: tuple[Path, str]) -> None:
    added = run(
        env,
        "receipts",
        "add",
        "--customer",
        "C100",
        "--amount",
        "150.00",
        "--currency",
        "EUR",
        "--date",
        "2026-11-16",
        "--reference",
        "CHQ-7",
        "--json",
    )
    assert added.exit_code == 0, added.output
    receipt = json.loads(added.output)
    assert (receipt["amount"], receipt["unapplied"], receipt["status"]) == ("150.00", "150.00", "unapplied")

    dup = run(
        env,
        "receipts",
        "add",
        "--customer",
        "C100",
        "--amount",
        "1.00",
        "--currency",
        "EUR",
        "--date",
        "2026-11-16",
        "--reference",
        "CHQ-7",
    )
    assert dup.exit_code == 1 and "CHQ-7" in dup.output

    over = run(env, "receipts", "apply", str(receipt["id"]), "INV-1", "--amount", "100.01")
    assert over.exit_code == 1 and "open for application" in over.output
    applied = run(env, "receipts", "apply", str(receipt["id"]), "INV-1", "--amount", "100.00")
    assert applied.exit_code == 0, applied.output
    assert run(env, "receipts", "on-account", str(receipt["id"]), "--amount", "50.00").exit_code == 0

    listed = json.loads(run(env, "receipts", "list", "--status", "applied", "--json").output)
    assert [(r["id"], r["unapplied"]) for r in listed] == [(receipt["id"], "0.00")]
    shown = json.loads(run(env, "receipts", "show", str(receipt["id"]), "--json").output)
    assert [(a["status"], a["trx_number"], a["amount"]) for a in shown["applications"]] == [
        ("APP", "INV-1", "100.00"),
        ("ACC", None, "50.00"),
    ]

    reversed_ = run(env, "receipts", "reverse", str(receipt["id"]), "--reason", "NSF")
    assert reversed_.exit_code == 0, reversed_.output
    listed = json.loads(run(env, "receipts", "list", "--json").output)
    assert (listed[0]["status"], listed[0]["reversal_reason"]) == ("reversed", "NSF")
    assert run(env, "receipts", "list").exit_code == 0

    engine = make_engine(env[1])
    with session_factory(engine)() as session:
        assert check_receipt_amounts(session) == [] and check_receipts_accounted_for(session) == []
    engine.dispose()


def test_adjustment_four_eyes(env: tuple[Path, str]) -> None:
    created = run(env, "adjustments", "create", "INV-2", "--amount", "-800.00", "--activity", "bank_charges")
    assert created.exit_code == 0 and "waits for approval" in created.output
    pending = json.loads(run(env, "adjustments", "list", "--pending", "--json").output)
    assert [(a["amount"], a["requested_by"]) for a in pending] == [("-800.00", "alice")]
    adj = str(pending[0]["id"])

    own = run(env, "adjustments", "approve", adj)  # alice requested it
    assert own.exit_code == 1 and "alice" in own.output and "cannot approve" in own.output
    low = run(env, "adjustments", "approve", adj, user="carol")
    assert low.exit_code == 1 and "up to 100.00 EUR" in low.output
    ok = run(env, "adjustments", "approve", adj, "--user", "bob")
    assert ok.exit_code == 0, ok.output
    assert json.loads(run(env, "adjustments", "list", "--pending", "--json").output) == []

    small = run(
        env, "adjustments", "create", "INV-2", "--amount", "-5.00", "--activity", "small_balance_write_off"
    )
    assert "approved and posted" in small.output
    unknown = run(env, "adjustments", "create", "INV-2", "--amount", "-5.00", "--activity", "nope")
    assert unknown.exit_code == 1 and "unknown receivable activity" in unknown.output
    second = run(env, "adjustments", "create", "INV-2", "--amount", "-900.00", "--activity", "bank_charges")
    assert second.exit_code == 0
    rejected = run(env, "adjustments", "reject", "3", "--reason", "pay it", user="carol")
    assert rejected.exit_code == 0, rejected.output
    assert run(env, "adjustments", "list").exit_code == 0


def test_dispute_open_resolve_approve(env: tuple[Path, str]) -> None:
    opened = run(
        env,
        "disputes",
        "open",
        "INV-2",
        "--amount",
        "1500.00",
        "--reason",
        "price",
        "--comment",
        "PO says less",
    )
    assert opened.exit_code == 0, opened.output
    resolve = run(env, "disputes", "resolve", "1", "--by", "credit-memo")
    assert resolve.exit_code == 0 and "waits for approval" in resolve.output
    approved = run(env, "disputes", "approve", "1", user="bob")
    assert approved.exit_code == 0, approved.output
    rows = json.loads(run(env, "disputes", "list", "--json").output)
    assert [(d["status"], d["resolution"], d["comment"]) for d in rows] == [
        ("resolved", "credit-memo", "PO says less")
    ]

    too_much = run(env, "disputes", "open", "INV-1", "--amount", "100.01", "--reason", "x")
    assert too_much.exit_code == 1
    assert run(env, "disputes", "open", "INV-1", "--amount", "10.00", "--reason", "x").exit_code == 0
    withdrawn = run(env, "disputes", "resolve", "2", "--by", "withdraw")
    assert withdrawn.exit_code == 0 and "withdrawn" in withdrawn.output
    assert json.loads(run(env, "disputes", "list", "--open", "--json").output) == []


def test_bad_amount_and_unknown_things_are_refused(env: tuple[Path, str]) -> None:
    bad = run(
        env,
        "receipts",
        "add",
        "--customer",
        "C100",
        "--amount",
        "1.005",
        "--currency",
        "EUR",
        "--date",
        "2026-11-16",
    )
    assert bad.exit_code == 2 and "more decimals" in bad.output
    nobody = run(
        env,
        "receipts",
        "add",
        "--customer",
        "NOPE",
        "--amount",
        "1.00",
        "--currency",
        "EUR",
        "--date",
        "2026-11-16",
    )
    assert nobody.exit_code == 1 and "NOPE" in nobody.output
    assert run(env, "receipts", "reverse", "99", "--reason", "X").exit_code == 1
    assert (
        run(
            env, "adjustments", "create", "INV-404", "--amount", "-1.00", "--activity", "bank_charges"
        ).exit_code
        == 1
    )
