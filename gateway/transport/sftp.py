"""The SFTP channel (paramiko): pinned host keys, key-only login, deadlines, temp-name uploads.

Security: the server's host key must be pinned in arbridge's known_hosts file
(never accepted on first use); our key must be ed25519 or RSA >= 3072 bits
(signing with rsa-sha2 only). Liveness: every request has a channel timeout and
every transfer an outer deadline; when one passes, the connection is closed
and ``TransportTimeout`` raised, so a stalled server cannot hang the daemon.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import socket
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import paramiko
from paramiko.ssh_exception import IncompatiblePeer

from gateway.transport.atomic import write_atomically
from gateway.transport.base import (
    CHUNK_SIZE,
    FetchResult,
    Listing,
    NamePolicy,
    NameVerdict,
    RefusalReason,
    RefusedFile,
    RemoteFile,
    check_queued_bytes,
    log_refused,
    matches,
    remaining,
    temp_name,
)
from gateway.transport.endpoints import SftpEndpoint
from gateway.transport.errors import (
    AuthenticationFailed,
    ChecksumRefused,
    ConnectionLost,
    DiskFull,
    HostKeyMismatch,
    HostKeyUnknown,
    IntegrityError,
    KeyRefused,
    RemoteExists,
    RemoteNameRefused,
    RemoteNotFound,
    RemoteOperationFailed,
    TransportError,
    TransportTimeout,
)
from gateway.transport.hostkeys import DISABLED_ALGORITHMS, key_algorithms, known_hosts_host, pinned_keys

MIN_RSA_BITS = 3072
# Failures of ours (the local side, or a verification), after which the connection is still good.
_KEEPS_CONNECTION = (IntegrityError, ChecksumRefused, DiskFull, RemoteOperationFailed, RemoteNameRefused)
Progress = Callable[[str, int], None]  # (name, bytes transferred so far)


def load_user_key(endpoint: SftpEndpoint) -> paramiko.PKey:
    """Our private key, refused unless ed25519 or RSA of at least 3072 bits."""
    where = {"endpoint": endpoint.label}
    passphrase: str | None = None
    if endpoint.passphrase_env:
        passphrase = os.environ.get(endpoint.passphrase_env)
        if passphrase is None:
            raise KeyRefused(
                f"the environment variable {endpoint.passphrase_env} (key passphrase) is not set", **where
            )
    path = endpoint.private_key_path
    try:
        key = paramiko.PKey.from_path(path, passphrase)
    except paramiko.PasswordRequiredException as error:
        raise KeyRefused(f"{path} is encrypted and no passphrase variable is configured", **where) from error
    except OSError as error:
        raise KeyRefused(f"cannot read the private key {path}: {error.strerror or error}", **where) from error
    except (paramiko.SSHException, ValueError) as error:
        raise KeyRefused(
            f"cannot load the private key {path} (wrong passphrase?): {error}", **where
        ) from error
    if isinstance(key, paramiko.Ed25519Key):
        return key
    if isinstance(key, paramiko.RSAKey):
        if key.get_bits() < MIN_RSA_BITS:
            raise KeyRefused(
                f"{path} is RSA of {key.get_bits()} bits; at least {MIN_RSA_BITS} are required", **where
            )
        return key
    raise KeyRefused(f"{path} is a {key.get_name()} key; only ed25519 or RSA >= {MIN_RSA_BITS} bits", **where)


class SftpTransport:
    """One SFTP connection to one endpoint, opened on first use and reopened after a failure.

    Not thread-safe: one worker uses one transport.
    """

    def __init__(
        self,
        endpoint: SftpEndpoint,
        *,
        policy: NamePolicy | None = None,
        progress: Progress | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.config = endpoint
        self.policy = policy or NamePolicy()
        self.progress = progress
        self.chunk_size = chunk_size
        self._ssh: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None

    @property
    def endpoint(self) -> str:
        return self.config.label

    # -- connection --------------------------------------------------------------

    def connect(self, deadline: float | None = None) -> paramiko.SFTPClient:
        """Open (or reuse) the connection: pinned host key checked, then our key."""
        if self._sftp is not None and self._ssh is not None and self._ssh.is_active():
            return self._sftp
        self.close()
        config, timeouts = self.config, self.config.timeouts
        if deadline is None:
            deadline = time.monotonic() + timeouts.connect + timeouts.banner + timeouts.auth
        where = {"endpoint": self.endpoint}
        pinned = pinned_keys(config.known_hosts_path, config.host, config.port)
        if not pinned:
            # Refused before connecting: there is nothing we could compare the server's key with.
            raise HostKeyUnknown(
                f"no host key pinned for {known_hosts_host(config.host, config.port)} "
                f"in {config.known_hosts_path}",
                **where,
            )
        user_key = load_user_key(config)
        try:
            sock = socket.create_connection(
                (config.host, config.port), timeout=min(timeouts.connect, remaining(deadline, **where))
            )
        except TimeoutError as error:
            raise TransportTimeout("TCP connect timed out", **where) from error
        except OSError as error:
            raise ConnectionLost(f"cannot connect: {error.strerror or error}", **where) from error
        ssh = paramiko.Transport(sock, disabled_algorithms=DISABLED_ALGORITHMS)
        self._ssh = ssh
        try:
            ssh.banner_timeout = min(timeouts.banner, remaining(deadline, **where))
            ssh.handshake_timeout = min(timeouts.auth, remaining(deadline, **where))
            ssh.auth_timeout = min(timeouts.auth, remaining(deadline, **where))
            ssh.channel_timeout = timeouts.channel
            # Offer only the algorithms of the pinned keys: the server cannot switch to another key type.
            ssh.get_security_options().key_types = [name for key in pinned for name in key_algorithms(key)]
            ssh.start_client(timeout=min(timeouts.auth, remaining(deadline, **where)))
            if not ssh.initial_kex_done:
                # start_client returns quietly when its timeout passes mid-handshake.
                raise TransportTimeout("no SSH banner or key exchange in time", **where)
            presented = ssh.get_remote_server_key()
            if not any(
                presented.get_name() == key.get_name() and presented.asbytes() == key.asbytes()
                for key in pinned
            ):
                raise HostKeyMismatch(
                    f"the server presented {presented.get_name()} {presented.fingerprint}, which is not the "
                    f"key pinned in {config.known_hosts_path}",
                    expected=tuple(key.fingerprint for key in pinned),
                    presented=presented.fingerprint,
                    **where,
                )
            ssh.auth_publickey(config.username, user_key)
            if timeouts.keepalive:
                ssh.set_keepalive(timeouts.keepalive)
            sftp = paramiko.SFTPClient.from_transport(ssh)
            if sftp is None:
                raise ConnectionLost("the server refused the sftp subsystem", **where)
            self._timeout(sftp, timeouts.channel)
        except IncompatiblePeer as error:
            self.close()
            raise HostKeyMismatch(
                f"the server offers no host key of the pinned type(s) ({error})",
                expected=tuple(key.fingerprint for key in pinned),
                **where,
            ) from error
        except paramiko.AuthenticationException as error:
            self.close()
            raise AuthenticationFailed(
                f"the server refused our key as {config.username!r}: {error}", **where
            ) from error
        except BaseException as error:
            self.close()
            if isinstance(error, TransportError):
                raise
            self._raise(error, None, None)
        self._sftp = sftp
        return sftp

    def close(self) -> None:
        sftp, ssh = self._sftp, self._ssh
        self._sftp = self._ssh = None
        if sftp is not None:
            sftp.close()
        if ssh is not None:
            ssh.close()

    def _raise(self, error: BaseException, folder: str | None, name: str | None) -> NoReturn:
        """Translate a paramiko or socket error; drop the connection unless the server merely said no."""
        where = {"endpoint": self.endpoint, "folder": folder, "name": name}
        alive = self._ssh is not None and self._ssh.is_active()
        if isinstance(error, TransportError):
            if isinstance(error, TransportTimeout | ConnectionLost):
                self.close()
            raise error
        if isinstance(error, TimeoutError):
            self.close()
            raise TransportTimeout(f"no answer from the server ({error or 'timed out'})", **where) from error
        if isinstance(error, paramiko.SSHException) and (
            "banner" in str(error) or "timed out" in str(error) or "timeout" in str(error)
        ):
            self.close()
            raise TransportTimeout(f"no answer from the server ({error})", **where) from error
        if isinstance(error, UnicodeDecodeError):
            raise RemoteOperationFailed(
                "the server sent a file name that is not UTF-8; remove or rename that file on the server",
                **where,
            ) from error
        if isinstance(error, EOFError | paramiko.SSHException | ConnectionError) or (
            isinstance(error, OSError) and not alive
        ):
            self.close()
            raise ConnectionLost(
                f"the connection dropped ({type(error).__name__}: {error})", **where
            ) from error
        if isinstance(error, OSError):
            if error.errno == errno.ENOENT:
                raise RemoteNotFound("no such file or folder on the server", **where) from error
            raise RemoteOperationFailed(f"the server refused: {error.strerror or error}", **where) from error
        raise error

    def _arm(self, sftp: paramiko.SFTPClient, deadline: float, folder: str, name: str) -> None:
        """Let the next request wait no longer than the channel timeout nor past the deadline."""
        left = remaining(deadline, endpoint=self.endpoint, folder=folder, name=name)
        self._timeout(sftp, min(self.config.timeouts.channel, left))

    def _timeout(self, sftp: paramiko.SFTPClient, seconds: float) -> None:
        channel = sftp.get_channel()
        if channel is None:
            raise ConnectionLost("the SFTP channel is gone", endpoint=self.endpoint)
        channel.settimeout(seconds)

    # -- the protocol --------------------------------------------------------------

    def list(self, folder: str, pattern: str = "*") -> Listing:
        try:
            sftp = self.connect()
            self._timeout(sftp, self.config.timeouts.channel)
            entries = sftp.listdir_attr(folder)  # attributes as lstat: a symlink shows as a symlink
        except BaseException as error:
            self._raise(error, folder, None)
        files: list[RemoteFile] = []
        refused: list[RefusedFile] = []
        for entry in sorted(entries, key=lambda attributes: attributes.filename):
            name = entry.filename
            if name in (".", "..") or not matches(name, pattern):
                continue
            verdict = self.policy.judge(name)
            if verdict is NameVerdict.IN_PROGRESS:
                continue
            mode = entry.st_mode or 0
            if verdict is NameVerdict.REFUSE:
                refused.append(RefusedFile(name, RefusalReason.NAME))
            elif stat.S_ISLNK(mode):
                refused.append(RefusedFile(name, RefusalReason.SYMLINK))
            elif not stat.S_ISREG(mode):
                refused.append(RefusedFile(name, RefusalReason.NOT_REGULAR))
            else:
                files.append(RemoteFile(name, entry.st_size or 0, float(entry.st_mtime or 0)))
        log_refused(self.endpoint, folder, tuple(refused))
        return Listing(tuple(files), tuple(refused))

    def fetch(self, folder: str, name: str, dest: Path, *, deadline: float) -> FetchResult:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        path = posixpath.join(folder, name)
        where = {"endpoint": self.endpoint, "folder": folder, "name": name}
        try:
            sftp = self.connect(deadline)
            self._arm(sftp, deadline, folder, name)
            before = sftp.lstat(path)
            if not stat.S_ISREG(before.st_mode or 0):
                raise RemoteOperationFailed("not a regular file (symlink or special file): refused", **where)
            with self._opened(sftp, path, "rb") as remote:

                def chunks() -> Iterator[bytes]:
                    done = 0
                    while True:
                        self._arm(sftp, deadline, folder, name)
                        chunk = remote.read(self.chunk_size)
                        if not chunk:
                            return
                        done += len(chunk)
                        if self.progress is not None:
                            self.progress(name, done)
                        yield chunk

                def verify(size: int, sha256: str) -> None:
                    self._arm(sftp, deadline, folder, name)
                    after = sftp.lstat(path)
                    unchanged = (before.st_size, before.st_mtime) == (after.st_size, after.st_mtime)
                    if size != before.st_size or not unchanged:
                        raise IntegrityError(
                            f"listed {before.st_size} bytes, received {size}, now {after.st_size}: "
                            "the file changed during the download",
                            **where,
                        )

                size, sha256 = write_atomically(
                    dest, chunks(), verify=verify, endpoint=self.endpoint, folder=folder, name=name
                )
        except BaseException as error:
            self._raise(error, folder, name)
        return FetchResult(dest, size, sha256)

    def put(self, local: Path, folder: str, name: str, *, expected_sha256: str, deadline: float) -> None:
        """Upload to ``.name.part-xxxx``, check its size and our hash, then rename to ``name``.

        If the connection dies mid-way the temp file may stay behind on the
        server (hidden and ignored by listings); the final name never holds a
        partial file.
        """
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        size = check_queued_bytes(local, expected_sha256, endpoint=self.endpoint, folder=folder, name=name)
        temp = posixpath.join(folder, temp_name(name))
        final = posixpath.join(folder, name)
        where = {"endpoint": self.endpoint, "folder": folder, "name": name}
        try:
            sftp = self.connect(deadline)
            self._arm(sftp, deadline, folder, name)
            digest = hashlib.sha256()
            sent = 0
            try:
                with self._opened(sftp, temp, "wbx") as remote, local.open("rb") as source:
                    # Pipelined: writes are not waited for one by one; close() collects every status.
                    remote.set_pipelined(True)
                    while chunk := source.read(self.chunk_size):
                        self._arm(sftp, deadline, folder, name)
                        remote.write(chunk)
                        digest.update(chunk)
                        sent += len(chunk)
                        if self.progress is not None:
                            self.progress(name, sent)
                    self._arm(sftp, deadline, folder, name)
                if digest.hexdigest() != expected_sha256.lower():
                    raise ChecksumRefused(f"{local} changed while it was being sent", **where)
                uploaded = sftp.stat(temp).st_size
                if uploaded != sent or sent != size:
                    raise IntegrityError(f"sent {sent} bytes of {size}, the server holds {uploaded}", **where)
                self._rename_into_place(sftp, temp, final)
            except BaseException:
                self._discard(temp)
                raise
        except BaseException as error:
            self._raise(error, folder, name)

    @contextlib.contextmanager
    def _opened(self, sftp: paramiko.SFTPClient, path: str, mode: str) -> Iterator[paramiko.SFTPFile]:
        """An open remote file, closed on the way out without ever waiting on a dead server."""
        remote = sftp.open(path, mode)
        try:
            yield remote
        except BaseException as error:
            if not isinstance(error, _KEEPS_CONNECTION):
                # Timed out or broken: drop the connection first, so closing the file fails fast
                # instead of waiting for a server that does not answer.
                self.close()
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                remote.close()
            raise
        remote.close()  # for a pipelined upload, this is where the server's write statuses arrive

    def _rename_into_place(self, sftp: paramiko.SFTPClient, temp: str, final: str) -> None:
        try:
            sftp.posix_rename(temp, final)  # atomic, replaces: the OpenSSH extension
        except OSError as error:
            if error.errno is not None:
                raise
            # "Operation unsupported": a server without posix-rename; plain SFTPv3 rename.
            sftp.rename(temp, final)

    def _discard(self, temp: str) -> None:
        """Best effort: remove our temp file if the connection still works."""
        if self._sftp is None or self._ssh is None or not self._ssh.is_active():
            return
        try:
            self._timeout(self._sftp, min(5.0, self.config.timeouts.channel))
            self._sftp.remove(temp)
        except (OSError, EOFError, paramiko.SSHException, TransportError):
            pass  # it stays behind under its hidden temp name, ignored by listings

    def stat(self, folder: str, name: str) -> RemoteFile | None:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        try:
            sftp = self.connect()
            self._timeout(sftp, self.config.timeouts.channel)
            attributes = sftp.lstat(posixpath.join(folder, name))
        except FileNotFoundError:
            return None
        except BaseException as error:
            self._raise(error, folder, name)
        if not stat.S_ISREG(attributes.st_mode or 0):
            return None
        return RemoteFile(name, attributes.st_size or 0, float(attributes.st_mtime or 0))

    def remove(self, folder: str, name: str) -> None:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        try:
            sftp = self.connect()
            self._timeout(sftp, self.config.timeouts.channel)
            sftp.remove(posixpath.join(folder, name))
        except BaseException as error:
            self._raise(error, folder, name)

    def move(self, folder: str, name: str, to_folder: str) -> None:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        target = posixpath.join(to_folder, name)
        try:
            sftp = self.connect()
            self._timeout(sftp, self.config.timeouts.channel)
            try:
                sftp.lstat(target)
            except FileNotFoundError:
                pass
            else:
                raise RemoteExists(
                    f"{name} is already in {to_folder}", endpoint=self.endpoint, folder=folder, name=name
                )
            # Plain SFTP rename: OpenSSH refuses it when the target exists, so nothing is overwritten.
            sftp.rename(posixpath.join(folder, name), target)
        except BaseException as error:
            self._raise(error, folder, name)

    def __enter__(self) -> SftpTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
