"""``match suggest-rules``: learn from what people applied by hand.

Two kinds of suggestion, for a person to accept:

- **IBAN links**: a receipt a user applied to a customer's items came from an IBAN not
  yet linked to that customer (nor to anyone else): link it, and the next receipt from
  it is identified by IBAN. Accepting writes the customer bank account.
- **Reference patterns**: the engine did not find the applied transaction in the
  remittance, but a token of it holds the transaction's number ("R/2024/000123" for
  INV-000123): a regex generalised from such tokens (letters and separators literal,
  digit runs ``\\d{n}``, the number itself the ``ref`` group), ranked by how many receipts
  it explains. Accepting prints the matching.yaml snippet (configuration is edited by
  people and reviewed, not written by the engine).

>>> generalise("R/2024/000123", "123")
'R/\\\\d{4}/(?P<ref>\\\\d{6})'
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ar import audit
from ar.applications import ApplicationStatus, MadeBy, ReceivableApplication
from ar.errors import ValidationError
from ar.matching.context import normalise_iban
from ar.matching.references import extract, index_keys
from ar.matching.rules import ReferenceOptions
from ar.model import Customer, CustomerBankAccount, PaymentSchedule
from ar.receipts import Receipt

_RUNS = re.compile(r"[0-9]+|[A-Za-z]+|[^0-9A-Za-z]+")
_NUMBER = re.compile(r"[0-9]+")


def generalise(token: str, number: str) -> str | None:
    """A regex for tokens shaped like ``token`` whose digit run equal to ``number`` (leading
    zeros aside) is the reference; None when no digit run of the token is the number."""
    parts: list[str] = []
    found = False
    for run in _RUNS.findall(token):
        if run.isdigit():
            if not found and (run.lstrip("0") or "0") == number:
                parts.append(f"(?P<ref>\\d{{{len(run)}}})")
                found = True
            else:
                parts.append(f"\\d{{{len(run)}}}")
        else:
            parts.append(re.escape(run))
    return "".join(parts) if found else None


@dataclass(frozen=True, slots=True)
class Suggestion:
    number: int
    kind: str  # "iban" or "pattern"
    support: int  # receipts it would have explained
    examples: tuple[str, ...]  # entry references of those receipts
    customer_id: int | None = None
    customer_number: str | None = None
    iban: str | None = None
    pattern: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "kind": self.kind,
            "support": self.support,
            "examples": list(self.examples),
            "customer": self.customer_number,
            "iban": self.iban,
            "pattern": self.pattern,
        }

    def yaml_snippet(self, rule_set: str = "default") -> str:
        assert self.pattern is not None
        quoted = "'" + self.pattern.replace("'", "''") + "'"
        return f"rule_sets:\n  {rule_set}:\n    references:\n      patterns:\n        - {quoted}\n"


def _manual_applications(session: Session) -> list[tuple[Receipt, PaymentSchedule]]:
    rows = session.execute(
        select(Receipt, PaymentSchedule)
        .join(ReceivableApplication, ReceivableApplication.receipt_id == Receipt.id)
        .join(PaymentSchedule, PaymentSchedule.id == ReceivableApplication.schedule_id)
        .where(
            ReceivableApplication.status == ApplicationStatus.APPLIED.value,
            ReceivableApplication.made_by == MadeBy.USER.value,
            ReceivableApplication.reversal_of_id.is_(None),
            ReceivableApplication.reversed_at.is_(None),
        )
        .order_by(ReceivableApplication.id)
    ).all()
    return [(receipt, item) for receipt, item in rows]


def suggest(session: Session, *, min_support: int = 1) -> list[Suggestion]:
    """Every suggestion, IBAN links first, each kind by support (most first); numbered from 1."""
    pairs = _manual_applications(session)
    links: dict[tuple[str, int], set[str]] = defaultdict(set)
    patterns: dict[str, set[str]] = defaultdict(set)
    for receipt, item in pairs:
        if receipt.payer_iban:
            links[(normalise_iban(receipt.payer_iban), item.customer_id)].add(receipt.entry_ref)
        lines = json.loads(receipt.remittance or "[]") + json.loads(receipt.references or "[]")
        item_keys = set(index_keys(item.trx_number))
        found = extract(lines, (), None, ReferenceOptions())
        if any(f.prefixed and f.key in item_keys for f in found):
            continue  # the engine reads this reference already
        numbers = _NUMBER.findall(item.trx_number)
        if not numbers:
            continue
        number = numbers[-1].lstrip("0") or "0"
        for line in lines:
            for token in line.split():
                pattern = generalise(token, number)
                if pattern is not None:
                    patterns[pattern].add(receipt.entry_ref)
    linked = {
        (iban, customer_id)
        for iban, customer_id in session.execute(
            select(CustomerBankAccount.iban, CustomerBankAccount.customer_id).where(
                CustomerBankAccount.iban.in_(sorted({iban for iban, _ in links}))
            )
        )
    }
    owned = {iban for iban, _ in linked}
    wanted = sorted({c for _, c in links})
    customer_numbers: dict[int, str] = {
        customer_id: number
        for customer_id, number in session.execute(
            select(Customer.id, Customer.number).where(Customer.id.in_(wanted))
        )
    }
    out: list[Suggestion] = []
    for (iban, customer_id), refs in sorted(
        links.items(), key=lambda kv: (-len(kv[1]), customer_numbers.get(kv[0][1], ""), kv[0][0])
    ):
        if iban in owned or len(refs) < min_support:
            continue  # linked already, or to someone else (a person decides, not a suggestion)
        out.append(
            Suggestion(
                len(out) + 1,
                "iban",
                len(refs),
                tuple(sorted(refs))[:5],
                customer_id,
                customer_numbers.get(customer_id),
                iban,
            )
        )
    for pattern, refs in sorted(patterns.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if len(refs) >= min_support:
            out.append(
                Suggestion(len(out) + 1, "pattern", len(refs), tuple(sorted(refs))[:5], pattern=pattern)
            )
    return out


def accept(session: Session, suggestion: Suggestion, *, user: str, now: datetime) -> str:
    """Carry out a suggestion: link the IBAN (written), or the YAML snippet of a pattern (returned)."""
    if suggestion.kind == "pattern":
        return suggestion.yaml_snippet()
    if suggestion.customer_id is None or suggestion.iban is None:
        raise ValidationError(f"suggestion {suggestion.number} names no customer and IBAN")
    account = CustomerBankAccount(customer_id=suggestion.customer_id, iban=suggestion.iban)
    session.add(account)
    session.flush()
    audit.record(
        session,
        actor=user,
        entity="customer",
        entity_id=suggestion.customer_id,
        action="bank_account_linked",
        details={"iban": suggestion.iban, "learnt_from": list(suggestion.examples)},
        at=now,
    )
    return f"linked {suggestion.iban} to customer {suggestion.customer_number}"
