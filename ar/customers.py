"""Customers: master data import (DESIGN.md, customers CSV), relationships, bank accounts, mandates.

Columns: customer_number, name, class (required), profile (default "default"),
parent_number, relationship ("reciprocal" or empty: one-way), iban (several separated
by ";"), bic, mandate_id, mandate_signed, country, gln, email.

The file is the master for the columns it has: a re-import updates customers by
number, and when the file has an `iban` column a customer's bank accounts become what
the row lists (likewise `parent_number` for its payer relationship). Mandates are
added or updated, never removed by an import (revoking one is a deliberate act).
Every change is audited as {field: [before, after]}.

A file with invalid rows imports nothing (ImportRejected lists every problem); with
`skip_invalid` the good rows are imported and the problems returned.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session
from stdnum import ean

from ar import audit
from ar.cashapp import indexes
from ar.errors import NotFoundError
from ar.model import Customer, CustomerBankAccount, CustomerRelationship, Mandate
from ar.rows import ImportRejected, RowError, RowProblem, SourceRow, header_problems, iso_date, text

REQUIRED_COLUMNS = frozenset({"customer_number", "name", "class"})
COLUMNS = REQUIRED_COLUMNS | frozenset(
    {
        "profile",
        "parent_number",
        "relationship",
        "iban",
        "bic",
        "mandate_id",
        "mandate_signed",
        "country",
        "gln",
        "email",
    }
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
# SEPA mandate reference: 1-35 of the restricted Latin set (EPC: a-z A-Z 0-9 / - ? : ( ) . , ' + space).
_MANDATE_ID = re.compile(r"^[A-Za-z0-9/\-?:().,'+ ]{1,35}$")
_CHUNK = 500


def normalise_iban(value: str) -> str:
    """Compact, upper case and checksum-validated; RowError-free: raises ValueError with the reason.

    >>> normalise_iban("de89 3704 0044 0532 0130 00")
    'DE89370400440532013000'
    """
    try:
        return str(IBAN(value).compact)
    except SchwiftyException as exc:
        message = str(exc)
        raise ValueError("invalid IBAN checksum" if "checksum" in message.lower() else message) from None


@dataclass(frozen=True, slots=True)
class CustomerRow:
    line: int
    number: str
    name: str
    customer_class: str
    profile: str
    parent_number: str | None
    reciprocal: bool
    ibans: tuple[str, ...]
    bic: str | None
    mandate_id: str | None
    mandate_signed: date | None
    country: str | None
    gln: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class CustomerImportResult:
    created: int
    updated: int
    unchanged: int
    #: The rows left out (with skip_invalid); empty otherwise.
    problems: tuple[RowProblem, ...] = field(default_factory=tuple)


def _parse(
    row: SourceRow, profiles: Collection[str], problems: list[RowProblem], file: str
) -> CustomerRow | None:
    errors: list[RowError] = []

    def take(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RowError as exc:
            errors.append(exc)
            return None

    number = take(text, row, "customer_number", max_length=40, required=True)
    name = take(text, row, "name", max_length=240, required=True)
    customer_class = take(text, row, "class", max_length=40, required=True)
    profile = row.get("profile") or "default"
    if profile not in profiles:
        errors.append(RowError("profile", f"{profile!r} is not a profile of profiles.yaml"))
    parent = take(text, row, "parent_number", max_length=40)
    if parent is not None and parent == number:
        errors.append(RowError("parent_number", "a customer cannot be its own parent"))
    relationship = row.get("relationship").lower()
    if relationship not in ("", "one-way", "reciprocal"):
        errors.append(RowError("relationship", "'reciprocal', 'one-way' or empty"))
    ibans: list[str] = []
    for part in row.get("iban").split(";"):
        if part.strip():
            try:
                compact = normalise_iban(part.strip())
            except ValueError as exc:
                errors.append(
                    RowError("iban", f"{part.strip()}: {exc}" if ";" in row.get("iban") else str(exc))
                )
                continue
            if compact not in ibans:
                ibans.append(compact)
    bic = row.get("bic") or None
    if bic:
        try:
            bic = str(BIC(bic).compact)
        except SchwiftyException as exc:
            errors.append(RowError("bic", f"invalid BIC: {exc}"))
    mandate_id = row.get("mandate_id") or None
    signed = take(iso_date, row, "mandate_signed")
    if mandate_id:
        if not _MANDATE_ID.match(mandate_id):
            errors.append(RowError("mandate_id", "1-35 characters of A-Z a-z 0-9 / - ? : ( ) . , ' + space"))
        if signed is None and not any(e.column == "mandate_signed" for e in errors):
            errors.append(RowError("mandate_signed", "required with mandate_id (the date it was signed)"))
        if not ibans and not any(e.column == "iban" for e in errors):
            errors.append(RowError("iban", "a mandate needs the IBAN it debits"))
    elif signed is not None:
        errors.append(RowError("mandate_id", "required with mandate_signed"))
    country = row.get("country").upper() or None
    if country and not _COUNTRY.match(country):
        errors.append(RowError("country", "an ISO 3166 two-letter code"))
    gln = row.get("gln") or None
    if gln and not (len(gln) == 13 and ean.is_valid(gln)):
        errors.append(RowError("gln", "not a GLN (13 digits with a valid check digit)"))
    email = take(text, row, "email", max_length=254)
    if email and not _EMAIL.match(email):
        errors.append(RowError("email", "not an email address"))
    if errors:
        problems.extend(RowProblem(file, row.line, e.column, e.message) for e in errors)
        return None
    return CustomerRow(
        line=row.line,
        number=number,
        name=name,
        customer_class=customer_class,
        profile=profile,
        parent_number=parent,
        reciprocal=relationship == "reciprocal",
        ibans=tuple(ibans),
        bic=bic,
        mandate_id=mandate_id,
        mandate_signed=signed,
        country=country,
        gln=gln,
        email=email,
    )


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def by_numbers(session: Session, numbers: Iterable[str]) -> dict[str, Customer]:
    wanted = sorted(set(numbers))
    found: dict[str, Customer] = {}
    for chunk in _chunks(wanted):
        for customer in session.scalars(select(Customer).where(Customer.number.in_(chunk))):
            found[customer.number] = customer
    return found


def import_customers(
    session: Session,
    rows: Iterable[SourceRow],
    *,
    columns: frozenset[str],
    file: str,
    profiles: Collection[str],
    actor: str,
    now: datetime,
    skip_invalid: bool = False,
) -> CustomerImportResult:
    """Validate every row, then create or update the customers (flushed, not committed).

    Raises ImportRejected with every problem when a row is invalid (unless `skip_invalid`).
    """
    problems = header_problems(file, columns, REQUIRED_COLUMNS, COLUMNS)
    if any(p.column in REQUIRED_COLUMNS for p in problems):
        raise ImportRejected(tuple(problems))
    parsed: list[CustomerRow] = []
    seen: dict[str, int] = {}
    any_line: dict[str, int] = {}
    for row in rows:
        any_line.setdefault(row.get("customer_number"), row.line)
        customer = _parse(row, profiles, problems, file)
        if customer is None:
            continue
        if customer.number in seen:
            problems.append(
                RowProblem(
                    file,
                    row.line,
                    "customer_number",
                    f"{customer.number} is already on line {seen[customer.number]}",
                )
            )
            continue
        seen[customer.number] = row.line
        parsed.append(customer)

    existing = by_numbers(
        session, [c.number for c in parsed] + [c.parent_number for c in parsed if c.parent_number]
    )
    mandate_owner = _mandate_owners(session, [c.mandate_id for c in parsed if c.mandate_id])
    mandate_lines: dict[str, int] = {}
    good: dict[str, CustomerRow] = {}
    for c in parsed:
        if c.mandate_id:
            owner = mandate_owner.get(c.mandate_id)
            if c.mandate_id in mandate_lines:
                problems.append(
                    RowProblem(
                        file,
                        c.line,
                        "mandate_id",
                        f"{c.mandate_id} is already on line {mandate_lines[c.mandate_id]}",
                    )
                )
                continue
            if owner is not None and owner != c.number:
                problems.append(
                    RowProblem(file, c.line, "mandate_id", f"{c.mandate_id} belongs to customer {owner}")
                )
                continue
            mandate_lines[c.mandate_id] = c.line
        good[c.number] = c
    # Parents may come after their children, or be in the database already. A parent left
    # out (invalid row) leaves its children out too, transitively.
    changed = True
    while changed:
        changed = False
        for number, c in list(good.items()):
            if c.parent_number and c.parent_number not in good and c.parent_number not in existing:
                where = (
                    f" (line {any_line[c.parent_number]} is invalid)" if c.parent_number in any_line else ""
                )
                problems.append(
                    RowProblem(
                        file, c.line, "parent_number", f"customer {c.parent_number} does not exist{where}"
                    )
                )
                del good[number]
                changed = True
    if problems and not skip_invalid:
        raise ImportRejected(tuple(sorted(problems, key=lambda p: p.line)))
    created, updated, unchanged = _write(session, list(good.values()), existing, columns, actor, now)
    return CustomerImportResult(created, updated, unchanged, tuple(sorted(problems, key=lambda p: p.line)))


def _mandate_owners(session: Session, mandate_ids: Sequence[str]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for chunk in _chunks(sorted(set(mandate_ids))):
        stmt = select(Mandate.mandate_id, Customer.number).join(Customer, Customer.id == Mandate.customer_id)
        for mandate_id, number in session.execute(stmt.where(Mandate.mandate_id.in_(chunk))):
            owners[mandate_id] = number
    return owners


_FIELDS = ("name", "customer_class", "profile", "country", "gln", "email")
_OPTIONAL_COLUMN = {"country": "country", "gln": "gln", "email": "email", "profile": "profile"}


def _write(
    session: Session,
    rows: list[CustomerRow],
    existing: dict[str, Customer],
    columns: frozenset[str],
    actor: str,
    now: datetime,
) -> tuple[int, int, int]:
    created = updated = unchanged = 0
    changes: dict[str, dict[str, list[Any]]] = {}
    new: list[Customer] = []
    with session.no_autoflush:
        for row in rows:
            customer = existing.get(row.number)
            diff: dict[str, list[Any]] = {}
            if customer is None:
                customer = Customer(number=row.number, active=True, created_at=now, updated_at=now)
                session.add(customer)
                new.append(customer)
                existing[row.number] = customer
            for name in _FIELDS:
                column = _OPTIONAL_COLUMN.get(name)
                if column is not None and column not in columns and customer.id is not None:
                    continue  # the file does not speak of this field: leave it alone
                value = getattr(row, name)
                before = getattr(customer, name)
                if before != value:
                    diff[name] = [before, value]
                    setattr(customer, name, value)
            changes[row.number] = diff
    session.flush()  # ids of the new customers, for relationships, accounts and mandates
    known = _Known.load(
        session, [existing[r.number].id for r in rows], [r.mandate_id for r in rows if r.mandate_id]
    )
    new_numbers = {c.number for c in new}
    # the name search of cash application finds them from now on (not only after the next run)
    indexes.index_customers(
        session,
        (
            (existing[r.number].id, existing[r.number].name)
            for r in rows
            if r.number in new_numbers or "name" in changes[r.number]
        ),
    )
    with session.no_autoflush:
        for row in rows:
            customer = existing[row.number]
            diff = changes[row.number]
            if "iban" in columns:
                _sync_accounts(session, known, customer, row, diff)
            if "parent_number" in columns:
                _sync_parent(session, known, customer, row, existing, diff)
            if row.mandate_id:
                _sync_mandate(session, known, customer, row, diff)
            if row.number in new_numbers:
                created += 1
                action = "created"
            elif diff:
                updated += 1
                customer.updated_at = now
                action = "updated"
            else:
                unchanged += 1
                continue
            audit.record(
                session,
                actor=actor,
                entity="customer",
                entity_id=row.number,
                action=action,
                details=diff,
                at=now,
            )
    session.flush()
    return created, updated, unchanged


@dataclass
class _Known:
    """Bank accounts, payer relationships and mandates of the customers in the file, loaded at once."""

    accounts: dict[int, dict[str, CustomerBankAccount]]
    relationships: dict[int, list[CustomerRelationship]]
    numbers: dict[int, str]
    mandates: dict[str, Mandate]

    @classmethod
    def load(cls, session: Session, customer_ids: list[int], mandate_ids: list[str]) -> _Known:
        known = cls(defaultdict(dict), defaultdict(list), {}, {})
        ids = sorted(set(customer_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for account in session.scalars(
                select(CustomerBankAccount).where(CustomerBankAccount.customer_id.in_(chunk))
            ):
                known.accounts[account.customer_id][account.iban] = account
            for relationship in session.scalars(
                select(CustomerRelationship).where(CustomerRelationship.customer_id.in_(chunk))
            ):
                known.relationships[relationship.customer_id].append(relationship)
        payer_ids = sorted({r.payer_id for rs in known.relationships.values() for r in rs})
        for start in range(0, len(payer_ids), _CHUNK):
            chunk = payer_ids[start : start + _CHUNK]
            known.numbers.update(
                (number_id, number)
                for number_id, number in session.execute(
                    select(Customer.id, Customer.number).where(Customer.id.in_(chunk))
                )
            )
        for mandate_chunk in _chunks(sorted(set(mandate_ids))):
            for mandate in session.scalars(select(Mandate).where(Mandate.mandate_id.in_(mandate_chunk))):
                known.mandates[mandate.mandate_id] = mandate
        return known


def _sync_accounts(
    session: Session, known: _Known, customer: Customer, row: CustomerRow, diff: dict[str, list[Any]]
) -> None:
    current = known.accounts.get(customer.id, {})
    before = sorted(current)
    for iban in row.ibans:
        account = current.get(iban)
        if account is None:
            session.add(CustomerBankAccount(customer_id=customer.id, iban=iban, bic=row.bic))
        elif account.bic != row.bic and row.bic is not None:
            diff.setdefault(f"bic[{iban}]", [account.bic, row.bic])
            account.bic = row.bic
    gone = [iban for iban in current if iban not in row.ibans]
    if gone:
        session.execute(
            delete(CustomerBankAccount).where(
                CustomerBankAccount.customer_id == customer.id, CustomerBankAccount.iban.in_(gone)
            )
        )
    after = sorted(row.ibans)
    if before != after:
        diff["iban"] = [before, after]


def _sync_parent(
    session: Session,
    known: _Known,
    customer: Customer,
    row: CustomerRow,
    existing: dict[str, Customer],
    diff: dict[str, list[Any]],
) -> None:
    current = known.relationships.get(customer.id, [])
    before = [{"number": known.numbers.get(r.payer_id), "reciprocal": r.reciprocal} for r in current]
    parent = existing.get(row.parent_number) if row.parent_number else None
    wanted = [{"number": parent.number, "reciprocal": row.reciprocal}] if parent is not None else []
    if before == wanted:
        return
    keep = None
    for relationship in current:
        if parent is not None and relationship.payer_id == parent.id:
            relationship.reciprocal = row.reciprocal
            keep = relationship
        else:
            session.execute(delete(CustomerRelationship).where(CustomerRelationship.id == relationship.id))
    if parent is not None and keep is None:
        session.add(
            CustomerRelationship(payer_id=parent.id, customer_id=customer.id, reciprocal=row.reciprocal)
        )
    diff["parent"] = [before[0] if before else None, wanted[0] if wanted else None]


def _sync_mandate(
    session: Session, known: _Known, customer: Customer, row: CustomerRow, diff: dict[str, list[Any]]
) -> None:
    assert row.mandate_id is not None and row.mandate_signed is not None
    mandate = known.mandates.get(row.mandate_id)
    iban = row.ibans[0]
    if mandate is None:
        session.add(
            Mandate(
                customer_id=customer.id,
                mandate_id=row.mandate_id,
                signed_on=row.mandate_signed,
                iban=iban,
                bic=row.bic,
                status="active",
                sequence_type="FRST",
            )
        )
        diff[f"mandate[{row.mandate_id}]"] = [
            None,
            {"signed_on": row.mandate_signed.isoformat(), "iban": iban},
        ]
        return
    for name, value in (("signed_on", row.mandate_signed), ("iban", iban), ("bic", row.bic)):
        before = getattr(mandate, name)
        if before != value:
            diff[f"mandate[{row.mandate_id}].{name}"] = [before, value]
            setattr(mandate, name, value)


# --------------------------------------------------------------------------- lookups
def get(session: Session, number: str) -> Customer:
    customer = session.scalars(select(Customer).where(Customer.number == number)).one_or_none()
    if customer is None:
        raise NotFoundError("customer", number)
    return customer


def by_iban(session: Session, iban: str) -> Sequence[Customer]:
    """Customers with this bank account (normalised IBAN): who a statement's payer is."""
    return session.scalars(
        select(Customer)
        .join(CustomerBankAccount, CustomerBankAccount.customer_id == Customer.id)
        .where(CustomerBankAccount.iban == iban)
        .order_by(Customer.id)
    ).all()


def may_pay_for(session: Session, payer_id: int) -> Sequence[int]:
    """Ids of the customers whose items `payer_id` may pay: itself, its children, and the
    parents of reciprocal relationships."""
    stmt = select(CustomerRelationship).where(
        or_(
            CustomerRelationship.payer_id == payer_id,
            (CustomerRelationship.customer_id == payer_id) & CustomerRelationship.reciprocal.is_(True),
        )
    )
    ids = {payer_id}
    for r in session.scalars(stmt):
        ids.add(r.customer_id if r.payer_id == payer_id else r.payer_id)
    return sorted(ids)


def active_mandate(session: Session, customer_id: int) -> Mandate | None:
    return session.scalars(
        select(Mandate)
        .where(Mandate.customer_id == customer_id, Mandate.status == "active")
        .order_by(Mandate.signed_on.desc(), Mandate.id.desc())
    ).first()
