"""Daemon test fixtures: a configuration directory with folder (or SFTP) channels, statements, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

IBAN = "DE89370400440532013000"
REPO = Path(__file__).resolve().parents[3]


def camt053(ref: str, amount: str = "100.00", iban: str = IBAN) -> bytes:
    """A minimal valid camt.053 with one booked credit entry (entry reference ``ref``)."""
    return textwrap.dedent(f"""\
        <?xml version="1.0" encoding="UTF-8"?>
        <Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
         <BkToCstmrStmt>
          <GrpHdr><MsgId>MSG-{ref}</MsgId><CreDtTm>2024-05-02T06:00:00</CreDtTm></GrpHdr>
          <Stmt>
           <Id>STMT-{ref}</Id><CreDtTm>2024-05-02T06:00:00</CreDtTm>
           <Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>
           <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">0.00</Amt>
            <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-05-01</Dt></Dt></Bal>
           <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{amount}</Amt>
            <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-05-01</Dt></Dt></Bal>
           <Ntry>
            <NtryRef>{ref}</NtryRef><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
            <BookgDt><Dt>2024-05-01</Dt></BookgDt><ValDt><Dt>2024-05-01</Dt></ValDt>
            <AcctSvcrRef>{ref}</AcctSvcrRef>
            <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
            <NtryDtls><TxDtls><Refs><EndToEndId>E2E-{ref}</EndToEndId></Refs>
             <RmtInf><Ustrd>Invoice {ref}</Ustrd></RmtInf></TxDtls></NtryDtls>
           </Ntry>
          </Stmt>
         </BkToCstmrStmt>
        </Document>
        """).encode()


@dataclass
class Setup:
    """A configuration directory and the folders its channels use."""

    root: Path
    spool: Path
    bank_outbox: Path  # where the bank drops statements (inbound route folder)
    bank_archive: Path
    partner_in: Path  # where invoices for the partner arrive (outbound route folder)
    database: str

    @property
    def sqlite_path(self) -> str:
        return str(self.spool / "arbridge.sqlite")

    def drop(self, name: str, data: bytes) -> Path:
        path = self.bank_outbox / name
        temp = path.with_name("." + name + ".tmp")
        temp.write_bytes(data)
        os.replace(temp, path)
        return path

    def cli(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable,
            "-c",
            "from gateway.cli.main import main; main()",
            "--config",
            str(self.root),
            *args,
        ]
        # A crash point is only ever set by the test that means it.
        full_env = {k: v for k, v in os.environ.items() if k != "ARBRIDGE_CRASH_AT"}
        full_env.update({"PYTHONPATH": str(REPO), **(env or {})})
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=REPO, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"arbridge {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result


def write_config(
    root: Path,
    *,
    bank_channel: str,
    partner_channel: str,
    after: str = "move",
    database: str | None = None,
    bank_folders: tuple[str, str] = ("outbox", "archive"),
    partner_folder: str = "in",
    extra_bank: str = "",
) -> None:
    (root / "banks").mkdir(parents=True, exist_ok=True)
    (root / "partners").mkdir(exist_ok=True)
    db = f"database: {database}\n" if database else ""
    (root / "arbridge.yaml").write_text(f"company: {{name: Test GmbH, currency: EUR}}\nspool: spool\n{db}")
    archive = f"\n      archive_folder: {bank_folders[1]}" if after == "move" else ""
    (root / "banks" / "test-bank.yaml").write_text(
        f"name: Test Bank\naccounts:\n  - iban: {IBAN}\n    currency: EUR\n"
        f"channel:\n{textwrap.indent(bank_channel, '  ')}\n"
        "routes:\n  inbound:\n    - name: statements\n"
        f'      folder: {bank_folders[0]}\n      pattern: "*.xml"\n      formats: [camt.053]\n'
        f"      account: {IBAN}\n      after: {after}{archive}\n{extra_bank}"
    )
    (root / "partners" / "retail.yaml").write_text(
        f"name: Retail AG\nchannel:\n{textwrap.indent(partner_channel, '  ')}\n"
        "routes:\n  outbound:\n    - name: invoices\n      kind: invoice\n"
        f'      folder: {partner_folder}\n      name_template: "INVOIC-{{date:%Y%m%d}}-{{seq:04d}}.edi"\n'
    )


@pytest.fixture
def folder_setup(tmp_path: Path) -> Callable[..., Setup]:
    def make(after: str = "move", database: str | None = None) -> Setup:
        exchange = tmp_path / "exchange"
        for sub in ("bank/outbox", "bank/archive", "partner/in"):
            (exchange / sub).mkdir(parents=True, exist_ok=True)
        root = tmp_path / "config"
        write_config(
            root,
            bank_channel=f"type: folder\npath: {exchange / 'bank'}\nsettle_seconds: 0.2",
            partner_channel=f"type: folder\npath: {exchange / 'partner'}\nsettle_seconds: 0.2",
            after=after,
            database=database,
        )
        return Setup(
            root,
            root / "spool",
            exchange / "bank/outbox",
            exchange / "bank/archive",
            exchange / "partner/in",
            database or f"sqlite:///{root / 'spool' / 'arbridge.sqlite'}",
        )

    return make


def load_worker(root: Path, **kwargs: object) -> Any:
    """An in-process Worker on the configuration at ``root`` (its database migrated)."""
    from config.directory import load_configuration
    from gateway.daemon import Worker
    from gateway.db import ensure_schema, make_engine

    config = load_configuration(root)
    engine = make_engine(config.database_url())
    ensure_schema(engine)
    return Worker(config, engine, **kwargs)  # type: ignore[arg-type]
