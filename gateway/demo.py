"""`arbridge demo`: the whole cycle on the embedded default (SQLite, local folders), in a temporary folder.

It runs the real commands, in-process, and shows each one with its output, as an
operator would type them. The statement it ingests is written from a template of ours
(gateway/demo_data/), filled with the demo's own payments.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Sequence
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import click

DEMO_IBAN = "DE89370400440532013000"


def _template(name: str) -> str:
    return (resources.files("gateway") / "demo_data" / name).read_text(encoding="utf-8")


def statement_xml(*, booking_date: date, payments: Sequence[dict[str, str]], statement_id: str) -> str:
    """A camt.053.001.02 statement of DEMO_IBAN with one booked credit per payment."""
    entry_tpl = _template("entry.xml.tpl")
    entries = []
    total = 0
    for i, payment in enumerate(payments, start=1):
        remittance = "".join(f"<Ustrd>{line}</Ustrd>" for line in payment.get("ustrd", "").split("|") if line)
        if payment.get("rf"):
            remittance += (
                "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>ISO</Issr></Tp>"
                f"<Ref>{payment['rf']}</Ref></CdtrRefInf></Strd>"
            )
        entries.append(
            entry_tpl.format(
                amount=payment["amount"],
                date=booking_date.isoformat(),
                ref=f"{statement_id}-{i:04d}",
                e2e=payment.get("e2e", "NOTPROVIDED"),
                name=payment["name"],
                iban=payment["iban"],
                remittance=remittance,
            )
        )
        total += int(payment["amount"].replace(".", ""))
    opening = 1_000_000
    return _template("statement.xml.tpl").format(
        statement_id=statement_id,
        iban=DEMO_IBAN,
        date=booking_date.isoformat(),
        opening=f"{opening // 100}.{opening % 100:02d}",
        closing=f"{(opening + total) // 100}.{(opening + total) % 100:02d}",
        count=len(payments),
        entries="".join(entries),
    )


def _run(args: list[str], *, expect: int = 0) -> int:
    from gateway.cli.main import cli

    click.secho(f"\n$ arbridge {' '.join(shlex.quote(a) for a in args)}", bold=True)
    try:
        cli.main(args=args, prog_name="arbridge", standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    if code != expect:
        raise click.ClickException(
            f"demo step failed: arbridge {' '.join(args)} exited {code}, expected {expect}"
        )
    return code


@click.command("demo")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run in this folder and keep it (default: a temporary folder, removed afterwards).",
)
@click.option(
    "--sftp", is_flag=True, help="Exchange files through a loopback OpenSSH sshd, not local folders."
)
def demo_command(keep: Path | None, sftp: bool) -> None:
    """The whole cycle on the embedded default, in a temporary folder."""
    run = _demo_sftp if sftp else _demo
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        run(keep)
        return
    with tempfile.TemporaryDirectory(prefix="arbridge-demo-") as tmp:
        run(Path(tmp))


def _demo_sftp(root: Path) -> None:
    """The gateway half over SFTP: the bank's and the GL's folders sit behind a real sshd."""
    from gateway.demo_sshd import SshdUnavailable, loopback_sshd

    try:
        with loopback_sshd(root / "sshd") as server:
            _demo_sftp_with(root, server)
    except SshdUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def _sftp_channel(server: Any) -> str:
    return (
        f"channel:\n  type: sftp\n  host: {server.host}\n  port: {server.port}\n"
        f"  username: {server.username}\n  private_key_file: {server.user_key}\n"
        f"  known_hosts_file: {server.known_hosts}\n"
    )


def _use_channel(path: Path, channel: str, folders: dict[str, str]) -> None:
    text = path.read_text(encoding="utf-8")
    text = text[: text.index("channel:")] + channel + text[text.index("routes:") :]
    for old, new in folders.items():
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


def _demo_sftp_with(root: Path, server: Any) -> None:
    config = root / "config"
    remote = root / "remote"  # what the server exposes (absolute paths: no chroot in the demo)
    for folder in ("bank/outbox", "bank/archive", "bank/inbox", "gl/import"):
        (remote / folder).mkdir(parents=True, exist_ok=True)
    click.secho(
        f"arbridge demo over SFTP in {root} (sshd on {server.host}:{server.port})", fg="green", bold=True
    )
    _run(["init", str(config)])
    channel = _sftp_channel(server)
    _use_channel(
        config / "banks" / "demo-bank.yaml",
        channel,
        {
            "folder: outbox": f"folder: {remote / 'bank/outbox'}",
            "archive_folder: archive": f"archive_folder: {remote / 'bank/archive'}",
            "folder: inbox": f"folder: {remote / 'bank/inbox'}",
        },
    )
    _use_channel(
        config / "partners" / "general-ledger.yaml",
        channel,
        {"folder: import": f"folder: {remote / 'gl/import'}"},
    )
    (config / "partners" / "example-retail.yaml").unlink()
    base = ["--config", str(config)]
    _say("The bank's channel is SFTP, its host key pinned in our own known-hosts file.")
    _run([*base, "config", "check"])
    _import_ledger(root, base)
    _say(
        "The bank puts a statement in its SFTP outbox; one daemon cycle downloads it (size and SHA-256 "
        "checked), ingests and matches it, then moves the bank's copy to its archive folder."
    )
    arriving = remote / "bank/outbox" / "statement-2026-11-20.xml"
    arriving.write_text(
        statement_xml(
            booking_date=date(2026, 11, 20), statement_id="DEMO-SFTP-2026-11-20", payments=DEMO_PAYMENTS
        ),
        encoding="utf-8",
    )
    _run([*base, "run", "--once"])
    _run([*base, "report", "applications"])
    _say("The period's journals go to the GL over SFTP: uploaded under a temporary name, renamed into place.")
    _run([*base, "gl", "export", "--period", "2026-11"])
    export = sorted((config / "spool").rglob("*.csv"))
    _run([*base, "outbox", "enqueue", "general-ledger/journals", str(export[-1])])
    _run([*base, "run", "--once"])
    _run([*base, "status"])
    for folder in ("bank/outbox", "bank/archive", "gl/import"):
        names = sorted(p.name for p in (remote / folder).iterdir())
        click.echo(f"server {folder}: {', '.join(names) or '(empty)'}")
    click.secho(f"\nSFTP demo finished; everything is in {root}", fg="green", bold=True)


def _import_ledger(root: Path, base: list[str]) -> None:
    """The demo's customers and fulfilment lines, written to root/data and imported."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name in ("customers.csv", "transactions.csv"):
        (data / name).write_text(_template(name), encoding="utf-8")
    _run([*base, "customers", "import", str(data / "customers.csv")])
    _run([*base, "transactions", "import", str(data / "transactions.csv")])


