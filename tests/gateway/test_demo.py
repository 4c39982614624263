"""`arbridge demo` runs the whole cycle end to end; `demo --sftp` the gateway half through a real sshd."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from gateway.demo_sshd import find_sshd
from tests.support.components import component_missing


def _demo(tmp_path: Path, *extra: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "demo", "--keep", str(tmp_path), *extra],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_demo_runs_the_whole_cycle(tmp_path: Path) -> None:
    out = _demo(tmp_path)
    assert "processed as camt.053.001.02" in out
    assert "duplicate of file" in out and "QUARANTINED" in out
    passed = re.search(r"(\d+)/(\d+) checks passed", out)
    assert passed is not None and passed.group(1) == passed.group(2) and int(passed.group(1)) >= 9, out[
        -2000:
    ]
    assert (tmp_path / "config" / "exchange" / "general-ledger" / "import").iterdir()
    archived = list((tmp_path / "config" / "exchange" / "demo-bank" / "archive").iterdir())
    assert [p.name for p in archived] == ["statement-2026-11-21.xml"]


def test_demo_over_sftp(tmp_path: Path) -> None:
    if find_sshd() is None:
        component_missing("sshd not found: install Debian's openssh-server (make test does)")
    out = _demo(tmp_path, "--sftp")
    assert "server bank/archive: statement-2026-11-20.xml" in out
    assert "server gl/import: journals-" in out
