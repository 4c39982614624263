"""Inbound files end to end: register by SHA-256, detect, parse, hand the records to the AR core.

Everything one file changes commits in ONE transaction together with the file's state,
so a crash means the whole file is processed again, never half of it:

    register (received) -> parse stream -> receipts (idempotent) -> processed + archive copy
                               \\-> any problem -> rollback -> quarantined + error report

The same bytes twice are a duplicate (recorded, not processed). A statement re-exported
with different bytes creates nothing new: receipts are unique on (account, entry
reference, transaction index).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ar import audit, receipts
from ar.errors import ArError
from ar.money import Money, minor_units
from config.directory import Configuration
from formats import registry as format_registry
from formats.amount import Amount
from formats.camt.records import (
    CreditDebit,
    DocumentKind,
    Entry,
    EntryStatus,
    MessageHeader,
    StatementEnd,
    StatementHeader,
    Transaction,
)
from formats.errors import FormatError, Problem
from gateway.background import Background
from gateway.collector import fewer_collections
from gateway.db import SQLITE_INGEST_CACHE_KIB, sqlite_page_cache
from gateway.receipt_writer import ReceiptWriter
from gateway.registry import BankStatement, FileState, InboundFile, find_original, sha256_of
from gateway.xsd_thread import XsdCheckThread

HEAD_BYTES = 4096
#: Receipts handed to the writer thread at a time during ingest (inserted 500 per statement).
RECEIPT_BATCH = 2000
#: Up to this size a file with XSD deviations is validated again as a tree, for their XPaths.
FULL_VALIDATION_MAX_BYTES = 16 * 1024 * 1024


@dataclass
class IngestResult:
    """What ingesting one file did; `to_json()` is the `arbridge ingest --json` item."""

    file: str
    file_id: int | None
    state: FileState
    format: str | None = None
    sha256: str = ""
    duplicate_of: int | None = None
    statements: int = 0
    entries: int = 0
    receipts_created: int = 0
    receipts_existing: int = 0
    skipped_entries: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    quarantine_path: str | None = None
    archive_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "file_id": self.file_id,
            "state": self.state.value,
            "format": self.format,
            "sha256": self.sha256,
            "duplicate_of": self.duplicate_of,
            "statements": self.statements,
            "entries": self.entries,
            "receipts_created": self.receipts_created,
            "receipts_existing": self.receipts_existing,
            "skipped_entries": self.skipped_entries,
            "problems": [problem_json(p) for p in self.problems],
            "warnings": [problem_json(p) for p in self.warnings],
            "quarantine_path": self.quarantine_path,
            "archive_path": self.archive_path,
        }


def problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "code": problem.code,
        "message": problem.message,
        "file": problem.source,
        "line": problem.line,
        "path": problem.path,
        "severity": str(problem.severity),
    }


class _Rejected(Exception):
    """Internal: the file cannot be accepted; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass
