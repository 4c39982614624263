"""Statement files through SFTP into the database: files/s, p99 arrival-to-commit latency, peak RSS.

Starts a loopback OpenSSH sshd (the tests' helper) and, for the PostgreSQL runs, a
throwaway cluster; drops N small camt.053 files into the server's folder at a steady
rate while `arbridge run` workers (subprocesses) poll, fetch, ingest and delete them.
Latency is from the moment a file is complete on the server to the commit of its
ingest (remote_seen.ingested_at); RSS is sampled from each worker every 0.5 s.

    .venv/bin/python -m bench.bench_sftp_ingest --files 10000 --rate 200
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil
import psycopg

from tests.support.components import find_program
from tests.support.postgres import PostgresCluster, find_postgres_bin
from tests.support.sshd import SshServer, UserKeys, make_key

REPO = Path(__file__).resolve().parents[1]
IBAN = "DE89370400440532013000"


def statement(ref: str) -> bytes:
    return textwrap.dedent(f"""\
        <?xml version="1.0" encoding="UTF-8"?>
        <Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
        <GrpHdr><MsgId>M-{ref}</MsgId><CreDtTm>2024-05-02T06:00:00</CreDtTm></GrpHdr>
        <Stmt><Id>S-{ref}</Id><CreDtTm>2024-05-02T06:00:00</CreDtTm>
        <Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>
        <Ntry><NtryRef>{ref}</NtryRef><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
        <BookgDt><Dt>2024-05-01</Dt></BookgDt><ValDt><Dt>2024-05-01</Dt></ValDt>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls><Refs><EndToEndId>E-{ref}</EndToEndId></Refs>
        <RmtInf><Ustrd>Invoice {ref}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
        </Stmt></BkToCstmrStmt></Document>
        """).encode()


def start_sshd(base: Path) -> SshServer:
    program = find_program("sshd", Path("/usr/sbin/sshd"))
    if program is None:
        sys.exit("sshd not found: install openssh-server")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    keys_dir = base / "keys"
    keys_dir.mkdir()
    key = make_key(keys_dir / "id_ed25519", "ed25519")
    server = SshServer(program, base / "sshd", UserKeys(key, key, key, key))
    server.start()
    return server


def write_config(root: Path, server: SshServer, database: str | None) -> None:
    (root / "banks").mkdir(parents=True)
    known_hosts = server.write_known_hosts(root / "known_hosts")
    db = f"database: {database}\n" if database else ""
    (root / "arbridge.yaml").write_text(f"company: {{name: Bench GmbH}}\nspool: spool\n{db}")
    (root / "banks" / "bench.yaml").write_text(
        textwrap.dedent(f"""\
        name: Bench Bank
        accounts: [{{iban: {IBAN}, currency: EUR}}]
        channel:
          type: sftp
          host: {server.host}
          port: {server.port}
          username: {server.username}
          private_key_file: {server.user_key}
          known_hosts_file: {known_hosts}
        routes:
          inbound:
            - name: statements
              folder: {server.folder("bank/outbox")}
              pattern: "*.xml"
              account: {IBAN}
              after: delete
              schedule: {{poll_seconds: 1}}
        """)
    )


def feed(folder: Path, files: int, rate: float, arrivals: dict[str, float], run: str) -> None:
    """Write the files behind the server's back at ``rate`` a second (temp name, then rename)."""
    started = time.monotonic()
    for i in range(files):
        if rate > 0:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        name = f"stmt-{run}-{i:06d}.xml"
        temp = folder / f".{name}.tmp"
        temp.write_bytes(statement(f"{run}-{i}"))
        os.replace(temp, folder / name)
        arrivals[name] = time.time()


def committed(database: str | None, spool: Path) -> list[tuple[str, datetime]]:
    sql = "SELECT name, ingested_at FROM remote_seen WHERE ingested_at IS NOT NULL"
    if database is None:
        connection = sqlite3.connect(spool / "arbridge.sqlite", timeout=30)
        try:
            rows = connection.execute(sql).fetchall()
        finally:
            connection.close()
        return [(name, datetime.fromisoformat(at)) for name, at in rows]
    with psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://")) as connection:
        return list(connection.execute(sql).fetchall())


def run(label: str, files: int, rate: float, workers: int, database: str | None, server: SshServer) -> None:
    base = Path(tempfile.mkdtemp(prefix="arbridge-bench-"))
    root = base / "config"
    write_config(root, server, database)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", "from gateway.cli.main import main; main()", "--config", str(root)]
    subprocess.run([*command, "db", "upgrade"], env=env, check=True, capture_output=True)
    logs = [(base / f"worker-{i}.log").open("wb") for i in range(workers)]
    procs = [
        subprocess.Popen([*command, "run", "--batch", "50"], env=env, stderr=log, stdout=subprocess.DEVNULL)
        for log in logs
    ]
    peak: dict[int, int] = {p.pid: 0 for p in procs}
    first_rss: dict[int, int] = {}
    arrivals: dict[str, float] = {}
    feeder = threading.Thread(
        target=feed,
        args=(server.local("bank/outbox"), files, rate, arrivals, "".join(c for c in label if c.isalnum())),
    )
    started = time.time()
    feeder.start()
    done: list[tuple[str, datetime]] = []
    while True:
        for proc in procs:
            try:
                rss = psutil.Process(proc.pid).memory_info().rss
            except psutil.NoSuchProcess:
                sys.exit(f"{label}: a worker died; see {base}")
            peak[proc.pid] = max(peak[proc.pid], rss)
            if done:  # the baseline: a worker that has imported everything and committed a file
                first_rss.setdefault(proc.pid, rss)
        done = committed(database, root / "spool")
        if len(done) >= files:
            break
        if time.time() - started > 3600:
            sys.exit(f"{label}: only {len(done)} of {files} after an hour; see {base}")
        time.sleep(0.5)
    feeder.join()
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=60)
    latencies = sorted(at.timestamp() - arrivals[name] for name, at in done if name in arrivals)
    last_commit = max(at.timestamp() for _, at in done)
    first_arrival = min(arrivals.values())
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"{label:<24} {files:>6} files  {files / (last_commit - first_arrival):7.1f} files/s  "
        f"latency p50 {statistics.median(latencies):6.2f} s  p99 {p99:6.2f} s  "
        f"RSS per worker: after the first commit {max(first_rss.values()) / 2**20:5.1f} MiB, "
        f"peak {max(peak.values()) / 2**20:5.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=0, help="files a second arriving (0: all at once)")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="arbridge-bench-sshd-"))
    server = start_sshd(base)
    cluster: PostgresCluster | None = None
    try:
        print(
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; rate {args.rate or 'all at once'}"
        )
        if not args.skip_sqlite:
            run("sqlite, 1 worker", args.files, args.rate, 1, None, server)
        bin_dir = find_postgres_bin()
        if bin_dir is None:
            print("PostgreSQL not found: the PostgreSQL runs are skipped")
            return
        cluster = PostgresCluster(bin_dir)
        cluster.start()
        run("postgresql, 1 worker", args.files, args.rate, 1, cluster.create_database("bench"), server)
        run("postgresql, 2 workers", args.files, args.rate, 2, cluster.create_database("bench"), server)
    finally:
        server.stop()
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