def _demo(root: Path) -> None:
    config = root / "config"
    click.secho(f"arbridge demo in {root}", fg="green", bold=True)
    _say("Set up: a configuration directory and its check.")
    _run(["init", str(config)])
    base = ["--config", str(config)]
    _run([*base, "config", "check"])

    _say(
        "Customers (with their IBANs, a parent/child pair and a mandate), then fulfilment lines: "
        "AutoInvoice groups them into invoices with tax, terms, due dates and journals."
    )
    _import_ledger(root, base)
    _run([*base, "report", "aging", "--as-of", "2026-11-20"])

    _say(
        "The bank's statement arrives: parse it, validate it against the official XSD, ingest it. "
        "Each credit becomes a receipt and cash application runs on it."
    )
    statement = root / "inbox" / "statement-2026-11-20.xml"
    statement.parent.mkdir(parents=True, exist_ok=True)
    statement.write_text(
        statement_xml(
            booking_date=date(2026, 11, 20), statement_id="DEMO-STMT-2026-11-20", payments=DEMO_PAYMENTS
        ),
        encoding="utf-8",
    )
    _run(["parse", str(statement)])
    _run(["validate", str(statement)])
    _run([*base, "ingest", str(statement)])
    _run([*base, "report", "applications"])
    _run([*base, "match", "review"])

    _say("The same bytes again are recorded as a duplicate, not processed twice:")
    _run([*base, "ingest", str(statement)])
    _say("A statement for an account nobody configured is quarantined whole, with an error report:")
    stranger = root / "inbox" / "stranger.xml"
    stranger.write_text(statement.read_text().replace(DEMO_IBAN, "GB33BUKB20201555555555"), encoding="utf-8")
    _run([*base, "ingest", str(stranger)], expect=1)

    _say(
        "Unattended: the bank drops the next statement into its folder (banks/demo-bank.yaml, route "
        "statements); one daemon cycle fetches it, ingests and matches it, and archives the bank's copy."
    )
    exchange = config / "exchange" / "demo-bank" / "outbox"
    exchange.mkdir(parents=True, exist_ok=True)
    arriving = exchange / "statement-2026-11-21.xml"
    arriving.write_text(
        statement_xml(
            booking_date=date(2026, 11, 21), statement_id="DEMO-STMT-2026-11-21", payments=NEXT_DAY_PAYMENTS
        ),
        encoding="utf-8",
    )
    _age(arriving)
    _run([*base, "run", "--once"])
    _run([*base, "status"])
    _run([*base, "report", "applications", "--since", "2026-11-21"])

    _say(
        "Outbound, exactly once: the period's journals are exported for the company GL and the daemon "
        "delivers the file to the GL's folder (partners/general-ledger.yaml) under a temporary name, "
        "renamed into place."
    )
    _run([*base, "gl", "export", "--period", "2026-11"])
    export = sorted((config / "spool").rglob("journals-*.csv")) or sorted((config / "spool").rglob("*.csv"))
    _run([*base, "outbox", "enqueue", "general-ledger/journals", str(export[-1])])
    _run([*base, "run", "--once"])
    _run([*base, "outbox", "list"])
    delivered = sorted((config / "exchange" / "general-ledger").rglob("*.csv"))
    click.echo("delivered: " + ", ".join(str(p.relative_to(root)) for p in delivered))

    _say("Where the receivables stand: aging, the subledger against the GL, and every invariant.")
    _run([*base, "report", "aging", "--as-of", "2026-11-20"])
    _run([*base, "report", "reconcile"])
    _run([*base, "check"])
    click.secho(f"\ndemo finished; everything is in {root}", fg="green", bold=True)


