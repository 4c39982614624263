"""Ingest end to end: registry states, receipts exactly once, quarantine with report, nothing half-done.

Runs on SQLite and PostgreSQL (the `engine` fixture).
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from ar.receipts import Receipt
from config.directory import load_configuration
from gateway.db import session_factory
from gateway.demo import DEMO_IBAN, DEMO_PAYMENTS, statement_xml
from gateway.ingest import Ingestor
from gateway.registry import BankStatement, FileState, InboundFile

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"
NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(EXAMPLE, target)
    return target


@pytest.fixture
def ingestor(config_dir: Path, engine: Engine) -> Ingestor:
    return Ingestor(load_configuration(config_dir), session_factory(engine))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def demo_statement(payments: list[dict[str, str]] | None = None, statement_id: str = "S-1") -> str:
    return statement_xml(
        booking_date=date(2026, 11, 20), payments=payments or DEMO_PAYMENTS, statement_id=statement_id
    )


def count(engine: Engine, model: type) -> int:  # type: ignore[type-arg]
    with session_factory(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def entry(
    amount: str,
    *,
    cd: str = "CRDT",
    ref: str | None = "E-1",
    status: str = "BOOK",
    details: str = "",
    reversal: bool = False,
) -> str:
    ref_xml = f"<AcctSvcrRef>{ref}</AcctSvcrRef>" if ref else ""
    rvsl = "<RvslInd>true</RvslInd>" if reversal else ""
    return (
        f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{cd}</CdtDbtInd>{rvsl}<Sts>{status}</Sts>'
        f"<BookgDt><Dt>2026-11-20</Dt></BookgDt><ValDt><Dt>2026-11-20</Dt></ValDt>{ref_xml}"
        f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
        f"{details}</Ntry>"
    )


def tx(amount: str | None, *, e2e: str = "E2E", ustrd: str = "x", name: str = "Payer") -> str:
    amt = f'<Amt Ccy="EUR">{amount}</Amt>' if amount else ""
    return (
        f"<TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>{amt}"
        f"<RltdPties><Dbtr><Nm>{name}</Nm></Dbtr><DbtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id>"
        f"</DbtrAcct></RltdPties><RmtInf><Ustrd>{ustrd}</Ustrd></RmtInf></TxDtls>"
    )


def document(*entries: str, iban: str = DEMO_IBAN, currency: str = "EUR") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{NS}"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-11-20T18:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>S1</Id><CreDtTm>2026-11-20T18:00:00</CreDtTm>"
        f"<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{currency}</Ccy></Acct>"
        + "".join(entries)
        + "</Stmt></BkToCstmrStmt></Document>"
    )


def test_statement_becomes_one_receipt_per_credit(ingestor: Ingestor, engine: Engine, tmp_path: Path) -> None:
    result = ingestor.ingest(write(tmp_path, "s.xml", demo_statement()))
    assert result.state is FileState.PROCESSED, result.problems
    paid = len(DEMO_PAYMENTS)
    assert (result.format, result.statements, result.entries) == ("camt.053.001.02", 1, paid)
    assert result.receipts_created == paid
    with session_factory(engine)() as session:
        receipts = session.scalars(select(Receipt).order_by(Receipt.id)).all()
        assert [str(r.amount) for r in receipts] == [f"{p['amount']} EUR" for p in DEMO_PAYMENTS]
        first = receipts[0]
        assert (first.bank_account, first.entry_ref, first.tx_index) == (DEMO_IBAN, "S-1-0001", 0)
        assert first.payer_iban == "DE02120300000000202051"
        assert first.end_to_end_id == "NW-2026-11-0001"
        assert json.loads(first.remittance) == ["Invoice INV-000001"]
        assert first.bank_tx_code == "PMNT/RCDT/ESCT"
        file = session.get(InboundFile, result.file_id)
        assert file is not None and file.state == "processed" and file.stored_path
        assert Path(file.stored_path).read_bytes() == (tmp_path / "s.xml").read_bytes()
        statement = session.scalars(select(BankStatement)).one()
        paid_minor = sum(int(p["amount"].replace(".", "")) for p in DEMO_PAYMENTS)
        assert (statement.opening_minor, statement.closing_minor) == (1_000_000, 1_000_000 + paid_minor)


def test_structured_references_are_kept(ingestor: Ingestor, engine: Engine, tmp_path: Path) -> None:
    payments = [{"amount": "10.00", "name": "P", "iban": "DE02120300000000202051", "rf": "RF18539007547034"}]
    ingestor.ingest(write(tmp_path, "rf.xml", demo_statement(payments)))
    with session_factory(engine)() as session:
        assert json.loads(session.scalars(select(Receipt.references)).one()) == ["RF18539007547034"]


def test_same_bytes_twice_is_a_duplicate(ingestor: Ingestor, engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "s.xml", demo_statement())
    first = ingestor.ingest(path)
    renamed = write(tmp_path, "renamed.xml", path.read_text())
    again = ingestor.ingest(renamed)
    assert again.state is FileState.DUPLICATE and again.duplicate_of == first.file_id
    assert count(engine, Receipt) == len(DEMO_PAYMENTS)
    assert count(engine, InboundFile) == 2


def test_reexport_with_other_bytes_creates_nothing_new(
    ingestor: Ingestor, engine: Engine, tmp_path: Path
) -> None:
    ingestor.ingest(write(tmp_path, "a.xml", demo_statement()))
    reexported = demo_statement().replace("<ElctrncSeqNb>1</ElctrncSeqNb>", "<ElctrncSeqNb>2</ElctrncSeqNb>")
    result = ingestor.ingest(write(tmp_path, "b.xml", reexported))
    assert result.state is FileState.PROCESSED
    assert (result.receipts_created, result.receipts_existing) == (0, len(DEMO_PAYMENTS))
    assert count(engine, Receipt) == len(DEMO_PAYMENTS)


@pytest.mark.parametrize(
    ("name", "text", "code", "line"),
    [
        ("unknown account", document(entry("10.00")), "GW-E011", 1),
        ("truncated", demo_statement()[:900], "CAMT-E001", None),
        ("binary", "\x00\x01\x02garbage", "GW-E002", 1),
        (
            "too many decimals for EUR",
            document(entry("10.005", details="")).replace("GB33BUKB20201555555555", DEMO_IBAN),
            "GW-E022",
            1,
        ),
        ("currency differs from configuration", document(entry("10.00"), currency="USD"), "GW-E012", 1),
        (
            "a credit of nothing",
            document(entry("0.00", details="")).replace("GB33BUKB20201555555555", DEMO_IBAN),
            "GW-E022",
            1,
        ),
    ],
)
def test_refused_file_is_quarantined_whole(
    ingestor: Ingestor, engine: Engine, tmp_path: Path, name: str, text: str, code: str, line: int | None
) -> None:
    if name == "unknown account":
        text = text.replace(DEMO_IBAN, "GB33BUKB20201555555555")
    # A good entry before the bad one: nothing of it may stay in the database.
    text = text.replace("<Ntry>", entry("5.00", ref="GOOD") + "<Ntry>", 1) if "<Ntry>" in text else text
    result = ingestor.ingest(write(tmp_path, "bad.xml", text))
    assert result.state is FileState.QUARANTINED
    assert any(p.code == code for p in result.problems), [str(p) for p in result.problems]
    assert all(p.source == "bad.xml" for p in result.problems)
    if line is not None:  # the place in the file is named
        assert any(p.code == code and p.line == line for p in result.problems)
    assert count(engine, Receipt) == 0
    assert count(engine, BankStatement) == 0
    report = json.loads(Path(result.quarantine_path + ".errors.json").read_text())  # type: ignore[operator]
    assert report["file"] == "bad.xml" and report["problems"][0]["code"]
    assert Path(result.quarantine_path + ".errors.txt").read_text().startswith("bad.xml: refused")  # type: ignore[operator]
    assert Path(result.quarantine_path).read_bytes() == (tmp_path / "bad.xml").read_bytes()  # type: ignore[arg-type]
    assert not [p for p in ingestor.archive_dir.rglob("*") if p.is_file()]  # the copy made meanwhile is gone
    with session_factory(engine)() as session:
        file = session.get(InboundFile, result.file_id)
        assert file is not None and file.state == "quarantined" and file.problem_count >= 1


def test_quarantined_file_is_processed_after_the_fix(
    config_dir: Path, engine: Engine, tmp_path: Path
) -> None:
    text = document(entry("10.00")).replace(DEMO_IBAN, "GB33BUKB20201555555555")
    path = write(tmp_path, "s.xml", text)
    first = Ingestor(load_configuration(config_dir), session_factory(engine)).ingest(path)
    assert first.state is FileState.QUARANTINED
    (config_dir / "banks" / "uk.yaml").write_text(
        "name: UK Bank\naccounts:\n  - iban: GB33BUKB20201555555555\n    currency: EUR\n"
    )
    second = Ingestor(load_configuration(config_dir), session_factory(engine)).ingest(path)
    assert second.state is FileState.PROCESSED and second.file_id == first.file_id
    assert second.receipts_created == 1


def test_batch_entry_gives_one_receipt_per_transaction(
    ingestor: Ingestor, engine: Engine, tmp_path: Path
) -> None:
    batch = entry(
        "30.00",
        details="<NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch>"
        + tx("10.00", e2e="A")
        + tx("20.00", e2e="B")
        + "</NtryDtls>",
    )
    result = ingestor.ingest(write(tmp_path, "b.xml", document(batch)))
    assert result.state is FileState.PROCESSED, result.problems
    with session_factory(engine)() as session:
        rows = session.execute(
            select(Receipt.tx_index, Receipt.amount_minor, Receipt.end_to_end_id).order_by(Receipt.tx_index)
        ).all()
    assert [tuple(r) for r in rows] == [(1, 1000, "A"), (2, 2000, "B")]


def test_debits_pending_and_reversals_are_not_receipts(
    ingestor: Ingestor, engine: Engine, tmp_path: Path
) -> None:
    text = document(
        entry("10.00", cd="DBIT", ref="D"),
        entry("11.00", status="PDNG", ref="P"),
        entry("12.00", reversal=True, ref="R"),
        entry("13.00", ref="C"),
    )
    result = ingestor.ingest(write(tmp_path, "m.xml", text))
    assert result.state is FileState.PROCESSED
    assert (result.receipts_created, result.skipped_entries) == (1, 3)


def test_entry_without_reference_gets_a_stable_fingerprint(
    ingestor: Ingestor, engine: Engine, tmp_path: Path
) -> None:
    text = document(entry("10.00", ref=None, details="<NtryDtls>" + tx(None, e2e="X") + "</NtryDtls>"))
    ingestor.ingest(write(tmp_path, "a.xml", text))
    again = ingestor.ingest(write(tmp_path, "b.xml", text.replace("<MsgId>M1</MsgId>", "<MsgId>M2</MsgId>")))
    assert (again.state, again.receipts_created, again.receipts_existing) == (FileState.PROCESSED, 0, 1)
    with session_factory(engine)() as session:
        assert session.scalars(select(Receipt.entry_ref)).one().startswith("fp:")


def test_strict_bank_rejects_xsd_deviation(config_dir: Path, engine: Engine, tmp_path: Path) -> None:
    # Valid for our parser, but the XSD wants GrpHdr/CreDtTm: a real-world deviation.
    text = document(entry("10.00")).replace("<CreDtTm>2026-11-20T18:00:00</CreDtTm></GrpHdr>", "</GrpHdr>")
    lenient = Ingestor(load_configuration(config_dir), session_factory(engine)).ingest(
        write(tmp_path, "a.xml", text)
    )
    assert lenient.state is FileState.PROCESSED
    assert any(w.code.startswith("XSD") for w in lenient.warnings)

    bank = config_dir / "banks" / "demo-bank.yaml"
    bank.write_text(bank.read_text().replace("strict: false", "strict: true"))
    strict = Ingestor(load_configuration(config_dir), session_factory(engine)).ingest(
        write(tmp_path, "b.xml", text.replace("E-1", "E-2"))
    )
    assert strict.state is FileState.QUARANTINED
    assert {p.code for p in strict.problems} >= {"GW-E030"}
    assert any(p.code.startswith("XSD") and p.line for p in strict.problems)


def test_a_failed_archive_copy_rolls_the_file_back(
    ingestor: Ingestor, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archive copy runs beside the parse; the file is processed only once it is durable."""
    import gateway.ingest

    def no_space(source: Path, target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gateway.ingest, "_copy_durably", no_space)
    with pytest.raises(OSError, match="No space left"):
        ingestor.ingest(write(tmp_path, "s.xml", document(entry("10.00"))))
    assert count(engine, Receipt) == 0
    assert count(engine, InboundFile) == 0
    monkeypatch.undo()
    again = ingestor.ingest(tmp_path / "s.xml")
    assert again.state is FileState.PROCESSED and again.receipts_created == 1
    assert Path(again.archive_path or "").read_bytes() == (tmp_path / "s.xml").read_bytes()


