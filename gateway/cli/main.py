"""The `arbridge` command line: one entry point, one group per area (DESIGN.md, Command line)."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_dir",
    envvar="ARBRIDGE_CONFIG",
    type=click.Path(file_okay=False),
    help="Configuration directory (else $ARBRIDGE_CONFIG).",
)
@click.option("--db", "db_url", help="Database URL (else the one named in the configuration).")
@click.pass_context
def cli(ctx: click.Context, config_dir: str | None, db_url: str | None) -> None:
    """arbridge: bank and EDI gateway with an accounts-receivable core."""
    ctx.ensure_object(dict)
    ctx.obj["config_dir"] = config_dir
    ctx.obj["db_url"] = db_url


def main() -> None:
    cli(obj={})