class Ingestor:
    """Processes inbound files against one configuration and database."""

    config: Configuration
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    actor: str = "ingest"

    @property
    def archive_dir(self) -> Path:
        return self.config.spool / "archive"

    @property
    def quarantine_dir(self) -> Path:
        return self.config.spool / "quarantine"

    # -- the one entry point ---------------------------------------------------
    def ingest(self, path: Path, *, source: str | None = None, name: str | None = None) -> IngestResult:
        display = name or path.name
        source = source or str(path)
        sha256, size = sha256_of(path)
        result = IngestResult(file=display, file_id=None, state=FileState.RECEIVED, sha256=sha256)
        now = self.clock()
        try:
            with self.sessions() as session, session.begin():
                original = find_original(session, sha256)
                if original is not None and original.state != FileState.QUARANTINED:
                    return self._record_duplicate(session, original, result, source, display, size, now)
                record = original or _register(session, sha256, size, source, display, now)
                result.file_id = record.id
                # The archive copy needs nothing of the parse: it is made meanwhile, on another core.
                target = self._archive_target(record)
                archive = Background(lambda: _copy_durably(path, target), name=f"archive {display}")
                try:
                    self._process(session, record, path, display, result)
                except BaseException as failure:
                    _discard(archive, target)
                    if not isinstance(failure, _Rejected):
                        raise
                    result.problems = failure.problems
                    session.rollback()
                else:
                    record.state = FileState.PROCESSED.value
                    record.format = result.format
                    record.finished_at = self.clock()
                    record.warning_count = len(result.warnings)
                    archive.result()  # a failed copy raises: the transaction rolls back
                    record.stored_path = result.archive_path = str(target)
                    record.summary = json.dumps(self._summary(result), sort_keys=True)
                    audit.record(
                        session,
                        actor=self.actor,
                        entity="file",
                        entity_id=record.id,
                        action="processed",
                        details=self._summary(result),
                        at=now,
                    )
                    result.state = FileState.PROCESSED
                    return result
        except IntegrityError:
            # Another worker registered the same bytes first: ours is a duplicate.
            with self.sessions() as session, session.begin():
                original = find_original(session, sha256)
                if original is None:
                    raise
                return self._record_duplicate(session, original, result, source, display, size, now)
        return self._quarantine(path, display, source, size, result, now)

    # -- steps -----------------------------------------------------------------
    def _record_duplicate(
        self,
        session: Session,
        original: InboundFile,
        result: IngestResult,
        source: str,
        display: str,
        size: int,
        now: datetime,
    ) -> IngestResult:
        duplicate = InboundFile(
            sha256=result.sha256,
            size=size,
            source=source,
            name=display,
            format=original.format,
            state=FileState.DUPLICATE.value,
            received_at=now,
            finished_at=now,
            duplicate_of_id=original.id,
            problem_count=0,
            warning_count=0,
            summary=json.dumps({"duplicate_of": original.id}),
        )
        session.add(duplicate)
        session.flush()
        audit.record(
            session,
            actor=self.actor,
            entity="file",
            entity_id=duplicate.id,
            action="duplicate",
            details={"duplicate_of": original.id, "source": source},
            at=now,
        )
        result.file_id, result.state = duplicate.id, FileState.DUPLICATE
        result.duplicate_of, result.format = original.id, original.format
        return result

    def _process(
        self, session: Session, record: InboundFile, path: Path, display: str, result: IngestResult
    ) -> None:
        limits = self.config.settings.limits
        if record.size > limits.max_file_bytes:
            raise _Rejected(
                [
                    Problem(
                        "GW-E001",
                        f"file is {record.size} bytes, over the configured limit "
                        f"of {limits.max_file_bytes} (limits.max_file_bytes)",
                        display,
                        None,
                        "",
                    )
                ]
            )
        with path.open("rb") as stream:
            head = stream.read(HEAD_BYTES)
            adapter = format_registry.detect(head)
            if adapter is None:
                raise _Rejected(
                    [
                        Problem(
                            "GW-E002",
                            "unknown format: not an ISO 20022 camt.052/053/054 document arbridge can ingest",
                            display,
                            1,
                            "",
                        )
                    ]
                )
            stream.seek(0)
            # A statement of a million entries allocates tens of millions of objects, freed by
            # reference counting; at Python's default threshold the cycle collector would run
            # every few entries and spend 12 % of the time (measured at 100,000 entries).
            with sqlite_page_cache(session, SQLITE_INGEST_CACHE_KIB), fewer_collections():
                self._ingest_camt(session, record, path, stream, display, result)

    def _ingest_camt(
        self,
        session: Session,
        record: InboundFile,
        path: Path,
        stream: BinaryIO,
        display: str,
        result: IngestResult,
    ) -> None:
        problems: list[Problem] = []
        banks: set[str] = set()
        with XsdCheckThread(path, stream, source=display) as xsd_check:
            self._read_statements(session, record, stream, display, result, problems, banks)
            if problems:
                raise _Rejected(problems)  # leaving the block stops the check
            deviations = xsd_check.result()
        self._check_schema(stream, display, banks, result, deviations)

    def _read_statements(
        self,
        session: Session,
        record: InboundFile,
        stream: BinaryIO,
        display: str,
        result: IngestResult,
        problems: list[Problem],
        banks: set[str],
    ) -> None:
        """Parse the file and record its receipts and statements; ``problems`` collects every refusal."""
        from formats.camt import entry_fingerprint, parse

        account_iban: str | None = None
        statement: StatementHeader | None = None
        # The receipts of one file are recorded at one time; the rows are built in the
        # driver's form on this thread, so the writer's thread only runs the INSERTs.
        pending = receipts.NewReceipts(session.get_bind().dialect, file_id=record.id, created_at=self.clock())
        writer = ReceiptWriter(session, actor=self.actor)

        def flush() -> None:
            writer.submit(pending.take())

        try:
            for item in parse(stream, source=display, limits=self._limits()):
                if type(item) is Entry:  # nearly every record: tested first
                    result.entries += 1
                    if item.warnings:
                        result.warnings.extend(item.warnings)
                    if account_iban is None or statement is None or problems:
                        continue  # the file is refused anyway: only collect its problems
                    self._receipts_from_entry(
                        record, account_iban, item, entry_fingerprint, problems, result, pending
                    )
                    if len(pending) >= RECEIPT_BATCH:
                        flush()
                elif isinstance(item, MessageHeader):
                    result.format = item.format
                elif isinstance(item, StatementHeader):
                    statement = item
                    account_iban = self._check_account(item, display, problems, banks)
                elif isinstance(item, StatementEnd):
                    result.warnings.extend(item.warnings)
                    result.statements += 1
                    if statement is not None and account_iban is not None and not problems:
                        flush()
                        created, known = writer.take_counts()  # the session is ours again
                        result.receipts_created += created
                        result.receipts_existing += known
                        self._record_statement(session, record, statement, item, account_iban, created, known)
                    statement = None
            writer.wait()
        except FormatError as exc:
            writer.abandon()
            problems.extend(exc.problems)
        except BaseException:
            writer.abandon()
            raise

    def _limits(self) -> Any:
        from formats.camt import DEFAULT_LIMITS

        settings = self.config.settings.limits
        return dataclasses.replace(DEFAULT_LIMITS, max_file_bytes=settings.max_file_bytes)

    def _check_account(
        self, header: StatementHeader, display: str, problems: list[Problem], banks: set[str]
    ) -> str | None:
        iban = (header.account.iban or "").replace(" ", "").upper() or None
        where = header.origin
        if iban is None:
            problems.append(
                Problem(
                    "GW-E010",
                    f"{header.kind} {header.statement_id or header.index}: the account "
                    "has no IBAN; only IBAN accounts can be configured",
                    display,
                    where.line,
                    where.path + "/Acct/Id",
                )
            )
            return None
        found = self.config.account(iban)
        if found is None:
            problems.append(
                Problem(
                    "GW-E011",
                    f"account {iban} is not configured for any bank: add it to a "
                    "banks/<bank>.yaml file, then ingest the file again",
                    display,
                    where.line,
                    where.path + "/Acct/Id/IBAN",
                )
            )
            return None
        bank_id, _, account = found
        banks.add(bank_id)
        if header.account.currency and header.account.currency != account.currency:
            problems.append(
                Problem(
                    "GW-E012",
                    f"account {iban} is configured in {account.currency} but the "
                    f"statement says {header.account.currency}",
                    display,
                    where.line,
                    where.path + "/Acct/Ccy",
                )
            )
            return None
        return iban

    def _receipts_from_entry(
        self,
        record: InboundFile,
        account_iban: str,
        entry: Entry,
        fingerprint: Callable[..., str],
        problems: list[Problem],
        result: IngestResult,
        made: receipts.NewReceipts,
    ) -> None:
        """The receipts of one entry, added to ``made``: one per credit transaction of a booked credit."""
        # Only booked credits are money received. A credit with RvslInd is the reversal of a
        # debit, and debits (returns, charges) are for the direct-debit flow: counted, not lost.
        if (
            entry.credit_debit is not CreditDebit.CREDIT
            or entry.reversal
            or entry.status is not EntryStatus.BOOKED
        ):
            result.skipped_entries += 1
            return
        entry_ref = entry.entry_ref or "fp:" + fingerprint(account_iban, entry)
        booking_date = entry.booking_date or entry.value_date
        if booking_date is None:
            problems.append(
                Problem(
                    "GW-E020",
                    "a booked entry without booking or value date",
                    record.name,
                    entry.origin.line,
                    entry.origin.path,
                )
            )
            return
        transactions = entry.transactions
        if not transactions:
            self._add_receipt(
                record, account_iban, entry_ref, 0, entry.amount, entry, booking_date, None, problems, made
            )
            return
        single = len(transactions) == 1
        for tx in transactions:
            amount = tx.amount
            if amount is None:
                if not single:
                    problems.append(
                        Problem(
                            "GW-E021",
                            "a transaction of a batch entry has no amount of its own",
                            record.name,
                            tx.origin.line,
                            tx.origin.path,
                        )
                    )
                    continue
                amount = entry.amount
            if tx.credit_debit is CreditDebit.DEBIT:
                result.skipped_entries += 1
                continue
            self._add_receipt(
                record,
                account_iban,
                entry_ref,
                0 if single else tx.index,
                amount,
                entry,
                booking_date,
                tx,
                problems,
                made,
            )

    @staticmethod
    def _add_receipt(
        record: InboundFile,
        account_iban: str,
        entry_ref: str,
        tx_index: int,
        amount: Amount,
        entry: Entry,
        booking_date: date,
        tx: Transaction | None,
        problems: list[Problem],
        made: receipts.NewReceipts,
    ) -> None:
        """One receipt: the transaction's (or, without one, the entry's) details."""
        try:
            minor = minor_units(amount.value, amount.currency)  # checked as Money would
        except ArError as exc:
            refusal: str | None = str(exc)
        else:
            refusal = None
            if minor <= 0:  # the XSD allows 0.00; a receipt of nothing cannot be applied or posted
                refusal = (
                    f"a credit of {amount.value} {amount.currency} cannot be a receipt "
                    "(receipts are positive); ask the bank about the entry"
                )
        if refusal is not None:
            place = tx.origin if tx is not None else entry.origin
            problems.append(
                Problem("GW-E022", f"amount refused: {refusal}", record.name, place.line, place.path)
            )
            return
        if tx is None:  # an entry without transaction details: the entry's own
            code = entry.bank_tx_code
            payer_name = payer_iban = end_to_end_id = None
            remittance: tuple[str, ...] = ()
            references: tuple[str, ...] = ()
        else:
            code = tx.bank_tx_code or entry.bank_tx_code
            payer_name = tx.counterparty.name if tx.counterparty else None
            payer_iban = _compact(tx.counterparty_iban)
            end_to_end_id = tx.refs.end_to_end_id
            remittance = tx.remittance_unstructured
            references = tuple([r.value for r in tx.creditor_references]) if tx.creditor_references else ()
        made.add(
            account_iban,
            entry_ref,
            tx_index,
            minor,
            amount.currency,
            booking_date,
            entry.value_date,
            payer_name,
            payer_iban,
            end_to_end_id,
            remittance,
            references,
            (code.iso or code.proprietary_code) if code else None,
        )

    def _record_statement(
        self,
        session: Session,
        record: InboundFile,
        header: StatementHeader,
        end: StatementEnd,
        account_iban: str,
        created: int,
        existing: int,
    ) -> None:
        from formats.camt.records import BalanceType

        currency = header.account.currency or self._account_currency(account_iban)

        def minor(*types: BalanceType) -> int | None:
            balance = end.balance(*types)
            if balance is None:
                return None
            try:
                return Money.of(balance.signed_value, balance.amount.currency).minor_units
            except ArError:
                return None

        session.add(
            BankStatement(
                file_id=record.id,
                kind=header.kind.value,
                statement_id=header.statement_id or f"#{header.index}",
                account_iban=account_iban,
                currency=currency,
                sequence_number=header.electronic_sequence_number,
                created_at_bank=header.created_at,
                opening_minor=minor(BalanceType.OPENING_BOOKED, BalanceType.PREVIOUSLY_CLOSED_BOOKED),
                closing_minor=minor(BalanceType.CLOSING_BOOKED),
                entry_count=end.entry_count,
                receipts_created=created,
                receipts_existing=existing,
            )
        )

    def _account_currency(self, iban: str) -> str:
        found = self.config.account(iban)
        return found[2].currency if found else "XXX"

    def _check_schema(
        self,
        stream: BinaryIO,
        display: str,
        banks: set[str],
        result: IngestResult,
        found: list[Problem],
    ) -> None:
        """XSD deviations are warnings, or errors for a bank configured `strict: true`.

        ``found``: what the streaming check found (lines, no XPaths). A valid file is not
        read again; a small file with deviations is, for a report with lines and XPaths.
        """
        from formats.validate import validate

        strict = sorted(b for b in banks if self.config.banks[b].strict)
        size = stream.seek(0, 2)
        stream.seek(0)
        deviations = found
        if size <= FULL_VALIDATION_MAX_BYTES and any(p.code == "XSD-E001" for p in found):
            # Lines and XPaths need the whole tree: only for files small enough to hold in memory.
            deviations = validate(stream, source=display)
        if deviations and strict:
            raise _Rejected(
                [
                    *deviations,
                    Problem(
                        "GW-E030",
                        f"the file deviates from the official XSD and bank {strict[0]} is configured "
                        "strict: true; ask the bank for a valid file, or set strict: false",
                        display,
                        None,
                        "",
                    ),
                ]
            )
        result.warnings.extend(deviations)

    # -- files -----------------------------------------------------------------
    def _archive_target(self, record: InboundFile) -> Path:
        when = record.received_at
        return self.archive_dir / f"{when:%Y}" / f"{when:%m}" / f"{record.id:08d}-{_safe_name(record.name)}"

    def _summary(self, result: IngestResult) -> dict[str, Any]:
        return {
            "format": result.format,
            "statements": result.statements,
            "entries": result.entries,
            "receipts_created": result.receipts_created,
            "receipts_existing": result.receipts_existing,
            "skipped_entries": result.skipped_entries,
            "warnings": [str(w) for w in result.warnings[:100]],
        }

    def _quarantine(
        self, path: Path, display: str, source: str, size: int, result: IngestResult, now: datetime
    ) -> IngestResult:
        """Record the refusal in a fresh transaction (the failed one was rolled back whole)."""
        with self.sessions() as session, session.begin():
            record = find_original(session, result.sha256) or _register(
                session, result.sha256, size, source, display, now
            )
            target = self.quarantine_dir / f"{record.id:08d}-{_safe_name(display)}"
            _copy_durably(path, target)
            write_error_report(target, display, result.problems, result.warnings)
            record.state = FileState.QUARANTINED.value
            record.format = result.format
            record.finished_at = self.clock()
            record.stored_path = str(target)
            record.problem_count = len(result.problems)
            record.warning_count = len(result.warnings)
            record.summary = json.dumps({"problems": [str(p) for p in result.problems[:100]]})
            audit.record(
                session,
                actor=self.actor,
                entity="file",
                entity_id=record.id,
                action="quarantined",
                details={"problems": len(result.problems), "first": str(result.problems[0])},
                at=now,
            )
            result.file_id, result.state, result.quarantine_path = (
                record.id,
                FileState.QUARANTINED,
                str(target),
            )
            result.receipts_created = result.receipts_existing = 0
        return result


