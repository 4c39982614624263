"""Receivables commands: customers and transactions import, periods, GL export, reports, check.

    arbridge customers import FILE [--skip-invalid] [--json]
    arbridge transactions import FILE [--skip-invalid] [--json]
    arbridge period list | open PERIOD | close PERIOD [--pending]
    arbridge gl export --period PERIOD [--format csv|json]
    arbridge report aging [--as-of DATE] | statement CUSTOMER | reconcile | trial-balance [--json]
    arbridge check [--json]

Exit status: 0 ok, 1 rejected input (invalid rows, a refused close, a failed check), 2 usage.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from ar import customers, periods, reports, transactions
from ar.errors import ArError, PeriodCloseRefused
from ar.invariants import CheckContext
from ar.invariants import run as run_invariants
from ar.model import PeriodState
from ar.money import Money
from ar.rows import ImportRejected, RowProblem
from config.ar import ExportFormat
from gateway.cli.ar_input import InputFile
from gateway.cli.runtime import EXIT_REJECTED, Runtime, fail, pass_runtime, print_json, print_table
from gateway.glexport_writer import discard, export_period


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "cli"


def _now() -> datetime:
    return datetime.now(UTC)


def _today() -> date:
    return _now().date()


def _input(path: str) -> InputFile:
    file = Path(path)
    if not file.is_file():
        fail(f"{path}: no such file")
    try:
        return InputFile(file)
    except UnicodeDecodeError as exc:
        fail(f"{path}: not UTF-8 (byte {exc.start})", EXIT_REJECTED)


def _report_problems(
    problems: tuple[RowProblem, ...] | list[RowProblem], as_json: bool, *, imported: bool
) -> None:
    if as_json:
        return
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        what = "skipped" if imported else "nothing imported"
        click.echo(f"{len(problems)} problem(s); {what}", err=True)


def _money(m: Money) -> str:
    return m.format()


class _Rejected(Exception):
    """Raised inside a transaction to roll it back when the reader found problems."""


# --------------------------------------------------------------------------- customers
@click.group("customers")
def customers_group() -> None:
    """Customer master data."""


@customers_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows and report the others.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_runtime
def customers_import(rt: Runtime, file: str, skip_invalid: bool, as_json: bool) -> None:
    """Import customers (CSV): create new ones, update existing ones by customer_number."""
    source = _input(file)
    profiles = set(rt.config.ar.profiles.profiles)
    try:
        with rt.transaction() as session:
            result = customers.import_customers(
                session,
                source.rows(),
                columns=source.columns,
                file=source.name,
                profiles=profiles,
                actor=_actor(),
                now=_now(),
                skip_invalid=skip_invalid,
            )
            problems = sorted([*result.problems, *source.problems], key=lambda p: p.line)
            if source.problems and not skip_invalid:
                raise ImportRejected(tuple(problems))
    except ImportRejected as exc:
        problems = sorted([*exc.problems, *source.problems], key=lambda p: p.line)
        if as_json:
            print_json({"imported": False, "problems": [p.as_dict() for p in _unique(problems)]})
        _report_problems(_unique(problems), as_json, imported=False)
        sys.exit(EXIT_REJECTED)
    summary = {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
    if as_json:
        print_json({"imported": True, **summary, "problems": [p.as_dict() for p in problems]})
    else:
        click.echo(
            f"customers: {result.created} created, {result.updated} updated, {result.unchanged} unchanged"
        )
        _report_problems(problems, as_json, imported=True)
    if problems:
        sys.exit(EXIT_REJECTED)


def _unique(problems: list[RowProblem]) -> list[RowProblem]:
    seen: set[RowProblem] = set()
    out = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


# --------------------------------------------------------------------------- transactions
@click.group("transactions")
def transactions_group() -> None:
    """Invoices, debit memos and credit memos (AutoInvoice)."""


@transactions_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="Import the valid lines and report the others.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_runtime
def transactions_import(rt: Runtime, file: str, skip_invalid: bool, as_json: bool) -> None:
    """Import fulfilment lines (CSV or JSON lines) into transactions, open items and journals."""
    source = _input(file)
    config = rt.config.ar
    try:
        with rt.transaction() as session:
            result = transactions.import_transactions(
                session,
                source.rows,
                columns=source.columns,
                file=source.name,
                config=config,
                actor=_actor(),
                now=_now(),
                skip_invalid=skip_invalid,
            )
            problems = sorted([*result.problems, *source.problems], key=lambda p: p.line)
            if source.problems and not skip_invalid:
                raise ImportRejected(tuple(problems))
    except ImportRejected as exc:
        problems = _unique(sorted([*exc.problems, *source.problems], key=lambda p: p.line))
        if as_json:
            print_json({"imported": False, "problems": [p.as_dict() for p in problems]})
        _report_problems(problems, as_json, imported=False)
        sys.exit(EXIT_REJECTED)
    except ArError as exc:
        fail(str(exc), EXIT_REJECTED)
    if as_json:
        print_json(
            {
                "imported": True,
                "transactions": result.transactions,
                "lines": result.lines,
                "numbers": {t: list(r) for t, r in result.numbers.items()},
                "problems": [p.as_dict() for p in problems],
            }
        )
    else:
        counts = ", ".join(f"{n} {t}" for t, n in sorted(result.transactions.items())) or "no transactions"
        ranges = "; ".join(f"{lo}..{hi}" for lo, hi in result.numbers.values())
        click.echo(f"transactions: {counts} from {result.lines} lines" + (f" ({ranges})" if ranges else ""))
        _report_problems(problems, as_json, imported=True)
    if problems:
        sys.exit(EXIT_REJECTED)


# --------------------------------------------------------------------------- periods
@click.group("period")
def period_group() -> None:
    """Accounting periods: list, open, close."""


@period_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def period_list(rt: Runtime, as_json: bool) -> None:
    """The periods and their states (future, open, close_pending, closed)."""
    with rt.transaction() as session:
        rows = reports.period_rows(session)
    if as_json:
        print_json(rows)
    else:
        print_table(rows)


@period_group.command("open")
@click.argument("period")
@pass_runtime
def period_open(rt: Runtime, period: str) -> None:
    """Open a period (future, close pending or closed ones too; audited)."""
    try:
        with rt.transaction() as session:
            p = periods.set_state(
                session, period, PeriodState.OPEN, calendar=rt.config.ar.calendar, actor=_actor(), now=_now()
            )
            click.echo(f"period {p.name} ({p.start_date}..{p.end_date}) is open")
    except ArError as exc:
        fail(str(exc))


@period_group.command("close")
@click.argument("period")
@click.option("--pending", is_flag=True, help="Set close pending (no posting) without the checks.")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def period_close(rt: Runtime, period: str, pending: bool, as_json: bool) -> None:
    """Close a period after the tie-out: aging = GL receivables, nothing unposted, no pending adjustments."""
    try:
        with rt.transaction() as session:
            report = reports.close_period(
                session, rt.config.ar, period, actor=_actor(), now=_now(), pending=pending
            )
    except reports.CloseRefused as exc:
        _print_close(exc.report, as_json, refused=True)
        sys.exit(EXIT_REJECTED)
    except PeriodCloseRefused as exc:  # pragma: no cover - CloseRefused is the one raised
        fail(str(exc), EXIT_REJECTED)
    except ArError as exc:
        fail(str(exc))
    _print_close(report, as_json, refused=False)


def _close_dict(report: reports.CloseReport, refused: bool) -> dict[str, Any]:
    rec = report.reconciliation
    return {
        "period": report.period,
        "start": report.start,
        "end": report.end,
        "state": report.state,
        "closed": not refused and report.state == PeriodState.CLOSED.value,
        "problems": report.problems,
        "tie_out": [
            {
                "currency": r.currency,
                "aging": _money(r.open_items),
                "gl_receivables": _money(r.gl_balance),
                "difference": _money(r.difference),
            }
            for r in rec.rows
        ],
        "unposted": [
            {"kind": e.kind, "id": e.id, "date": e.on, "description": e.description} for e in rec.unposted
        ],
        "pending_adjustments": report.pending_adjustments,
        "open_receipts": [
            {
                "id": r.id,
                "status": r.status,
                "date": r.receipt_date,
                "amount": _money(r.amount),
                "currency": r.amount.currency,
                "payer": r.payer,
            }
            for r in report.open_receipts
        ],
    }


def _print_close(report: reports.CloseReport, as_json: bool, *, refused: bool) -> None:
    data = _close_dict(report, refused)
    if as_json:
        print_json(data)
        return
    out = click.echo if not refused else (lambda m: click.echo(m, err=True))
    verdict = "refused" if refused else report.state.replace("_", " ")
    out(f"period {report.period} ({report.start}..{report.end}): {verdict}")
    out(f"tie-out at {report.end} (aging vs GL {report.reconciliation.account}):")
    print_table(data["tie_out"])
    if data["unposted"]:
        out("unposted events:")
        print_table(data["unposted"])
    if report.pending_adjustments is None:
        out("pending adjustments: (not available)")
    else:
        out(f"pending adjustments: {report.pending_adjustments}")
    if data["open_receipts"]:
        out("unapplied and unidentified receipts:")
        print_table(data["open_receipts"])
    for problem in report.problems:
        out(f"- {problem}")


# --------------------------------------------------------------------------- GL export
@click.group("gl")
def gl_group() -> None:
    """The general ledger: export journals to the company GL."""


@gl_group.command("export")
@click.option("--period", required=True, help="Period to export, e.g. 2026-11.")
@click.option("--format", "fmt", type=click.Choice([f.value for f in ExportFormat]), default=None)
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def gl_export(rt: Runtime, period: str, fmt: str | None, as_json: bool) -> None:
    """Write the period's journals not yet exported to the export folder (each journal exactly once)."""
    ledger_config = rt.config.ar.ledger
    export_format = ExportFormat(fmt) if fmt else ledger_config.export_format
    folder = rt.config.spool / ledger_config.export_folder
    try:
        periods.span_named(period, rt.config.ar.calendar)
    except ArError as exc:
        fail(str(exc))
    exported = None
    try:
        with rt.transaction() as session:
            exported = export_period(
                session, period=period, folder=folder, fmt=export_format, actor=_actor(), now=_now()
            )
    except BaseException:
        discard(exported)
        raise
    result = (
        {"period": period, "file": None, "journals": 0, "lines": 0}
        if exported is None
        else {
            "period": period,
            "file": str(exported.path),
            "journals": exported.journals,
            "lines": exported.lines,
        }
    )
    if as_json:
        print_json(result)
    elif exported is None:
        click.echo(f"period {period}: no journals to export")
    else:
        click.echo(f"{exported.path} ({exported.journals} journals, {exported.lines} lines)")


