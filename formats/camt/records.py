"""Typed, immutable records of ISO 20022 bank-to-customer cash management messages.

camt.053 (BankToCustomerStatement, ``Stmt``), camt.052 (BankToCustomerAccountReport,
``Rpt``) and camt.054 (BankToCustomerDebitCreditNotification, ``Ntfctn``) share the
same entry model; these records cover all three, versions .001.02 to .001.13.

Amounts are :class:`formats.amount.Amount` (non-negative ``Decimal`` as written +
currency); the sign is always the separate :class:`CreditDebit` indicator. Every
record carries an :class:`Origin` (file, line, XPath by local names).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from formats.amount import Amount
from formats.errors import Problem


class DocumentKind(StrEnum):
    STATEMENT = "statement"  # camt.053 BkToCstmrStmt/Stmt
    REPORT = "report"  # camt.052 BkToCstmrAcctRpt/Rpt
    NOTIFICATION = "notification"  # camt.054 BkToCstmrDbtCdtNtfctn/Ntfctn


class CreditDebit(StrEnum):
    CREDIT = "CRDT"
    DEBIT = "DBIT"


class EntryStatus(StrEnum):
    BOOKED = "BOOK"
    PENDING = "PDNG"
    INFORMATION = "INFO"
    FUTURE = "FUTR"  # ExternalEntryStatus1Code, V7+


class BalanceType(StrEnum):
    OPENING_BOOKED = "OPBD"
    PREVIOUSLY_CLOSED_BOOKED = "PRCD"
    CLOSING_BOOKED = "CLBD"
    INTERIM_BOOKED = "ITBD"
    OPENING_AVAILABLE = "OPAV"
    INTERIM_AVAILABLE = "ITAV"
    CLOSING_AVAILABLE = "CLAV"
    FORWARD_AVAILABLE = "FWAV"
    EXPECTED_CREDIT = "XPCR"
    EXPECTED_DEBIT = "XPDB"
    EXPECTED = "XPCD"
    INFORMATION = "INFO"


class ReferenceKind(StrEnum):
    RF = "RF"  # ISO 11649 creditor reference (Tp/CdOrPrtry/Cd SCOR, value RF..), check digits verified
    QRR = "QRR"  # Swiss QR reference / ESR-ISR (Prtry "QRR", "ESR", "ISR Reference"): 27 digits, mod-10 check
    SCOR = "SCOR"  # structured communication reference, not RF (e.g. Belgian OGM)
    OTHER_CODE = "CODE"  # another DocumentType3Code (RADM, RPIN, FXDR, DISP, PUOR)
    PROPRIETARY = "PRTRY"  # Tp/CdOrPrtry/Prtry
    UNTYPED = "NONE"  # no Tp


class TransactionAmountSource(StrEnum):
    """Where a transaction's booked amount came from (InstdAmt never counts: it is what was instructed)."""

    TX_DETAILS = "TxDtls/Amt"
    TX_AMOUNT_DETAILS = "TxDtls/AmtDtls/TxAmt/Amt"
    ENTRY = "Ntry/Amt"  # single transaction: the entry's booked amount


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record came from."""

    source: str  # file name as given to parse()
    line: int | None  # sourceline of the element
    path: str  # XPath by local names: /Document/BkToCstmrStmt/Stmt[1]/Ntry[17]

    def __str__(self) -> str:
        return f"{self.source}:{self.line} ({self.path})"


@dataclass(frozen=True, slots=True)
class Pagination:
    page_number: str  # PgNb (Max5NumericText, kept as text)
    last_page: bool  # LastPgInd


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """The message's group header (GrpHdr), yielded first."""

    format: str  # e.g. "camt.053.001.02" (from the namespace, or inferred)
    namespace: str  # root namespace as written ("" when namespace-less)
    kind: DocumentKind
    message_id: str | None  # GrpHdr/MsgId
    created_at: datetime | None  # GrpHdr/CreDtTm
    pagination: Pagination | None  # GrpHdr/MsgPgntn
    additional_info: str | None  # GrpHdr/AddtlInf
    warnings: tuple[Problem, ...]  # e.g. a lenient LastPgInd
    origin: Origin


