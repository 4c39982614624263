"""Benchmark: the camt.053 streaming parser against the floor of lxml iterparse itself.

Usage: ``python bench/bench_camt_parse.py [--entries N] [--repeat R]`` (default 1,000,000 entries, ~1.5 GB).

The input is generated once by ``bench/gen_camt.py`` and cached in ``bench/out/``. Each leg
runs in its own subprocess, which reports its own wall time and peak RSS:

1. floor  -- a minimal ``lxml.etree.iterparse`` on ``Ntry`` end events that reads only each
             entry's ``Amt`` and ``CdtDbtInd``, clearing elements and deleting previous siblings;
2. parser -- ``formats.camt.parse``, consuming every record.

Prints entries/s, MB/s, seconds, peak RSS and the ratio parser/floor.
Targets: ratio <= 1.5, parser peak RSS < 200 MB at 1,000,000 entries.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def _leg_floor(path: Path) -> dict[str, float]:
    from lxml import etree

    q_ntry, q_amt, q_ind = f"{{{NS}}}Ntry", f"{{{NS}}}Amt", f"{{{NS}}}CdtDbtInd"
    count = 0
    checksum = 0.0
    started = time.perf_counter()
    for _event, elem in etree.iterparse(str(path), events=("end",), tag=q_ntry):
        amount = elem.findtext(q_amt)
        indicator = elem.findtext(q_ind)
        checksum += len(amount or "") + len(indicator or "")
        count += 1
        elem.clear(keep_tail=False)
        parent = elem.getparent()
        while elem.getprevious() is not None:
            del parent[0]  # type: ignore[union-attr]
    return {"entries": count, "seconds": time.perf_counter() - started, "checksum": checksum}


def _leg_parser(path: Path) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from formats import camt

    count = transactions = 0
    started = time.perf_counter()
    with path.open("rb") as stream:
        for record in camt.parse(stream, source=path.name):
            if isinstance(record, camt.Entry):
                count += 1
                transactions += len(record.transactions)
    return {"entries": count, "transactions": transactions, "seconds": time.perf_counter() - started}


def _run_leg(leg: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--leg", leg, str(path)], check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="run the legs R times, alternating; keep each one's best"
    )
    parser.add_argument("--leg", choices=["floor", "parser"], help=argparse.SUPPRESS)
    parser.add_argument("file", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.leg:
        result = _leg_floor(args.file) if args.leg == "floor" else _leg_parser(args.file)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["peak_rss_mb"] = usage.ru_maxrss / 1024
        result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
        print(json.dumps(result))
        return 0

    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"camt053_{args.entries}.xml"
    if not path.exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, str(HERE / "gen_camt.py"), str(args.entries), str(path)], check=True)
        print(f"generated {path.name} in {time.perf_counter() - started:.1f} s")
    size_mb = path.stat().st_size / 1e6
    print(f"input: {path.name}, {args.entries:,} entries, {size_mb:,.0f} MB")

    results: dict[str, dict[str, float]] = {}
    # Legs alternate (floor, parser, floor, parser, ...) so that both see the same machine
    # load; each keeps its best run.
    runs_of: dict[str, list[dict[str, float]]] = {"floor": [], "parser": []}
    for _ in range(args.repeat):
        for leg, runs in runs_of.items():
            runs.append(_run_leg(leg, path))
    for leg, runs in runs_of.items():
        best = min(runs, key=lambda r: r["cpu_seconds"])
        best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
        results[leg] = best
        if best["entries"] != args.entries:
            print(f"{leg}: read {best['entries']} entries, expected {args.entries}", file=sys.stderr)
            return 1
        seconds = best["seconds"]
        print(
            f"{leg:>6}: {seconds:8.1f} s wall, {best['cpu_seconds']:8.1f} s CPU"
            f"  {args.entries / seconds:9,.0f} entries/s  {size_mb / seconds:6.1f} MB/s"
            f"  peak RSS {best['peak_rss_mb']:5.0f} MB"
        )
    wall = results["parser"]["seconds"] / results["floor"]["seconds"]
    cpu = results["parser"]["cpu_seconds"] / results["floor"]["cpu_seconds"]
    print(f" ratio parser/floor: {wall:.2f} wall, {cpu:.2f} CPU (target <= 1.5); RSS target < 200 MB")
    print(" (CPU time is the fairer ratio on a shared machine: wall time includes waiting for a core)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