# --------------------------------------------------------------------------- reports
@click.group("report")
def report_group() -> None:
    """Reports: aging, statement, reconcile, trial-balance."""


def _as_of(value: str | None) -> date:
    if not value:
        return _today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"--as-of {value!r}: expected YYYY-MM-DD")


@report_group.command("aging")
@click.option("--as-of", "as_of", help="Date (YYYY-MM-DD), default today.")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def report_aging(rt: Runtime, as_of: str | None, as_json: bool) -> None:
    """Open items per customer and currency in the aging buckets of reports.yaml."""
    with rt.transaction() as session:
        report = reports.aging(session, rt.config.ar, _as_of(as_of))
    rows = [
        {
            "customer": r.customer_number,
            "name": r.customer_name,
            "currency": r.currency,
            **{name: _money(m) for name, m in r.buckets.items()},
            "total": _money(r.total),
        }
        for r in report.rows
    ]
    totals = {c: _money(m) for c, m in report.totals.items()}
    if as_json:
        print_json(
            {"as_of": report.as_of, "buckets": list(report.bucket_names), "rows": rows, "totals": totals}
        )
        return
    click.echo(f"aging as of {report.as_of}")
    print_table(rows)
    for currency, total in totals.items():
        click.echo(f"total {currency}: {total}")