@dataclass(frozen=True, slots=True)
class Account:
    iban: str | None  # Acct/Id/IBAN
    other_id: str | None  # Acct/Id/Othr/Id
    other_scheme: str | None  # Acct/Id/Othr/SchmeNm/Cd or Prtry
    currency: str | None  # Acct/Ccy
    name: str | None  # Acct/Nm
    owner_name: str | None  # Acct/Ownr/Nm
    servicer_bic: str | None  # Acct/Svcr/FinInstnId/BIC (V2-V6) or BICFI (V7+)

    @property
    def identifier(self) -> str | None:
        """IBAN, else the other identification."""
        return self.iban or self.other_id


@dataclass(frozen=True, slots=True)
class Balance:
    type: BalanceType | None  # Bal/Tp/CdOrPrtry/Cd (V2-V12) or Bal/Tp/Cd; None when proprietary/unknown
    proprietary: str | None  # Bal/Tp/CdOrPrtry/Prtry, or an unknown Cd as written
    sub_type: str | None  # Bal/Tp/SubTp/Cd or Prtry
    amount: Amount  # Bal/Amt
    credit_debit: CreditDebit  # Bal/CdtDbtInd
    date: date | None  # Bal/Dt/Dt (or the date of Bal/Dt/DtTm)
    datetime: datetime | None  # Bal/Dt/DtTm
    origin: Origin

    @property
    def signed_value(self) -> Decimal:
        return self.amount.value if self.credit_debit is CreditDebit.CREDIT else -self.amount.value


@dataclass(frozen=True, slots=True)
class StatementHeader:
    """Everything of a Stmt/Rpt/Ntfctn before its entries; yielded before the first entry."""

    kind: DocumentKind
    index: int  # 1-based position in the document
    statement_id: str | None  # Id
    electronic_sequence_number: str | None  # ElctrncSeqNb
    legal_sequence_number: str | None  # LglSeqNb
    created_at: datetime | None  # CreDtTm
    from_datetime: datetime | None  # FrToDt/FrDtTm
    to_datetime: datetime | None  # FrToDt/ToDtTm
    pagination: Pagination | None  # StmtPgntn / RptPgntn / NtfctnPgntn (V3+)
    account: Account  # Acct
    balances: tuple[Balance, ...]  # Bal (those before the first entry, i.e. all in a valid file)
    additional_info: str | None  # AddtlStmtInf / AddtlRptInf / AddtlNtfctnInf
    warnings: tuple[Problem, ...]
    origin: Origin


@dataclass(frozen=True, slots=True)
class BankTransactionCode:
    domain: str | None  # BkTxCd/Domn/Cd
    family: str | None  # BkTxCd/Domn/Fmly/Cd
    subfamily: str | None  # BkTxCd/Domn/Fmly/SubFmlyCd
    proprietary_code: str | None  # BkTxCd/Prtry/Cd
    proprietary_issuer: str | None  # BkTxCd/Prtry/Issr

    @property
    def iso(self) -> str | None:
        """ "DOMN/FMLY/SUBFMLY", or None without a complete ISO code."""
        if self.domain and self.family and self.subfamily:
            return f"{self.domain}/{self.family}/{self.subfamily}"
        return None


@dataclass(frozen=True, slots=True)
class CurrencyExchange:
    source_currency: str | None  # CcyXchg/SrcCcy
    target_currency: str | None  # CcyXchg/TrgtCcy
    unit_currency: str | None  # CcyXchg/UnitCcy
    rate: Decimal  # CcyXchg/XchgRate, exact
    contract_id: str | None  # CcyXchg/CtrctId


@dataclass(frozen=True, slots=True)
class AmountDetails:
    """AmtDtls: the amounts around a booking. Only ``transaction`` may stand for the booked amount."""

    instructed: Amount | None  # AmtDtls/InstdAmt/Amt: what the originator instructed
    transaction: Amount | None  # AmtDtls/TxAmt/Amt
    counter_value: Amount | None  # AmtDtls/CntrValAmt/Amt
    exchange: CurrencyExchange | None  # first CcyXchg of TxAmt, InstdAmt, CntrValAmt


@dataclass(frozen=True, slots=True)
class Charge:
    amount: Amount  # Chrgs/Amt (V2) or Chrgs/Rcrd/Amt (V3+)
    credit_debit: CreditDebit | None  # CdtDbtInd
    included: bool | None  # Rcrd/ChrgInclInd: already included in the entry amount
    type_code: str | None  # Tp/Cd or Tp/Prtry/Id
    bearer: str | None  # Br


