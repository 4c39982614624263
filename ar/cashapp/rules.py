"""The matching engine from the configuration: matching.yaml's rule sets built with
``RuleSet.from_mapping``, every bad key reported as ``matching.yaml:LINE: rule_sets.NAME.KEY: message``.

>>> from config.matching import default_matching
>>> engine_from(default_matching()).rule_set_for(None).name
'default'
"""

from __future__ import annotations

from pathlib import Path

from ar.matching.engine import MatchingEngine
from ar.matching.rules import RuleSet, RuleSetError
from config.ar import ProfilesConfig
from config.loader import ConfigError, ConfigProblem
from config.matching import MatchingConfig, load_matching


def rule_sets_of(config: MatchingConfig) -> dict[str, RuleSet]:
    """Every rule set, validated; ConfigError lists every problem with its line."""
    problems: list[ConfigProblem] = []
    built: dict[str, RuleSet] = {}
    for name, data in config.rule_sets.items():
        try:
            built[name] = RuleSet.from_mapping(data)
        except RuleSetError as exc:
            message = str(exc).removeprefix(f"{exc.path}: ") if exc.path else str(exc)
            problems.append(config.problem(name, exc.path, message))
    if problems:
        raise ConfigError(problems)
    return built


def engine_from(config: MatchingConfig) -> MatchingEngine:
    return MatchingEngine(rule_sets_of(config), config.default)


def profile_rule_sets(profiles: ProfilesConfig) -> dict[str, str]:
    """Customer profile name -> the name of its matching rule set."""
    return {name: profile.matching_rule_set for name, profile in profiles.profiles.items()}


def load_candidate(path: Path, profiles: ProfilesConfig) -> MatchingEngine:
    """A candidate matching.yaml (for `match simulate --rules FILE`), fully validated."""
    return engine_from(load_matching(path, str(path), profile_rule_sets(profiles)))
