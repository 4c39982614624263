"""AutoInvoice: fulfilment and service lines -> invoices, debit memos and credit memos, with
their open items (payment schedules) and their journals.

Columns (DESIGN.md, transactions CSV or JSON lines): source_ref, customer_number,
trx_number, trx_type, order_number, trx_date, description, quantity, unit_price,
currency, tax_rate, credited_trx.

- **Type.** INV (default), DM or CM. A line whose quantity × unit price is negative is
  a credit memo line whatever its type says; a CM line's amount is always a credit.
- **Grouping.** Lines with an explicit trx_number form that transaction (they must agree
  on customer, currency and type). The others are grouped by the configured fields
  (autoinvoice.yaml `grouping`, default customer, currency, order number); the type,
  customer, currency and credited transaction always separate transactions. A
  transaction's date is the latest date of its lines.
- **Numbering.** Per type from a gap-free sequence (autoinvoice.yaml `sequences`), in
  the order the transactions complete (their last line) in the file.
- **Tax.** Per line, half-up to the currency's exponent: see ar.tax.
- **Terms.** The customer's profile names the payment term: installments with due
  dates and discount offers, one open item each (ar.terms).
- **Credit memos.** With credited_trx (an existing invoice or debit memo of the same
  customer and currency) the credit reduces that transaction's open items (last
  installment first by default) and cannot exceed what remains; the CM's own open item
  is then closed. Without, it stays an on-account credit: an open item with a negative
  remaining amount.
- **Journal.** Each transaction posts one journal: Dr receivables (one line per open
  item moved, with its schedule_id) / Cr revenue / Cr tax; the reverse for a credit memo.
- **Exactly once.** source_ref is unique: a line already imported is refused (a row
  problem), never doubled.

The import is two passes over the rows: the first validates every row and reports
every problem before anything is written (ImportRejected, unless `skip_invalid`); the
second builds the transactions and writes them in batches with bulk INSERTs. Memory
holds the set of source references and one counter per transaction, not the rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from operator import attrgetter
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ar import audit, bulkrows, ledger, numbering, periods, terms
from ar.cashapp import indexes
from ar.db import Base
from ar.errors import ArError, DuplicateError, PeriodClosedError, ValidationError
from ar.model import (
    Customer,
    Journal,
    JournalLine,
    PaymentSchedule,
    Period,
    ScheduleStatus,
    Transaction,
    TransactionLine,
    TrxType,
)
from ar.money import Money, is_currency
from ar.rows import ImportRejected, RowError, RowProblem, SourceRow, header_problems, iso_date, text
from ar.rows import decimal as decimal_field
from ar.tax import MAX_RATE, check_rate, line_amounts, line_minor
from config.ar import ArConfig, CreditMethod

REQUIRED_COLUMNS = frozenset({"source_ref", "customer_number", "trx_date", "quantity", "unit_price"})
COLUMNS = REQUIRED_COLUMNS | frozenset(
    {"trx_number", "trx_type", "order_number", "description", "currency", "tax_rate", "credited_trx"}
)
SOURCE_TYPE = "transaction"
EVENTS = {
    TrxType.INVOICE.value: "invoice",
    TrxType.DEBIT_MEMO.value: "debit_memo",
    TrxType.CREDIT_MEMO.value: "credit_memo",
}
_LOOKUP_CHUNK = 500


@dataclass(slots=True)
class Line:
    """One validated input line."""

    line: int
    source_ref: str
    customer_number: str
    trx_number: str | None
    trx_type: str
    order_number: str | None
    trx_date: date
    description: str
    quantity: Decimal
    unit_price: Decimal
    currency: str
    tax_rate: Decimal
    credited_trx: str | None
    net_minor: int
    tax_minor: int


@dataclass(frozen=True, slots=True)
class ImportResult:
    transactions: Mapping[str, int]
    lines: int
    #: First and last number assigned per type.
    numbers: Mapping[str, tuple[str, str]]
    problems: tuple[RowProblem, ...] = field(default_factory=tuple)


@dataclass(slots=True)
class _Group:
    count: int
    total_minor: int
    first_line: int
    #: The latest line date: the transaction's date.
    last_date: date


@dataclass(slots=True)
class _OpenItem:
    id: int
    transaction_id: int
    installment: int
    remaining: int
    customer_id: int
    currency: str
    status: str
    before: int = 0
    closed_on: date | None = None


_ALWAYS_SEPARATE = frozenset({"trx_type", "customer_number", "currency"})
GroupKey = tuple[object, ...]


def key_function(grouping: Sequence[str]) -> Callable[[Line], GroupKey]:
    """The transaction a line belongs to (see the module docstring), for the configured grouping."""
    extra = [f for f in grouping if f not in _ALWAYS_SEPARATE]
    get_extra = attrgetter(*extra) if extra else None

    def key(line: Line) -> GroupKey:
        if line.trx_number:
            return ("#", line.trx_type, line.trx_number)
        return (
            "g",
            line.trx_type,
            line.customer_number,
            line.currency,
            line.credited_trx,
            get_extra(line) if get_extra is not None else None,
        )

    return key


class _Parser:
    """Validates rows into Lines; row problems accumulate in `problems`."""

    def __init__(self, file: str, config: ArConfig, customers: Mapping[str, tuple[int, str]]) -> None:
        self.file = file
        self.config = config
        self.customers = customers
        self.default_rate = config.autoinvoice.default_tax_rate
        self.default_currency = config.autoinvoice.default_currency
        self._dates: dict[str, date] = {}
        self._rates: dict[str, Decimal] = {}

    def parse(self, row: SourceRow, problems: list[RowProblem]) -> Line | None:
        """The line, or None after adding every problem of the row to `problems`."""
        try:
            line = self._fast(row.values, row.line)
        except (InvalidOperation, ValueError, TypeError, AttributeError):
            line = None
        return line if line is not None else self._full(row, problems)

    def _fast(self, v: Mapping[str, str], line_no: int) -> Line | None:
        """The common case, without building errors: None when anything is unusual (then `_full`
        runs the same checks field by field and says what is wrong)."""
        source_ref = (v.get("source_ref") or "").strip()
        customer_number = (v.get("customer_number") or "").strip()
        if not source_ref or len(source_ref) > 120 or customer_number not in self.customers:
            return None
        trx_number = (v.get("trx_number") or "").strip() or None
        order_number = (v.get("order_number") or "").strip() or None
        credited = (v.get("credited_trx") or "").strip() or None
        description = (v.get("description") or "").strip()
        if (
            (trx_number and len(trx_number) > 40)
            or (order_number and len(order_number) > 40)
            or (credited and len(credited) > 40)
            or len(description) > 240
        ):
            return None
        trx_type = ((v.get("trx_type") or "").strip() or "INV").upper()
        if trx_type not in EVENTS:
            return None
        day_text = (v.get("trx_date") or "").strip()
        trx_date = self._dates.get(day_text)
        if trx_date is None:
            trx_date = self._dates[day_text] = date.fromisoformat(day_text)
        quantity = Decimal(v["quantity"].strip())
        unit_price = Decimal(v["unit_price"].strip())
        if (
            not quantity.is_finite()
            or not unit_price.is_finite()
            or quantity == 0
            or unit_price < 0
            or abs(quantity.adjusted()) > 15
            or abs(unit_price.adjusted()) > 15
        ):
            return None
        currency = ((v.get("currency") or "").strip() or self.default_currency or "").upper()
        rate_text = (v.get("tax_rate") or "").strip()
        rate = self._rates.get(rate_text)
        if rate is None:
            rate = self.default_rate if not rate_text else Decimal(rate_text)
            if not rate.is_finite() or rate < 0 or rate > MAX_RATE:
                return None
            self._rates[rate_text] = rate
        if not is_currency(currency):
            return None
        if quantity < 0 or trx_type == "CM":
            trx_type = "CM"
            quantity = -abs(quantity)
        elif credited:
            return None
        net, tax = line_minor(quantity, unit_price, rate, currency)
        if net + tax == 0:
            return None
        return Line(
            line_no,
            source_ref,
            customer_number,
            trx_number,
            trx_type,
            order_number,
            trx_date,
            description,
            quantity,
            unit_price,
            currency,
            rate,
            credited,
            net,
            tax,
        )

    def _full(self, row: SourceRow, problems: list[RowProblem]) -> Line | None:
        errors: list[RowError] = []

        def take(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except RowError as exc:
                errors.append(exc)
                return None

        source_ref = take(text, row, "source_ref", max_length=120, required=True)
        customer_number = take(text, row, "customer_number", max_length=40, required=True)
        if customer_number is not None and customer_number not in self.customers:
            errors.append(RowError("customer_number", f"customer {customer_number} does not exist"))
        trx_number = take(text, row, "trx_number", max_length=40)
        trx_type = (row.get("trx_type") or TrxType.INVOICE.value).upper()
        if trx_type not in EVENTS:
            errors.append(RowError("trx_type", f"{trx_type!r}: INV, DM or CM"))
        order_number = take(text, row, "order_number", max_length=40)
        trx_date = take(iso_date, row, "trx_date", required=True)
        description = take(text, row, "description", max_length=240) or ""
        quantity = take(decimal_field, row, "quantity", required=True)
        unit_price = take(decimal_field, row, "unit_price", required=True)
        currency = (row.get("currency") or self.default_currency or "").upper()
        if not currency:
            errors.append(RowError("currency", "required (autoinvoice.yaml sets no default_currency)"))
        elif not is_currency(currency):
            errors.append(RowError("currency", f"unknown currency {currency!r}"))
        rate = take(decimal_field, row, "tax_rate")
        rate = self.default_rate if rate is None else rate
        try:
            check_rate(rate)
        except ValidationError as exc:
            errors.append(RowError("tax_rate", str(exc)))
        credited = take(text, row, "credited_trx", max_length=40)
        if quantity is not None and quantity == 0:
            errors.append(RowError("quantity", "zero"))
        if unit_price is not None and unit_price < 0:
            errors.append(RowError("unit_price", "negative: give a negative quantity to credit"))
        if errors:
            problems.extend(RowProblem(self.file, row.line, e.column, e.message) for e in errors)
            return None
        if quantity < 0 or trx_type == TrxType.CREDIT_MEMO.value:
            trx_type = TrxType.CREDIT_MEMO.value
            quantity = -abs(quantity)
        if credited and trx_type != TrxType.CREDIT_MEMO.value:
            problems.append(
                RowProblem(
                    self.file, row.line, "credited_trx", "only a credit memo line credits a transaction"
                )
            )
            return None
        amounts = line_amounts(quantity, unit_price, rate, currency)
        if amounts.total.is_zero():
            problems.append(RowProblem(self.file, row.line, "unit_price", "the line amount rounds to zero"))
            return None
        return Line(
            line=row.line,
            source_ref=source_ref,
            customer_number=customer_number,
            trx_number=trx_number,
            trx_type=trx_type,
            order_number=order_number,
            trx_date=trx_date,
            description=description,
            quantity=quantity,
            unit_price=unit_price,
            currency=currency,
            tax_rate=rate,
            credited_trx=credited,
            net_minor=amounts.net.minor_units,
            tax_minor=amounts.tax.minor_units,
        )


def _chunked(items: Sequence[str], size: int = _LOOKUP_CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _existing_refs(session: Session, refs: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunked(refs):
        found.update(
            session.scalars(select(TransactionLine.source_ref).where(TransactionLine.source_ref.in_(chunk)))
        )
    return found


class _Posting:
    """Where each accounting date posts: the period (locked) and the date, cached per date."""

    def __init__(self, session: Session, config: ArConfig) -> None:
        self.session = session
        self.calendar = config.calendar
        self.cache: dict[date, tuple[Period, date, str | None] | PeriodClosedError | ValidationError] = {}

    def resolve(self, day: date) -> tuple[Period, date, str | None]:
        hit = self.cache.get(day)
        if hit is None:
            try:
                hit = periods.postable_period(self.session, day, self.calendar)
            except (PeriodClosedError, ValidationError) as exc:
                hit = exc
            self.cache[day] = hit
        if isinstance(hit, ArError):
            raise hit
        return hit


def import_transactions(
    session: Session,
    open_rows: Callable[[], Iterable[SourceRow]],
    *,
    columns: frozenset[str],
    file: str,
    config: ArConfig,
    actor: str,
    now: datetime,
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import fulfilment lines (two passes over `open_rows()`); flushed, not committed.

    Raises ImportRejected listing every problem when a row is invalid (unless `skip_invalid`).
    """
    problems = header_problems(file, columns, REQUIRED_COLUMNS, COLUMNS)
    if any(p.column in REQUIRED_COLUMNS for p in problems):
        raise ImportRejected(tuple(problems))
    customers = {
        number: (cid, profile)
        for number, cid, profile in session.execute(select(Customer.number, Customer.id, Customer.profile))
    }
    parser = _Parser(file, config, customers)
    posting = _Posting(session, config)
    group_key = key_function(config.autoinvoice.grouping)

    # ---- pass 1: validate every row; count the lines and total of each transaction.
    groups: dict[GroupKey, _Group] = {}
    explicit: dict[tuple[str, str], tuple[str, str, str | None, int]] = {}
    seen_refs: set[str] = set()
    duplicates: list[tuple[str, int]] = []
    bad_lines: set[int] = set()
    pending_refs: list[tuple[str, int, GroupKey, int]] = []
    credited_numbers: set[str] = set()

    def check_refs() -> None:
        existing = _existing_refs(session, [p[0] for p in pending_refs])
        for ref, line_no, key, amount in pending_refs:
            if ref in existing:
                problems.append(RowProblem(file, line_no, "source_ref", f"{ref} is already imported"))
                bad_lines.add(line_no)
                groups[key].count -= 1
                groups[key].total_minor -= amount
        pending_refs.clear()

    for row in open_rows():
        line = parser.parse(row, problems)
        if line is None:
            bad_lines.add(row.line)
            continue
        if line.source_ref in seen_refs:
            duplicates.append((line.source_ref, line.line))
            bad_lines.add(line.line)
            continue
        seen_refs.add(line.source_ref)
        try:
            posting.resolve(line.trx_date)
        except ArError as exc:
            problems.append(RowProblem(file, line.line, "trx_date", str(exc)))
            bad_lines.add(line.line)
            continue
        if line.trx_number:
            key2 = (line.trx_type, line.trx_number)
            identity = (line.customer_number, line.currency, line.credited_trx, line.line)
            prior = explicit.setdefault(key2, identity)
            if prior[:3] != identity[:3]:
                problems.append(
                    RowProblem(
                        file,
                        line.line,
                        "trx_number",
                        f"{line.trx_number}: its lines differ in customer, currency or credited "
                        f"transaction (see line {prior[3]})",
                    )
                )
                bad_lines.add(line.line)
                continue
        if line.credited_trx:
            credited_numbers.add(line.credited_trx)
        key = group_key(line)
        group = groups.get(key)
        if group is None:
            groups[key] = group = _Group(0, 0, line.line, line.trx_date)
        group.last_date = max(group.last_date, line.trx_date)
        group.count += 1
        group.total_minor += line.net_minor + line.tax_minor
        pending_refs.append((line.source_ref, line.line, key, line.net_minor + line.tax_minor))
        if len(pending_refs) >= _LOOKUP_CHUNK:
            check_refs()
    check_refs()
    del seen_refs
    if duplicates:
        # Rare: find where each duplicated reference first appears (one more pass, only now).
        wanted = {ref for ref, _ in duplicates}
        first_line: dict[str, int] = {}
        for row in open_rows():
            ref = row.get("source_ref")
            if ref in wanted and ref not in first_line and row.line not in bad_lines:
                first_line[ref] = row.line
        for ref, line_no in duplicates:
            problems.append(
                RowProblem(file, line_no, "source_ref", f"{ref} is already on line {first_line.get(ref)}")
            )

    bad_groups: set[GroupKey] = {k for k, g in groups.items() if g.count == 0}
    # Explicit numbers that exist already.
    for chunk in _chunked(sorted({n for _, n in explicit})):
        for trx_type, number in session.execute(
            select(Transaction.trx_type, Transaction.trx_number).where(Transaction.trx_number.in_(chunk))
        ):
            key = ("#", trx_type, number)
            if key in groups:
                problems.append(
                    RowProblem(
                        file, groups[key].first_line, "trx_number", f"{trx_type} {number} already exists"
                    )
                )
                bad_groups.add(key)
    # Credit memos against existing transactions: same customer and currency, within what remains.
    credited = _load_credited(session, credited_numbers)
    credit_left = {number: sum(i.remaining for i in items) for number, (_, _, _, items) in credited.items()}
    credited_dates = _gl_dates(session, list(credited))
    for key, group in groups.items():
        if key in bad_groups or key[1] != TrxType.CREDIT_MEMO.value:
            continue
        credited_number = _credited_of(key, explicit)
        if credited_number is None:
            continue
        number = credited_number
        target = credited.get(number)
        sample = _sample_identity(key, explicit)
        if target is None:
            problems.append(
                RowProblem(file, group.first_line, "credited_trx", f"no invoice or debit memo {number}")
            )
            bad_groups.add(key)
            continue
        customer_id, currency, _, _ = target
        if group.last_date < credited_dates[number]:
            problems.append(
                RowProblem(
                    file,
                    group.first_line,
                    "credited_trx",
                    f"{number} is dated {credited_dates[number].isoformat()}, after this credit memo",
                )
            )
            bad_groups.add(key)
            continue
        if customers[sample[0]][0] != customer_id or sample[1] != currency:
            problems.append(
                RowProblem(
                    file, group.first_line, "credited_trx", f"{number} is of another customer or currency"
                )
            )
            bad_groups.add(key)
            continue
        if -group.total_minor > credit_left[number]:
            problems.append(
                RowProblem(
                    file,
                    group.first_line,
                    "credited_trx",
                    f"credit {Money.from_minor(-group.total_minor, currency)} exceeds what remains "
                    f"of {number} "
                    f"({Money.from_minor(credit_left[number], currency)})",
                )
            )
            bad_groups.add(key)
            continue
        credit_left[number] += group.total_minor
    if problems and not skip_invalid:
        raise ImportRejected(tuple(sorted(problems, key=lambda p: p.line)))

    # ---- pass 2: build the transactions, write them in batches.
    writer = _Writer(session, config, customers, posting, credited, actor, now, file)
    buffers: dict[GroupKey, list[Line]] = defaultdict(list)
    count = 0
    for row in open_rows():
        count += 1
        if progress is not None and count % 10_000 == 0:
            progress(count)
        if row.line in bad_lines:
            continue
        line = parser.parse(row, [])
        assert line is not None  # it was valid in pass 1
        key = group_key(line)
        if key in bad_groups:
            continue
        buffer = buffers[key]
        buffer.append(line)
        if len(buffer) == groups[key].count:
            writer.add(buffers.pop(key))
    assert not buffers, "every group completes in pass 2"
    writer.flush()
    audit.record(
        session,
        actor=actor,
        entity="transactions_import",
        entity_id=file,
        action="imported",
        details={
            "transactions": dict(writer.counts),
            "lines": writer.lines,
            "numbers": {t: list(r) for t, r in writer.ranges.items()},
            "skipped_problems": len(problems),
        },
        at=now,
    )
    return ImportResult(
        transactions=dict(writer.counts),
        lines=writer.lines,
        numbers=dict(writer.ranges),
        problems=tuple(sorted(problems, key=lambda p: p.line)),
    )