@dataclass(frozen=True, slots=True)
class Charges:
    total: Amount | None  # TtlChrgsAndTaxAmt
    records: tuple[Charge, ...]


@dataclass(frozen=True, slots=True)
class Party:
    name: str | None  # Nm (V2-V7) or Pty/Nm (V8+)
    identifier: str | None  # Id/OrgId/AnyBIC|BICOrBEI, else first Id/*/Othr/Id
    country: str | None  # PstlAdr/Ctry
    address_lines: tuple[str, ...]  # PstlAdr/AdrLine


@dataclass(frozen=True, slots=True)
class RelatedParties:
    debtor: Party | None  # RltdPties/Dbtr
    debtor_iban: str | None  # RltdPties/DbtrAcct/Id/IBAN
    debtor_account_other: str | None  # RltdPties/DbtrAcct/Id/Othr/Id
    ultimate_debtor: Party | None  # RltdPties/UltmtDbtr
    creditor: Party | None  # RltdPties/Cdtr
    creditor_iban: str | None  # RltdPties/CdtrAcct/Id/IBAN
    creditor_account_other: str | None  # RltdPties/CdtrAcct/Id/Othr/Id
    ultimate_creditor: Party | None  # RltdPties/UltmtCdtr
    debtor_agent_bic: str | None  # RltdAgts/DbtrAgt/FinInstnId/BIC|BICFI
    creditor_agent_bic: str | None  # RltdAgts/CdtrAgt/FinInstnId/BIC|BICFI


@dataclass(frozen=True, slots=True)
class TransactionRefs:
    message_id: str | None  # Refs/MsgId
    account_servicer_ref: str | None  # Refs/AcctSvcrRef
    payment_info_id: str | None  # Refs/PmtInfId
    instruction_id: str | None  # Refs/InstrId
    end_to_end_id: str | None  # Refs/EndToEndId (NOTPROVIDED -> None)
    transaction_id: str | None  # Refs/TxId
    mandate_id: str | None  # Refs/MndtId
    uetr: str | None  # Refs/UETR (V8+)


@dataclass(frozen=True, slots=True)
class CreditorReference:
    value: str  # RmtInf/Strd/CdtrRefInf/Ref, as written (trimmed)
    kind: ReferenceKind
    type_code: str | None  # CdtrRefTp/CdOrPrtry/Cd or Prtry (Tp/... in V2)
    issuer: str | None  # CdtrRefTp/Issr
    valid: bool | None  # check digits verified (RF, QRR); None when no check applies


@dataclass(frozen=True, slots=True)
class ReturnInfo:
    reason_code: str | None  # RtrInf/Rsn/Cd
    reason_proprietary: str | None  # RtrInf/Rsn/Prtry
    additional_info: tuple[str, ...]  # RtrInf/AddtlInf
    originator_name: str | None  # RtrInf/Orgtr/Nm (or Orgtr/Pty/Nm)
    original_bank_tx_code: BankTransactionCode | None  # RtrInf/OrgnlBkTxCd


@dataclass(frozen=True, slots=True)
class Transaction:
    """One NtryDtls/TxDtls."""

    index: int  # 1-based within the entry
    amount: Amount | None  # booked amount: TxDtls/Amt, else AmtDtls/TxAmt/Amt, else Ntry/Amt if alone
    amount_source: TransactionAmountSource | None
    credit_debit: CreditDebit | None  # TxDtls/CdtDbtInd (V3+), else None
    amount_details: AmountDetails | None  # TxDtls/AmtDtls
    instructed_amount: Amount | None  # TxDtls/AmtDtls/InstdAmt/Amt (what was instructed, NOT booked)
    refs: TransactionRefs
    bank_tx_code: BankTransactionCode | None  # TxDtls/BkTxCd
    parties: RelatedParties
    counterparty: Party | None  # debtor on a credit, creditor on a debit (roles kept on reversal)
    counterparty_iban: str | None  # the counterparty's account IBAN
    remittance_unstructured: tuple[str, ...]  # RmtInf/Ustrd, every occurrence in order
    creditor_references: tuple[CreditorReference, ...]  # RmtInf/Strd/CdtrRefInf
    remittance_additional: tuple[str, ...]  # RmtInf/Strd/AddtlRmtInf
    return_info: ReturnInfo | None  # TxDtls/RtrInf
    charges: Charges | None  # TxDtls/Chrgs
    purpose: str | None  # TxDtls/Purp/Cd
    additional_info: str | None  # TxDtls/AddtlTxInf
    origin: Origin


