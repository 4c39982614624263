"""The gateway's exceptions: one hierarchy, each carrying the ids involved.

    GatewayError
    ├── IngestError             an inbound file could not be processed (see its problems)
    ├── RoutingError            no route / channel for a file, or a misconfigured one
    ├── OutboxError             an outbound file in a state that forbids the action
    └── WorkerConflict          another worker holds the lease, or SQLite with a second worker
        └── LeaseLost           our lease was taken over: a late commit refused by its fencing token

Transport failures (gateway.transport.errors.TransportError) are GatewayErrors too.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Root of the gateway's errors."""


class IngestError(GatewayError):
    pass


class RoutingError(GatewayError):
    pass


class OutboxError(GatewayError):
    pass


class WorkerConflict(GatewayError):
    pass


class LeaseLost(WorkerConflict):
    """A stalled worker's commit, refused because another worker has claimed the job since."""

    def __init__(self, message: str, *, table: str, row_id: int, token: int) -> None:
        super().__init__(message)
        self.table = table
        self.row_id = row_id
        self.token = token
