"""`arbridge init`, `arbridge config check` and `arbridge db upgrade`: set-up and its checks."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import click

from config.directory import load_configuration
from config.loader import ConfigError
from gateway.cli.runtime import EXIT_USAGE, Runtime, fail, pass_runtime, print_json
from gateway.db import current_revision, head_revision, upgrade


def example_config_dir() -> Path:
    return Path(str(resources.files("config") / "example"))


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Write into a directory that is not empty.")
def init_command(directory: Path, force: bool) -> None:
    """Create a configuration directory: a complete, commented example to edit."""
    if directory.exists() and any(directory.iterdir()) and not force:
        fail(f"{directory} is not empty; pass --force to write into it")
    shutil.copytree(
        example_config_dir(),
        directory,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("spool", "__pycache__"),
    )
    click.echo(
        f"configuration written to {directory}; check it with `arbridge --config {directory} config check`"
    )


@click.group("config")
def config_group() -> None:
    """The configuration directory."""


@config_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_runtime
def config_check(rt: Runtime, as_json: bool) -> None:
    """Validate the configuration: every problem with its file, line and key."""
    if not rt.config_dir:
        fail("no configuration: pass --config DIR or set ARBRIDGE_CONFIG")
    try:
        config = load_configuration(Path(rt.config_dir))
    except ConfigError as exc:
        if as_json:
            print_json(
                {
                    "ok": False,
                    "problems": [
                        {"file": p.file, "line": p.line, "key": p.key_path, "message": p.message}
                        for p in exc.problems
                    ],
                }
            )
        else:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
        raise SystemExit(EXIT_USAGE) from None
    accounts = sum(len(bank.accounts) for bank in config.banks.values())
    if as_json:
        print_json({"ok": True, "banks": sorted(config.banks), "accounts": accounts})
    else:
        click.echo(f"configuration ok: {len(config.banks)} bank(s), {accounts} account(s)")


@click.group("db")
def db_group() -> None:
    """The database schema."""


@db_group.command("upgrade")
@pass_runtime
def db_upgrade(rt: Runtime) -> None:
    """Migrate the database to the newest schema (Alembic)."""
    from gateway.db import make_engine

    url = rt.db_url or rt.config.database_url()
    engine = make_engine(url)
    before = current_revision(engine)
    upgrade(engine)
    click.echo(f"database at {head_revision()} (was {before or 'empty'})")


COMMANDS = [init_command, config_group, db_group]
