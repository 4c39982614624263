"""The bulk path of the run against the per-receipt path, on SQLite and PostgreSQL: the same
scenarios persisted both ways give the same applications, open items, journals (numbers
included), GL balances, receipts, decisions, recommendations and audit events; the books
agree after both; a second run applies nothing twice; a batch the bulk path cannot write
is done receipt by receipt, and says why."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ar import applications, periods
from ar.applications import ENGINE_ACTOR, ReceivableApplication, Setup
from ar.audit import AuditEvent
from ar.cashapp import bulk, run, view
from ar.cashapp.run import CashApplication, RunSummary
from ar.cashapp.tables import MatchDecision, MatchRecommendation
from ar.matching import engine
from ar.model import Journal, JournalLine, PaymentSchedule, PeriodState
from ar.receipts import Receipt
from tests.ar.applications.conftest import assert_books_agree
from tests.ar.cashapp.conftest import Books
from tests.ar.cashapp.test_run import CASES
from tests.ar.factories import NOW

ACME = "DE89370400440532013000"
ZETA = "DE02120300000000202051"
STRANGER = "FR1420041010050500013M02606"
OTHER = "GB82WEST12345698765432"


def _world(b: Books, setup: Setup, *, closed_period: bool = False) -> None:
    """Every outcome of the run, and what only a batch has: receipts competing for one item."""
    for case in CASES:
        case.build(b)
    acme = b.payer(ACME)
    # two receipts pay one invoice in turn: the second sees only what the first left
    b.item(acme, "300.00", "INV-001001")
    b.bank_receipt("100.00", iban=ACME, ustrd=("INV-001001 part 1",))
    b.bank_receipt("200.00", iban=ACME, ustrd=("INV-001001 rest",))
    # a third would overpay it: what is left is applied, the rest stays unapplied
    b.item(acme, "50.00", "INV-001002")
    b.bank_receipt("30.00", iban=ACME, ustrd=("INV-001002",))
    b.bank_receipt("30.00", iban=ACME, ustrd=("INV-001002",))
    # a credit memo and an invoice of one customer, paid net, naming both
    zeta = b.payer(ZETA)
    b.item(zeta, "500.00", "INV-001003")
    b.credit_memo(zeta, "100.00", number="CM-001004")
    b.bank_receipt("400.00", iban=ZETA, ustrd=("INV-001003 CM-001004",))
    # posted earlier as unidentified: identified by reference now (an identification journal)
    other = b.payer(OTHER)
    b.item(other, "123.45", "INV-001005")
    earlier = b.bank_receipt("123.45", iban=STRANGER, ustrd=("INV-001005",))
    applications.post_receipt(b.session, earlier.id, setup=setup, actor="alice", now=NOW)
    # several invoices in one remittance
    b.item(other, "10.00", "INV-001006")
    b.item(other, "20.00", "INV-001007")
    b.bank_receipt("30.00", iban=OTHER, ustrd=("INV-001006, INV-001007",))
    b.session.flush()
    if not closed_period:
        return
    # dated in a closed period: the services refuse to post it, in their words, both ways (it
    # stays recorded and unposted, which `arbridge check` reports)
    periods.set_state(
        b.session, "2026-10", PeriodState.CLOSED, calendar=setup.calendar, actor="alice", now=NOW
    )
    b.item(other, "77.00", "INV-001008", trx_date=date(2026, 9, 1))
    b.bank_receipt("77.00", iban=OTHER, ustrd=("INV-001008",), on=date(2026, 10, 20))
    b.session.flush()


def snapshot(session: Session) -> dict[str, Any]:
    """The books by natural keys (entry references, transaction numbers), not surrogate ids."""
    session.flush()
    ref = dict(session.execute(select(Receipt.id, Receipt.entry_ref)).all())
    trx = dict(session.execute(select(PaymentSchedule.id, PaymentSchedule.trx_number)).all())
    rows = sorted(
        (
            ref[r.receipt_id],
            r.status,
            r.amount_minor,
            r.discount_minor,
            r.write_off_minor,
            trx.get(r.schedule_id) if r.schedule_id else None,
            r.customer_id,
            r.activity,
            r.rule,
            r.score,
            r.evidence,
            r.made_by,
            r.actor,
            r.accounting_date,
            r.reversal_of_id is None and r.reversed_at is None,
        )
        for r in session.scalars(select(ReceivableApplication))
    )
    journals: list[tuple[Any, ...]] = []
    for journal in session.scalars(select(Journal).order_by(Journal.period, Journal.number)):
        lines = tuple(
            (
                line.line_number,
                line.account,
                line.debit_minor,
                line.credit_minor,
                line.customer_id,
                trx.get(line.schedule_id or 0),
            )
            for line in session.scalars(
                select(JournalLine)
                .where(JournalLine.journal_id == journal.id)
                .order_by(JournalLine.line_number)
            )
        )
        journals.append(
            (
                journal.period,
                journal.number,
                journal.event,
                journal.accounting_date,
                journal.description,
                lines,
            )
        )
    return {
        "applications": rows,
        "items": sorted(
            (i.trx_number, i.amount_due_remaining_minor, i.status, i.closed_on)
            for i in session.scalars(select(PaymentSchedule))
        ),
        "gl": sorted(
            session.execute(
                select(
                    JournalLine.account,
                    JournalLine.currency,
                    func.sum(JournalLine.debit_minor - JournalLine.credit_minor),
                ).group_by(JournalLine.account, JournalLine.currency)
            )
        ),
        "journals": journals,
        "receipts": sorted(
            (r.entry_ref, r.status, r.customer_id, r.identified_by) for r in session.scalars(select(Receipt))
        ),
        "decisions": sorted(
            (
                ref[d.receipt_id],
                d.outcome,
                d.rule_set,
                d.rule,
                d.score,
                d.customer_id,
                d.identified_by,
                d.evidence,
            )
            for d in session.scalars(select(MatchDecision))
        ),
        "recommendations": sorted(
            (ref[r.receipt_id], r.rank, r.score, r.rule, r.applications, r.evidence)
            for r in session.scalars(select(MatchRecommendation))
        ),
        "audit": sorted(
            (ref.get(int(a.entity_id)), a.action, a.details, a.actor)
            for a in session.scalars(select(AuditEvent).where(AuditEvent.entity == "receipt"))
        ),
    }


def _run_both(
    session: Session, setup: Setup, cashapp: CashApplication, *, books_agree: bool = True
) -> dict[bool, tuple[RunSummary, dict[str, Any]]]:
    """Run the same world once per path (each inside a savepoint rolled back after), twice each."""
    out: dict[bool, tuple[RunSummary, dict[str, Any]]] = {}
    for bulk_path in (False, True):
        savepoint = session.begin_nested()
        summary = cashapp.run(session, now=NOW, bulk=bulk_path)
        books = snapshot(session)
        if books_agree:
            assert_books_agree(session, setup)
        again = cashapp.run(session, now=NOW, bulk=bulk_path)
        assert again.applications == 0, "a second run applied something again"
        assert snapshot(session)["applications"] == books["applications"]
        if books_agree:
            assert_books_agree(session, setup)
        out[bulk_path] = (summary, books)
        savepoint.rollback()
    return out


@pytest.mark.parametrize("batch_size", [500, 3], ids=["one batch", "batches of 3"])
def test_bulk_path_has_the_ledger_effect_of_the_services(
    session: Session,
    setup: Setup,
    books: Books,
    cashapp: CashApplication,
    batch_size: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run, "BATCH_SIZE", batch_size)
    _world(books, setup)
    both = _run_both(session, setup, cashapp)
    (per_receipt, reference), (in_bulk, result) = both[False], both[True]
    for part in reference:
        assert result[part] == reference[part], part
    assert in_bulk.as_dict() | {"timing": None} == per_receipt.as_dict() | {"timing": None}
    assert in_bulk.fallbacks == []
    # the world covers what it should: applications with write-offs and credits, an identification
    # journal, an item paid by two receipts of one batch, a refusal by the services
    assert in_bulk.applications >= 12
    events = {j[2] for j in result["journals"]}
    assert {"receipt", "receipt_identification", "application"} <= events
    assert ("INV-001001", 0, "CL", NOW.date()) in result["items"]
    assert all(r[12] in (ENGINE_ACTOR, "alice") for r in result["applications"])


def test_what_the_services_refuse_they_refuse_in_both_paths(
    session: Session, setup: Setup, books: Books, cashapp: CashApplication
) -> None:
    _world(books, setup, closed_period=True)
    both = _run_both(session, setup, cashapp, books_agree=False)
    (per_receipt, reference), (in_bulk, result) = both[False], both[True]
    assert result == reference
    assert in_bulk.as_dict() | {"timing": None} == per_receipt.as_dict() | {"timing": None}
    assert len(in_bulk.errors) == 1 and "2026-10" in in_bulk.errors[0]
    # only the receipt of the closed period is left unposted
    assert len({row[0] for row in result["applications"]}) == len(result["receipts"]) - 1


def test_a_batch_that_cannot_be_written_is_done_receipt_by_receipt(
    session: Session, setup: Setup, books: Books, cashapp: CashApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    _world(books, setup)
    reference = _run_both(session, setup, cashapp)[False][1]

    def conflict(self: bulk.BatchPlan) -> None:
        raise bulk.BatchConflict("open item 1 changed since it was read")

    monkeypatch.setattr(bulk.BatchPlan, "_verify_items", conflict)
    summary = cashapp.run(session, now=NOW, bulk=True)
    assert len(summary.fallbacks) == 1 and "BatchConflict" in summary.fallbacks[0]
    assert snapshot(session) == reference
    assert_books_agree(session, setup)


def test_an_item_changed_meanwhile_is_a_conflict(
    session: Session, setup: Setup, books: Books, cashapp: CashApplication
) -> None:
    """What the engine saw is verified against the locked item before anything is written."""
    acme = books.payer(ACME)
    item = books.item(acme, "300.00", "INV-002001")
    receipt = books.bank_receipt("300.00", iban=ACME, ustrd=("INV-002001",))
    view = cashapp.new_view(session)
    summary, plan, refused = cashapp.plan_batch(session, [receipt.id], view=view, now=NOW, replay=False)
    assert summary.applications == 1 and refused == []
    changed = session.get(PaymentSchedule, item.id)
    assert changed is not None
    changed.amount_due_remaining_minor = 10000  # another worker took 200.00 meanwhile
    session.flush()
    with pytest.raises(bulk.BatchConflict):
        plan.write()
    assert applications.applications(session, receipt.id) == []


def _generated_world(b: Books, seed: int) -> None:
    """A ledger and a statement drawn at random, with what batches make hard: amounts shared by
    several items, items paid in part by one receipt and matched by amount by a later one (whose
    payer is unknown), two receipts naming one invoice, references to another customer's items."""
    rng = random.Random(seed)
    ibans = [ACME, ZETA, OTHER, "NL91ABNA0417164300", "BE68539007547034", "AT611904300234573201"]
    customers = [b.payer(iban) for iban in ibans]
    customers.append(b.payer(parent=customers[0]))  # paid for by its parent
    amounts = ["100.00", "250.00", "99.90", "1234.56", "40.00"]
    items: list[tuple[Any, str, str]] = []  # (customer, number, amount)
    for n in range(40):
        customer = rng.choice(customers)
        amount = rng.choice(amounts) if rng.random() < 0.6 else f"{rng.randint(1000, 90000) / 100:.2f}"
        number = f"INV-{7000 + n:06d}"
        b.item(customer, amount, number)
        items.append((customer, number, amount))
    b.credit_memo(customers[1], "40.00", number="CM-007900")
    iban_of = {c.id: iban for c, iban in zip(customers, ibans, strict=False)}
    for _ in range(45):
        customer, number, amount = rng.choice(items)
        iban = iban_of.get(customer.id, ACME)
        kind = rng.random()
        if kind < 0.3:
            b.bank_receipt(amount, iban=iban, ustrd=(f"{number} thanks",))
        elif kind < 0.45:  # part of it now; a later receipt may pay the rest or match it by amount
            part = f"{Decimal(amount) / 4:.2f}"
            b.bank_receipt(part, iban=iban, ustrd=(number,))
            rest = f"{Decimal(amount) - Decimal(part):.2f}"
            b.bank_receipt(rest, iban=STRANGER if rng.random() < 0.5 else None)
        elif kind < 0.6:
            other = rng.choice(items)
            total = f"{Decimal(amount) + Decimal(other[2]):.2f}"
            b.bank_receipt(total, iban=iban, ustrd=(f"{number}, {other[1]}",))
        elif kind < 0.75:
            b.bank_receipt(amount, iban=iban)  # no remittance
        elif kind < 0.85:
            b.bank_receipt(amount, iban=STRANGER, name="Someone")  # unknown payer, amount only
        elif kind < 0.92:
            b.bank_receipt(f"{Decimal(amount) - Decimal('2.50'):.2f}", iban=iban, ustrd=(f"RE {number}",))
        else:
            b.bank_receipt(rng.choice(amounts), iban=iban, ustrd=("INV-0CM-007900",))
    b.session.flush()