def test_a_large_file_reports_its_deviations_from_the_streaming_check(
    ingestor: Ingestor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above FULL_VALIDATION_MAX_BYTES no tree is built: the deviations come with lines, without XPaths."""
    import gateway.ingest
    from formats import validate as validation

    monkeypatch.setattr(gateway.ingest, "FULL_VALIDATION_MAX_BYTES", 0)
    text = document(entry("10.00")).replace("<CreDtTm>2026-11-20T18:00:00</CreDtTm></GrpHdr>", "</GrpHdr>")
    result = ingestor.ingest(write(tmp_path, "large.xml", text))
    assert result.state is FileState.PROCESSED and result.receipts_created == 1
    deviations = [w for w in result.warnings if w.code == "XSD-E001"]
    assert any("CreDtTm" in d.message for d in deviations)
    assert all(d.path is None for d in deviations)
    if validation.IN_C:
        assert all(d.line for d in deviations)


def test_a_database_error_while_recording_receipts_rolls_the_file_back(
    ingestor: Ingestor, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches are recorded on a thread beside the parse: its error still undoes the whole file."""
    import gateway.ingest
    import gateway.receipt_writer
    from ar import receipts

    calls = []
    real = receipts.record_rows

    def second_batch_fails(session, batch, *, actor):  # type: ignore[no-untyped-def]
        calls.append(len(batch.rows))
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        return real(session, batch, actor=actor)

    monkeypatch.setattr(gateway.ingest, "RECEIPT_BATCH", 1)
    monkeypatch.setattr(gateway.receipt_writer.receipts, "record_rows", second_batch_fails)
    text = document(entry("10.00", ref="A"), entry("11.00", ref="B"), entry("12.00", ref="C"))
    with pytest.raises(OSError, match="Input/output"):
        ingestor.ingest(write(tmp_path, "s.xml", text))
    assert count(engine, Receipt) == 0
    assert count(engine, InboundFile) == 0
    assert not [p for p in ingestor.archive_dir.rglob("*") if p.is_file()]
