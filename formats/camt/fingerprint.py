"""A stable identity for a statement entry that has no bank reference (pure helper for the gateway).

The gateway registers an entry by (account, entry reference). ``Entry.entry_ref`` is
``AcctSvcrRef``, else ``NtryRef``, else None; for the None case it uses
:func:`entry_fingerprint`.
"""

from __future__ import annotations

import hashlib

from formats.camt.records import Entry

FINGERPRINT_VERSION = "camt-entry-v1"


def entry_fingerprint(statement_account: str, entry: Entry) -> str:
    """SHA-256 (hex) over the fields that identify a booking, stable across runs and versions.

    The digest covers, in this order, each as UTF-8 text joined by ``\\x1f`` (unit
    separator) and prefixed by ``camt-entry-v1``:

    1. ``statement_account`` -- the account's IBAN or other id, as the caller passes it;
    2. booking date (``YYYY-MM-DD``, the date part when the bank gave a date-time), or "";
    3. value date (same form), or "";
    4. the entry amount exactly as written (``Decimal`` string, ``474.4`` stays ``474.4``);
    5. its currency code;
    6. the credit/debit indicator (``CRDT`` / ``DBIT``);
    7. the ISO bank transaction code ``DOMN/FMLY/SUBFMLY``, else ``PRTRY:code:issuer``, else "";
    8. the first transaction's end-to-end id, or "";
    9. the first transaction's remittance: its unstructured lines joined by ``\\n``, then
       its creditor references joined by ``\\n`` (``|`` between the two), or "".

    Two entries that differ in none of these are, for the bank, the same booking seen
    twice (a re-sent statement); entries that really are distinct but identical in all of
    these are rare, and the gateway must disambiguate them with their position (e.g. a
    counter per fingerprint within one statement).

    >>> from datetime import date
    >>> from decimal import Decimal
    >>> from formats.amount import Amount
    >>> from formats.camt.records import CreditDebit, EntryStatus, Origin
    >>> e = Entry(1, Amount(Decimal("10.5"), "EUR"), CreditDebit.CREDIT, False, EntryStatus.BOOKED,
    ...           date(2024, 1, 2), None, date(2024, 1, 2), None, None, None, None, None, None, None,
    ...           (), (), None, (), Origin("f.xml", 1, "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]"))
    >>> entry_fingerprint("DE89370400440532013000", e)[:16]
    '84de88f68d26efb9'
    """
    code = entry.bank_tx_code
    code_text = ""
    if code is not None:
        code_text = code.iso or (
            f"PRTRY:{code.proprietary_code}:{code.proprietary_issuer or ''}" if code.proprietary_code else ""
        )
    first = entry.transactions[0] if entry.transactions else None
    end_to_end = (first.refs.end_to_end_id or "") if first else ""
    remittance = ""
    if first is not None and (first.remittance_unstructured or first.creditor_references):
        remittance = (
            "\n".join(first.remittance_unstructured)
            + "|"
            + "\n".join(r.value for r in first.creditor_references)
        )
    parts = (
        FINGERPRINT_VERSION,
        statement_account,
        entry.booking_date.isoformat() if entry.booking_date else "",
        entry.value_date.isoformat() if entry.value_date else "",
        str(entry.amount.value),
        entry.amount.currency,
        entry.credit_debit.value,
        code_text,
        end_to_end,
        remittance,
    )
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
