"""Cash application from the command line (ar.cashapp).

    arbridge match run [--json] [--batch-size N]
    arbridge match review [--json]
    arbridge match apply RECEIPT TRX[:AMOUNT]... | RECEIPT --recommendation N   [--user U]
    arbridge match unapply APPLICATION_ID | RECEIPT TRX                          [--user U]
    arbridge match simulate --rules FILE [--since DATE] [--json]
    arbridge match suggest-rules [--accept N] [--json] [--user U]
    arbridge report applications [--since DATE] [--receipt RECEIPT] [--json]

RECEIPT is a receipt id or its (unique) entry reference. Manual work is done as `--user`
(else $ARBRIDGE_USER, else the OS user) within that user's approval limits; the engine
acts as user "engine" with the company policy's limits. Exit status: 0 ok, 1 refused,
2 usage or configuration error.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from ar.cashapp import operations, simulate, suggest
from ar.cashapp.rules import load_candidate
from ar.cashapp.run import BATCH_SIZE, CashApplication, RunSummary
from ar.errors import ArError
from config.loader import ConfigError
from gateway.cash_application import cash_application_for, match_receipts
from gateway.cli.ar_commands import report_group
from gateway.cli.receivables import json_option, setup_from, user_option
from gateway.cli.runtime import EXIT_REJECTED, Runtime, fail, pass_runtime, print_json, print_table


def _now() -> datetime:
    return datetime.now(UTC)


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


def cash_application(rt: Runtime, rules: Path | None = None) -> CashApplication:
    """The engine of the configuration (or of a candidate rules file) with the services' Setup."""
    config = rt.config
    try:
        if rules is None:
            return cash_application_for(config)
        engine = load_candidate(rules, config.ar.profiles)
    except ConfigError as exc:
        fail(f"configuration error:\n{exc}")
    return CashApplication(engine, setup_from(config), default_rule_set=config.matching.default)


def run_matching(
    rt: Runtime, receipt_ids: Iterable[int] | None = None, batch_size: int = BATCH_SIZE
) -> RunSummary:
    """Match (the given) open receipts, committing every `batch_size` receipts."""
    try:
        return match_receipts(rt.sessions, rt.config, receipt_ids, batch_size=batch_size)
    except ConfigError as exc:
        fail(f"configuration error:\n{exc}")


def describe_run(summary: RunSummary) -> str:
    outcomes = ", ".join(
        f"{count} {name.lower()}" for name, count in sorted(summary.outcomes.items()) if count
    )
    text = (
        f"matched {summary.receipts} receipt(s): {outcomes or 'nothing to do'}; "
        f"{summary.applications} application(s) made"
    )
    if summary.held_for_approval:
        text += f", {summary.held_for_approval} held (write-off above the engine's approval limit)"
    if summary.refused:
        text += f", {summary.refused} refused by the receivables rules (left as recommendations)"
    for error in summary.errors[:10]:
        text += f"\n  {error}"
    return text


@click.group("match")
def match_group() -> None:
    """Cash application: run the engine, review its exceptions, apply and unapply by hand."""


@match_group.command("run")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=BATCH_SIZE, show_default=True)
@json_option
@pass_runtime
def match_run(rt: Runtime, batch_size: int, as_json: bool) -> None:
    """Apply open receipts (unidentified or unapplied, nothing decided yet), oldest first."""
    summary = run_matching(rt, batch_size=batch_size)
    if as_json:
        print_json(summary.as_dict())
    else:
        click.echo(describe_run(summary))


@match_group.command("review")
@json_option
@pass_runtime
def match_review(rt: Runtime, as_json: bool) -> None:
    """The exceptions (unidentified, unapplied, recommended) with their recommendations."""
    with rt.transaction() as session:
        rows = operations.review(session)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no exceptions")
    for row in rows:
        who = row["customer"] or row["payer_name"] or "?"
        click.echo(
            f"receipt {row['receipt_id']} {row['receipt']} {row['date']} {row['amount']} {row['currency']} "
            f"({row['status']}, open {row['open']}) from {who}: {row['outcome'] or 'not yet matched'}"
        )
        if row["remittance"]:
            click.echo(f"    remittance: {' | '.join(row['remittance'])}")
        for rec in row["recommendations"]:
            apps = ", ".join(
                f"{a['trx_number']} {a['amount']}"
                + (f" (discount {a['discount']})" if a["discount"] not in ("0", "0.00") else "")
                + (f" (write-off {a['write_off']})" if a["write_off"] not in ("0", "0.00") else "")
                for a in rec["applications"]
            )
            notes = ", ".join(rec["evidence"].get("notes", []))
            click.echo(
                f"    #{rec['rank']} score {rec['score']:>3} {rec['rule']}: {apps}"
                + (f"  [{notes}]" if notes else "")
            )


@match_group.command("apply")
@click.argument("receipt")
@click.argument("targets", nargs=-1)
@click.option("--recommendation", type=int, help="Accept the receipt's recommendation of this rank instead.")
@user_option
@json_option
@pass_runtime
def match_apply(
    rt: Runtime, receipt: str, targets: tuple[str, ...], recommendation: int | None, user: str, as_json: bool
) -> None:
    """Apply RECEIPT to transactions (TRX or TRX:AMOUNT), within the user's approval limits."""
    if bool(targets) == (recommendation is not None):
        fail("give either TRX[:AMOUNT]... or --recommendation N")
    setup = setup_from(rt.config)
    try:
        with rt.transaction() as session:
            found = operations.find_receipt(session, receipt)
            if recommendation is not None:
                rows = operations.accept_recommendation(
                    session, found, recommendation, setup=setup, user=user, now=_now()
                )
            else:
                parsed = [operations.Target.parse(t) for t in targets]
                rows = operations.apply_manually(session, found, parsed, setup=setup, user=user, now=_now())
            report = operations.applications_report(session, receipt_id=found.id)
            made = {r.id for r in rows}
            result = [r for r in report if r["application_id"] in made]
    except ArError as exc:
        fail(str(exc), EXIT_REJECTED)
    _print_applications(result, as_json)