def _age(path: Path, seconds: int = 60) -> None:
    """Make a dropped file look settled (the folder channel takes only files that stopped changing)."""
    import os
    import time

    old = time.time() - seconds
    os.utime(path, (old, old))


def _say(text: str) -> None:
    click.secho(f"\n# {text}", fg="cyan")


# The next day: Nordwind pays its second invoice by reference.
NEXT_DAY_PAYMENTS: list[dict[str, str]] = [
    {
        "amount": "178.50",
        "name": "Nordwind Logistik GmbH",
        "iban": "DE02120300000000202051",
        "ustrd": "INV-000006 forklift rental",
    },
]

# The demo's payments, against the invoices AutoInvoice makes of transactions.csv
# (numbered INV-000001.. in file order: C100, C200, C310, C400 twice, C100).
DEMO_PAYMENTS: list[dict[str, str]] = [
    # Exact reference.
    {
        "amount": "1190.00",
        "name": "Nordwind Logistik GmbH",
        "iban": "DE02120300000000202051",
        "ustrd": "Invoice INV-000001",
        "e2e": "NW-2026-11-0001",
    },
    # A key account paying within 10 days takes its 2% discount (595.00 - 11.90), noisy reference.
    {
        "amount": "583.10",
        "name": "Alpen Metall AG",
        "iban": "DE02500105170137075030",
        "ustrd": "inv 2 thank you",
    },
    # The parent pays its child's invoice, no remittance.
    {"amount": "238.00", "name": "Baltic Foods SIA", "iban": "LV97HABA0012345678910", "ustrd": ""},
    # One payment for two invoices, without remittance: the combination is unique.
    {"amount": "892.50", "name": "Rhein Kontor KG", "iban": "DE12500105170648489890", "ustrd": ""},
    # Nobody we know: left unidentified with recommendations for a person.
    {"amount": "99.99", "name": "Unknown Payer Ltd", "iban": "GB33BUKB20201555555555", "ustrd": "payment"},
]
