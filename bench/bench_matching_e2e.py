"""Cash-application quality end to end: the labelled scenarios of bench/matching_scenarios.py
through the real commands and the database.

    .venv/bin/python bench/bench_matching_e2e.py [--scenarios 1200] [--seed N] [--keep DIR]

1. `arbridge init`, with a profile and rule set "standard" (the quality benchmark's: a
   bank-fee tolerance of 20.00) and the engine's receipt write-off limit raised to 20.00;
2. the customers CSV rendered from `describe(world)` -> `arbridge customers import`;
3. the open items: AutoInvoice cannot express them (each invoice has its own payment
   term, due date and early-payment discount, and credit memos are on-account), so they
   are INSERTed directly (transactions + payment schedules, with the discount JSON);
4. a camt.053 rendered with gateway.demo's string templates -> `arbridge ingest` (which matches);
5. `arbridge report applications --json` and `arbridge match review --json` compared with
   the truth: overall and per class, precision of automatic applications (target >= 99.9 %),
   automation rate (target >= 95 %), and how often the top recommendation is right.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from click.testing import CliRunner
from sqlalchemy import insert

from ar.model import Customer, PaymentSchedule, Transaction
from bench.matching_scenarios import CLASSES, HOLD_CLASSES, describe, generate
from gateway.cli.main import cli
from gateway.db import make_engine
from gateway.demo import statement_xml

NOW = datetime(2024, 6, 14, 8, 0, tzinfo=UTC)
STANDARD_RULE_SET = """
default: standard
rule_sets:
  standard:
    tolerance: {amount: "20.00", percent: "10", max_write_off: {EUR: "20.00", USD: "20.00"}}
  default: {}
