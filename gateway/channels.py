"""Transports built from the configured channels, and each channel's health (last success, last error)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from ar.db import Base
from config.directory import Configuration
from config.routes import FolderChannel, SftpChannel
from gateway.claims import dialect_insert
from gateway.errors import RoutingError
from gateway.transport.base import Transport
from gateway.transport.endpoints import SftpEndpoint, Timeouts
from gateway.transport.folder import FolderTransport
from gateway.transport.sftp import SftpTransport


class ChannelHealth(Base):
    """The last success and the last error of each channel, for `arbridge status`."""

    __tablename__ = "channel_health"

    #: The channel's id (its owner's: a bank or partner id).
    channel: Mapped[str] = mapped_column(String(63), primary_key=True)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The worker that wrote the last update.
    worker: Mapped[str | None] = mapped_column(String(120))


def channel_config(config: Configuration, channel: str) -> FolderChannel | SftpChannel:
    owner = config.banks.get(channel) or config.partners.get(channel)
    if owner is None or owner.channel is None:
        raise RoutingError(f"no channel {channel!r}: no bank or partner of that id has a `channel:` section")
    return owner.channel


def _path(config: Configuration, path: Path) -> Path:
    return path if path.is_absolute() else config.root / path


def remote_folder(config: Configuration, channel: str, folder: str) -> str:
    """The folder as the transport names it: a folder channel's folders live under its path."""
    settings = channel_config(config, channel)
    if isinstance(settings, FolderChannel):
        return str(_path(config, settings.path) / folder)
    return folder


def build_transport(config: Configuration, channel: str) -> Transport:
    settings = channel_config(config, channel)
    if isinstance(settings, FolderChannel):
        return FolderTransport(endpoint=f"{channel} (folder)", settle_seconds=settings.settle_seconds)
    timeouts = settings.timeouts
    endpoint = SftpEndpoint(
        name=channel,
        host=settings.host,
        port=settings.port,
        username=settings.username,
        private_key_path=_path(config, settings.private_key_file),
        known_hosts_path=_path(config, settings.known_hosts_file),
        passphrase_env=settings.passphrase_env,
        timeouts=Timeouts(
            connect=timeouts.connect,
            banner=timeouts.banner,
            auth=timeouts.auth,
            channel=timeouts.channel,
            keepalive=timeouts.keepalive,
            transfer=timeouts.transfer,
        ),
    )
    return SftpTransport(endpoint)


def transfer_seconds(config: Configuration, channel: str) -> float:
    settings = channel_config(config, channel)
    return settings.timeouts.transfer if isinstance(settings, SftpChannel) else 600.0


@dataclass
class Channels:
    """One transport per channel for one worker, opened on first use (SFTP is not thread-safe)."""

    config: Configuration
    _open: dict[str, Transport] = field(default_factory=dict)
    #: channel -> (when, error or None) since the last flush, for ChannelHealth.
    _events: dict[str, tuple[datetime | None, tuple[datetime, str] | None]] = field(default_factory=dict)

    def get(self, channel: str) -> Transport:
        if channel not in self._open:
            self._open[channel] = build_transport(self.config, channel)
        return self._open[channel]

    def succeeded(self, channel: str, at: datetime) -> None:
        _, error = self._events.get(channel, (None, None))
        self._events[channel] = (at, error)

    def failed(self, channel: str, at: datetime, error: Exception) -> None:
        success, _ = self._events.get(channel, (None, None))
        # The class name says what kind of failure at a glance (HostKeyMismatch, TransportTimeout).
        self._events[channel] = (success, (at, f"{type(error).__name__}: {error}"[:2000]))

    def flush_health(self, session: Session, worker: str) -> None:
        """Write what happened since the last flush into ChannelHealth (caller commits)."""
        for channel, (success, error) in self._events.items():
            values: dict[str, object] = {"worker": worker}
            if success is not None:
                values["last_success_at"] = success
            if error is not None:
                values["last_error_at"], values["last_error"] = error
            # An upsert: several workers may report the same channel at once.
            insert = dialect_insert(session, ChannelHealth).values(channel=channel, **values)
            session.execute(insert.on_conflict_do_update(index_elements=["channel"], set_=values))
        self._events.clear()

    def create_folders(self, folders: list[tuple[str, str]]) -> None:
        """Create the route folders of folder channels that ask for it (``create_folders: true``)."""
        for channel, folder in folders:
            settings = channel_config(self.config, channel)
            if isinstance(settings, FolderChannel) and settings.create_folders:
                Path(remote_folder(self.config, channel, folder)).mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        for transport in self._open.values():
            transport.close()
        self._open.clear()
