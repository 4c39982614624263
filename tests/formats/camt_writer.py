"""Test-only writer: camt records -> camt.053 XML (versions .001.02 and .001.08).

Used by the round-trip property test and by unit tests that need a valid document
to mutate. Not a product renderer: it writes only what the records carry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from formats.amount import Amount
from formats.camt.profiles import profile_for
from formats.camt.records import (
    Account,
    Balance,
    BalanceType,
    BankTransactionCode,
    CreditDebit,
    CreditorReference,
    Entry,
    EntryStatus,
    Origin,
    Party,
    ReferenceKind,
    RelatedParties,
    Transaction,
    TransactionAmountSource,
    TransactionRefs,
)

_NOWHERE = Origin("generated", None, "")


@dataclass(frozen=True)
class StatementSpec:
    """What the writer needs of a statement (the parser's StatementHeader carries more)."""

    statement_id: str
    account: Account
    balances: Sequence[Balance]
    entries: Sequence[Entry]
    created_at: datetime = datetime(2024, 1, 31, 18, 0, 0)


@dataclass(frozen=True)
class DocumentSpec:
    message_id: str
    statements: Sequence[StatementSpec]
    created_at: datetime = datetime(2024, 1, 31, 18, 0, 0)
    extra: dict[str, str] = field(default_factory=dict)


def make_transaction(
    *,
    amount: Amount | None = None,
    end_to_end_id: str | None = None,
    debtor_name: str | None = None,
    debtor_iban: str | None = None,
    creditor_name: str | None = None,
    unstructured: Iterable[str] = (),
    references: Iterable[str] = (),
    index: int = 1,
) -> Transaction:
    refs = tuple(
        CreditorReference(
            r, ReferenceKind.RF if r.startswith("RF") else ReferenceKind.SCOR, "SCOR", None, None
        )
        for r in references
    )
    debtor = Party(debtor_name, None, None, ()) if debtor_name else None
    creditor = Party(creditor_name, None, None, ()) if creditor_name else None
    return Transaction(
        index=index,
        amount=amount,
        amount_source=TransactionAmountSource.TX_DETAILS if amount else None,
        credit_debit=None,
        amount_details=None,
        instructed_amount=None,
        refs=TransactionRefs(None, None, None, None, end_to_end_id, None, None, None),
        bank_tx_code=None,
        parties=RelatedParties(debtor, debtor_iban, None, None, creditor, None, None, None, None, None),
        counterparty=None,
        counterparty_iban=None,
        remittance_unstructured=tuple(unstructured),
        creditor_references=refs,
        remittance_additional=(),
        return_info=None,
        charges=None,
        purpose=None,
        additional_info=None,
        origin=_NOWHERE,
    )


def make_entry(
    amount: Amount,
    credit_debit: CreditDebit,
    *,
    status: EntryStatus = EntryStatus.BOOKED,
    reversal: bool = False,
    booking_date: date | None = date(2024, 1, 2),
    value_date: date | None = date(2024, 1, 2),
    account_servicer_ref: str | None = None,
    bank_tx_code: BankTransactionCode | None = None,
    transactions: Sequence[Transaction] = (),
    index: int = 1,
) -> Entry:
    return Entry(
        index=index,
        amount=amount,
        credit_debit=credit_debit,
        reversal=reversal,
        status=status,
        booking_date=booking_date,
        booking_datetime=None,
        value_date=value_date,
        value_datetime=None,
        entry_ref=account_servicer_ref,
        account_servicer_ref=account_servicer_ref,
        entry_reference=None,
        bank_tx_code=bank_tx_code,
        amount_details=None,
        charges=None,
        batches=(),
        transactions=tuple(transactions),
        additional_info=None,
        warnings=(),
        origin=_NOWHERE,
    )


def make_balance(kind: BalanceType, amount: Amount, credit_debit: CreditDebit, day: date) -> Balance:
    return Balance(kind, None, None, amount, credit_debit, day, None, _NOWHERE)


def make_account(iban: str | None, currency: str | None, other_id: str | None = None) -> Account:
    return Account(iban, other_id, None, currency, None, None, None)


def render_camt053(doc: DocumentSpec, *, version: int = 2) -> bytes:
    """camt.053.001.0{version} XML of the document (version 2 or 8)."""
    if version not in (2, 8):
        raise ValueError("the test writer renders versions 2 and 8")
    profile = profile_for(f"camt.053.001.{version:02d}")
    ns = profile.namespace

    def el(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
        node = etree.SubElement(parent, f"{{{ns}}}{name}", attrs)
        if text is not None:
            node.text = text
        return node

    def amount(parent: etree._Element, value: Amount) -> None:
        el(parent, "Amt", format(value.value, "f"), Ccy=value.currency)

    def party(parent: etree._Element, name: str, who: Party) -> None:
        node = el(parent, name)
        if version >= 8:
            node = el(node, "Pty")
        el(node, "Nm", who.name)

    root = etree.Element(f"{{{ns}}}Document", nsmap={None: ns})
    envelope = el(root, "BkToCstmrStmt")
    grp = el(envelope, "GrpHdr")
    el(grp, "MsgId", doc.message_id)
    el(grp, "CreDtTm", doc.created_at.isoformat())
    for stmt_spec in doc.statements:
        stmt = el(envelope, "Stmt")
        el(stmt, "Id", stmt_spec.statement_id)
        el(stmt, "CreDtTm", stmt_spec.created_at.isoformat())
        acct = el(stmt, "Acct")
        ident = el(acct, "Id")
        if stmt_spec.account.iban:
            el(ident, "IBAN", stmt_spec.account.iban)
        else:
            el(el(ident, "Othr"), "Id", stmt_spec.account.other_id)
        if stmt_spec.account.currency:
            el(acct, "Ccy", stmt_spec.account.currency)
        for bal in stmt_spec.balances:
            node = el(stmt, "Bal")
            assert bal.type is not None
            el(el(el(node, "Tp"), "CdOrPrtry"), "Cd", bal.type.value)
            amount(node, bal.amount)
            el(node, "CdtDbtInd", bal.credit_debit.value)
            assert bal.date is not None
            el(el(node, "Dt"), "Dt", bal.date.isoformat())
        for entry in stmt_spec.entries:
            ntry = el(stmt, "Ntry")
            amount(ntry, entry.amount)
            el(ntry, "CdtDbtInd", entry.credit_debit.value)
            if entry.reversal:
                el(ntry, "RvslInd", "true")
            if version >= 8:
                el(el(ntry, "Sts"), "Cd", entry.status.value)
            else:
                el(ntry, "Sts", entry.status.value)
            if entry.booking_date:
                el(el(ntry, "BookgDt"), "Dt", entry.booking_date.isoformat())
            if entry.value_date:
                el(el(ntry, "ValDt"), "Dt", entry.value_date.isoformat())
            if entry.account_servicer_ref:
                el(ntry, "AcctSvcrRef", entry.account_servicer_ref)
            code = entry.bank_tx_code
            btc = el(ntry, "BkTxCd")
            if code is not None and code.domain:
                domn = el(btc, "Domn")
                el(domn, "Cd", code.domain)
                fmly = el(domn, "Fmly")
                el(fmly, "Cd", code.family)
                el(fmly, "SubFmlyCd", code.subfamily)
            if code is not None and code.proprietary_code:
                prtry = el(btc, "Prtry")
                el(prtry, "Cd", code.proprietary_code)
                if code.proprietary_issuer:
                    el(prtry, "Issr", code.proprietary_issuer)
            if not len(btc):
                ntry.remove(btc)
            if entry.transactions:
                dtls = el(ntry, "NtryDtls")
                for tx in entry.transactions:
                    _render_tx(el, amount, party, dtls, tx, version)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _render_tx(el, amount, party, dtls, tx: Transaction, version: int) -> None:  # type: ignore[no-untyped-def]
    node = el(dtls, "TxDtls")
    if tx.refs.end_to_end_id:
        el(el(node, "Refs"), "EndToEndId", tx.refs.end_to_end_id)
    if tx.amount is not None:
        if version >= 8:
            amount(node, tx.amount)
        else:
            amount(el(el(node, "AmtDtls"), "TxAmt"), tx.amount)
    parties = tx.parties
    if parties.debtor or parties.debtor_iban or parties.creditor:
        rltd = el(node, "RltdPties")
        if parties.debtor:
            party(rltd, "Dbtr", parties.debtor)
        if parties.debtor_iban:
            el(el(el(rltd, "DbtrAcct"), "Id"), "IBAN", parties.debtor_iban)
        if parties.creditor:
            party(rltd, "Cdtr", parties.creditor)
    if tx.remittance_unstructured or tx.creditor_references:
        rmt = el(node, "RmtInf")
        for line in tx.remittance_unstructured:
            el(rmt, "Ustrd", line)
        for ref in tx.creditor_references:
            cri = el(el(rmt, "Strd"), "CdtrRefInf")
            el(el(el(cri, "Tp"), "CdOrPrtry"), "Cd", "SCOR")
            el(cri, "Ref", ref.value)


def decimal_text(value: Decimal) -> str:
    return format(value, "f")
