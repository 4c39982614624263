"""camt records -> JSON-able dict, in the shape fixed by DESIGN.md (``arbridge parse --json``).

Pure: no I/O. Amounts are strings with at least the currency's decimals and never
fewer than written (``"1234.50"``, ``"0.12345"``); dates and date-times ISO 8601.
The keys named in DESIGN.md are never removed or renamed; the extra keys (charges,
return_info, parties, balances, pagination, warnings...) may grow.
"""

from __future__ import annotations

from typing import Any

from formats.amount import Amount
from formats.camt.records import (
    Balance,
    BalanceType,
    BankTransactionCode,
    CamtDocument,
    Charges,
    CreditorReference,
    CurrencyExchange,
    Entry,
    Party,
    Statement,
    Transaction,
)
from formats.errors import Problem

JSON = dict[str, Any]


def _amount(amount: Amount | None) -> str | None:
    return amount.display() if amount is not None else None


def _money(amount: Amount | None) -> JSON | None:
    return {"amount": amount.display(), "currency": amount.currency} if amount is not None else None


def _party(party: Party | None) -> JSON | None:
    if party is None:
        return None
    return {
        "name": party.name,
        "identifier": party.identifier,
        "country": party.country,
        "address_lines": list(party.address_lines),
    }


def _exchange(xchg: CurrencyExchange | None) -> JSON | None:
    if xchg is None:
        return None
    return {
        "source_currency": xchg.source_currency,
        "target_currency": xchg.target_currency,
        "unit_currency": xchg.unit_currency,
        "rate": str(xchg.rate),
        "contract_id": xchg.contract_id,
    }


def _charges(charges: Charges | None) -> JSON | None:
    if charges is None:
        return None
    return {
        "total": _money(charges.total),
        "records": [
            {
                "amount": c.amount.display(),
                "currency": c.amount.currency,
                "credit_debit": c.credit_debit.value if c.credit_debit else None,
                "included": c.included,
                "type": c.type_code,
                "bearer": c.bearer,
            }
            for c in charges.records
        ],
    }


def _proprietary(code: BankTransactionCode | None) -> JSON | None:
    if code is None or code.proprietary_code is None:
        return None
    return {"code": code.proprietary_code, "issuer": code.proprietary_issuer}


def _reference(ref: CreditorReference) -> JSON:
    return {
        "ref": ref.value,
        "kind": ref.kind.value,
        "type": ref.type_code,
        "issuer": ref.issuer,
        "valid": ref.valid,
    }


def _problems(problems: tuple[Problem, ...]) -> list[str]:
    return [str(p) for p in problems]


def _balance(bal: Balance) -> JSON:
    return {
        "type": bal.type.value if bal.type else None,
        "proprietary": bal.proprietary,
        "amount": bal.amount.display(),
        "currency": bal.amount.currency,
        "credit_debit": bal.credit_debit.value,
        "date": bal.date.isoformat() if bal.date else None,
        "datetime": bal.datetime.isoformat() if bal.datetime else None,
    }


def _optional_balance(bal: Balance | None) -> JSON | None:
    return _balance(bal) if bal is not None else None


def transaction_to_json(tx: Transaction) -> JSON:
    parties = tx.parties
    details = tx.amount_details
    ret = tx.return_info
    return {
        "amount": _amount(tx.amount),
        "currency": tx.amount.currency if tx.amount else None,
        "amount_source": tx.amount_source.value if tx.amount_source else None,
        "credit_debit": tx.credit_debit.value if tx.credit_debit else None,
        "instructed_amount": _money(tx.instructed_amount),
        "counter_value_amount": _money(details.counter_value if details else None),
        "currency_exchange": _exchange(details.exchange if details else None),
        "end_to_end_id": tx.refs.end_to_end_id,
        "instruction_id": tx.refs.instruction_id,
        "transaction_id": tx.refs.transaction_id,
        "mandate_id": tx.refs.mandate_id,
        "account_servicer_ref": tx.refs.account_servicer_ref,
        "payment_info_id": tx.refs.payment_info_id,
        "message_id": tx.refs.message_id,
        "uetr": tx.refs.uetr,
        "bank_tx_code": tx.bank_tx_code.iso if tx.bank_tx_code else None,
        "bank_tx_code_proprietary": _proprietary(tx.bank_tx_code),
        "debtor_name": parties.debtor.name if parties.debtor else None,
        "debtor_iban": parties.debtor_iban,
        "debtor": _party(parties.debtor),
        "debtor_account_other": parties.debtor_account_other,
        "ultimate_debtor": _party(parties.ultimate_debtor),
        "creditor_name": parties.creditor.name if parties.creditor else None,
        "creditor_iban": parties.creditor_iban,
        "creditor": _party(parties.creditor),
        "creditor_account_other": parties.creditor_account_other,
        "ultimate_creditor": _party(parties.ultimate_creditor),
        "debtor_agent_bic": parties.debtor_agent_bic,
        "creditor_agent_bic": parties.creditor_agent_bic,
        "counterparty_name": tx.counterparty.name if tx.counterparty else None,
        "counterparty_iban": tx.counterparty_iban,
        "remittance_unstructured": list(tx.remittance_unstructured),
        "creditor_references": [_reference(r) for r in tx.creditor_references],
        "remittance_additional": list(tx.remittance_additional),
        "return_info": None
        if ret is None
        else {
            "reason_code": ret.reason_code,
            "reason_proprietary": ret.reason_proprietary,
            "additional_info": list(ret.additional_info),
            "originator_name": ret.originator_name,
            "original_bank_tx_code": ret.original_bank_tx_code.iso if ret.original_bank_tx_code else None,
        },
        "charges": _charges(tx.charges),
        "purpose": tx.purpose,
        "additional_info": tx.additional_info,
        "line": tx.origin.line,
    }