@report_group.command("statement")
@click.argument("customer")
@click.option("--as-of", "as_of", help="Date (YYYY-MM-DD), default today.")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def report_statement(rt: Runtime, customer: str, as_of: str | None, as_json: bool) -> None:
    """A customer's open items with due dates and days past due."""
    try:
        with rt.transaction() as session:
            st = reports.statement(session, rt.config.ar, customer, _as_of(as_of))
    except ArError as exc:
        fail(str(exc), EXIT_REJECTED)
    items = [
        {
            "trx_type": i.trx_type,
            "trx_number": i.trx_number,
            "installment": i.installment,
            "trx_date": i.trx_date,
            "due_date": i.due_date,
            "days_past_due": i.days_past_due,
            "remaining": _money(i.remaining),
            "currency": i.remaining.currency,
            "in_dispute": _money(i.in_dispute),
        }
        for i in st.items
    ]
    totals = {c: _money(m) for c, m in st.totals.items()}
    if as_json:
        print_json(
            {
                "customer": st.customer_number,
                "name": st.customer_name,
                "as_of": st.as_of,
                "items": items,
                "totals": totals,
            }
        )
        return
    click.echo(f"statement of {st.customer_number} {st.customer_name} as of {st.as_of}")
    print_table(items)
    for currency, total in totals.items():
        click.echo(f"total {currency}: {total}")


