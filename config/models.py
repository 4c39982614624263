"""The typed configuration: what each YAML file of a configuration directory may say.

Layout of a configuration directory (`arbridge init DIR` writes a commented example):

    arbridge.yaml        company, spool folder, database, limits
    banks/<id>.yaml      one bank each: its accounts (and, with the daemon, channel and routes)

Unknown keys are errors everywhere (`extra="forbid"`): a misspelt key must not be ignored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from config.currencies import is_currency
from config.routes import Channel, Routes


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _iban(value: str) -> str:
    try:
        return str(IBAN(value).compact)
    except SchwiftyException as exc:
        message = str(exc)
        if "checksum" in message.lower():
            message = "invalid IBAN checksum"
        raise ValueError(message) from None


def _bic(value: str) -> str:
    try:
        return str(BIC(value).compact)
    except SchwiftyException as exc:
        raise ValueError(f"invalid BIC: {exc}") from None


def _currency(value: str) -> str:
    if not is_currency(value):
        raise ValueError(f"unknown currency {value!r}: use an ISO 4217 code such as EUR")
    return value


IbanStr = Annotated[str, AfterValidator(_iban)]
BicStr = Annotated[str, AfterValidator(_bic)]
CurrencyStr = Annotated[str, AfterValidator(_currency)]


class Company(Strict):
    name: str
    currency: CurrencyStr = "EUR"
    #: SEPA creditor identifier, used when direct-debit files are written.
    creditor_id: str | None = None


class Limits(Strict):
    """Caps on inbound files: hostile input must not exhaust the machine."""

    max_file_bytes: int = Field(default=4 * 1024**3, gt=0)


class Settings(Strict):
    """arbridge.yaml."""

    company: Company
    #: Folder for inbound/outbound spool, archive, quarantine and the default SQLite file;
    #: relative paths are relative to the configuration directory.
    spool: Path = Path("spool")
    #: SQLAlchemy URL; default: a SQLite file in the spool folder. A password is never written
    #: here: use `database_url_env` to name the environment variable that holds the URL.
    database: str | None = None
    database_url_env: str | None = None
    timezone: str = "UTC"
    limits: Limits = Limits()

    @field_validator("database")
    @classmethod
    def _no_secret_in_url(cls, value: str | None) -> str | None:
        if value and re.search(r"://[^/@]*:[^/@]+@", value):
            raise ValueError(
                "a password is written in the URL: put the URL in an environment "
                "variable and name it with database_url_env"
            )
        return value


class BankAccount(Strict):
    iban: IbanStr
    currency: CurrencyStr
    #: Optional GL cash account of this bank account (else ledger.yaml's default).
    gl_cash_account: str | None = None
    name: str | None = None


class Bank(Strict):
    """banks/<id>.yaml: a bank and the accounts arbridge keeps with it."""

    name: str
    bic: BicStr | None = None
    #: When true, an inbound file that deviates from the official XSD is rejected;
    #: by default such deviations are warnings (many real bank files deviate).
    strict: bool = False
    accounts: list[BankAccount] = Field(min_length=1)
    #: How arbridge reaches the bank (config/routes.py), and which files go where.
    channel: Channel | None = None
    routes: Routes = Routes()

    @field_validator("accounts")
    @classmethod
    def _unique_accounts(cls, accounts: list[BankAccount]) -> list[BankAccount]:
        seen: set[str] = set()
        for i, account in enumerate(accounts):
            if account.iban in seen:
                raise ValueError(f"accounts[{i}]: {account.iban} is listed twice")
            seen.add(account.iban)
        return accounts