"""


def arbridge(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), *args], env={"ARBRIDGE_USER": "bench"})
    if result.exit_code != 0:
        raise SystemExit(f"arbridge {' '.join(args)} failed ({result.exit_code}):\n{result.output}")
    return result.stdout


def configure(root: Path) -> Path:
    config = root / "config"
    CliRunner().invoke(cli, ["init", str(config)])
    profiles = (config / "profiles.yaml").read_text()
    profiles += "  standard:\n    payment_terms: NET30\n    matching_rule_set: standard\n"
    (config / "profiles.yaml").write_text(profiles)
    (config / "matching.yaml").write_text(STANDARD_RULE_SET)
    approvals = (
        (config / "approvals.yaml")
        .read_text()
        .replace('receipt_write_off: {EUR: "5.00"}', 'receipt_write_off: {EUR: "20.00"}')
    )
    (config / "approvals.yaml").write_text(approvals)
    return config


def load_items(url: str, invoices: list[dict[str, Any]]) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        ids = dict(
            connection.execute(
                Customer.__table__.select().with_only_columns(Customer.number, Customer.id)
            ).all()
        )
        trx, items = [], []
        for n, inv in enumerate(invoices, start=1):
            minor = int(Decimal(inv["amount"]) * 100)
            trx_date = date.fromisoformat(inv["trx_date"])
            discounts = "[]"
            if inv["payment_term"] == "2/10NET30":
                until = (trx_date + timedelta(days=10)).isoformat()
                discounts = json.dumps([{"until": until, "percent": "2"}])
            customer = ids[inv["customer_number"]]
            trx.append(
                {
                    "id": n,
                    "trx_type": inv["trx_type"],
                    "trx_number": inv["trx_number"],
                    "customer_id": customer,
                    "currency": inv["currency"],
                    "trx_date": trx_date,
                    "gl_date": trx_date,
                    "payment_term": inv["payment_term"],
                    "net_minor": minor,
                    "tax_minor": 0,
                    "total_minor": minor,
                    "created_at": NOW,
                }
            )
            items.append(
                {
                    "id": n,
                    "transaction_id": n,
                    "installment": 1,
                    "customer_id": customer,
                    "trx_type": inv["trx_type"],
                    "trx_number": inv["trx_number"],
                    "currency": inv["currency"],
                    "trx_date": trx_date,
                    "due_date": date.fromisoformat(inv["due_date"]),
                    "amount_due_original_minor": minor,
                    "amount_due_remaining_minor": minor,
                    "amount_in_dispute_minor": 0,
                    "discounts": discounts,
                    "status": "OP",
                }
            )
        connection.execute(insert(Transaction), trx)
        connection.execute(insert(PaymentSchedule), items)
    engine.dispose()


def _key(apps: list[tuple[str, Decimal, Decimal]]) -> dict[str, tuple[Decimal, Decimal]]:
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for trx, cash, write_off in apps:
        a, b = out.get(trx, (Decimal(0), Decimal(0)))
        out[trx] = (a + cash, b + write_off)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=20240614)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    root.mkdir(parents=True, exist_ok=True)
    world = generate(args.scenarios, seed=args.seed)
    plain = describe(world)
    config = configure(root)
    url = f"sqlite:///{root / 'e2e.sqlite'}"

    with (root / "customers.csv").open("w", newline="") as f:
        writer = csv.DictWriter(
            f, fieldnames=["customer_number", "name", "class", "profile", "parent_number", "iban"]
        )
        writer.writeheader()
        writer.writerows(plain["customers"])
    payments = [
        {
            "amount": p["amount"],
            "name": escape(p["debtor_name"] or ""),
            "iban": p["debtor_iban"],
            "ustrd": "|".join(escape(line) for line in p["remittance_unstructured"]),
            "rf": p["creditor_references"][0] if p["creditor_references"] else "",
            "e2e": escape(p["end_to_end_id"] or "NOTPROVIDED"),
        }
        for p in plain["payments"]
    ]
    statement = root / "statement.xml"
    statement.write_text(statement_xml(booking_date=date(2024, 6, 14), payments=payments, statement_id="E2E"))

    started = time.perf_counter()
    arbridge(config, "--db", url, "customers", "import", str(root / "customers.csv"))
    load_items(url, plain["invoices"])
    loaded = time.perf_counter()
    ingested = arbridge(config, "--db", url, "ingest", str(statement))
    matched = time.perf_counter()
    report = json.loads(arbridge(config, "--db", url, "report", "applications", "--json"))
    review = json.loads(arbridge(config, "--db", url, "match", "review", "--json"))

    by_receipt: dict[str, list[tuple[str, Decimal, Decimal]]] = defaultdict(list)
    auto: set[str] = set()
    for row in report:
        by_receipt[row["receipt"]].append(
            (row["trx_number"], Decimal(row["amount"]), Decimal(row["write_off"]))
        )
        if row["made_by"] == "engine":
            auto.add(row["receipt"])
    top: dict[str, list[tuple[str, Decimal, Decimal]]] = {}
    for row in review:
        if row["recommendations"]:
            apps = row["recommendations"][0]["applications"]
            top[row["receipt"]] = [
                (a["trx_number"], Decimal(a["amount"]), Decimal(a["write_off"])) for a in apps
            ]

    stats: dict[str, Counter[str]] = defaultdict(Counter)
    for index, payment in enumerate(plain["payments"], start=1):
        ref = f"E2E-{index:04d}"
        want = _key(
            [(e["trx_number"], Decimal(e["amount"]), Decimal(e["write_off"])) for e in payment["expected"]]
        )
        hold = payment["class"] in HOLD_CLASSES
        got = _key(by_receipt.get(ref, []))
        amount = Decimal(payment["amount"])
        for key in (payment["class"], "ALL"):
            s = stats[key]
            s["receipts"] += 1
            if not hold:
                s["appliable"] += 1
            if ref in auto:
                s["auto"] += 1
                cash = sum((c for c, _ in got.values()), Decimal(0))
                if not hold and got == want and cash == amount:
                    s["auto_right"] += 1
                else:
                    s["auto_wrong"] += 1
            elif hold:
                s["held_right"] += 1
            else:
                s["left_to_person"] += 1
                if ref in top and _key(top[ref]) == want:
                    s["top_right"] += 1

    def pct(n: int, d: int) -> str:
        return f"{100 * n / d:6.2f}%" if d else "     -"

    print(
        f"end to end: {len(world.scenarios)} receipts, {len(world.customers)} customers, "
        f"{len(world.items)} open items; setup {loaded - started:.1f} s, "
        f"ingest+match {matched - loaded:.1f} s\n{ingested.strip()}\n"
    )
    header = (
        f"{'class':<20}{'n':>6}{'auto':>6}{'wrong':>6}{'precision':>10}{'automation':>11}"
        f"{'to person':>10}{'top rec ok':>11}{'held ok':>9}"
    )
    print(header)
    print("-" * len(header))
    for klass in (*CLASSES, "ALL"):
        s = stats[klass]
        held = f"{s['held_right']}/{s['receipts']}" if klass in HOLD_CLASSES else ""
        print(
            f"{klass:<20}{s['receipts']:>6}{s['auto']:>6}{s['auto_wrong']:>6}"
            f"{pct(s['auto_right'], s['auto']):>10}{pct(s['auto_right'], s['appliable']):>11}"
            f"{s['left_to_person']:>10}"
            f"{pct(s['top_right'], s['left_to_person']):>11}{held:>9}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