@match_group.command("unapply")
@click.argument("what", nargs=-1, required=True)
@user_option
@pass_runtime
def match_unapply(rt: Runtime, what: tuple[str, ...], user: str) -> None:
    """Undo an application: APPLICATION_ID, or RECEIPT TRX (every application of it to TRX)."""
    if len(what) not in (1, 2) or (len(what) == 1 and not what[0].isdigit()):
        fail("give APPLICATION_ID, or RECEIPT TRX")
    setup = setup_from(rt.config)
    try:
        with rt.transaction() as session:
            if len(what) == 1:
                undone = operations.unapply_manually(
                    session, setup=setup, user=user, now=_now(), application_id=int(what[0])
                )
            else:
                receipt = operations.find_receipt(session, what[0])
                undone = operations.unapply_manually(
                    session, setup=setup, user=user, now=_now(), receipt=receipt, trx_number=what[1]
                )
            lines = [f"undid application {row.reversal_of_id} ({-row.amount})" for row in undone]
    except ArError as exc:
        fail(str(exc), EXIT_REJECTED)
    click.echo("\n".join(lines))


@match_group.command("simulate")
@click.option("--rules", "rules", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--since", help="Replay receipts dated on or after this day (YYYY-MM-DD); default: all.")
@json_option
@pass_runtime
def match_simulate(rt: Runtime, rules: Path, since: str | None, as_json: bool) -> None:
    """Replay past receipts against a candidate rule set; nothing is kept."""
    candidate = cash_application(rt, rules)
    try:
        with rt.sessions() as session:
            session.begin()
            try:
                report = simulate.simulate(session, candidate, since=_date(since) or date.min, now=_now())
            finally:
                session.rollback()
    except ArError as exc:
        fail(str(exc), EXIT_REJECTED)
    data = report.as_dict()
    if as_json:
        print_json(data)
        return
    click.echo(
        f"{data['receipts']} receipt(s) since {since or 'the beginning'}: automation "
        f"{data['automation_rate_before']:.1%} -> {data['automation_rate_after']:.1%}; "
        f"{len(data['changed'])} would change, {len(data['new_doubtful'])} new doubtful, "
        f"{len(data['no_longer_automatic'])} no longer automatic (nothing was kept)"
    )
    for entry in data["new_doubtful"][:20]:
        after = ", ".join(f"{a[0]} {a[1]}" for a in entry["after"])
        click.echo(f"  doubtful: receipt {entry['receipt_id']} {entry['receipt']}: {after}")


@match_group.command("suggest-rules")
@click.option("--accept", "accept", type=int, help="Accept suggestion N (link the IBAN / print the YAML).")
@click.option("--min-support", type=click.IntRange(1), default=1, show_default=True)
@user_option
@json_option
@pass_runtime
def match_suggest(rt: Runtime, accept: int | None, min_support: int, user: str, as_json: bool) -> None:
    """Reference patterns and IBAN links learnt from manual applications."""
    try:
        with rt.transaction() as session:
            found = suggest.suggest(session, min_support=min_support)
            if accept is not None:
                chosen = next((s for s in found if s.number == accept), None)
                if chosen is None:
                    fail(f"no suggestion {accept} (there are {len(found)})", EXIT_REJECTED)
                click.echo(suggest.accept(session, chosen, user=user, now=_now()))
                return
    except ArError as exc:
        fail(str(exc), EXIT_REJECTED)
    if as_json:
        print_json([s.as_dict() for s in found])
        return
    if not found:
        click.echo("no suggestions")
    for s in found:
        what = f"link IBAN {s.iban} to customer {s.customer}" if s.kind == "iban" else f"pattern {s.pattern}"
        click.echo(f"{s.number:>3}. {what}  ({s.support} receipt(s), e.g. {', '.join(s.examples[:3])})")


def _print_applications(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    print_table(
        [
            {
                "id": r["application_id"],
                "receipt": r["receipt"],
                "trx_number": r["trx_number"],
                "amount": r["amount"],
                "discount": r["discount"],
                "write_off": r["write_off"],
                "rule": r["rule"],
                "score": r["score"],
                "made_by": r["made_by"],
            }
            for r in rows
        ]
    )


@report_group.command("applications")
@click.option("--since", help="Applications dated on or after this day (YYYY-MM-DD).")
@click.option("--receipt", help="Only this receipt (id or entry reference).")
@json_option
@pass_runtime
def report_applications(rt: Runtime, since: str | None, receipt: str | None, as_json: bool) -> None:
    """Receipt applications with the rule and evidence that made each (DESIGN.md shape)."""
    try:
        with rt.transaction() as session:
            receipt_id = operations.find_receipt(session, receipt).id if receipt else None
            rows = operations.applications_report(session, since=_date(since), receipt_id=receipt_id)
    except ArError as exc:
        fail(str(exc), EXIT_REJECTED)
    _print_applications(rows, as_json)


COMMANDS = [match_group]
