"""Speed of `arbridge match run` end to end on SQLite: receipts against a large ledger.

    .venv/bin/python bench/bench_matching_speed.py [--points 10000,100000,1000000]
        [--receipts-per-invoice 0.1] [--customers-per-invoice 0.05] [--keep DIR]

For each point (number of open invoices) the setup bulk-loads, with SQLAlchemy core
INSERTs, the customers (with IBANs), the invoices and their open items, and the
receipts (bulk-inserted as recorded statement receipts: the camt.053 parser has its own
benchmark). The transaction import gives each new item its reference keys as it writes
it (`ar.cashapp.indexes.index_items`), and the customer import each new customer its name
tokens (`index_customers`); the bulk load calls the same functions on what it inserts, and
that time (wall and CPU) is printed apart as `keys`: a deployment pays it when its
invoices and customers are created, not when it matches. Then
`arbridge match run --json` runs in a child process, timed (wall and CPU, its planner
process's included: `gateway.match_pipeline`), its peak RSS measured (the run's and the
planner's, summed); its own start (`index`: keys of open items that still lack them, name tokens
of customers new or renamed) is printed apart from the decisions (`match`).

Receipts are a mix like a real statement: 55 % name their invoice (Ustrd), 15 % pay
two invoices naming both, 15 % pay one invoice without remittance, 5 % are short by a
bank fee, 10 % come from unknown payers. The target: 100,000 receipts against 1,000,000
open invoices of 50,000 customers under 60 s and 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert
from sqlalchemy.orm import Session

from ar.cashapp.indexes import index_customers, index_items
from ar.model import Customer, CustomerBankAccount, PaymentSchedule, Transaction
from ar.receipts import Receipt
from gateway import compiled
from gateway.db import make_engine, upgrade

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
BOOKING = date(2026, 11, 20)
OUR_IBAN = "DE89370400440532013000"
CHUNK = 20_000


def iban(n: int) -> str:
    bban = f"{n:018d}"
    check = 98 - int(bban + "131400") % 97
    return f"DE{check:02d}{bban}"


def _insert(connection: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        connection.execute(insert(table), rows[start : start + CHUNK])


def _customer_name(n: int) -> str:
    return f"Kunde {n} Handel GmbH"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def build(url: str, invoices: int, customers: int, receipts: int, seed: int = 7) -> tuple[float, float]:
    """Load the point's data; the wall and CPU seconds spent giving the items their reference keys."""
    rng = random.Random(seed)
    engine = make_engine(url)
    upgrade(engine)
    keys_wall = keys_cpu = 0.0
    with engine.begin() as connection:
        session = Session(bind=connection)

        def load_items(trx: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
            nonlocal keys_wall, keys_cpu
            _insert(connection, Transaction.__table__, trx)
            _insert(connection, PaymentSchedule.__table__, items)
            wall, cpu = time.perf_counter(), _cpu()
            index_items(session, [(item["id"], item["trx_number"], None) for item in items])
            keys_wall += time.perf_counter() - wall
            keys_cpu += _cpu() - cpu

        _insert(
            connection,
            Customer.__table__,
            [
                {
                    "id": c,
                    "number": f"C{c:07d}",
                    "name": _customer_name(c),
                    "customer_class": "trade",
                    "profile": "default",
                    "active": True,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for c in range(1, customers + 1)
            ],
        )
        wall, cpu = time.perf_counter(), _cpu()
        index_customers(session, [(c, _customer_name(c)) for c in range(1, customers + 1)])
        keys_wall += time.perf_counter() - wall
        keys_cpu += _cpu() - cpu
        _insert(
            connection,
            CustomerBankAccount.__table__,
            [{"customer_id": c, "iban": iban(c)} for c in range(1, customers + 1)],
        )
        amounts: list[int] = []
        owners: list[int] = []
        trx_rows, item_rows = [], []
        for n in range(1, invoices + 1):
            customer = rng.randint(1, customers)
            minor = int(10 ** rng.uniform(3.6, 6.4))
            trx_date = BOOKING - timedelta(days=rng.randint(1, 90))
            amounts.append(minor)
            owners.append(customer)
            number = f"INV-{n:07d}"
            trx_rows.append(
                {
                    "id": n,
                    "trx_type": "INV",
                    "trx_number": number,
                    "customer_id": customer,
                    "currency": "EUR",
                    "trx_date": trx_date,
                    "gl_date": trx_date,
                    "payment_term": "NET30",
                    "net_minor": minor,
                    "tax_minor": 0,
                    "total_minor": minor,
                    "created_at": NOW,
                }
            )
            item_rows.append(
                {
                    "id": n,
                    "transaction_id": n,
                    "installment": 1,
                    "customer_id": customer,
                    "trx_type": "INV",
                    "trx_number": number,
                    "currency": "EUR",
                    "trx_date": trx_date,
                    "due_date": trx_date + timedelta(days=30),
                    "amount_due_original_minor": minor,
                    "amount_due_remaining_minor": minor,
                    "amount_in_dispute_minor": 0,
                    "discounts": "[]",
                    "status": "OP",
                }
            )
            if len(trx_rows) >= CHUNK:
                load_items(trx_rows, item_rows)
                trx_rows, item_rows = [], []
        load_items(trx_rows, item_rows)

        used: set[int] = set()

        def pick() -> int:
            while True:
                n = rng.randint(1, invoices)
                if n not in used:
                    used.add(n)
                    return n

        receipt_rows = []
        for r in range(1, receipts + 1):
            kind = rng.random()
            remittance: list[str] = []
            if kind < 0.55:
                n = pick()
                amount, payer, remittance = amounts[n - 1], owners[n - 1], [f"INV-{n:07d} Danke"]
            elif kind < 0.70:
                n, m = pick(), pick()
                amount, payer = amounts[n - 1] + amounts[m - 1], owners[n - 1]
                remittance = [f"INV-{n:07d}, INV-{m:07d}"]
            elif kind < 0.85:
                n = pick()
                amount, payer = amounts[n - 1], owners[n - 1]
            elif kind < 0.90:
                n = pick()
                amount, payer, remittance = amounts[n - 1] - 250, owners[n - 1], [f"RE INV-{n:07d}"]
            else:
                amount, payer, remittance = rng.randint(1000, 500000), 0, ["Spende"]
            receipt_rows.append(
                {
                    "source": "statement",
                    "status": "unidentified",
                    "bank_account": OUR_IBAN,
                    "entry_ref": f"BENCH-{r:07d}",
                    "tx_index": 0,
                    "amount_minor": amount,
                    "currency": "EUR",
                    "receipt_date": BOOKING,
                    "value_date": BOOKING,
                    "payer_name": f"Kunde {payer} Handel" if payer else "Unbekannt",
                    "payer_iban": iban(payer) if payer else iban(10**9 + r),
                    "remittance": json.dumps(remittance),
                    "references": "[]",
                    "created_at": NOW,
                }
            )
        _insert(connection, Receipt.__table__, receipt_rows)
    engine.dispose()
    return keys_wall, keys_cpu


def _config(root: Path) -> Path:
    config = root / "config"
    if config.is_dir():
        return config
    subprocess.run(
        [sys.executable, "-m", "gateway.cli", "init", str(config)], check=True, capture_output=True
    )
    return config


def _high_water_kib(pid: int) -> int:
    """The peak RSS of a running process (Linux VmHWM, of its own address space since its exec:
    ru_maxrss would also count the RSS of this process at the fork); 0 when unknown."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    """The process and every process it started (the match run's planner), by /proc."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as children:
                queue.extend(int(p) for p in children.read().split())
        except (OSError, ValueError):
            pass
    return found


def run_point(root: Path, invoices: int, customers: int, receipts: int) -> dict[str, Any]:
    db = root / f"bench-{invoices}.sqlite"
    url = f"sqlite:///{db}"
    started = time.perf_counter()
    keys_wall, keys_cpu = build(url, invoices, customers, receipts)
    setup = time.perf_counter() - started
    config = _config(root)
    # the setup's writes (the database, hundreds of MB at 1M) reach the disk before the run
    # starts, not while it runs
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        command = [sys.executable, "-m", "gateway.cli", "--config", str(config), "--db", url]
        child = subprocess.Popen(
            [*command, "match", "run", "--json"],
            stdout=out,
            stderr=err,
            text=True,
        )
        # each process's own high-water mark, summed: the run and its planner process
        peaks: dict[int, int] = {}
        while child.poll() is None:
            for pid in _descendants(child.pid):
                peaks[pid] = max(peaks.get(pid, 0), _high_water_kib(pid))
            time.sleep(0.1)
        peak_kib = sum(peaks.values())
        elapsed = time.perf_counter() - began
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(err.read())
        summary = json.loads(out.read())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "invoices": invoices,
        "customers": customers,
        "receipts": receipts,
        "setup_s": setup,
        "keys_s": keys_wall,
        "keys_cpu_s": keys_cpu,
        "run_s": elapsed,
        "run_cpu_s": cpu,
        # the high-water marks (VmHWM) of the run and its planner, summed (an upper bound: their
        # peaks need not coincide); without /proc, ru_maxrss of the children, which counts this
        # process's own RSS at the fork (the loaded ledger)
        "peak_rss_mb": (peak_kib or max(after.ru_maxrss, before.ru_maxrss)) / 1024,
        "summary": summary,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", default="10000,100000,1000000")
    parser.add_argument("--receipts-per-invoice", type=float, default=0.1)
    parser.add_argument("--customers-per-invoice", type=float, default=0.05)
    parser.add_argument("--keep", type=Path, help="Keep the databases in this folder.")
    args = parser.parse_args(argv)
    compiled.write_bytecode()  # as `make` does: the run would time compiling its sources
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-match-"))
    root.mkdir(parents=True, exist_ok=True)
    print(
        "keys: reference keys of the items and name tokens of the customers, given as they are loaded\n"
        "(paid when invoices and customers are created);\n"
        "run: `match run` in a child process (index: its catch-up of keys and name tokens; match: the\n"
        "decisions), wall and CPU seconds; rcpt/s: receipts per wall second of the run."
    )
    print(f"engine: {compiled.describe()}")
    print(
        f"{'invoices':>10}{'customers':>10}{'receipts':>10}{'setup s':>9}{'keys s':>8}{'keys cpu':>9}"
        f"{'run s':>8}{'run cpu':>9}{'index s':>9}{'match s':>9}{'rcpt/s':>8}{'RSS MB':>8}"
        f"{'applied':>9}{'auto %':>8}"
    )
    for invoices in (int(p) for p in args.points.split(",")):
        customers = max(1, int(invoices * args.customers_per_invoice))
        receipts = max(1, int(invoices * args.receipts_per_invoice))
        point = run_point(root, invoices, customers, receipts)
        s = point["summary"]
        timing = s.get("timing", {})
        print(
            f"{invoices:>10,}{customers:>10,}{receipts:>10,}{point['setup_s']:>9.1f}"
            f"{point['keys_s']:>8.1f}{point['keys_cpu_s']:>9.1f}{point['run_s']:>8.1f}{point['run_cpu_s']:>9.1f}"
            f"{timing.get('index_s', float('nan')):>9.1f}{timing.get('match_s', float('nan')):>9.1f}"
            f"{receipts / point['run_s']:>8.0f}{point['peak_rss_mb']:>8.0f}"
            f"{s['applications']:>9,}{100 * s['automation_rate']:>7.1f}%",
            flush=True,
        )
    if not args.keep:
        print(f"(databases in {root}; delete when done)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