def _credited_of(
    key: GroupKey, explicit: Mapping[tuple[str, str], tuple[str, str, str | None, int]]
) -> str | None:
    if key[0] == "#":
        return explicit[(str(key[1]), str(key[2]))][2]
    return None if key[4] is None else str(key[4])


def _sample_identity(
    key: GroupKey, explicit: Mapping[tuple[str, str], tuple[str, str, str | None, int]]
) -> tuple[str, str]:
    if key[0] == "#":
        ident = explicit[(str(key[1]), str(key[2]))]
        return ident[0], ident[1]
    return str(key[2]), str(key[3])


def _gl_dates(session: Session, numbers: Sequence[str]) -> dict[str, date]:
    dates: dict[str, date] = {}
    for chunk in _chunked(sorted(numbers)):
        stmt = select(Transaction.trx_number, Transaction.gl_date).where(
            Transaction.trx_number.in_(chunk),
            Transaction.trx_type.in_([TrxType.INVOICE.value, TrxType.DEBIT_MEMO.value]),
        )
        for number, gl_date in session.execute(stmt):
            dates[number] = gl_date
    return dates


def _load_credited(
    session: Session, numbers: Iterable[str]
) -> dict[str, tuple[int, str, int, list[_OpenItem]]]:
    """Invoices and debit memos by number: (customer id, currency, transaction id, open items)."""
    out: dict[str, tuple[int, str, int, list[_OpenItem]]] = {}
    for chunk in _chunked(sorted(set(numbers))):
        stmt = (
            select(Transaction.trx_number, Transaction.customer_id, Transaction.currency, PaymentSchedule)
            .join(PaymentSchedule, PaymentSchedule.transaction_id == Transaction.id)
            .where(
                Transaction.trx_number.in_(chunk),
                Transaction.trx_type.in_([TrxType.INVOICE.value, TrxType.DEBIT_MEMO.value]),
            )
            .order_by(PaymentSchedule.installment)
        )
        for number, customer_id, currency, ps in session.execute(stmt):
            entry = out.setdefault(number, (customer_id, currency, ps.transaction_id, []))
            remaining = ps.amount_due_remaining_minor
            entry[3].append(
                _OpenItem(
                    ps.id,
                    ps.transaction_id,
                    ps.installment,
                    remaining,
                    customer_id,
                    currency,
                    ps.status,
                    remaining,
                )
            )
    return out


