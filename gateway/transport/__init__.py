"""Channels: one transport protocol with SFTP, local-folder and in-memory implementations."""

from gateway.transport.base import FetchResult, Listing, NamePolicy, RefusedFile, RemoteFile, Transport
from gateway.transport.endpoints import SftpEndpoint, Timeouts

__all__ = [
    "FetchResult",
    "Listing",
    "NamePolicy",
    "RefusedFile",
    "RemoteFile",
    "SftpEndpoint",
    "Timeouts",
    "Transport",
]
