"""AutoInvoice against the database: grouping, numbering, tax, terms, credit memos, journals, refusals."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ar import ledger
from ar.cashapp.indexes import index_open_items, item_keys
from ar.cashapp.tables import ItemReferenceKey
from ar.invariants import CheckContext, run
from ar.model import Journal, JournalLine, NumberSequence, PaymentSchedule, Transaction, TransactionLine
from ar.money import Money
from ar.rows import ImportRejected
from tests.ar.core.helpers import CONFIG, add_customers, import_lines, line


@pytest.fixture
def people(session: Session) -> Session:
    add_customers(
        session,
        {"customer_number": "C1", "name": "One", "class": "trade"},
        {"customer_number": "C2", "name": "Two", "class": "trade", "profile": "installments"},
        {"customer_number": "C3", "name": "Three", "class": "trade", "profile": "key_accounts"},
    )
    return session


def _trx(session: Session) -> list[tuple[str, str, int, int]]:
    return [
        (t.trx_type, t.trx_number, t.net_minor, t.tax_minor)
        for t in session.scalars(select(Transaction).order_by(Transaction.id))
    ]


def _checks_pass(session: Session) -> None:
    failed = [
        (r.name, [str(v) for v in r.violations]) for r in run(session, CheckContext(CONFIG)) if not r.ok
    ]
    assert failed == []


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # default grouping: customer, currency, order number
        (
            [line("a", order_number="O1"), line("b", order_number="O1"), line("c", order_number="O2")],
            [("INV", "INV-000001", 20000, 3800), ("INV", "INV-000002", 10000, 1900)],
        ),
        # different customers and currencies never share a transaction
        (
            [line("a"), line("b", customer="C2"), line("c", currency="USD")],
            [
                ("INV", "INV-000001", 10000, 1900),
                ("INV", "INV-000002", 10000, 1900),
                ("INV", "INV-000003", 10000, 1900),
            ],
        ),
        # an explicit trx_number wins over the rule; its lines form that transaction
        (
            [
                line("a", trx_number="X-1", order_number="O1"),
                line("b", trx_number="X-1", order_number="O2"),
                line("c", order_number="O1"),
            ],
            [("INV", "X-1", 20000, 3800), ("INV", "INV-000001", 10000, 1900)],
        ),
        # a negative quantity makes a credit memo line, in its own transaction
        (
            [line("a", order_number="O1"), line("b", order_number="O1", quantity="-1")],
            [("INV", "INV-000001", 10000, 1900), ("CM", "CM-000001", -10000, -1900)],
        ),
        # DM has its own sequence
        ([line("a", trx_type="DM", tax_rate="0")], [("DM", "DM-000001", 10000, 0)]),
        # interleaved lines of two orders still group by order
        (
            [line("a", order_number="O1"), line("b", order_number="O2"), line("c", order_number="O1")],
            [("INV", "INV-000001", 10000, 1900), ("INV", "INV-000002", 20000, 3800)],
        ),
    ],
)
def test_grouping_and_numbering(
    people: Session, lines: list[dict[str, str]], expected: list[tuple[str, str, int, int]]
) -> None:
    import_lines(people, *lines)
    assert sorted(_trx(people)) == sorted(expected)
    _checks_pass(people)


def test_numbers_continue_gap_free_across_imports(people: Session) -> None:
    import_lines(people, line("a", order_number="1"), line("b", order_number="2"))
    result = import_lines(people, line("c", order_number="3"))
    assert result.numbers == {"INV": ("INV-000003", "INV-000003")}
    assert people.scalar(select(NumberSequence.next_value).where(NumberSequence.name == "INV")) == 4


def test_terms_make_installments_and_discounts(people: Session) -> None:
    import_lines(
        people,
        line("a", customer="C2", unit_price="100.01", tax_rate="0"),
        line("b", customer="C3", tax_rate="0"),
    )
    items = people.scalars(select(PaymentSchedule).order_by(PaymentSchedule.id)).all()
    assert [
        (i.trx_number, i.installment, i.due_date.isoformat(), i.amount_due_remaining_minor) for i in items
    ] == [
        ("INV-000001", 1, "2026-12-03", 5001),
        ("INV-000001", 2, "2027-01-02", 5000),
        ("INV-000002", 1, "2026-12-03", 10000),
    ]
    assert json.loads(items[2].discounts) == [{"until": "2026-11-13", "percent": "2"}]
    receivable_lines = people.scalars(
        select(JournalLine).where(JournalLine.account == "1200").order_by(JournalLine.id)
    ).all()
    assert [(x.schedule_id, x.debit_minor) for x in receivable_lines] == [
        (i.id, i.amount_due_original_minor) for i in items
    ]
    _checks_pass(people)


def test_new_items_get_their_reference_keys(people: Session) -> None:
    """Cash application finds an item by its keys from the moment it is imported."""
    import_lines(
        people,
        line("a", customer="C2", order_number="PO-7", tax_rate="0"),
        line("b", trx_type="DM", tax_rate="0"),
    )
    items = people.execute(
        select(PaymentSchedule.id, PaymentSchedule.trx_number, Transaction.order_number).join(
            Transaction, Transaction.id == PaymentSchedule.transaction_id
        )
    ).all()
    assert len(items) == 3  # two installments and a debit memo
    keys = people.execute(select(ItemReferenceKey.schedule_id, ItemReferenceKey.key)).all()
    assert sorted(keys) == sorted(
        (item_id, key) for item_id, number, order in items for key in item_keys(number, order)
    )
    assert ("PO7" in {k for _, k in keys}) and index_open_items(people) == 0


def test_journal_of_an_invoice(people: Session) -> None:
    import_lines(people, line("a", quantity="3", unit_price="0.125"), line("b"))
    (journal,) = people.scalars(select(Journal)).all()
    assert (journal.event, journal.source_type, journal.period, journal.number) == (
        "invoice",
        "transaction",
        "2026-11",
        1,
    )
    postings = ledger.postings_of(people, journal.id)
    assert [(p.account, p.debit, p.credit) for p in postings] == [
        ("1200", Money.of("119.45", "EUR"), None),
        ("4000", None, Money.of("100.38", "EUR")),
        ("2300", None, Money.of("19.07", "EUR")),
    ]


def test_credit_memo_against_invoice_closes_it(people: Session) -> None:
    import_lines(people, line("a"))
    import_lines(people, line("cm1", trx_type="CM", unit_price="40", credited_trx="INV-000001"))
    invoice_item = people.scalars(
        select(PaymentSchedule).where(PaymentSchedule.trx_number == "INV-000001")
    ).one()
    assert (invoice_item.amount_due_remaining_minor, invoice_item.status) == (11900 - 4760, "OP")
    import_lines(people, line("cm2", quantity="-1", unit_price="60", credited_trx="INV-000001"))
    people.refresh(invoice_item)
    assert (invoice_item.amount_due_remaining_minor, invoice_item.status) == (0, "CL")
    credit_items = people.scalars(select(PaymentSchedule).where(PaymentSchedule.trx_type == "CM")).all()
    assert [(c.amount_due_original_minor, c.amount_due_remaining_minor, c.status) for c in credit_items] == [
        (-4760, 0, "CL"),
        (-7140, 0, "CL"),
    ]
    _checks_pass(people)
    # nothing remains: a further credit is refused
    with pytest.raises(ImportRejected, match="exceeds what remains"):
        import_lines(people, line("cm3", trx_type="CM", unit_price="1", credited_trx="INV-000001"))


def test_on_account_credit_stays_open_negative(people: Session) -> None:
    import_lines(people, line("cm", trx_type="CM", unit_price="50", tax_rate="0"))
    item = people.scalars(select(PaymentSchedule)).one()
    assert (item.amount_due_original_minor, item.amount_due_remaining_minor, item.status) == (
        -5000,
        -5000,
        "OP",
    )
    assert ledger.balance(people, "1200", "EUR") == Money.of("-50.00", "EUR")
    _checks_pass(people)


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (line("x", customer="NOPE"), "lines.csv:3: customer_number: customer NOPE does not exist"),
        (line("x", quantity="abc"), "lines.csv:3: quantity: not a decimal number: 'abc'"),
        (line("x", quantity="0"), "lines.csv:3: quantity: zero"),
        (line("x", trx_date="2026-13-01"), "lines.csv:3: trx_date: not an ISO date"),
        (line("x", currency="EUX"), "lines.csv:3: currency: unknown currency 'EUX'"),
        (line("x", tax_rate="101"), "lines.csv:3: tax_rate: tax rate 101 is not a percentage"),
        (line("x", trx_type="XX"), "lines.csv:3: trx_type: 'XX': INV, DM or CM"),
        (line("x", unit_price="-5"), "lines.csv:3: unit_price: negative"),
        (line("x", credited_trx="INV-1"), "lines.csv:3: credited_trx: only a credit memo line"),
        (line("ok"), "lines.csv:3: source_ref: ok is already on line 2"),
        (
            line("x", trx_type="CM", credited_trx="INV-404"),
            "lines.csv:3: credited_trx: no invoice or debit memo INV-404",
        ),
        (line("x", unit_price="0.001"), "lines.csv:3: unit_price: the line amount rounds to zero"),
    ],
)
def test_bad_rows_import_nothing_and_are_all_reported(
    people: Session, bad: dict[str, str], expected: str
) -> None:
    with pytest.raises(ImportRejected) as info:
        import_lines(people, line("ok"), bad, line("x2", customer="NOPE2"))
    messages = [str(p) for p in info.value.problems]
    assert any(m.startswith(expected) for m in messages), messages
    assert any(m.startswith("lines.csv:4: customer_number") for m in messages)
    assert people.scalar(select(func.count()).select_from(Transaction)) == 0


def test_skip_invalid_imports_the_good_rows(people: Session) -> None:
    result = import_lines(people, line("ok"), line("bad", customer="NOPE"), skip_invalid=True)
    assert result.transactions == {"INV": 1}
    assert [str(p) for p in result.problems] == ["lines.csv:3: customer_number: customer NOPE does not exist"]


def test_same_line_twice_is_refused_never_doubled(people: Session) -> None:
    import_lines(people, line("a"), line("b", order_number="2"))
    with pytest.raises(ImportRejected, match="a is already imported"):
        import_lines(people, line("a"), line("c"))
    result = import_lines(people, line("a"), line("c"), skip_invalid=True)
    assert result.lines == 1
    assert people.scalar(select(func.count()).select_from(TransactionLine)) == 3


def test_explicit_number_that_exists_is_refused(people: Session) -> None:
    import_lines(people, line("a", trx_number="X-1"))
    with pytest.raises(ImportRejected, match="INV X-1 already exists"):
        import_lines(people, line("b", trx_number="X-1"))


def test_closed_period_refuses_the_lines(people: Session) -> None:
    from ar import periods
    from ar.model import PeriodState

    periods.set_state(
        people, "2026-10", PeriodState.CLOSED, calendar=CONFIG.calendar, actor="t", now=ledger_now()
    )
    with pytest.raises(ImportRejected, match=r"lines\.csv:2: trx_date: period 2026-10 is closed"):
        import_lines(people, line("a", trx_date="2026-10-31"))


def ledger_now():  # type: ignore[no-untyped-def]
    from tests.ar.core.helpers import NOW

    return NOW


def test_credit_memo_dated_before_its_invoice_is_refused(people: Session) -> None:
    import_lines(people, line("a", trx_date="2026-12-05"))
    with pytest.raises(ImportRejected, match="INV-000001 is dated 2026-12-05, after this credit memo"):
        import_lines(people, line("cm", trx_type="CM", credited_trx="INV-000001", trx_date="2026-11-28"))
