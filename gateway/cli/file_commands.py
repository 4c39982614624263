"""`arbridge parse`, `arbridge validate` and `arbridge ingest`: inbound files from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from config.loader import ConfigError
from formats import registry as format_registry
from formats.errors import FormatError
from gateway.cli.runtime import EXIT_REJECTED, Runtime, fail, pass_runtime, print_json
from gateway.ingest import HEAD_BYTES, Ingestor, iter_paths
from gateway.registry import FileState


def _open_adapter(path: Path):  # type: ignore[no-untyped-def]
    try:
        with path.open("rb") as stream:
            head = stream.read(HEAD_BYTES)
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror}", EXIT_REJECTED)
    adapter = format_registry.detect(head)
    if adapter is None:
        fail(
            f"{path}:1: unknown format: not a document arbridge can read "
            f"(known: {', '.join(format_registry.names())})",
            EXIT_REJECTED,
        )
    return adapter


@click.command("parse")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON (DESIGN.md shape).")
def parse_command(file: Path, as_json: bool) -> None:
    """Detect the format and print the parsed records; no database."""
    from formats import camt

    adapter = _open_adapter(file)
    if adapter is not camt:
        fail(f"{file}: {adapter.FORMAT} files are recognised but not yet parsed by arbridge", EXIT_REJECTED)
    try:
        with file.open("rb") as stream:
            data = camt.document_to_json(camt.parse_document(stream, source=file.name))
    except FormatError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{file}: refused ({len(exc.problems)} problem(s))", err=True)
        raise SystemExit(EXIT_REJECTED) from None
    if as_json:
        print_json(data)
    else:
        click.echo(_describe_camt(file, data))


@click.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def validate_command(file: Path, as_json: bool) -> None:
    """Validate against the official schema: every problem with its line and path.

    A file over 16 MB is checked streaming, in flat memory: its problems have lines but
    no XPaths (the tree of a 1.5 GB statement would not fit in memory).
    """
    from formats.validate import validate, validate_streaming
    from gateway.ingest import FULL_VALIDATION_MAX_BYTES

    check = validate if file.stat().st_size <= FULL_VALIDATION_MAX_BYTES else validate_streaming
    with file.open("rb") as stream:
        problems = check(stream, source=file.name)
    if as_json:
        print_json(
            {
                "file": str(file),
                "valid": not problems,
                "problems": [
                    {"code": p.code, "message": p.message, "line": p.line, "path": p.path} for p in problems
                ],
            }
        )
    else:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"{file}: {'valid' if not problems else f'{len(problems)} problem(s)'}")
    if problems:
        raise SystemExit(EXIT_REJECTED)


@click.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one summary per file as JSON.")
@click.option("--no-match", is_flag=True, help="Record receipts but do not run cash application.")
@pass_runtime
def ingest_command(rt: Runtime, files: tuple[Path, ...], as_json: bool, no_match: bool) -> None:
    """Register, parse and process inbound files (statements, reports, notifications)."""
    ingestor = Ingestor(rt.config, rt.sessions)
    results = []
    for path in iter_paths(list(files)):
        result = ingestor.ingest(path)
        results.append(result)
        if not as_json:
            click.echo(_describe(result))
        if not no_match:
            # After the file's own commit, in transactions of its own: a matching failure never
            # loses the file's receipts (they stay open for the next `arbridge match run`).
            from gateway.cash_application import match_file
            from gateway.cli.match_commands import describe_run

            try:
                summary = match_file(rt.sessions, rt.config, result)
            except ConfigError as exc:
                fail(f"configuration error:\n{exc}")
            if summary is not None and not as_json:
                click.echo(f"  {describe_run(summary)}")
    if as_json:
        print_json([r.to_json() for r in results])
    if any(r.state is FileState.QUARANTINED for r in results):
        raise SystemExit(EXIT_REJECTED)


def _describe_camt(file: Path, data: dict) -> str:  # type: ignore[type-arg]
    lines = [f"{file}: {data['format']}"]
    for statement in data["statements"]:
        entries = statement["entries"]
        credits = sum(1 for e in entries if e["credit_debit"] == "CRDT")
        lines.append(
            f"  {statement['kind']} {statement['id']}  account {statement['account_iban']} "
            f"{statement['currency']}  opening {_balance(statement['opening_balance'])}  "
            f"closing {_balance(statement['closing_balance'])}  {len(entries)} entries ({credits} credits)"
        )
        for entry in entries[:50]:
            for tx in entry["transactions"] or [{}]:
                who = tx.get("debtor_name") or tx.get("creditor_name") or ""
                refs = [r["ref"] for r in tx.get("creditor_references", [])]
                ref = "; ".join([*tx.get("remittance_unstructured", []), *refs])
                lines.append(
                    f"    {entry['booking_date'] or '':10}  {entry['credit_debit']}  "
                    f"{tx.get('amount') or entry['amount']:>14} {entry['currency']}  "
                    f"{who[:30]:30}  {ref[:60]}"
                )
        if len(entries) > 50:
            lines.append(f"    ... {len(entries) - 50} more entries (use --json)")
    return "\n".join(lines)


def _balance(balance: dict | None) -> str:  # type: ignore[type-arg]
    if not balance:
        return "-"
    sign = "-" if balance["credit_debit"] == "DBIT" else ""
    return f"{sign}{balance['amount']}"


def _describe(result) -> str:  # type: ignore[no-untyped-def]
    if result.state is FileState.DUPLICATE:
        return f"{result.file}: duplicate of file #{result.duplicate_of} (same SHA-256), not processed again"
    if result.state is FileState.QUARANTINED:
        lines = [
            f"{result.file}: QUARANTINED ({len(result.problems)} problem(s)); report: "
            f"{result.quarantine_path}.errors.txt"
        ]
        lines += [f"  {p}" for p in result.problems[:20]]
        if len(result.problems) > 20:
            lines.append(f"  ... and {len(result.problems) - 20} more in the report")
        return "\n".join(lines)
    text = (
        f"{result.file}: processed as {result.format}: {result.statements} statement(s), "
        f"{result.entries} entries, {result.receipts_created} receipt(s) created, "
        f"{result.receipts_existing} already known, {result.skipped_entries} debit/pending entries skipped"
    )
    if result.warnings:
        text += f"\n  {len(result.warnings)} warning(s):" + "".join(f"\n  {w}" for w in result.warnings[:10])
    return text


COMMANDS = [parse_command, validate_command, ingest_command]