@dataclass(frozen=True, slots=True)
class Batch:
    message_id: str | None  # NtryDtls/Btch/MsgId
    payment_info_id: str | None  # NtryDtls/Btch/PmtInfId
    number_of_transactions: int | None  # NtryDtls/Btch/NbOfTxs
    total_amount: Amount | None  # NtryDtls/Btch/TtlAmt
    credit_debit: CreditDebit | None  # NtryDtls/Btch/CdtDbtInd


@dataclass(frozen=True, slots=True)
class Entry:
    """One Ntry: what was booked (or is pending / for information) on the account."""

    index: int  # 1-based within its statement
    amount: Amount  # Ntry/Amt: what was booked
    credit_debit: CreditDebit  # Ntry/CdtDbtInd: the ONLY source of the sign
    reversal: bool  # Ntry/RvslInd (absent -> False)
    status: EntryStatus  # Ntry/Sts (V2-V6) or Ntry/Sts/Cd (V7+)
    booking_date: date | None  # Ntry/BookgDt/Dt (or date of BookgDt/DtTm)
    booking_datetime: datetime | None  # Ntry/BookgDt/DtTm
    value_date: date | None  # Ntry/ValDt/Dt (or date of ValDt/DtTm)
    value_datetime: datetime | None  # Ntry/ValDt/DtTm
    entry_ref: str | None  # AcctSvcrRef, else NtryRef, else None
    account_servicer_ref: str | None  # Ntry/AcctSvcrRef
    entry_reference: str | None  # Ntry/NtryRef
    bank_tx_code: BankTransactionCode | None  # Ntry/BkTxCd
    amount_details: AmountDetails | None  # Ntry/AmtDtls
    charges: Charges | None  # Ntry/Chrgs
    batches: tuple[Batch, ...]  # Ntry/NtryDtls/Btch
    transactions: tuple[Transaction, ...]  # Ntry/NtryDtls/TxDtls, in order over all NtryDtls
    additional_info: str | None  # Ntry/AddtlNtryInf
    warnings: tuple[Problem, ...]  # e.g. an invalid RF reference (the entry is still accepted)
    origin: Origin

    @property
    def signed_value(self) -> Decimal:
        return self.amount.value if self.credit_debit is CreditDebit.CREDIT else -self.amount.value

    @property
    def currency_exchange(self) -> CurrencyExchange | None:
        if self.amount_details and self.amount_details.exchange:
            return self.amount_details.exchange
        for tx in self.transactions:
            if tx.amount_details and tx.amount_details.exchange:
                return tx.amount_details.exchange
        return None


@dataclass(frozen=True, slots=True)
class StatementEnd:
    """Yielded after the last entry of a statement: all balances, totals and the balance check."""

    kind: DocumentKind
    index: int
    statement_id: str | None
    balances: tuple[Balance, ...]  # every Bal of the statement, header ones included
    entry_count: int
    currency: str | None  # the statement's: Acct/Ccy, else the first balance's, else the first entry's
    booked_credit_total: Decimal  # sum of BOOK CRDT entry amounts in that currency
    booked_debit_total: Decimal  # sum of BOOK DBIT entry amounts in that currency
    other_currency_entries: int  # BOOK entries in another currency (not in the totals)
    warnings: tuple[Problem, ...]  # e.g. CAMT-W001 opening + booked != closing
    origin: Origin

    def balance(self, *types: BalanceType) -> Balance | None:
        """The first balance of the first listed type present."""
        for wanted in types:
            for bal in self.balances:
                if bal.type is wanted:
                    return bal
        return None


CamtRecord = MessageHeader | StatementHeader | Entry | StatementEnd


@dataclass(frozen=True, slots=True)
class Statement:
    """A materialised Stmt/Rpt/Ntfctn (see parse_document)."""

    header: StatementHeader
    entries: tuple[Entry, ...]
    end: StatementEnd


@dataclass(frozen=True, slots=True)
class CamtDocument:
    """A materialised camt document: for small files, tests and JSON output."""

    header: MessageHeader
    statements: tuple[Statement, ...]

    @property
    def format(self) -> str:
        return self.header.format
