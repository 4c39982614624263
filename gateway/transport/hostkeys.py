"""Pinned SSH host keys in arbridge's own known_hosts file (OpenSSH format): look up, scan, trust.

Trusting is always a deliberate operator step (``arbridge channel trust``):
``scan_host_key`` only shows a server's key and fingerprint, the SFTP
transport never adds a key by itself.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import paramiko

from gateway.transport.atomic import fsync_directory
from gateway.transport.errors import ConnectionLost, TransportError, TransportTimeout

# Host key algorithms we accept: paramiko's defaults without SHA-1 "ssh-rsa" and DSA.
DISABLED_ALGORITHMS = {"pubkeys": ["ssh-rsa", "ssh-dss"], "keys": ["ssh-rsa", "ssh-dss"]}


def known_hosts_host(host: str, port: int) -> str:
    """The host as OpenSSH writes it in known_hosts: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def key_algorithms(key: paramiko.PKey) -> list[str]:
    """The host key algorithm names that can present ``key`` (RSA only with SHA-2)."""
    if isinstance(key, paramiko.RSAKey):
        return ["rsa-sha2-512", "rsa-sha2-256"]
    return [key.get_name()]


def pinned_keys(known_hosts: Path, host: str, port: int) -> list[paramiko.PKey]:
    """The keys pinned for ``host:port`` (hashed entries included); empty when none or no file."""
    keys = paramiko.HostKeys()
    if known_hosts.exists():
        keys.load(str(known_hosts))
    entry = keys.lookup(known_hosts_host(host, port))
    return [] if entry is None else [entry[kind] for kind in entry]


@dataclass(frozen=True, slots=True)
class ScannedKey:
    """A server's host key as presented, not trusted."""

    host: str
    port: int
    key: paramiko.PKey
    fingerprint: str  # "SHA256:...", as ``ssh-keygen -lf`` prints it

    @property
    def key_type(self) -> str:
        return self.key.get_name()

    def known_hosts_line(self) -> str:
        return f"{known_hosts_host(self.host, self.port)} {self.key.get_name()} {self.key.get_base64()}\n"


def scan_host_key(host: str, port: int = 22, *, timeout: float = 15.0) -> ScannedKey:
    """Connect, read the server's host key and its fingerprint, disconnect; trusts nothing."""
    endpoint = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError as error:
        raise TransportTimeout("no connection", endpoint=endpoint) from error
    except OSError as error:
        raise ConnectionLost(f"cannot connect: {error.strerror or error}", endpoint=endpoint) from error
    transport = paramiko.Transport(sock, disabled_algorithms=DISABLED_ALGORITHMS)
    transport.banner_timeout = timeout
    transport.handshake_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except paramiko.SSHException as error:
        raise TransportError(f"SSH handshake failed: {error}", endpoint=endpoint) from error
    finally:
        transport.close()
    return ScannedKey(host, port, key, key.fingerprint)


def trust_host_key(known_hosts: Path, host: str, port: int, key: paramiko.PKey) -> None:
    """Pin ``key`` for ``host:port``, replacing a pinned key of the same type (a rotation).

    Other hosts' lines and this host's keys of other types are kept as they are.
    The file is rewritten atomically.
    """
    pattern = known_hosts_host(host, port)
    kept: list[str] = []
    if known_hosts.exists():
        for line in known_hosts.read_text().splitlines(keepends=True):
            fields = line.split()
            same_host = len(fields) >= 2 and pattern in fields[0].split(",")
            if same_host and fields[1] == key.get_name():
                continue
            kept.append(line if line.endswith("\n") else line + "\n")
    kept.append(f"{pattern} {key.get_name()} {key.get_base64()}\n")
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    temp = known_hosts.with_name(f".{known_hosts.name}.tmp-{os.getpid()}")
    try:
        with temp.open("w") as stream:
            stream.writelines(kept)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, known_hosts)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    fsync_directory(known_hosts.parent)