def receipt_ids_of_file(session: Session, file_id: int) -> list[int]:
    """The receipts a file created (those it found already recorded belong to their first file)."""
    return list(session.scalars(select(receipts.Receipt.id).where(receipts.Receipt.file_id == file_id)))


def _register(session: Session, sha256: str, size: int, source: str, name: str, now: datetime) -> InboundFile:
    """A new original in the registry, state received (flushed: its id names the spool copies)."""
    record = InboundFile(
        sha256=sha256,
        size=size,
        source=source,
        name=name,
        state=FileState.RECEIVED.value,
        received_at=now,
        problem_count=0,
        warning_count=0,
        summary="{}",
    )
    session.add(record)
    session.flush()
    return record


def _compact(iban: str | None) -> str | None:
    return iban.replace(" ", "").upper() if iban else None


def write_error_report(target: Path, display: str, problems: list[Problem], warnings: list[Problem]) -> None:
    """The report beside a quarantined file: JSON for tools, text for people."""
    report = {
        "file": display,
        "problems": [problem_json(p) for p in problems],
        "warnings": [problem_json(w) for w in warnings],
    }
    _write_durably(
        target.with_name(target.name + ".errors.json"),
        (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode(),
    )
    lines = [f"{display}: refused, {len(problems)} problem(s)", *(str(p) for p in problems)]
    if warnings:
        lines += [f"{len(warnings)} warning(s)", *(str(w) for w in warnings)]
    _write_durably(target.with_name(target.name + ".errors.txt"), ("\n".join(lines) + "\n").encode())


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:120]
    return cleaned.lstrip(".") or "file"


def _discard(archive: Background[None], target: Path) -> None:
    """The archive copy of a file that is not processed goes (whether or not the copy worked)."""
    archive.settle()  # the file's own failure is what is reported
    target.unlink(missing_ok=True)


def _copy_durably(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temp)
    with temp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, target)


def _write_durably(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp")
    with temp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)


def iter_paths(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        else:
            yield path


__all__ = ["DocumentKind", "IngestResult", "Ingestor", "iter_paths", "write_error_report"]
