"""`arbridge run [--once]`, `arbridge status` and `arbridge outbox list/resolve/enqueue`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from gateway.cli.runtime import EXIT_USAGE, Runtime, fail, pass_runtime, print_json, print_table
from gateway.daemon import Worker, configure_logging, status
from gateway.errors import OutboxError, RoutingError, WorkerConflict
from gateway.outbox import OutboundState, enqueue, list_files, resolve
from gateway.routing import RouteTable


@click.command("run")
@click.option(
    "--once", is_flag=True, help="One full cycle (poll, ingest, deliver), then exit: for cron and tests."
)
@click.option(
    "--lease-seconds",
    type=click.IntRange(10),
    default=300,
    show_default=True,
    help="How long a claimed job stays ours without a commit (PostgreSQL workers).",
)
@click.option(
    "--batch", type=click.IntRange(1), default=20, show_default=True, help="Jobs claimed at a time."
)
@pass_runtime
def run_command(rt: Runtime, once: bool, lease_seconds: int, batch: int) -> None:
    """The daemon: poll, watch, ingest and deliver on schedule (JSON-line logs on stderr).

    SIGTERM or SIGINT stops it after the file in hand. On SQLite one worker runs at a
    time; on PostgreSQL start as many as you like.
    """
    configure_logging()
    worker = Worker(
        rt.config, rt.engine, lease_ttl=timedelta(seconds=lease_seconds), batch=batch, one_shot=once
    )
    try:
        if once:
            worker.run_once()
        else:
            worker.run_forever()
    except WorkerConflict as exc:
        fail(str(exc), EXIT_USAGE)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_runtime
def status_command(rt: Runtime, as_json: bool) -> None:
    """Each channel's last success and error, and the files queued, failed or unknown."""
    with rt.transaction() as session:
        report = status(session, RouteTable.from_config(rt.config))
    if as_json:
        print_json(report)
        return
    click.echo("channels")
    print_table(report["channels"], ["channel", "last_success_at", "last_error_at", "last_error"])
    for direction in ("outbound", "inbound"):
        counts = (
            ", ".join(f"{state} {n}" for state, n in sorted(report[direction]["counts"].items())) or "none"
        )
        click.echo(f"\n{direction} files: {counts}")
        if report[direction]["open"]:
            print_table(report[direction]["open"])


@click.group("outbox")
def outbox_group() -> None:
    """Outbound files: what is queued, sent, or needs a person."""


@outbox_group.command("list")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([s.value for s in OutboundState]),
    help="Only files in this state (repeatable).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def outbox_list(rt: Runtime, states: tuple[str, ...], as_json: bool) -> None:
    """Outbound files, newest first."""
    with rt.transaction() as session:
        rows = [
            {
                "id": f.id,
                "route": f.route,
                "name": f.remote_name,
                "state": f.state,
                "size": f.size,
                "sha256": f.sha256,
                "attempts": f.attempts,
                "created_at": f.created_at,
                "sent_at": f.sent_at,
                "last_error": f.last_error,
            }
            for f in list_files(session, [OutboundState(s) for s in states])
        ]
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["id", "route", "name", "state", "size", "attempts", "sent_at", "last_error"])


@outbox_group.command("resolve")
@click.argument("file_id", type=int)
@click.option("--sent", "decision", flag_value="sent", help="It did arrive: record it as sent.")
@click.option(
    "--resend", "decision", flag_value="resend", help="It did not arrive: queue the same bytes again."
)
@click.option("--actor", envvar="USER", default="operator", show_default=True, help="Who decides (audited).")
@pass_runtime
def outbox_resolve(rt: Runtime, file_id: int, decision: str | None, actor: str) -> None:
    """Settle an `unknown` (or `failed`) file after checking with the recipient. Audited."""
    if decision is None:
        fail("say what happened: --sent or --resend")
    try:
        with rt.transaction() as session:
            row = resolve(session, file_id, sent=decision == "sent", actor=actor)
            state = row.state
    except OutboxError as exc:
        fail(str(exc), 1)
    click.echo(f"outbound file {file_id}: {state}")


@outbox_group.command("enqueue")
@click.argument("route")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default="", help="Fills {name} in the route's name template (default: the file's).")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def outbox_enqueue(rt: Runtime, route: str, file: Path, name: str, as_json: bool) -> None:
    """Queue FILE for delivery on ROUTE (owner/name); `arbridge run` sends it."""
    routes = RouteTable.from_config(rt.config)
    try:
        with rt.transaction() as session:
            row = enqueue(
                session,
                routes,
                rt.config.spool,
                route,
                file,
                name=name or file.name,
                actor="cli",
                origin="cli",
            )
            result = {
                "id": row.id,
                "route": row.route,
                "name": row.remote_name,
                "sha256": row.sha256,
                "not_before": row.not_before,
            }
    except (RoutingError, OutboxError) as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    else:
        click.echo(f"queued {file} as {result['name']} on {route} (id {result['id']})")


COMMANDS = [run_command, status_command, outbox_group]
