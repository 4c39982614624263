"""A throwaway OpenSSH sshd on a loopback port, for `arbridge demo --sftp` only.

Generates its own host and user keys (ed25519), runs internal-sftp, and pins its host key
in a known-hosts file of ours: the demo shows the real channel, pinned key and all.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class SshdUnavailable(RuntimeError):
    """OpenSSH's server is not installed (Debian: openssh-server)."""


@dataclass(frozen=True, slots=True)
class LoopbackSshd:
    host: str
    port: int
    username: str
    user_key: Path
    known_hosts: Path


def find_sshd() -> Path | None:
    found = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    return Path(found) if found else None


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, stdin=subprocess.DEVNULL
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def loopback_sshd(base: Path) -> Iterator[LoopbackSshd]:
    program = find_sshd()
    if program is None or shutil.which("ssh-keygen") is None:
        raise SshdUnavailable("sshd not found: install Debian's openssh-server to run the SFTP demo")
    base.mkdir(parents=True, exist_ok=True)
    host_key, user_key = base / "host_ed25519", base / "user_ed25519"
    _keygen(host_key)
    _keygen(user_key)
    authorized = base / "authorized_keys"
    authorized.write_text(user_key.with_suffix(".pub").read_text())
    port = _free_port()
    config = base / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {host_key}",
                f"PidFile {base / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                "UseDNS no",
                "AllowTcpForwarding no",
                "X11Forwarding no",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # Debian's privilege separation directory
    key_type, key_data = host_key.with_suffix(".pub").read_text().split()[:2]
    known_hosts = base / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n")
    log = (base / "sshd.log").open("ab")
    process = subprocess.Popen(
        [str(program), "-D", "-e", "-f", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SshdUnavailable(f"sshd did not start; see {base / 'sshd.log'}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as sock:
                if sock.recv(64).startswith(b"SSH-2.0-"):
                    break
            time.sleep(0.05)
        yield LoopbackSshd("127.0.0.1", port, getpass.getuser(), user_key, known_hosts)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        log.close()
