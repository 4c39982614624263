"""Routing configuration: the example is valid; unknown channels, accounts and bad routes name file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.directory import load_configuration
from config.loader import ConfigError
from gateway.cli.setup_commands import example_config_dir
from gateway.routing import RouteTable
from tests.gateway.daemon.conftest import IBAN, write_config

FOLDER = "type: folder\npath: /tmp/nowhere"


def test_example_configuration_has_routes() -> None:
    config = load_configuration(example_config_dir())
    routes = RouteTable.from_config(config)
    assert "demo-bank/statements" in routes.inbound
    assert {"demo-bank/direct-debits", "example-retail/invoices", "general-ledger/journals"} <= set(
        routes.outbound
    )
    statements = routes.inbound["demo-bank/statements"]
    assert statements.route.account == IBAN
    assert statements.folder.endswith("exchange/demo-bank/outbox")


def _problems(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_configuration(root)
    return [str(p) for p in caught.value.problems]


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(
    ("route_line", "key", "message"),
    [
        ("      channel: nobody", "channel", "unknown channel 'nobody'"),
        ("      account: DE02120300000000202051", "account", "unknown account DE02120300000000202051"),
        ("      partner: nobody", "partner", "unknown partner 'nobody'"),
    ],
)
def test_route_errors_name_file_and_line(tmp_path: Path, route_line: str, key: str, message: str) -> None:
    root = tmp_path / "config"
    extra = f"    - name: second\n      folder: other\n{route_line}\n"
    write_config(root, bank_channel=FOLDER, partner_channel=FOLDER, after="delete", extra_bank=extra)
    line = _line_of(root / "banks/test-bank.yaml", route_line.strip())
    problems = _problems(root)
    assert any(
        p.startswith(f"config/banks/test-bank.yaml:{line}: routes.inbound[1].{key}: {message}")
        for p in problems
    ), problems


def test_move_without_archive_names_the_route(tmp_path: Path) -> None:
    root = tmp_path / "config"
    extra = "    - name: second\n      folder: other\n      after: move\n"
    write_config(root, bank_channel=FOLDER, partner_channel=FOLDER, after="delete", extra_bank=extra)
    line = _line_of(root / "banks/test-bank.yaml", "name: second")
    expected = f"config/banks/test-bank.yaml:{line}: routes.inbound[1]: after: move needs archive_folder"
    assert expected in _problems(root)


def test_unknown_channel_and_account_via_config_check(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gateway.cli.main import cli

    root = tmp_path / "config"
    extra = "    - name: second\n      folder: other\n      channel: ghost\n"
    extra += "      account: DE02120300000000202051\n"
    write_config(root, bank_channel=FOLDER, partner_channel=FOLDER, after="delete", extra_bank=extra)
    result = CliRunner().invoke(cli, ["--config", str(root), "config", "check"])
    assert result.exit_code == 2
    bank = root / "banks/test-bank.yaml"
    channel_line, account_line = _line_of(bank, "channel: ghost"), _line_of(bank, "account: DE0212")
    assert (
        f"banks/test-bank.yaml:{channel_line}: routes.inbound[1].channel: unknown channel 'ghost'"
        in result.output
    )
    assert f"banks/test-bank.yaml:{account_line}: routes.inbound[1].account: unknown account" in result.output


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('"{kind}/{seq}.xml"', "names must be letters"),
        ('"{kind}-{date:%Y%m%d}.xml"', "needs {seq} or {name}"),
        ('"{nope}.xml"', "cannot render"),
    ],
)
def test_bad_name_templates(tmp_path: Path, template: str, message: str) -> None:
    root = tmp_path / "config"
    write_config(root, bank_channel=FOLDER, partner_channel=FOLDER, after="delete")
    partner = root / "partners/retail.yaml"
    partner.write_text(partner.read_text().replace('"INVOIC-{date:%Y%m%d}-{seq:04d}.edi"', template))
    problems = _problems(root)
    assert any("partners/retail.yaml:" in p and "name_template" in p and message in p for p in problems), (
        problems
    )


def test_partner_without_channel_is_named(tmp_path: Path) -> None:
    root = tmp_path / "config"
    write_config(root, bank_channel=FOLDER, partner_channel=FOLDER, after="delete")
    partner = root / "partners/retail.yaml"
    partner.write_text(partner.read_text().replace("channel:\n  type: folder\n  path: /tmp/nowhere\n", ""))
    assert any("retail' has no channel" in p for p in _problems(root))
