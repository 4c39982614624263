"""The transport exception tree; every error names the endpoint, folder and file, and what to do.

::

    TransportError
    ├── HostKeyUnknown          no pinned host key for the endpoint
    ├── HostKeyMismatch         the server presented a different host key
    ├── AuthenticationFailed    the server refused our key
    │   └── KeyRefused          our own key is not acceptable (type/size/unreadable)
    ├── TransportTimeout        connect, banner, auth or a transfer passed its deadline
    ├── ConnectionLost          the connection dropped mid-operation
    ├── RemoteNameRefused       a file name outside the allowlist
    ├── RemoteNotFound          the file or folder is not there
    ├── RemoteExists            the target name is already taken (move never overwrites)
    ├── RemoteOperationFailed   the server (or local folder) refused an operation
    ├── IntegrityError          size or SHA-256 not what was listed/expected
    ├── ChecksumRefused         the bytes to send changed since they were queued
    └── DiskFull                ENOSPC while writing locally

Rooted under :class:`gateway.errors.GatewayError`, the gateway's one hierarchy.
"""

from __future__ import annotations

from typing import ClassVar

from gateway.errors import GatewayError


class TransportError(GatewayError):
    """Root of every transport failure.

    ``action`` says what an operator should do about it; the string form is
    ``endpoint: folder/name: message. action``.
    """

    action: ClassVar[str] = "Check the channel's configuration and the logs; the operation can be retried."

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        folder: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.folder = folder
        self.name = name

    def __str__(self) -> str:
        where = "/".join(part for part in (self.folder, self.name) if part)
        prefix = ": ".join(part for part in (self.endpoint, where) if part)
        return f"{prefix + ': ' if prefix else ''}{self.message}. {self.action}"


class HostKeyUnknown(TransportError):
    action = (
        "The channel stays stopped. Get the server's key fingerprint from the bank or partner "
        "out of band, compare it with `arbridge channel scan`, then `arbridge channel trust`."
    )

    def __init__(self, message: str, *, fingerprint: str | None = None, **where: str | None) -> None:
        super().__init__(message, **where)
        self.fingerprint = fingerprint


class HostKeyMismatch(TransportError):
    action = (
        "The channel stays stopped: this may be an attack, or the server's key was rotated. Confirm the "
        "new fingerprint with the bank or partner out of band before trusting it."
    )

    def __init__(
        self,
        message: str,
        *,
        expected: tuple[str, ...] = (),
        presented: str | None = None,
        **where: str | None,
    ) -> None:
        super().__init__(message, **where)
        self.expected = expected
        self.presented = presented


class AuthenticationFailed(TransportError):
    action = "Check the username, and that the server has our public key authorized."


class KeyRefused(AuthenticationFailed):
    action = (
        "Use an ed25519 key, or RSA of at least 3072 bits; check the key path and its passphrase variable."
    )


class TransportTimeout(TransportError):
    action = "The server did not answer in time; the connection was closed and the operation will be retried."


class ConnectionLost(TransportError):
    action = "The connection dropped; the operation will be retried. Nothing was left under a final name."


class RemoteNameRefused(TransportError):
    action = "The file was not touched. Ask the sender to use plain names (letters, digits, '.', '_', '-')."


class RemoteNotFound(TransportError):
    action = "Check the folder in the channel's configuration and that the file was not already taken."


class RemoteExists(TransportError):
    action = "A file of that name is already in the target folder; rename or remove one of them by hand."


class RemoteOperationFailed(TransportError):
    action = "Check permissions and free space on the server or folder."


class IntegrityError(TransportError):
    action = (
        "The transfer was discarded and will be retried; if it repeats, the file is changing at the source."
    )


class ChecksumRefused(TransportError):
    action = (
        "The file's bytes changed after it was queued, so it was not sent. Find out what modified the "
        "spool file; re-queue it deliberately if the new content is right."
    )


class DiskFull(TransportError):
    action = "The local disk is full; no partial file was left. Free space, then the transfer is retried."
