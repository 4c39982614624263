"""The route table: every configured route resolved to its channel and transport folder, and its schedule.

A route's id is ``<owner>/<name>``: ``demo-bank/statements``, ``example-retail/invoices``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from config.directory import Configuration
from config.routes import InboundRoute, OutboundKind, OutboundRoute, Owner, Schedule
from gateway.channels import remote_folder
from gateway.errors import RoutingError


@dataclass(frozen=True, slots=True)
class Inbound:
    id: str
    owner: str
    channel: str
    folder: str  # as the transport names it
    archive_folder: str | None
    route: InboundRoute


@dataclass(frozen=True, slots=True)
class Outbound:
    id: str
    owner: str
    channel: str
    folder: str
    route: OutboundRoute


@dataclass(frozen=True, slots=True)
class RouteTable:
    inbound: Mapping[str, Inbound]
    outbound: Mapping[str, Outbound]
    timezone: ZoneInfo

    @classmethod
    def from_config(cls, config: Configuration) -> RouteTable:
        owners: dict[str, Owner] = {**config.banks, **config.partners}
        inbound: dict[str, Inbound] = {}
        outbound: dict[str, Outbound] = {}
        for owner_id, owner in owners.items():
            for route in owner.routes.inbound:
                channel = route.channel or owner_id
                archive = route.archive_folder
                inbound[f"{owner_id}/{route.name}"] = Inbound(
                    id=f"{owner_id}/{route.name}",
                    owner=owner_id,
                    channel=channel,
                    folder=remote_folder(config, channel, route.folder),
                    archive_folder=remote_folder(config, channel, archive) if archive else None,
                    route=route,
                )
            for out in owner.routes.outbound:
                channel = out.channel or owner_id
                outbound[f"{owner_id}/{out.name}"] = Outbound(
                    id=f"{owner_id}/{out.name}",
                    owner=owner_id,
                    channel=channel,
                    folder=remote_folder(config, channel, out.folder),
                    route=out,
                )
        return cls(MappingProxyType(inbound), MappingProxyType(outbound), ZoneInfo(config.settings.timezone))

    def outbound_route(self, route_id: str) -> Outbound:
        try:
            return self.outbound[route_id]
        except KeyError:
            known = ", ".join(sorted(self.outbound)) or "none"
            raise RoutingError(f"no outbound route {route_id!r} (configured: {known})") from None

    def outbound_for(self, owner: str, kind: OutboundKind) -> Outbound:
        """The one outbound route of ``kind`` for a bank or partner (e.g. its direct debits)."""
        found = [r for r in self.outbound.values() if r.owner == owner and r.route.kind is kind]
        if len(found) != 1:
            raise RoutingError(
                f"{owner}: {'no' if not found else 'more than one'} outbound route of kind {kind.value}"
            )
        return found[0]

    def channels(self) -> list[str]:
        return sorted(
            {r.channel for r in self.inbound.values()} | {r.channel for r in self.outbound.values()}
        )

    def folders(self) -> list[tuple[str, str]]:
        """(channel, configured folder) of every route, archives included (to create them)."""
        out: list[tuple[str, str]] = []
        for inbound in self.inbound.values():
            out.append((inbound.channel, inbound.route.folder))
            if inbound.route.archive_folder:
                out.append((inbound.channel, inbound.route.archive_folder))
        out.extend((r.channel, r.route.folder) for r in self.outbound.values())
        return out


def next_scheduled(schedule: Schedule, after: datetime, timezone: ZoneInfo) -> datetime | None:
    """The first of the schedule's times of day strictly after ``after`` (None without ``at``)."""
    if not schedule.at:
        return None
    local = after.astimezone(timezone)
    times = sorted(schedule.at)
    later = [c for c in (datetime.combine(local.date(), at, tzinfo=timezone) for at in times) if c > local]
    chosen = (
        later[0] if later else datetime.combine(local.date() + timedelta(days=1), times[0], tzinfo=timezone)
    )
    return chosen.astimezone(after.tzinfo)