def entry_to_json(entry: Entry) -> JSON:
    details = entry.amount_details
    return {
        "amount": entry.amount.display(),
        "currency": entry.amount.currency,
        "credit_debit": entry.credit_debit.value,
        "reversal": entry.reversal,
        "status": entry.status.value,
        "booking_date": entry.booking_date.isoformat() if entry.booking_date else None,
        "booking_datetime": entry.booking_datetime.isoformat() if entry.booking_datetime else None,
        "value_date": entry.value_date.isoformat() if entry.value_date else None,
        "value_datetime": entry.value_datetime.isoformat() if entry.value_datetime else None,
        "entry_ref": entry.entry_ref,
        "account_servicer_ref": entry.account_servicer_ref,
        "entry_reference": entry.entry_reference,
        "bank_tx_code": entry.bank_tx_code.iso if entry.bank_tx_code else None,
        "bank_tx_code_proprietary": _proprietary(entry.bank_tx_code),
        "instructed_amount": _money(details.instructed if details else None),
        "currency_exchange": _exchange(entry.currency_exchange),
        "charges": _charges(entry.charges),
        "batches": [
            {
                "message_id": b.message_id,
                "payment_info_id": b.payment_info_id,
                "number_of_transactions": b.number_of_transactions,
                "total_amount": _money(b.total_amount),
                "credit_debit": b.credit_debit.value if b.credit_debit else None,
            }
            for b in entry.batches
        ],
        "additional_info": entry.additional_info,
        "transactions": [transaction_to_json(tx) for tx in entry.transactions],
        "warnings": _problems(entry.warnings),
        "line": entry.origin.line,
        "path": entry.origin.path,
    }


def statement_to_json(statement: Statement) -> JSON:
    header, end = statement.header, statement.end
    opening = end.balance(BalanceType.OPENING_BOOKED, BalanceType.PREVIOUSLY_CLOSED_BOOKED)
    closing = end.balance(BalanceType.CLOSING_BOOKED)
    account = header.account
    return {
        "id": header.statement_id,
        "kind": header.kind.value,
        "account_iban": account.iban,
        "account_other_id": account.other_id,
        "currency": account.currency,
        "account_owner": account.owner_name,
        "account_servicer_bic": account.servicer_bic,
        "electronic_sequence_number": header.electronic_sequence_number,
        "legal_sequence_number": header.legal_sequence_number,
        "created_at": header.created_at.isoformat() if header.created_at else None,
        "from": header.from_datetime.isoformat() if header.from_datetime else None,
        "to": header.to_datetime.isoformat() if header.to_datetime else None,
        "pagination": None
        if header.pagination is None
        else {"page_number": header.pagination.page_number, "last_page": header.pagination.last_page},
        "opening_balance": _optional_balance(opening),
        "closing_balance": _optional_balance(closing),
        "balances": [_balance(b) for b in end.balances],
        "booked_credit_total": str(end.booked_credit_total),
        "booked_debit_total": str(end.booked_debit_total),
        "other_currency_entries": end.other_currency_entries,
        "additional_info": header.additional_info,
        "entries": [entry_to_json(e) for e in statement.entries],
        "warnings": _problems(header.warnings + end.warnings),
    }


def document_to_json(document: CamtDocument) -> JSON:
    """The whole document as the ``arbridge parse --json`` dict."""
    header = document.header
    return {
        "format": header.format,
        "kind": header.kind.value,
        "message_id": header.message_id,
        "created_at": header.created_at.isoformat() if header.created_at else None,
        "pagination": None
        if header.pagination is None
        else {"page_number": header.pagination.page_number, "last_page": header.pagination.last_page},
        "additional_info": header.additional_info,
        "statements": [statement_to_json(s) for s in document.statements],
        "warnings": _problems(header.warnings),
    }
