"""The accelerated reader of camt entries: one C pass per ``Ntry``, then plain Python on lists.

Reading an entry through lxml's Python API touches some forty elements, each a proxy
object and a tag string; that cost four times what libxml2 spends parsing the entry. The
C extension ``formats.camt._extract`` walks the entry's libxml2 nodes once and returns
the texts named by a *plan* (below) as nested lists; :class:`FastEntryReader` turns them
into the same :class:`~formats.camt.records.Entry` the Python reader would build.

It handles the entries that are well-formed and clean, which is nearly all of them.
Anything else is handed back (``read()`` returns None) and the Python reader in
``formats.camt.parser`` reads that entry and reports its problems with lines and paths:
an unknown or unusual element (charges, return information, currency exchange, agent
parties), a second occurrence of a single element, an over-long text, any value the
Python reader would reject or warn about. So the two readers cannot disagree; the tests
parse every sample and generated document both ways and compare the records.

The plans list, for each element the Python reader looks into, every child it reads
(other children are ignored by both readers); ``tests/formats/test_fastpath.py`` checks
that against the Python reader's own lookups.

When the extension is missing (no C compiler at install time) or fails its self-check
on a known document, :data:`ACCELERATED` is False and the Python reader does all the work.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from lxml import etree

from formats.amount import Amount, is_currency_code, parse_decimal_amount
from formats.camt.leaves import (
    BOOLEANS,
    CREDIT_DEBIT,
    NO_PARTIES,
    NO_REFS,
    SENTINELS,
    STATUS,
    booked_amount,
    date_from_text,
    datetime_from_text,
    make_amount,
    make_entry,
    make_origin,
    make_parties,
    make_reference,
    make_refs,
    make_transaction,
    reference_kind,
)
from formats.camt.records import (
    AmountDetails,
    BankTransactionCode,
    Batch,
    CreditDebit,
    CreditorReference,
    Entry,
    Origin,
    Party,
    ReferenceKind,
    RelatedParties,
    Transaction,
    TransactionAmountSource,
    TransactionRefs,
)

__all__ = ["ACCELERATED", "C_BUILDER", "ENTRY_PLAN", "FastEntryReader", "PlanNode"]

try:
    from formats.camt import _extract  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the build
    _extract = None

# Rule kinds, as formats/camt/_extract.c numbers them.
TEXT, TEXT_LIST, NODE, GROUP, FALLBACK, IGNORE, ATTRIBUTE, LINE = range(1, 9)


class PlanNode:
    """What to read under one element: its children's texts and sub-records, in slot order.

    ``rules`` are (name, kind[, sub-plan]); each rule but FALLBACK/IGNORE takes the next
    slot, after the element's own text when ``text`` is set. The record the extension
    returns is a list in that order, so the reader unpacks it positionally.
    """

    def __init__(self, rules: Sequence[tuple[Any, ...]], *, text: bool = False, strict: bool = False) -> None:
        self.rules = tuple(rules)
        self.text = text
        self.strict = strict

    def names(self) -> tuple[str, ...]:
        """The child element names this node reads (for the coverage test)."""
        return tuple(r[0] for r in self.rules if r[1] not in (ATTRIBUTE, LINE))

    def child(self, name: str) -> PlanNode | None:
        for rule in self.rules:
            if rule[0] == name and len(rule) > 2:
                sub: PlanNode = rule[2]
                return sub
        return None

    def spec(self) -> tuple[Any, ...]:
        slot = 1 if self.text else 0
        rules: list[tuple[Any, ...]] = []
        for rule in self.rules:
            name, kind = rule[0], rule[1]
            sub = rule[2].spec() if len(rule) > 2 else None
            if kind in (FALLBACK, IGNORE):
                rules.append((name.encode(), kind, -1, None))
            else:
                rules.append((name.encode(), kind, slot, sub))
                slot += 1
        return (slot, 0 if self.text else -1, self.strict, tuple(rules))


_AMT = PlanNode([("@Ccy", ATTRIBUTE)], text=True)  # [text, Ccy]
_AMOUNT_PART = PlanNode([("Amt", NODE, _AMT), ("CcyXchg", FALLBACK)])  # [Amt]
_AMOUNT_DETAILS = PlanNode(
    [("InstdAmt", NODE, _AMOUNT_PART), ("TxAmt", NODE, _AMOUNT_PART), ("CntrValAmt", NODE, _AMOUNT_PART)]
)
_DATE = PlanNode([("Dt", TEXT), ("DtTm", TEXT)])
_FAMILY = PlanNode([("Cd", TEXT), ("SubFmlyCd", TEXT)])
_BANK_TX_CODE = PlanNode(
    [
        (
            "Domn",
            NODE,
            PlanNode([("Cd", TEXT), ("Fmly", NODE, PlanNode([("Cd", TEXT), ("SubFmlyCd", TEXT)]))]),
        ),
        ("Prtry", NODE, PlanNode([("Cd", TEXT), ("Issr", TEXT)])),
    ]
)
# V2-V6: text; V7+: Cd (Prtry: the Python reader reports it). Strict: the Python reader
# switches on whether Sts has any element child.
_STATUS = PlanNode([("Cd", TEXT), ("Prtry", FALLBACK)], text=True, strict=True)
_OTHER = PlanNode([("Id", TEXT)])
_PARTY_ID = PlanNode(
    [
        ("OrgId", NODE, PlanNode([("AnyBIC", TEXT), ("BICOrBEI", TEXT), ("Othr", GROUP, _OTHER)])),
        ("PrvtId", NODE, PlanNode([("Othr", GROUP, _OTHER)])),
    ]
)
_PARTY_FIELDS = [
    ("Nm", TEXT),
    ("Id", NODE, _PARTY_ID),
    ("PstlAdr", NODE, PlanNode([("Ctry", TEXT), ("AdrLine", TEXT_LIST)])),
]
_PARTY = PlanNode([*_PARTY_FIELDS, ("Pty", NODE, PlanNode(_PARTY_FIELDS)), ("Agt", FALLBACK)])
_ACCOUNT = PlanNode([("Id", NODE, PlanNode([("IBAN", TEXT), ("Othr", GROUP, _OTHER)]))])
_AGENT = PlanNode([("FinInstnId", NODE, PlanNode([("BICFI", TEXT), ("BIC", TEXT)]))])
_REFS = PlanNode(
    [(name, TEXT) for name in "MsgId AcctSvcrRef PmtInfId InstrId EndToEndId TxId MndtId UETR".split()]
)
_CODE_OR_PROPRIETARY = PlanNode([("Cd", TEXT), ("Prtry", TEXT)])
_CREDITOR_REFERENCE = PlanNode(
    [
        (
            "Tp",
            NODE,
            PlanNode([("CdOrPrtry", NODE, PlanNode([("Cd", TEXT), ("Prtry", TEXT)])), ("Issr", TEXT)]),
        ),
        ("Ref", TEXT),
    ]
)
_TRANSACTION = PlanNode(
    [
        ("#line", LINE),
        ("Amt", NODE, _AMT),
        ("CdtDbtInd", TEXT),
        ("AmtDtls", NODE, _AMOUNT_DETAILS),
        ("Refs", NODE, _REFS),
        (
            "RltdPties",
            NODE,
            PlanNode(
                [
                    ("Dbtr", NODE, _PARTY),
                    ("DbtrAcct", NODE, _ACCOUNT),
                    ("UltmtDbtr", NODE, _PARTY),
                    ("Cdtr", NODE, _PARTY),
                    ("CdtrAcct", NODE, _ACCOUNT),
                    ("UltmtCdtr", NODE, _PARTY),
                ]
            ),
        ),
        ("RltdAgts", NODE, PlanNode([("DbtrAgt", NODE, _AGENT), ("CdtrAgt", NODE, _AGENT)])),
        (
            "RmtInf",
            NODE,
            PlanNode(
                [
                    ("Ustrd", TEXT_LIST),
                    (
                        "Strd",
                        GROUP,
                        PlanNode([("CdtrRefInf", GROUP, _CREDITOR_REFERENCE), ("AddtlRmtInf", TEXT_LIST)]),
                    ),
                ]
            ),
        ),
        ("Purp", NODE, PlanNode([("Cd", TEXT), ("Prtry", TEXT)])),
        ("BkTxCd", NODE, _BANK_TX_CODE),
        ("AddtlTxInf", TEXT),
        ("RtrInf", FALLBACK),
        ("Chrgs", FALLBACK),
    ]
)
_BATCH = PlanNode(
    [("MsgId", TEXT), ("PmtInfId", TEXT), ("NbOfTxs", TEXT), ("TtlAmt", NODE, _AMT), ("CdtDbtInd", TEXT)]
)
ENTRY_PLAN = PlanNode(
    [
        ("Amt", NODE, _AMT),
        ("CdtDbtInd", TEXT),
        ("RvslInd", TEXT),
        ("Sts", NODE, _STATUS),
        ("BookgDt", NODE, _DATE),
        ("ValDt", NODE, _DATE),
        ("AcctSvcrRef", TEXT),
        ("NtryRef", TEXT),
        ("AmtDtls", NODE, _AMOUNT_DETAILS),
        ("BkTxCd", NODE, _BANK_TX_CODE),
        ("NtryDtls", GROUP, PlanNode([("Btch", NODE, _BATCH), ("TxDtls", GROUP, _TRANSACTION)])),
        ("AddtlNtryInf", TEXT),
        ("Chrgs", FALLBACK),
    ]
)


class _NotHandled(Exception):
    """Internal: this entry is for the Python reader."""


_NOT_HANDLED = _NotHandled()


def _text(value: str | None) -> str | None:
    """Stripped text, None when absent or blank (the Python reader's t1)."""
    if value:
        value = value.strip()
        return value or None
    return None


def _reference(value: str | None) -> str | None:
    """Like _text; the sentinels NOTPROVIDED / NONREF read as None."""
    if value:
        value = value.strip()
        if value and value.upper() not in SENTINELS:
            return value
    return None


def _raw(value: str | None) -> str | None:
    """Free text as written, None when blank."""
    return value if value and value.strip() else None


def _amount_or_none(text: str | None, currency: str | None) -> Amount | None:
    """An Amt's text and Ccy as the Python reader accepts them, else None."""
    if text is None or len(text) > 64:
        return None
    value = parse_decimal_amount(text)
    currency = (currency or "").strip()
    if value is None or not is_currency_code(currency):
        return None
    return make_amount(value, currency)


def _amount(record: list[Any]) -> Amount:
    found = _amount_or_none(record[0], record[1])
    if found is None:
        raise _NOT_HANDLED
    return found


def _date_or_none(text: str) -> Any:
    try:
        return date_from_text(text.strip())
    except ValueError:
        return None


def _datetime_or_none(text: str) -> Any:
    try:
        return datetime_from_text(text.strip())
    except ValueError:
        return None


def _indicator(text: str | None) -> CreditDebit | None:
    if text is None:
        return None
    found = CREDIT_DEBIT.get(text.strip())
    if found is None:
        raise _NOT_HANDLED
    return found


def _amount_details(record: list[Any]) -> AmountDetails:
    amounts: list[Amount | None] = []
    for part in record:  # InstdAmt, TxAmt, CntrValAmt
        if part is None:
            amounts.append(None)
        elif part[0] is None:
            raise _NOT_HANDLED  # a part without its Amt
        else:
            amounts.append(_amount(part[0]))
    instructed, transaction, counter_value = amounts
    return AmountDetails(
        instructed=instructed, transaction=transaction, counter_value=counter_value, exchange=None
    )


def _date_choice(record: list[Any] | None) -> tuple[Any, Any]:
    if record is None:
        return None, None
    day, stamp = record
    if stamp is not None:
        moment = _datetime_or_none(stamp)
        if moment is None:
            raise _NOT_HANDLED
        return moment.date(), moment
    if day is not None:
        found = _date_or_none(day)
        if found is None:
            raise _NOT_HANDLED
        return found, None
    raise _NOT_HANDLED  # neither Dt nor DtTm


def _first_other_id(others: list[Any] | None) -> str | None:
    return _text(others[0][0]) if others else None


def _account_ids(record: list[Any] | None) -> tuple[str | None, str | None]:
    if record is None or record[0] is None:
        return None, None
    iban, others = record[0]
    return _text(iban), _first_other_id(others)


def _agent_bic(record: list[Any] | None) -> str | None:
    if record is None or record[0] is None:
        return None
    bicfi, bic = record[0]
    return _text(bicfi) or _text(bic)


def _reference_or_none(
    value: str, code: str | None, proprietary: str | None, issuer: str | None
) -> CreditorReference | None:
    """The creditor reference, or None when its check digits fail (a warning with its place)."""
    kind, valid = reference_kind(value, code, proprietary)
    if valid is False:
        return None
    return make_reference(value, kind, code or proprietary, issuer, valid)


def _creditor_reference(record: list[Any]) -> CreditorReference | None:
    type_record, ref = record
    value = _text(ref)
    if value is None:
        return None
    code = proprietary = issuer = None
    if type_record is not None:
        code_or_proprietary, issuer_text = type_record
        issuer = _text(issuer_text)
        if code_or_proprietary is not None:
            code, proprietary = _text(code_or_proprietary[0]), _text(code_or_proprietary[1])
    found = _reference_or_none(value, code, proprietary, issuer)
    if found is None:
        raise _NOT_HANDLED
    return found


def _maker(cls: type) -> tuple[type, tuple[Any, ...]]:
    """(class, member descriptors in field order): how the C builder makes a record."""
    descriptors = tuple(getattr(cls, f.name) for f in dataclasses.fields(cls))
    if not all(isinstance(d, types.MemberDescriptorType) for d in descriptors):
        raise TypeError(f"{cls.__name__} is not a slots dataclass")
    return cls, descriptors


class FastEntryReader:
    """Builds Entry records from the extension's lists; None for what it leaves to the Python reader."""

    def __init__(
        self,
        namespace: str,
        source: str,
        max_text_length: int,
        party: Callable[..., Party],
        bank_tx_code: Callable[..., Any],
        counterparty: Callable[[RelatedParties, CreditDebit | None, bool], tuple[Party | None, str | None]],
    ) -> None:
        assert _extract is not None
        self._plan = _extract.compile(ENTRY_PLAN.spec(), namespace or None)
        self._extract = _extract.extract
        self._source = source
        self._max_text = max_text_length  # bytes >= characters: a longer text is never accepted
        self._party_of = party
        self._bank_tx_code_of = bank_tx_code
        self._counterparty = counterparty
        self._builder: Any = None
        if C_BUILDER:
            kit = {
                "Entry": _maker(Entry),
                "Transaction": _maker(Transaction),
                "TransactionRefs": _maker(TransactionRefs),
                "RelatedParties": _maker(RelatedParties),
                "Origin": _maker(Origin),
                "AmountDetails": _maker(AmountDetails),
                "Batch": _maker(Batch),
                "Amount": _maker(Amount),
                "Party": _maker(Party),
                "BankTransactionCode": _maker(BankTransactionCode),
                "CreditorReference": _maker(CreditorReference),
                "Decimal": Decimal,
                "kind_rf": ReferenceKind.RF,
                "kind_qrr": ReferenceKind.QRR,
                "kind_scor": ReferenceKind.SCOR,
                "kind_code": ReferenceKind.OTHER_CODE,
                "kind_proprietary": ReferenceKind.PROPRIETARY,
                "kind_untyped": ReferenceKind.UNTYPED,
                "amount": _amount_or_none,
                "date": _date_or_none,
                "datetime": _datetime_or_none,
                "creditor_reference": _reference_or_none,
                "counterparty": counterparty,
                "credit": CreditDebit.CREDIT,
                "debit": CreditDebit.DEBIT,
                "statuses": dict(STATUS),
                "booleans": dict(BOOLEANS),
                "source_tx": TransactionAmountSource.TX_DETAILS,
                "source_details": TransactionAmountSource.TX_AMOUNT_DETAILS,
                "source_entry": TransactionAmountSource.ENTRY,
                "no_refs": NO_REFS,
                "no_parties": NO_PARTIES,
            }
            self._builder = _extract.EntryBuilder(self._plan, max_text_length, source, kit)

    def read(self, ntry: etree._Element, index: int, entry_path: str) -> Entry | None:
        if self._builder is not None:
            return self._builder.read(ntry, index, entry_path)  # type: ignore[no-any-return]
        record = self._extract(self._plan, ntry, self._max_text)
        if record is None:
            return None
        try:
            return self._entry(record, ntry, index, entry_path)
        except _NotHandled:
            return None

    def _entry(self, record: list[Any], ntry: etree._Element, index: int, entry_path: str) -> Entry:
        (
            amount_record,
            indicator_text,
            reversal_text,
            status_record,
            booking,
            value,
            servicer_text,
            reference_text,
            details_record,
            code_record,
            details_groups,
            additional,
        ) = record
        if amount_record is None or indicator_text is None or status_record is None:
            raise _NOT_HANDLED
        amount = _amount(amount_record)
        indicator = _indicator(indicator_text)
        reversal = False
        if reversal_text is not None:
            flag = BOOLEANS.get(reversal_text.strip())
            if flag is None:
                raise _NOT_HANDLED
            reversal = flag
        status_text, status_code = status_record
        status = STATUS.get((status_code if status_code is not None else status_text or "").strip())
        if status is None:
            raise _NOT_HANDLED
        booking_date, booking_dt = _date_choice(booking)
        value_date, value_dt = _date_choice(value)
        servicer_ref = _reference(servicer_text)
        entry_reference = _reference(reference_text)
        details = _amount_details(details_record) if details_record is not None else None
        bank_code = self._bank_tx_code(code_record)

        batches: list[Batch] = []
        located: list[tuple[list[Any], str]] = []
        if details_groups:
            several = len(details_groups) > 1
            for d_index, (batch_record, txs) in enumerate(details_groups, 1):
                path = f"{entry_path}/NtryDtls[{d_index}]" if several else f"{entry_path}/NtryDtls"
                if txs:
                    if len(txs) == 1:
                        located.append((txs[0], f"{path}/TxDtls"))
                    else:
                        located.extend((tx, f"{path}/TxDtls[{t}]") for t, tx in enumerate(txs, 1))
                if batch_record is not None:
                    batches.append(self._batch(batch_record, len(txs) if txs else 0))
        single = len(located) == 1
        transactions = tuple(
            [
                self._transaction(tx, t_index, path, amount if single else None, indicator, reversal)
                for t_index, (tx, path) in enumerate(located, 1)
            ]
        )
        if single:
            tx_amount = transactions[0].amount
            if (
                tx_amount is not None
                and tx_amount.currency == amount.currency
                and tx_amount.value != amount.value
            ):
                raise _NOT_HANDLED  # CAMT-W005, reported by the Python reader
        return make_entry(  # the fields of Entry, in order
            index,
            amount,
            indicator,
            reversal,
            status,
            booking_date,
            booking_dt,
            value_date,
            value_dt,
            servicer_ref or entry_reference,
            servicer_ref,
            entry_reference,
            bank_code,
            details,
            None,  # charges: an entry with Chrgs is read by the Python reader
            tuple(batches) if batches else (),
            transactions,
            _raw(additional),
            (),
            make_origin(self._source, ntry.sourceline, entry_path),
        )

    def _batch(self, record: list[Any], transaction_count: int) -> Batch:
        message_id, payment_info_id, count_text, total_record, indicator_text = record
        count_text = _text(count_text)
        count: int | None = None
        if count_text is not None:
            if not (count_text.isascii() and count_text.isdigit() and len(count_text) <= 15):
                raise _NOT_HANDLED
            count = int(count_text)
            if transaction_count and count != transaction_count:
                raise _NOT_HANDLED  # CAMT-W004
        return Batch(
            message_id=_reference(message_id),
            payment_info_id=_reference(payment_info_id),
            number_of_transactions=count,
            total_amount=_amount(total_record) if total_record is not None else None,
            credit_debit=_indicator(indicator_text),
        )

    def _bank_tx_code(self, record: list[Any] | None) -> Any:
        if record is None:
            return None
        domain = family = subfamily = code = issuer = None
        domain_record, proprietary_record = record
        if domain_record is not None:
            domain_code, family_record = domain_record
            domain = _text(domain_code)
            if family_record is not None:
                family, subfamily = _text(family_record[0]), _text(family_record[1])
        if proprietary_record is not None:
            code, issuer = _text(proprietary_record[0]), _text(proprietary_record[1])
        return self._bank_tx_code_of(domain, family, subfamily, code, issuer)

    def _party(self, record: list[Any] | None) -> Party | None:
        if record is None:
            return None
        name, ident, address, wrapped = record
        if wrapped is not None:  # V8+: Party35Choice/Pty
            name, ident, address = wrapped
        identifier: str | None = None
        if ident is not None:
            organisation, private = ident
            if organisation is not None:
                any_bic, bic_or_bei, others = organisation
                identifier = _text(any_bic) or _text(bic_or_bei) or _first_other_id(others)
            elif private is not None:
                identifier = _first_other_id(private[0])
        country: str | None = None
        lines: tuple[str, ...] = ()
        if address is not None:
            country = _text(address[0])
            if address[1]:
                lines = tuple([line for line in address[1] if line and line.strip()])
        return self._party_of(_text(name), identifier, country, lines)

    def _transaction(
        self,
        record: list[Any],
        index: int,
        path: str,
        entry_amount: Amount | None,
        entry_indicator: CreditDebit | None,
        reversal: bool,
    ) -> Transaction:
        (
            line,
            amount_record,
            indicator_text,
            details_record,
            refs_record,
            parties_record,
            agents_record,
            remittance,
            purpose_record,
            code_record,
            additional,
        ) = record
        tx_amount = _amount(amount_record) if amount_record is not None else None
        tx_indicator = _indicator(indicator_text)
        details = _amount_details(details_record) if details_record is not None else None
        amount, source = booked_amount(tx_amount, details, entry_amount)
        refs = make_refs(*[_reference(v) for v in refs_record]) if refs_record is not None else NO_REFS
        if parties_record is not None or agents_record is not None:
            debtor, debtor_account, ultimate_debtor, creditor, creditor_account, ultimate_creditor = (
                parties_record or (None,) * 6
            )
            debtor_agent, creditor_agent = agents_record or (None, None)
            debtor_iban, debtor_other = _account_ids(debtor_account)
            creditor_iban, creditor_other = _account_ids(creditor_account)
            parties = make_parties(  # the fields of RelatedParties, in order
                self._party(debtor),
                debtor_iban,
                debtor_other,
                self._party(ultimate_debtor),
                self._party(creditor),
                creditor_iban,
                creditor_other,
                self._party(ultimate_creditor),
                _agent_bic(debtor_agent),
                _agent_bic(creditor_agent),
            )
        else:
            parties = NO_PARTIES
        counterparty, counterparty_iban = self._counterparty(
            parties, tx_indicator or entry_indicator, reversal
        )
        unstructured: tuple[str, ...] = ()
        references: list[CreditorReference] = []
        additional_remittance: list[str] = []
        if remittance is not None:
            lines, structured = remittance
            if lines:
                unstructured = tuple([text for text in lines if text and text.strip()])
            for group in structured or ():
                for reference_record in group[0] or ():
                    reference = _creditor_reference(reference_record)
                    if reference is not None:
                        references.append(reference)
                for text in group[1] or ():
                    if text and text.strip():
                        additional_remittance.append(text)
        purpose = None
        if purpose_record is not None:
            purpose = _text(purpose_record[0]) or _text(purpose_record[1])
        return make_transaction(  # the fields of Transaction, in order
            index,
            amount,
            source,
            tx_indicator,
            details,
            details.instructed if details is not None else None,
            refs,
            self._bank_tx_code(code_record),
            parties,
            counterparty,
            counterparty_iban,
            unstructured,
            tuple(references) if references else (),
            tuple(additional_remittance) if additional_remittance else (),
            None,  # return information: read by the Python reader
            None,  # charges: likewise
            purpose,
            _raw(additional),
            make_origin(self._source, line if line > 0 else None, path),
        )


def _self_check() -> bool:
    """The extension reads this lxml's structures as expected (else it is not used)."""
    if _extract is None:
        return False
    try:
        root = etree.fromstring(b'<a xmlns="urn:t">\n<b c="C">x<![CDATA[&y]]></b><b/><d>z</d></a>')
        if _extract.node_facts(root) != ("a", "urn:t", 1):
            return False
        plan = _extract.compile(
            PlanNode([("b", TEXT_LIST), ("d", NODE, PlanNode([("#line", LINE)], text=True))]).spec(), "urn:t"
        )
        return bool(_extract.extract(plan, root, 100) == [["x&y", None], ["z", 2]])
    except Exception:
        return False


ACCELERATED = _self_check()
# The records are built in C (EntryBuilder) when the extension is there; the Python
# builder above is the reference it is tested against (tests set this to False).
C_BUILDER = ACCELERATED
