"""The `arbridge` command line: one entry point, one group per area (DESIGN.md, Command line)."""

from __future__ import annotations

import click

from gateway.cli.runtime import Runtime


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
    ctx.obj = Runtime(config_dir, db_url)


# Each area registers its commands here, one line each.
_COMMAND_MODULES: list[str] = [
    "setup_commands",
    "file_commands",
    "demo_command",
    "ar_commands",
    "daemon_commands",
    "receivables",
    "match_commands",
]


def _register() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"gateway.cli.{name}")
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