@report_group.command("reconcile")
@click.option("--as-of", "as_of", help="Date (YYYY-MM-DD); default: everything posted.")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def report_reconcile(rt: Runtime, as_of: str | None, as_json: bool) -> None:
    """Open items per currency against the receivables control balance, and the unposted events."""
    with rt.transaction() as session:
        rec = reports.reconcile(session, rt.config.ar, date.fromisoformat(as_of) if as_of else None)
    rows = [
        {
            "currency": r.currency,
            "open_items": _money(r.open_items),
            "gl_receivables": _money(r.gl_balance),
            "difference": _money(r.difference),
        }
        for r in rec.rows
    ]
    unposted = [
        {"kind": e.kind, "id": e.id, "date": e.on, "description": e.description} for e in rec.unposted
    ]
    if as_json:
        print_json(
            {"as_of": rec.as_of, "account": rec.account, "ok": rec.ok, "rows": rows, "unposted": unposted}
        )
    else:
        click.echo(f"receivables account {rec.account}" + (f" as of {rec.as_of}" if rec.as_of else ""))
        print_table(rows)
        click.echo(f"unposted events: {len(unposted)}")
        if unposted:
            print_table(unposted)
    if not rec.ok:
        sys.exit(EXIT_REJECTED)


@report_group.command("trial-balance")
@click.option("--period", help="Only this period's journals.")
@click.option("--as-of", "as_of", help="Journals dated up to this date.")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def report_trial_balance(rt: Runtime, period: str | None, as_of: str | None, as_json: bool) -> None:
    """Debits, credits and balance per GL account and currency."""
    with rt.transaction() as session:
        tb = reports.trial_balance(session, period=period, up_to=date.fromisoformat(as_of) if as_of else None)
    rows = [
        {
            "account": r.account,
            "currency": r.currency,
            "debit": _money(r.debit),
            "credit": _money(r.credit),
            "balance": _money(r.balance),
        }
        for r in tb
    ]
    if as_json:
        print_json({"period": period, "as_of": as_of, "rows": rows})
    else:
        print_table(rows)


# --------------------------------------------------------------------------- check
@click.command("check")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def check_command(rt: Runtime, as_json: bool) -> None:
    """Run the registered invariants against the database; exit 1 when any fails."""
    with rt.transaction() as session:
        results = run_invariants(session, CheckContext(rt.config.ar))
    failed = [r for r in results if not r.ok]
    if as_json:
        print_json(
            {
                "ok": not failed,
                "checks": [
                    {
                        "name": r.name,
                        "ok": r.ok,
                        "seconds": round(r.seconds, 3),
                        "violations": [{"message": v.message, "ids": list(v.ids)} for v in r.violations],
                    }
                    for r in results
                ],
            }
        )
    else:
        for r in results:
            click.echo(f"{'ok  ' if r.ok else 'FAIL'} {r.name} ({r.seconds:.2f}s)")
            for v in r.violations:
                click.echo(f"     {v}")
        click.echo(f"{len(results) - len(failed)}/{len(results)} checks passed")
    if failed:
        sys.exit(EXIT_REJECTED)


COMMANDS = [customers_group, transactions_group, period_group, gl_group, report_group, check_command]
