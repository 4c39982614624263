"""Load a whole configuration directory into one immutable `Configuration`.

Every file is validated and every problem of every file is reported in one go
(a ConfigError listing them all), then the cross-file checks run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from config.approvals import Approvals
from config.ar import AR_FILES, ArConfig
from config.loader import ConfigError, ConfigProblem, read_yaml, validate
from config.matching import MATCHING_FILE, MatchingConfig, load_from_directory
from config.models import Bank, BankAccount, Settings
from config.routes import Owner, Partner, check_routes

SETTINGS_FILE = "arbridge.yaml"
BANKS_DIR = "banks"
PARTNERS_DIR = "partners"
APPROVALS_FILE = "approvals.yaml"
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True, slots=True)
class Configuration:
    root: Path
    settings: Settings
    banks: Mapping[str, Bank]
    #: approvals.yaml (optional: without it every limit is zero and there are no activities).
    approvals: Approvals = field(default_factory=Approvals)
    #: The receivables files (ledger, calendar, profiles, autoinvoice, reports; config/ar.py).
    ar: ArConfig = field(default_factory=ArConfig)
    #: partners/<id>.yaml: trading partners and other systems files are exchanged with.
    partners: Mapping[str, Partner] = field(default_factory=lambda: MappingProxyType({}))
    #: matching.yaml: the cash-application rule sets (config/matching.py).
    matching: MatchingConfig = field(default_factory=MatchingConfig)

    @property
    def spool(self) -> Path:
        spool = self.settings.spool
        return spool if spool.is_absolute() else (self.root / spool)

    def database_url(self) -> str:
        import os

        if self.settings.database_url_env:
            url = os.environ.get(self.settings.database_url_env)
            if not url:
                raise ConfigError(
                    [
                        ConfigProblem(
                            str(self.root / SETTINGS_FILE),
                            None,
                            "database_url_env",
                            f"environment variable {self.settings.database_url_env} is not set",
                        )
                    ]
                )
            return url
        if self.settings.database:
            return self.settings.database
        return f"sqlite:///{(self.spool / 'arbridge.sqlite').resolve()}"

    def account(self, iban: str) -> tuple[str, Bank, BankAccount] | None:
        """The configured bank account with this (compact) IBAN, with its bank id."""
        for bank_id, bank in self.banks.items():
            for account in bank.accounts:
                if account.iban == iban:
                    return bank_id, bank, account
        return None


def _display(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _load_one(root: Path, path: Path, model: type[BaseModel], problems: list[ConfigProblem]) -> Any:
    try:
        return validate(model, read_yaml(path, _display(root, path)))
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


def load_configuration(root: Path | str) -> Configuration:
    root = Path(root)
    problems: list[ConfigProblem] = []
    if not root.is_dir():
        raise ConfigError(
            [
                ConfigProblem(
                    str(root), None, "", "not a configuration directory (create one with `arbridge init DIR`)"
                )
            ]
        )
    settings_path = root / SETTINGS_FILE
    if not settings_path.is_file():
        raise ConfigError([ConfigProblem(_display(root, settings_path), None, "", "missing")])
    settings = _load_one(root, settings_path, Settings, problems)

    banks: dict[str, Bank] = {}
    bank_dir = root / BANKS_DIR
    for path in sorted(bank_dir.glob("*.yaml")) if bank_dir.is_dir() else []:
        bank_id = path.stem
        if not _ID.match(bank_id):
            problems.append(
                ConfigProblem(
                    _display(root, path),
                    None,
                    "",
                    "bank file names are ids: lower case letters, digits, - and _",
                )
            )
            continue
        bank = _load_one(root, path, Bank, problems)
        if bank is not None:
            banks[bank_id] = bank

    approvals_path = root / APPROVALS_FILE
    approvals = (
        _load_one(root, approvals_path, Approvals, problems) if approvals_path.is_file() else Approvals()
    )

    ar = _load_ar(root, problems)
    rule_set_of = {name: p.matching_rule_set for name, p in ar.profiles.profiles.items()}
    matching_path = root / MATCHING_FILE
    matching = load_from_directory(matching_path, _display(root, matching_path), rule_set_of, problems)
    _check_accounts_unique(root, banks, problems)
    partners = _load_partners(root, banks, problems)
    if problems:
        raise ConfigError(problems)
    return Configuration(
        root=root.resolve(),
        settings=settings,
        banks=MappingProxyType(banks),
        approvals=approvals,
        ar=ar,
        partners=MappingProxyType(partners),
        matching=matching,
    )


def _load_partners(
    root: Path, banks: Mapping[str, Bank], problems: list[ConfigProblem]
) -> dict[str, Partner]:
    """partners/*.yaml, then the routes of banks and partners checked against channels and accounts."""
    partners: dict[str, Partner] = {}
    files = {bank_id: root / BANKS_DIR / f"{bank_id}.yaml" for bank_id in banks}
    for path in sorted((root / PARTNERS_DIR).glob("*.yaml")) if (root / PARTNERS_DIR).is_dir() else []:
        if not _ID.match(path.stem) or path.stem in banks:
            why = "is also a bank's id" if path.stem in banks else "must be an id: a-z, 0-9, - and _"
            problems.append(ConfigProblem(_display(root, path), None, "", f"the file name {why}"))
            continue
        partner = _load_one(root, path, Partner, problems)
        if partner is not None:
            partners[path.stem] = partner
            files[path.stem] = path
    owners: dict[str, Owner] = {**banks, **partners}
    ibans = {account.iban: bank_id for bank_id, bank in banks.items() for account in bank.accounts}
    problems.extend(
        check_routes(files, owners, ibans, frozenset(partners), lambda path: _display(root, path))
    )
    return partners


def _load_ar(root: Path, problems: list[ConfigProblem]) -> ArConfig:
    """Each receivables file that exists replaces its defaults (config/ar.py AR_FILES)."""
    parts: dict[str, Any] = {}
    for file_name, key in AR_FILES.items():
        path = root / file_name
        if path.is_file():
            model = type(getattr(ArConfig(), key))
            loaded = _load_one(root, path, model, problems)
            if loaded is not None:
                parts[key] = loaded
    return ArConfig(**parts)


def _check_accounts_unique(root: Path, banks: Mapping[str, Bank], problems: list[ConfigProblem]) -> None:
    owner: dict[str, str] = {}
    for bank_id, bank in banks.items():
        for i, account in enumerate(bank.accounts):
            if account.iban in owner:
                problems.append(
                    ConfigProblem(
                        _display(root, root / BANKS_DIR / f"{bank_id}.yaml"),
                        None,
                        f"accounts[{i}].iban",
                        f"{account.iban} is already configured for bank {owner[account.iban]}",
                    )
                )
            owner[account.iban] = bank_id
