"""Building blocks for the AR core's database tests: the example configuration, rows, imports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from ar import customers, transactions
from ar.rows import SourceRow
from config.ar import ArConfig
from config.directory import load_configuration

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "example"
CONFIG: ArConfig = load_configuration(EXAMPLE).ar
TRX_COLUMNS = (
    "source_ref",
    "customer_number",
    "trx_number",
    "trx_type",
    "order_number",
    "trx_date",
    "description",
    "quantity",
    "unit_price",
    "currency",
    "tax_rate",
    "credited_trx",
)


def rows(records: Iterable[Mapping[str, str]]) -> list[SourceRow]:
    return [SourceRow(i, dict(r)) for i, r in enumerate(records, start=2)]


def add_customers(session: Session, *records: Mapping[str, str], skip_invalid: bool = False) -> None:
    data = rows(records)
    columns = frozenset(k for r in records for k in r)
    customers.import_customers(
        session,
        data,
        columns=columns,
        file="customers.csv",
        profiles=set(CONFIG.profiles.profiles),
        actor="test",
        now=NOW,
        skip_invalid=skip_invalid,
    )


def import_lines(
    session: Session, *records: Mapping[str, str], config: ArConfig = CONFIG, skip_invalid: bool = False
) -> transactions.ImportResult:
    data = rows(records)
    return transactions.import_transactions(
        session,
        lambda: iter(data),
        columns=frozenset(TRX_COLUMNS),
        file="lines.csv",
        config=config,
        actor="test",
        now=NOW,
        skip_invalid=skip_invalid,
    )


def line(ref: str, customer: str = "C1", **values: str) -> dict[str, str]:
    base = {
        "source_ref": ref,
        "customer_number": customer,
        "trx_date": "2026-11-03",
        "quantity": "1",
        "unit_price": "100.00",
        "currency": "EUR",
        "tax_rate": "19",
    }
    return base | values
