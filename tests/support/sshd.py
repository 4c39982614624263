"""A real OpenSSH sshd on a loopback port, with throwaway keys, as pytest fixtures.

Fixtures:

- ``ssh_user_keys`` (session): user key pairs made with ssh-keygen (ed25519,
  RSA-3072, RSA-2048 — all authorized on the server — and a ``stranger``
  ed25519 key that is not).
- ``sshd_factory`` (session): a callable returning a new, started
  :class:`SshServer` with its own port, host key and data folders; every server
  it made is stopped at the end of the session.
- ``sshd`` (function): a fresh started server for one test, stopped after it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.support.components import component_missing, find_program, free_port

SSHD_MISSING = "sshd not found: install Debian's openssh-server (make test does)"
SSH_KEYGEN_MISSING = "ssh-keygen not found: install Debian's openssh-client (make test does)"
# The folders a test talks to, relative to the server's data root.
FOLDERS = ("bank/outbox", "bank/inbox", "bank/archive", "partner/in")
_START_ATTEMPTS = 5
_READY_SECONDS = 10.0


def _sshd_program() -> Path:
    found = find_program("sshd", Path("/usr/sbin/sshd"))
    if found is None:
        component_missing(SSHD_MISSING)
    return found


def _ssh_keygen() -> Path:
    found = find_program("ssh-keygen", Path("/usr/bin/ssh-keygen"))
    if found is None:
        component_missing(SSH_KEYGEN_MISSING)
    return found


def make_key(path: Path, kind: str, bits: int | None = None) -> Path:
    """Generate an unencrypted key pair at ``path`` (and ``path.pub``) with ssh-keygen."""
    command = [str(_ssh_keygen()), "-q", "-t", kind, "-N", "", "-C", f"arbridge-test-{path.name}", "-f"]
    if bits is not None:
        command[2:2] = ["-b", str(bits)]
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".pub").unlink(missing_ok=True)
    subprocess.run([*command, str(path)], check=True, capture_output=True, timeout=60)
    return path


@dataclass(frozen=True, slots=True)
class UserKeys:
    """Private key paths for the test user; the public halves sit beside them as ``.pub``."""

    ed25519: Path
    rsa3072: Path
    rsa2048: Path
    stranger: Path  # a valid ed25519 key the server does not authorize

    def authorized(self) -> tuple[Path, ...]:
        return (self.ed25519, self.rsa3072, self.rsa2048)


class SshServer:
    """One sshd process tree: the listener (run with -D) and its per-connection children.

    Remote paths are absolute (no chroot): use :meth:`folder` to name them.
    """

    host = "127.0.0.1"

    def __init__(self, program: Path, base: Path, user_keys: UserKeys) -> None:
        self.program = program
        self.base = base
        self.user_keys = user_keys
        self.username = pwd.getpwuid(os.geteuid()).pw_name
        self.root = base / "data"
        self.host_key_path = base / "ssh_host_ed25519_key"
        self.config_path = base / "sshd_config"
        self.log_path = base / "sshd.log"
        self.authorized_keys_path = base / "authorized_keys"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        for folder in FOLDERS:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self.authorized_keys_path.write_text(
            "".join(key.with_name(key.name + ".pub").read_text() for key in user_keys.authorized())
        )
        make_key(self.host_key_path, "ed25519")

    # -- what a client needs -------------------------------------------------

    @property
    def user_key(self) -> Path:
        """The authorized ed25519 private key of the test user."""
        return self.user_keys.ed25519

    @property
    def host_public_key(self) -> str:
        """The server's host public key, ``"ssh-ed25519 AAAA..."`` (no comment)."""
        kind, blob, *_ = self.host_key_path.with_name(self.host_key_path.name + ".pub").read_text().split()
        return f"{kind} {blob}"

    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_public_key}\n"

    def write_known_hosts(self, path: Path) -> Path:
        """Pin this server's host key in an OpenSSH known_hosts file at ``path``."""
        path.write_text(self.known_hosts_line())
        return path

    def folder(self, relative: str) -> str:
        """The remote (absolute) path of a folder under the data root, e.g. ``bank/outbox``."""
        return str(self.root / relative)

    def local(self, relative: str) -> Path:
        """The same folder as a local path, to arrange or inspect files behind the server's back."""
        return self.root / relative

    # -- lifecycle ------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def start(self) -> None:
        """Start sshd; a new free port the first time, the same port on a restart."""
        if self.pid is not None:
            return
        keep_port = self.port != 0
        last_log = ""
        for _attempt in range(_START_ATTEMPTS):
            if not keep_port:
                self.port = free_port()
            self._write_config()
            log = self.log_path.open("ab")
            try:
                self._process = subprocess.Popen(
                    [str(self.program), "-D", "-e", "-f", str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a test's SIGSTOP/SIGKILL never reaches pytest
                )
            finally:
                log.close()
            if self._wait_ready():
                return
            last_log = self.log_path.read_text(errors="replace")[-2000:]
            self._kill_tree(signal.SIGKILL)
            # A port taken between free_port() and bind: try another (or the same, a moment later).
            time.sleep(0.2)
        raise RuntimeError(f"sshd did not start on 127.0.0.1:{self.port}; its log ends:\n{last_log}")

    def stop(self) -> None:
        """Stop the listener and every session (SIGTERM, then SIGKILL): the server goes away."""
        if self._process is None:
            return
        self._kill_tree(signal.SIGTERM)
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill_tree(signal.SIGKILL)
            self._process.wait(timeout=5)
        self._kill_tree(signal.SIGKILL)  # sessions that ignored SIGTERM
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def rotate_host_key(self) -> None:
        """Give the server a new host key and restart it on the same port."""
        self.stop()
        make_key(self.host_key_path, "ed25519")
        self.start()

    def session_pids(self) -> list[int]:
        """The per-connection children of the listener (pre-auth, monitor and sftp processes)."""
        if self.pid is None:
            return []
        try:
            return [child.pid for child in psutil.Process(self.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill_sessions(self) -> None:
        """SIGKILL every open session; the listener keeps accepting new ones."""
        for pid in self.session_pids():
            _signal(pid, signal.SIGKILL)

    def stall(self, *, listener: bool = True, sessions: bool = True) -> None:
        """SIGSTOP the server: connections stay open but nothing answers (a hung bank)."""
        pids = (self.session_pids() if sessions else []) + ([self.pid] if listener and self.pid else [])
        for pid in pids:
            _signal(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in [*([self.pid] if self.pid else []), *self.session_pids()]:
            _signal(pid, signal.SIGCONT)

    # -- internals -------------------------------------------------------------

    def _write_config(self) -> None:
        lines = [
            "ListenAddress 127.0.0.1",
            f"Port {self.port}",
            f"HostKey {self.host_key_path}",
            f"PidFile {self.base / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys_path}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",  # the tmp dirs are not laid out like a home directory
            "PermitRootLogin prohibit-password",
            "UseDNS no",
            "MaxStartups 100",
            "LoginGraceTime 30",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _wait_ready(self) -> bool:
        """True once the port accepts and the SSH banner arrives; False if sshd died."""
        assert self._process is not None
        deadline = time.monotonic() + _READY_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                    if sock.recv(64).startswith(b"SSH-2.0-"):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def _kill_tree(self, sig: signal.Signals) -> None:
        if self._process is None:
            return
        for pid in [*self.session_pids(), self._process.pid]:
            _signal(pid, sig)
            # A stopped process only acts on SIGTERM once continued.
            _signal(pid, signal.SIGCONT)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited on its own: nothing to signal
        os.kill(pid, sig)


def _ensure_privsep_dir() -> None:
    # Debian's sshd refuses to start as root without its privilege separation directory.
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)


@pytest.fixture(scope="session")
def ssh_user_keys(tmp_path_factory: pytest.TempPathFactory) -> UserKeys:
    base = tmp_path_factory.mktemp("ssh-user-keys")
    return UserKeys(
        ed25519=make_key(base / "id_ed25519", "ed25519"),
        rsa3072=make_key(base / "id_rsa3072", "rsa", 3072),
        rsa2048=make_key(base / "id_rsa2048", "rsa", 2048),
        stranger=make_key(base / "id_stranger", "ed25519"),
    )


@pytest.fixture(scope="session")
def sshd_factory(
    tmp_path_factory: pytest.TempPathFactory, ssh_user_keys: UserKeys
) -> Iterator[Callable[[], SshServer]]:
    program = _sshd_program()
    _ensure_privsep_dir()
    servers: list[SshServer] = []

    def make() -> SshServer:
        server = SshServer(program, tmp_path_factory.mktemp("sshd"), ssh_user_keys)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def sshd(sshd_factory: Callable[[], SshServer]) -> Iterator[SshServer]:
    server = sshd_factory()
    yield server
    server.stop()
