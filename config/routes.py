"""Channels and routes: where a bank's or partner's files are fetched from and delivered to, and when.

A bank (banks/<id>.yaml) or partner (partners/<id>.yaml) has at most one
``channel`` (a local ``folder`` or an ``sftp`` server) and ``routes``:

    routes:
      inbound:                     # files we fetch
        - name: statements
          folder: outbox           # on the channel (relative to a folder channel's path)
          pattern: "*.xml"
          formats: [camt.053]
          account: DE89370400440532013000
          after: move              # delete | move | leave (remembered by name, size and mtime)
          archive_folder: archive
          schedule: {poll_seconds: 60, at: ["06:05"]}
      outbound:                    # files we deliver
        - name: direct-debits
          kind: direct_debit
          folder: inbox
          name_template: "{kind}-{date:%Y%m%d}-{seq:04d}.xml"

A route's id is ``<owner>/<name>`` (``demo-bank/statements``); a route may name
another owner's channel with ``channel: <owner>``. The cross-file checks
(unknown channel, account or partner) are in :func:`check_routes`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from config.loader import ConfigProblem, LoadedYaml, format_path, read_yaml

# The transport's default allowlist (gateway.transport.base.DEFAULT_ALLOWED_NAME), repeated here
# because config must not import the gateway: a template must render names a channel accepts.
_ALLOWED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
_ROUTE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
#: Formats a route may expect (what the adapters detect, without the version).
KNOWN_FORMATS = frozenset({"camt.052", "camt.053", "camt.054", "pain.002", "pain.008", "contrl", "aperak"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SftpTimeouts(_Strict):
    """Seconds; mapped onto gateway.transport.endpoints.Timeouts."""

    connect: float = Field(default=15.0, gt=0)
    banner: float = Field(default=15.0, gt=0)
    auth: float = Field(default=30.0, gt=0)
    channel: float = Field(default=30.0, gt=0)
    keepalive: int = Field(default=30, ge=0)
    transfer: float = Field(default=600.0, gt=0)


class FolderChannel(_Strict):
    """A local (or mounted) directory; route folders are relative to ``path``."""

    type: Literal["folder"]
    #: Relative paths are relative to the configuration directory.
    path: Path
    #: A file is taken once two listings this far apart saw the same size and mtime.
    settle_seconds: float = Field(default=2.0, ge=0)
    #: Create missing route folders at start-up. Leave false for a mounted share: a missing
    #: mount must be an error, not an empty local folder nobody reads.
    create_folders: bool = False


class SftpChannel(_Strict):
    """An SFTP server: key authentication, the host key pinned in ``known_hosts_file``."""

    type: Literal["sftp"]
    host: str = Field(min_length=1)
    port: int = Field(default=22, gt=0, lt=65536)
    username: str = Field(min_length=1)
    #: Relative paths are relative to the configuration directory.
    private_key_file: Path
    #: The environment variable holding the key's passphrase (never the passphrase itself).
    passphrase_env: str | None = None
    known_hosts_file: Path
    timeouts: SftpTimeouts = SftpTimeouts()


Channel = Annotated[FolderChannel | SftpChannel, Field(discriminator="type")]


class AfterFetch(StrEnum):
    """What happens to the remote file once its content is committed locally."""

    DELETE = "delete"
    MOVE = "move"  # to archive_folder, same name
    LEAVE = "leave"  # left in place, remembered by (name, size, mtime) so it is not fetched again


class OutboundKind(StrEnum):
    DIRECT_DEBIT = "direct_debit"  # pain.008 to a bank
    INVOICE = "invoice"  # EDIFACT INVOIC / PDF to a partner
    GL_EXPORT = "gl_export"  # journals to the general ledger
    OTHER = "other"


def _time_of_day(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"{value!r} is not a time of day HH:MM")
    return value


class Schedule(_Strict):
    """When a route runs: every ``poll_seconds``, and (inbound) also at each time in ``at``.

    For an outbound route, ``at`` holds the delivery times: queued files wait for the next
    one (a bank's cut-off); without ``at`` they are sent at the next cycle.
    """

    poll_seconds: float = Field(default=60.0, gt=0)
    #: Times of day (HH:MM, in arbridge.yaml's timezone).
    at: list[Annotated[time, Field()]] = []

    @field_validator("at", mode="before")
    @classmethod
    def _times(cls, value: Any) -> Any:
        if isinstance(value, list):
            for item in value:
                _time_of_day(item)
        return value


def _route_name(value: str) -> str:
    if not _ROUTE_NAME.match(value):
        raise ValueError("route names are ids: lower case letters, digits, - and _")
    return value


RouteName = Annotated[str, AfterValidator(_route_name)]


class InboundRoute(_Strict):
    name: RouteName
    #: The owner (bank or partner id) whose channel to use; default: this file's own.
    channel: str | None = None
    folder: str = Field(min_length=1)
    #: Shell pattern of the remote names to take (case-sensitive).
    pattern: str = "*"
    #: Formats expected here; a file of another format is still ingested, with a warning logged.
    formats: list[str] = []
    #: The bank account these files are for (an IBAN of a configured bank).
    account: str | None = None
    #: The partner these files come from (partners/<id>.yaml); default: the owner when a partner.
    partner: str | None = None
    after: AfterFetch = AfterFetch.DELETE
    archive_folder: str | None = None
    schedule: Schedule = Schedule()

    @field_validator("account")
    @classmethod
    def _compact_iban(cls, value: str | None) -> str | None:
        return value.replace(" ", "").upper() if value else value

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, value: list[str]) -> list[str]:
        for i, name in enumerate(value):
            if name.lower() not in KNOWN_FORMATS:
                raise ValueError(f"[{i}]: unknown format {name!r}; known: {', '.join(sorted(KNOWN_FORMATS))}")
        return [name.lower() for name in value]

    @model_validator(mode="after")
    def _archive_for_move(self) -> InboundRoute:
        if self.after is AfterFetch.MOVE and not self.archive_folder:
            raise ValueError("after: move needs archive_folder")
        if self.after is not AfterFetch.MOVE and self.archive_folder:
            raise ValueError("archive_folder is only used with after: move")
        return self


def render_name(
    template: str, *, kind: str, when: datetime, seq: int, route: str = "", stem: str = ""
) -> str:
    """The final remote name of an outbound file: ``{kind} {date:...} {seq} {route} {name}`` filled in."""
    return template.format(kind=kind, date=when, seq=seq, route=route, name=stem)


class OutboundRoute(_Strict):
    name: RouteName
    kind: OutboundKind
    channel: str | None = None
    folder: str = Field(min_length=1)
    #: Fields: {kind}, {date:%Y%m%d}, {seq:04d} (per route and day), {route}, {name} (the caller's).
    name_template: str = "{kind}-{date:%Y%m%d}-{seq:04d}.xml"
    schedule: Schedule = Schedule()

    @field_validator("name_template")
    @classmethod
    def _renders_a_plain_name(cls, value: str) -> str:
        try:
            sample = render_name(
                value,
                kind="direct_debit",
                when=datetime(2024, 12, 31, tzinfo=UTC),
                seq=12,
                route="route",
                stem="file",
            )
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"cannot render the template: {exc!r}") from None
        if not _ALLOWED_NAME.fullmatch(sample):
            raise ValueError(f"renders {sample!r}: names must be letters, digits, '.', '_', '-'")
        if "{seq" not in value and "{name" not in value:
            raise ValueError("the template needs {seq} or {name}: two files a day must not share a name")
        return value


class Routes(_Strict):
    inbound: list[InboundRoute] = []
    outbound: list[OutboundRoute] = []

    @model_validator(mode="after")
    def _unique_names(self) -> Routes:
        seen: set[str] = set()
        routes: list[InboundRoute | OutboundRoute] = [*self.inbound, *self.outbound]
        for route in routes:
            if route.name in seen:
                raise ValueError(f"route name {route.name!r} is used twice")
            seen.add(route.name)
        return self


class Partner(_Strict):
    """partners/<id>.yaml: a trading partner (or another system, like the GL) we exchange files with."""

    name: str
    gln: str | None = None
    channel: Channel | None = None
    routes: Routes = Routes()


class Owner(Protocol):
    """A bank or a partner: what routing needs of either."""

    @property
    def channel(self) -> FolderChannel | SftpChannel | None: ...

    @property
    def routes(self) -> Routes: ...


def iter_routes(owners: Mapping[str, Owner]) -> Iterator[tuple[str, str, InboundRoute | OutboundRoute]]:
    """(owner id, direction, route) of every route."""
    for owner_id, owner in owners.items():
        for inbound in owner.routes.inbound:
            yield owner_id, "inbound", inbound
        for outbound in owner.routes.outbound:
            yield owner_id, "outbound", outbound


def check_routes(
    files: Mapping[str, Path],
    owners: Mapping[str, Owner],
    ibans: Mapping[str, str],
    partners: frozenset[str],
    display: Callable[[Path], str],
) -> list[ConfigProblem]:
    """Cross-file checks: every route's channel, account and partner exist.

    ``files`` maps each owner id to its YAML file (re-read here for the line numbers),
    ``ibans`` each configured account to its bank id.
    """
    problems: list[ConfigProblem] = []
    loaded: dict[str, LoadedYaml] = {}

    def problem(owner_id: str, loc: tuple[str | int, ...], message: str) -> None:
        path = files[owner_id]
        if owner_id not in loaded:
            loaded[owner_id] = read_yaml(path, display(path))
        problems.append(
            ConfigProblem(display(path), loaded[owner_id].line_of(loc), format_path(loc), message)
        )

    for owner_id, owner in owners.items():
        both: list[tuple[str, list[InboundRoute | OutboundRoute]]] = [
            ("inbound", list(owner.routes.inbound)),
            ("outbound", list(owner.routes.outbound)),
        ]
        for direction, routes in both:
            for i, route in enumerate(routes):
                loc: tuple[str | int, ...] = ("routes", direction, i)
                channel_owner = route.channel or owner_id
                if channel_owner not in owners:
                    problem(
                        owner_id,
                        (*loc, "channel"),
                        f"unknown channel {channel_owner!r}: no bank or partner of that id",
                    )
                elif owners[channel_owner].channel is None:
                    where = "channel" if route.channel else "routes"
                    problem(
                        owner_id,
                        (*loc, where) if route.channel else loc,
                        f"{channel_owner!r} has no channel: add a `channel:` section to its file",
                    )
                if isinstance(route, InboundRoute):
                    if route.account and route.account not in ibans:
                        problem(
                            owner_id,
                            (*loc, "account"),
                            f"unknown account {route.account}: it is not configured for any bank",
                        )
                    if route.partner and route.partner not in partners:
                        problem(owner_id, (*loc, "partner"), f"unknown partner {route.partner!r}")
    return problems
