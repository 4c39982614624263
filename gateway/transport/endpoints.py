"""The settings of one SFTP endpoint; the configuration loader maps YAML onto these."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``transfer`` is the default budget of one fetch or put when no deadline is given."""

    connect: float = 15.0  # TCP connect
    banner: float = 15.0  # the server's SSH banner
    auth: float = 30.0  # key exchange and authentication
    channel: float = 30.0  # any single SFTP request/response
    keepalive: int = 30  # SSH keepalive interval (0: none)
    transfer: float = 600.0


@dataclass(frozen=True, slots=True)
class SftpEndpoint:
    """Where and how to log in. Secrets are never here: only the name of the variable holding one."""

    name: str  # the endpoint's name in the configuration, used in messages
    host: str
    username: str
    private_key_path: Path
    known_hosts_path: Path  # arbridge's own pinned keys, OpenSSH known_hosts format
    port: int = 22
    passphrase_env: str | None = None  # environment variable holding the key's passphrase
    timeouts: Timeouts = field(default_factory=Timeouts)

    @property
    def label(self) -> str:
        return f"{self.name} (sftp://{self.username}@{self.host}:{self.port})"
