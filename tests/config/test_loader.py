"""Configuration errors name the file, the line and the key path; the example configuration is valid."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from config.directory import load_configuration
from config.loader import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"

GOOD_BANK = "name: Demo Bank\naccounts:\n  - iban: DE89370400440532013000\n    currency: EUR\n"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(EXAMPLE, target)
    return target


def test_example_configuration_is_valid(config_dir: Path) -> None:
    config = load_configuration(config_dir)
    assert "demo-bank" in config.banks
    assert config.account("DE89370400440532013000") is not None


def test_minimal_bank_file(config_dir: Path) -> None:
    (config_dir / "banks" / "demo-bank.yaml").write_text(GOOD_BANK)
    bank = load_configuration(config_dir).banks["demo-bank"]
    assert bank.accounts[0].currency == "EUR"
    assert bank.strict is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD_BANK.replace("013000", "013001"),
            "config/banks/acme.yaml:3: accounts[0].iban: invalid IBAN checksum",
        ),
        (
            GOOD_BANK.replace("EUR", "EURO"),
            "config/banks/acme.yaml:4: accounts[0].currency: unknown currency",
        ),
        (GOOD_BANK + "colour: blue\n", "config/banks/acme.yaml:5: colour: unknown key"),
        (
            GOOD_BANK.replace("name: Demo Bank\n", ""),
            "config/banks/acme.yaml:1: name: required key is missing",
        ),
        (GOOD_BANK + "name: Again\n", "config/banks/acme.yaml:5: name: duplicate key"),
        ("name: [unclosed\n", "config/banks/acme.yaml:2: YAML syntax"),
        (
            "name: Demo\naccounts: []\n",
            "config/banks/acme.yaml:2: accounts: List should have at least 1 item",
        ),
        (
            GOOD_BANK + "  - iban: DE89 3704 0044 0532 0130 00\n    currency: EUR\n",
            "config/banks/acme.yaml:2: accounts: accounts[1]: DE89370400440532013000 is listed twice",
        ),
    ],
)
def test_errors_name_file_line_and_key(config_dir: Path, text: str, expected: str) -> None:
    (config_dir / "banks" / "acme.yaml").write_text(text)
    (config_dir / "banks" / "demo-bank.yaml").unlink()
    with pytest.raises(ConfigError) as excinfo:
        load_configuration(config_dir)
    assert any(str(p).startswith(expected) or expected in str(p) for p in excinfo.value.problems), str(
        excinfo.value
    )


def test_every_problem_of_every_file_is_reported(config_dir: Path) -> None:
    (config_dir / "banks" / "a.yaml").write_text(GOOD_BANK.replace("013000", "013001"))
    (config_dir / "banks" / "b.yaml").write_text(GOOD_BANK + "extra: 1\n")
    with pytest.raises(ConfigError) as excinfo:
        load_configuration(config_dir)
    files = {p.file for p in excinfo.value.problems}
    assert {"config/banks/a.yaml", "config/banks/b.yaml"} <= files


def test_same_account_in_two_banks_is_refused(config_dir: Path) -> None:
    (config_dir / "banks" / "other.yaml").write_text(GOOD_BANK)
    with pytest.raises(ConfigError, match="already configured for bank"):
        load_configuration(config_dir)


def test_password_in_database_url_is_refused(config_dir: Path) -> None:
    settings = config_dir / "arbridge.yaml"
    settings.write_text(settings.read_text() + "database: postgresql://ar:secret@db/ar\n")
    with pytest.raises(ConfigError, match="database_url_env"):
        load_configuration(config_dir)


def test_yaml_11_booleans_stay_strings(config_dir: Path) -> None:
    """A country code NO or an answer 'yes' must not silently become a boolean."""
    (config_dir / "banks" / "demo-bank.yaml").write_text(GOOD_BANK.replace("Demo Bank", "no"))
    assert load_configuration(config_dir).banks["demo-bank"].name == "no"


def test_database_url_defaults_to_sqlite_in_spool(config_dir: Path) -> None:
    config = load_configuration(config_dir)
    assert config.database_url() == f"sqlite:///{(config_dir / 'spool' / 'arbridge.sqlite').resolve()}"


def test_database_url_from_environment(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = config_dir / "arbridge.yaml"
    settings.write_text(settings.read_text() + "database_url_env: TEST_ARBRIDGE_DB\n")
    config = load_configuration(config_dir)
    with pytest.raises(ConfigError, match="TEST_ARBRIDGE_DB is not set"):
        config.database_url()
    monkeypatch.setenv("TEST_ARBRIDGE_DB", "sqlite:////tmp/x.sqlite")
    assert config.database_url() == "sqlite:////tmp/x.sqlite"
