"""The gateway's exceptions: one hierarchy, each carrying the ids involved.

    GatewayError
    ├── IngestError             an inbound file could not be processed (see its problems)
    ├── RoutingError            no route / channel for a file, or a misconfigured one
    ├── OutboxError             an outbound file in a state that forbids the action
    └── WorkerConflict          another worker holds the lease, or SQLite with a second worker

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
