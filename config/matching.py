"""matching.yaml: the cash-application rule sets (Oracle's AutoCash rule sets and AutoMatch
options), one per name; a customer profile names its set (profiles.yaml `matching_rule_set`).

    default: default            # the set for receipts whose payer is not known
    rule_sets:
      default:
        rules:
          - {rule: reference, partial: oldest_first}
          - {rule: match_payment_with_invoice, ties: recommend}
          - {rule: score, auto_apply: 90}
        tolerance: {amount: "5.00", percent: "1", max_write_off: {EUR: "5.00"}}

The config layer knows nothing of the engine (it must not import `ar`): here the file is
read, its shape checked (a mapping of names to mappings, the default and every profile's
set defined) and its lines kept; `ar.cashapp.rules.engine_from` builds each set with
`RuleSet.from_mapping` and turns its key path into `matching.yaml:LINE: rule_sets.NAME.KEY: message`
through `problem`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from config.loader import ConfigError, ConfigProblem, LoadedYaml, read_yaml

MATCHING_FILE = "matching.yaml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def split_path(path: str) -> tuple[str | int, ...]:
    """``rules[2].ties`` -> ``("rules", 2, "ties")``."""
    return tuple(
        int(index) if index else name for name, index in (m.groups() for m in _PATH_PART.finditer(path))
    )


@dataclass(frozen=True, slots=True)
class MatchingConfig:
    """The rule sets as plain mappings (validated into engine rule sets by ``ar.cashapp``)."""

    #: Name -> the mapping for ``RuleSet.from_mapping`` (its ``name`` is the key).
    rule_sets: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: MappingProxyType({"default": {"name": "default"}})
    )
    #: The set used when the payer is unknown (and for profiles naming none).
    default: str = "default"
    #: Where it was read from (None: the built-in default), for error messages.
    source: LoadedYaml | None = None

    def problem(self, set_name: str, key_path: str, message: str) -> ConfigProblem:
        """A problem inside rule set ``set_name`` at ``key_path`` (as ``RuleSetError.path`` gives it)."""
        loc: tuple[str | int, ...] = ("rule_sets", set_name, *split_path(key_path))
        key = ".".join(str(p) for p in ("rule_sets", set_name)) + (
            ("." + key_path if not key_path.startswith("[") else key_path) if key_path else ""
        )
        if self.source is None:
            return ConfigProblem(MATCHING_FILE, None, key, message)
        return ConfigProblem(self.source.file, self.source.line_of(loc), key, message)


def _problem(loaded: LoadedYaml, loc: tuple[str | int, ...], message: str) -> ConfigProblem:
    return ConfigProblem(loaded.file, loaded.line_of(loc), ".".join(str(p) for p in loc), message)


def load_matching(path: Path, display: str, profile_rule_sets: Mapping[str, str]) -> MatchingConfig:
    """Read matching.yaml; ConfigError lists every shape problem with its line.

    ``profile_rule_sets`` maps each profile of profiles.yaml to the rule set it names: a
    name that is not defined here is a problem (reported at the top of this file).
    """
    loaded = read_yaml(path, display)
    data = loaded.data
    problems: list[ConfigProblem] = []
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(display, 1, "", "expected a mapping with `rule_sets`")])
    for key in data:
        if key not in ("rule_sets", "default"):
            problems.append(_problem(loaded, (key,), "unknown key (allowed: default, rule_sets)"))
    sets = data.get("rule_sets", {})
    rule_sets: dict[str, Mapping[str, Any]] = {}
    if not isinstance(sets, dict) or not sets:
        problems.append(_problem(loaded, ("rule_sets",), "expected a mapping of rule-set names to rule sets"))
        sets = {}
    for name, body in sets.items():
        if not _NAME.match(name):
            problems.append(_problem(loaded, ("rule_sets", name), "a name is letters, digits, - _ ."))
            continue
        if body is None:
            body = {}
        if not isinstance(body, dict):
            problems.append(
                _problem(loaded, ("rule_sets", name), "expected a mapping (rules, tolerance, ...)")
            )
            continue
        if "name" in body and body["name"] != name:
            problems.append(
                _problem(loaded, ("rule_sets", name, "name"), "leave it out: the key is the name")
            )
            continue
        rule_sets[name] = MappingProxyType({**body, "name": name})
    default = data.get("default", "default")
    if not isinstance(default, str) or (sets and default not in sets):
        problems.append(_problem(loaded, ("default",), f"{default!r} is not one of the rule_sets"))
    for profile, set_name in sorted(profile_rule_sets.items()):
        if sets and set_name not in sets:
            problems.append(
                ConfigProblem(
                    display,
                    loaded.line_of(("rule_sets",)),
                    "rule_sets",
                    f"profiles.yaml profile {profile!r} names rule set {set_name!r}, not defined here",
                )
            )
    if problems:
        raise ConfigError(problems)
    return MatchingConfig(MappingProxyType(rule_sets), str(default), loaded)


def default_matching(profile_rule_sets: Iterable[str] = ()) -> MatchingConfig:
    """Without matching.yaml: the engine's built-in rules under every name the profiles use."""
    names = {"default", *profile_rule_sets}
    return MatchingConfig(MappingProxyType({n: MappingProxyType({"name": n}) for n in sorted(names)}))


def load_from_directory(
    path: Path, display: str, profile_rule_sets: Mapping[str, str], problems: list[ConfigProblem]
) -> MatchingConfig:
    """matching.yaml of a configuration directory (the built-in rules when there is none);
    problems are added to ``problems``."""
    if not path.is_file():
        return default_matching(profile_rule_sets.values())
    try:
        return load_matching(path, display, profile_rule_sets)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return default_matching(profile_rule_sets.values())