def _order_key(fields: Sequence[str]) -> Callable[[Line], tuple[str, ...]]:
    def key(line: Line) -> tuple[str, ...]:
        return tuple(str(getattr(line, f) or "") for f in fields)

    return key


class _Writer:
    """Builds transactions from complete groups and writes them with bulk INSERTs, a batch at a time."""

    def __init__(
        self,
        session: Session,
        config: ArConfig,
        customers: Mapping[str, tuple[int, str]],
        posting: _Posting,
        credited: dict[str, tuple[int, str, int, list[_OpenItem]]],
        actor: str,
        now: datetime,
        file: str,
    ) -> None:
        self.session = session
        self.config = config
        self.customers = customers
        self.posting = posting
        self.credited = credited
        self.actor, self.now, self.file = actor, now, file
        self.accounts = config.ledger.accounts
        self.terms = config.profiles.payment_terms
        self.profiles = config.profiles.profiles
        self.batch: list[list[Line]] = []
        self.ids = numbering.IdReserver(session)
        self.counts: dict[str, int] = defaultdict(int)
        self.ranges: dict[str, tuple[str, str]] = {}
        self.lines = 0
        self.touched: dict[int, _OpenItem] = {}
        self.order = _order_key(config.autoinvoice.line_order) if config.autoinvoice.line_order else None

    def add(self, lines: list[Line]) -> None:
        self.batch.append(lines)
        if len(self.batch) >= self.config.autoinvoice.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        session = self.session
        auto = self.config.autoinvoice
        trx_ids = self.ids.take(Transaction, len(batch))
        # Numbers: explicit ones as given, the others from each type's sequence.
        need: dict[str, int] = defaultdict(int)
        for lines in batch:
            if not lines[0].trx_number:
                need[lines[0].trx_type] += 1
        next_number: dict[str, int] = {}
        generated: list[str] = []
        for trx_type, n in need.items():
            seq = auto.sequence(trx_type)
            first = numbering.allocate(session, trx_type, n, start=seq.start)
            next_number[trx_type] = first
            lo, hi = seq.format(first), seq.format(first + n - 1)
            self.ranges[trx_type] = (self.ranges.get(trx_type, (lo, hi))[0], hi)
            generated.extend(seq.format(v) for v in range(first, first + n))
        self._refuse_taken(generated)

        trx_rows: list[dict[str, Any]] = []
        line_rows: list[dict[str, Any]] = []
        schedule_rows: list[dict[str, Any]] = []
        journals: list[dict[str, Any]] = []
        journal_lines: list[list[dict[str, Any]]] = []
        schedule_updates: list[_OpenItem] = []
        for trx_id, lines in zip(trx_ids, batch, strict=True):
            head = lines[0]
            trx_type = head.trx_type
            if head.trx_number:
                number = head.trx_number
            else:
                value = next_number[trx_type]
                next_number[trx_type] = value + 1
                number = auto.sequence(trx_type).format(value)
            if self.order is not None:
                lines = sorted(lines, key=self.order)
            customer_id, profile_name = self.customers[head.customer_number]
            currency = head.currency
            trx_date = max(line.trx_date for line in lines)
            period, gl_date, note = self.posting.resolve(trx_date)
            net = sum(line.net_minor for line in lines)
            tax = sum(line.tax_minor for line in lines)
            total = net + tax
            is_credit = trx_type == TrxType.CREDIT_MEMO.value
            term_name = None if is_credit else self.profiles[profile_name].payment_terms
            credited = self.credited.get(head.credited_trx) if head.credited_trx else None
            trx_rows.append(
                {
                    "id": trx_id,
                    "trx_type": trx_type,
                    "trx_number": number,
                    "customer_id": customer_id,
                    "currency": currency,
                    "trx_date": trx_date,
                    "gl_date": gl_date,
                    "order_number": head.order_number,
                    "payment_term": term_name,
                    "credited_trx_id": credited[2] if credited else None,
                    "net_minor": net,
                    "tax_minor": tax,
                    "total_minor": total,
                    "created_at": self.now,
                }
            )
            for i, line in enumerate(lines, start=1):
                line_rows.append(
                    {
                        "transaction_id": trx_id,
                        "line_number": i,
                        "source_ref": line.source_ref,
                        "description": line.description,
                        "quantity": str(line.quantity),
                        "unit_price": str(line.unit_price),
                        "tax_rate": str(line.tax_rate),
                        "net_minor": line.net_minor,
                        "tax_minor": line.tax_minor,
                    }
                )
            # Open items and the receivables side of the journal: (schedule id, signed amount).
            receivable: list[tuple[int, int]] = []
            base = {
                "transaction_id": trx_id,
                "customer_id": customer_id,
                "trx_type": trx_type,
                "trx_number": number,
                "currency": currency,
                "trx_date": trx_date,
                "amount_in_dispute_minor": 0,
            }
            if is_credit:
                (schedule_id,) = self.ids.take(PaymentSchedule, 1)
                applied = credited is not None
                schedule_rows.append(
                    base
                    | {
                        "id": schedule_id,
                        "installment": 1,
                        "due_date": trx_date,
                        "amount_due_original_minor": total,
                        "amount_due_remaining_minor": 0 if applied else total,
                        "discounts": "[]",
                        "status": ScheduleStatus.CLOSED.value if applied else ScheduleStatus.OPEN.value,
                        "closed_on": trx_date if applied else None,
                    }
                )
                if credited is None:
                    receivable.append((schedule_id, total))
                else:
                    receivable.extend(self._apply_credit(credited[3], -total, trx_date, schedule_updates))
            else:
                term = self.terms[term_name or "NET30"]
                installments = terms.schedule(Money.from_minor(total, currency), trx_date, term)
                schedule_ids = self.ids.take(PaymentSchedule, len(installments))
                for schedule_id, inst in zip(schedule_ids, installments, strict=True):
                    amount = inst.amount.minor_units
                    schedule_rows.append(
                        base
                        | {
                            "id": schedule_id,
                            "installment": inst.installment,
                            "due_date": inst.due_date,
                            "amount_due_original_minor": amount,
                            "amount_due_remaining_minor": amount,
                            "discounts": terms.offers_to_json(inst.discounts) if inst.discounts else "[]",
                            "status": ScheduleStatus.OPEN.value if amount else ScheduleStatus.CLOSED.value,
                            "closed_on": None if amount else trx_date,
                        }
                    )
                    if amount:
                        receivable.append((schedule_id, amount))
            description = f"{EVENTS[trx_type].replace('_', ' ')} {number} {head.customer_number}"
            if note:
                description = f"{description} ({note})"
            journals.append(
                {
                    "period": period.name,
                    "accounting_date": gl_date,
                    "event": EVENTS[trx_type],
                    "source_type": SOURCE_TYPE,
                    "source_id": trx_id,
                    "description": description[:240],
                    "currency": currency,
                    "reversal_of_id": None,
                    "posted_at": self.now,
                    "posted_by": self.actor,
                }
            )
            journal_lines.append(self._journal_lines(receivable, net, tax, customer_id, currency))
            self.counts[trx_type] += 1
            self.lines += len(lines)
        self._write(trx_rows, line_rows, schedule_rows, journals, journal_lines, schedule_updates)

    def _apply_credit(
        self, items: list[_OpenItem], credit: int, trx_date: date, updates: list[_OpenItem]
    ) -> list[tuple[int, int]]:
        """Reduce the credited transaction's open items by `credit` (positive minor units)."""
        order = items if self.config.autoinvoice.credit_method is CreditMethod.FIFO else list(reversed(items))
        moved: list[tuple[int, int]] = []
        left = credit
        for item in order:
            if left == 0:
                break
            take = min(item.remaining, left)
            if take <= 0:
                continue
            item.remaining -= take
            left -= take
            if item.remaining == 0:
                item.status = ScheduleStatus.CLOSED.value
                item.closed_on = trx_date
            moved.append((item.id, -take))
            updates.append(item)
        if left:
            raise ValidationError(f"credit exceeds what remains by {left} minor units")  # checked in pass 1
        return moved

    def _journal_lines(
        self, receivable: list[tuple[int, int]], net: int, tax: int, customer_id: int, currency: str
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []

        def add(account: str, signed: int, schedule_id: int | None = None) -> None:
            if signed == 0:
                return
            rows.append(
                {
                    "line_number": len(rows) + 1,
                    "account": account,
                    "debit_minor": signed if signed > 0 else 0,
                    "credit_minor": -signed if signed < 0 else 0,
                    "currency": currency,
                    "customer_id": customer_id,
                    "schedule_id": schedule_id,
                }
            )

        for schedule_id, amount in receivable:
            add(self.accounts.receivables, amount, schedule_id)
        add(self.accounts.revenue, -net)
        add(self.accounts.tax, -tax)
        if sum(r["debit_minor"] - r["credit_minor"] for r in rows) != 0:  # pragma: no cover - by construction
            raise ValidationError("internal: transaction journal does not balance")
        return rows

    def _refuse_taken(self, numbers: list[str]) -> None:
        for chunk in _chunked(numbers):
            taken = self.session.scalars(
                select(Transaction.trx_number).where(Transaction.trx_number.in_(chunk))
            ).first()
            if taken is not None:
                raise DuplicateError(
                    f"the sequence produced {taken}, which exists already: raise the sequence's start "
                    "in autoinvoice.yaml or renumber the explicit transaction"
                )

    def _write(
        self,
        trx_rows: list[dict[str, Any]],
        line_rows: list[dict[str, Any]],
        schedule_rows: list[dict[str, Any]],
        journals: list[dict[str, Any]],
        journal_lines: list[list[dict[str, Any]]],
        schedule_updates: list[_OpenItem],
    ) -> None:
        session = self.session
        # Journal numbers: gap-free per period, allocated in a block per period.
        by_period: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for journal in journals:
            by_period[journal["period"]].append(journal)
        for name, items in by_period.items():
            period = session.get(Period, name)
            assert period is not None
            first = ledger.allocate_numbers(session, period, len(items))
            for offset, journal in enumerate(items):
                journal["number"] = first + offset
        journal_ids = self.ids.take(Journal, len(journals))
        flat_lines: list[dict[str, Any]] = []
        for journal_id, journal, lines in zip(journal_ids, journals, journal_lines, strict=True):
            journal["id"] = journal_id
            for line in lines:
                line["journal_id"] = journal_id
                flat_lines.append(line)
        _bulk_insert(session, Transaction, trx_rows)
        _bulk_insert(session, TransactionLine, line_rows)
        _bulk_insert(session, PaymentSchedule, schedule_rows)
        # the cash-application index: each new item's reference keys, written with it
        orders = {row["id"]: row["order_number"] for row in trx_rows}
        indexes.index_items(
            session, ((r["id"], r["trx_number"], orders.get(r["transaction_id"])) for r in schedule_rows)
        )
        _bulk_insert(session, Journal, journals)
        _bulk_insert(session, JournalLine, flat_lines)
        if schedule_updates:
            latest = {item.id: item for item in schedule_updates}
            for item in latest.values():
                session.execute(
                    update(PaymentSchedule)
                    .where(PaymentSchedule.id == item.id)
                    .values(
                        amount_due_remaining_minor=item.remaining,
                        status=item.status,
                        closed_on=item.closed_on,
                    )
                )
                audit.record(
                    session,
                    actor=self.actor,
                    entity="payment_schedule",
                    entity_id=item.id,
                    action="credited",
                    details={
                        "amount_due_remaining": [
                            Money.from_minor(item.before, item.currency).format(),
                            Money.from_minor(item.remaining, item.currency).format(),
                        ]
                    },
                    at=self.now,
                )


def _bulk_insert(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """One DBAPI executemany per table and batch (``ar.bulkrows.insert_rows``)."""
    bulkrows.insert_rows(session, model, rows)


def refs_imported(session: Session, refs: Sequence[str]) -> set[str]:
    """Which of these source references are imported already."""
    return _existing_refs(session, refs)
