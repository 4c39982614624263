"""AutoInvoice import at scale: 1,000,000 fulfilment lines (~300,000 invoices with their
open items and journals) into a fresh SQLite database, then `arbridge check` on the result.

    .venv/bin/python bench/bench_ar_import.py [--lines 1000000] [--customers 20000] [--keep DIR]

Runs the real command line (`arbridge transactions import`, `arbridge check`) as child
processes on a copy of config/example, and prints lines/s, total time and peak RSS of
each. Target: the import under 120 s and 500 MB on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gen_fulfilment import write_customers, write_lines  # noqa: E402

ARBRIDGE = [sys.executable, "-m", "gateway.cli.main"]


def _run(args: list[str], config: Path) -> tuple[float, int, subprocess.CompletedProcess[str]]:
    """Run one arbridge command in a fresh child; (seconds, peak RSS in bytes of that child, result)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    wrapper = (
        "import resource, sys\n"
        "from gateway.cli.main import cli\n"
        "try:\n"
        "    cli.main(args=sys.argv[1:], prog_name='arbridge')\n"
        "finally:\n"
        "    usage = resource.getrusage(resource.RUSAGE_SELF)\n"
        "    print('peak_rss_kb', usage.ru_maxrss, file=sys.stderr)\n"
        "    print('cpu_seconds', usage.ru_utime + usage.ru_stime, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", wrapper, "--config", str(config), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    seconds = time.perf_counter() - started
    peak_kb = max(
        [int(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("peak_rss_kb")]
        or [before]
    )
    return seconds, peak_kb * 1024, result


def _cpu(result: subprocess.CompletedProcess[str]) -> float:
    """CPU seconds of the child (wall time is inflated when the machine is shared)."""
    values = [float(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("cpu_seconds")]
    return values[0] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it (default: a temp folder).")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="arbridge-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    config = work / "config"
    if config.exists():
        shutil.rmtree(config)
    shutil.copytree(ROOT / "config" / "example", config, ignore=shutil.ignore_patterns("spool"))
    data = work / "data"
    data.mkdir(exist_ok=True)
    try:
        started = time.perf_counter()
        write_customers(data / "customers.csv", args.customers)
        orders = write_lines(data / "fulfilment.csv", args.lines, args.customers, args.seed)
        size = (data / "fulfilment.csv").stat().st_size
        print(
            f"generated {args.lines:,} lines in {orders:,} orders ({size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - started:.1f} s"
        )

        seconds, rss, result = _run(["customers", "import", str(data / "customers.csv")], config)
        if result.returncode:
            sys.exit(f"customers import failed:\n{result.stderr}")
        print(
            f"customers import: {args.customers:,} customers in {seconds:.1f} s, "
            f"peak RSS {rss / 2**20:.0f} MB"
        )

        seconds, rss, result = _run(
            ["transactions", "import", "--json", str(data / "fulfilment.csv")], config
        )
        if result.returncode:
            sys.exit(f"transactions import failed:\n{result.stderr[-4000:]}")
        summary = json.loads(result.stdout)
        trx = sum(summary["transactions"].values())
        print(
            f"transactions import: {summary['lines']:,} lines -> {trx:,} transactions "
            f"({', '.join(f'{n:,} {t}' for t, n in sorted(summary['transactions'].items()))})"
        )
        print(
            f"  total {seconds:.1f} s, {summary['lines'] / seconds:,.0f} lines/s, "
            f"CPU {_cpu(result):.1f} s, peak RSS {rss / 2**20:.0f} MB"
        )

        database = config / "spool" / "arbridge.sqlite"
        with sqlite3.connect(database) as connection:
            counts = {
                t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in (
                    "transactions",
                    "transaction_lines",
                    "payment_schedules",
                    "journals",
                    "journal_lines",
                )
            }
        print("  rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
        print(f"  database {database.stat().st_size / 1e6:.0f} MB")

        seconds, rss, result = _run(["check"], config)
        print(
            f"arbridge check: {seconds:.1f} s, CPU {_cpu(result):.1f} s, peak RSS {rss / 2**20:.0f} MB, "
            f"exit {result.returncode}"
        )
        print("  " + result.stdout.strip().replace("\n", "\n  "))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