@pytest.mark.parametrize(("seed", "windows"), [(1, None), (2, None), (3, None), (1, (1, 2)), (4, (1, 2))])
def test_bulk_batches_decide_generated_ledgers_as_the_services_do(
    session: Session,
    setup: Setup,
    books: Books,
    cashapp: CashApplication,
    seed: int,
    windows: tuple[int, int] | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On generated data, the bulk path in batches of any size (one for all receipts, or small
    ones) leaves exactly the books, decisions and recommendations of the one-by-one path.

    ``windows``: the open items read ahead per amount, and the candidates an unknown payer's
    amount gets, made small, so that items the batch changed fall inside what the database
    lists and the look-up has to read past them."""
    if windows is not None:
        monkeypatch.setattr(view, "AMOUNT_PREFETCH", windows[0])
        monkeypatch.setattr(view, "AMOUNT_CANDIDATES", windows[1])
        monkeypatch.setattr(engine, "AMOUNT_CANDIDATES", windows[1])
    _world(books, setup)
    _generated_world(books, seed)
    results = {}
    for bulk_path, batch_size in ((False, 2000), (True, 2000), (True, 4)):
        monkeypatch.setattr(run, "BATCH_SIZE", batch_size)
        savepoint = session.begin_nested()
        summary = cashapp.run(session, now=NOW, bulk=bulk_path)
        results[(bulk_path, batch_size)] = (summary.as_dict() | {"timing": None}, snapshot(session))
        assert summary.fallbacks == []
        savepoint.rollback()
    reference = results[(False, 2000)]
    assert reference[0]["applications"] >= 20
    for key, (summary_dict, books_after) in results.items():
        for part in reference[1]:
            assert books_after[part] == reference[1][part], (key, part)
        assert summary_dict == reference[0], key
