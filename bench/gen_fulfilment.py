"""Generate fulfilment lines (transactions CSV) and their customers (customers CSV) for the benchmarks.

    .venv/bin/python bench/gen_fulfilment.py LINES CUSTOMERS OUT_DIR [--seed N]

Writes OUT_DIR/customers.csv (CUSTOMERS customers, each with a valid IBAN, some with a
parent) and OUT_DIR/fulfilment.csv (LINES lines). Lines come in orders of 1-6 lines
(3.33 on average, so 1,000,000 lines make about 300,000 invoices), adjacent in the file
as an order system writes them; 2 % of the orders are returns (negative quantities, i.e.
on-account credit memos). Streaming (constant memory), deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import date, timedelta
from pathlib import Path

_TAX_RATES = ("19", "7", "0")


def _iban(n: int) -> str:
    """A valid German IBAN for account number n (bank code 37040044)."""
    bban = f"37040044{n:010d}"
    check = 98 - int(bban + "131400") % 97  # DE = 13 14, then "00"
    return f"DE{check:02d}{bban}"


def write_customers(path: Path, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_number", "name", "class", "profile", "parent_number", "iban", "country"])
        for i in range(1, count + 1):
            parent = f"C{(i // 10) * 10:06d}" if i % 10 and i > 10 else ""
            profile = ("default", "key_accounts", "installments", "retail")[i % 4]
            writer.writerow([f"C{i:06d}", f"Customer {i} GmbH", "trade", profile, parent, _iban(i), "DE"])


def write_lines(path: Path, count: int, customers: int, seed: int) -> int:
    rng = random.Random(seed)
    start = date(2026, 1, 1)
    written = order = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "source_ref",
                "customer_number",
                "order_number",
                "trx_date",
                "description",
                "quantity",
                "unit_price",
                "currency",
                "tax_rate",
            ]
        )
        while written < count:
            order += 1
            customer = f"C{rng.randint(1, customers):06d}"
            day = (start + timedelta(days=rng.randint(0, 330))).isoformat()
            sign = -1 if rng.random() < 0.02 else 1
            rate = rng.choice(_TAX_RATES)
            for _ in range(min(rng.randint(1, 6), count - written)):
                written += 1
                quantity = sign * rng.randint(1, 20)
                price = f"{rng.randint(1, 99999) / 100:.2f}"
                writer.writerow(
                    [
                        f"F{written:09d}",
                        customer,
                        f"SO{order:08d}",
                        day,
                        f"Item {rng.randint(1, 5000)}",
                        quantity,
                        price,
                        "EUR",
                        rate,
                    ]
                )
    return order


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("lines", type=int)
    parser.add_argument("customers", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write_customers(args.out / "customers.csv", args.customers)
    orders = write_lines(args.out / "fulfilment.csv", args.lines, args.customers, args.seed)
    print(f"{args.out}: {args.customers} customers, {args.lines} lines in {orders} orders")


if __name__ == "__main__":
    main()
