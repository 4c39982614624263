"""YAML -> validated pydantic models, with errors that name the file, the line and the key path.

    config/banks/acme.yaml:7: accounts[0].iban: invalid IBAN checksum

PyYAML's composer gives each node its line; we keep a map from key path to line while
building plain Python data, then translate pydantic's error locations through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

M = TypeVar("M", bound=BaseModel)

MAX_CONFIG_BYTES = 1_000_000  # a configuration file is small; anything larger is a mistake


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    file: str
    line: int | None
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key_path}: {self.message}" if self.key_path else f"{where}: {self.message}"


class ConfigError(Exception):
    """One or more problems in the configuration; str() lists them all, one a line."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def format_path(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _SafeLoader(yaml.SafeLoader):
    """SafeLoader without the YAML 1.1 surprises that bite configuration (no: false, 0777 octal)."""


# Keep "no", "yes", "on", "off" as strings: a country code NO must not become False.
_SafeLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _build(
    node: yaml.Node, path: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int], file: str
) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)  # a key's own line wins over its value's
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    [
                        ConfigProblem(
                            file,
                            key_node.start_mark.line + 1,
                            format_path(path),
                            "keys must be plain strings",
                        )
                    ]
                )
            key = str(key_node.value)
            if key in result:
                raise ConfigError(
                    [
                        ConfigProblem(
                            file, key_node.start_mark.line + 1, format_path((*path, key)), "duplicate key"
                        )
                    ]
                )
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*path, key), lines, file)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines, file) for i, item in enumerate(node.value)]
    loader = _SafeLoader("")
    return loader.construct_object(node, deep=True)


@dataclass(frozen=True, slots=True)
class LoadedYaml:
    file: str
    data: Any
    lines: Mapping[tuple[str | int, ...], int]

    def line_of(self, loc: tuple[str | int, ...]) -> int | None:
        # The deepest known ancestor: a missing key reports the line of its parent.
        for cut in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:cut]))
            if line is not None:
                return line
        return None


def read_yaml(path: Path, display: str | None = None) -> LoadedYaml:
    display = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigProblem(display, None, "", f"cannot read: {exc.strerror}")]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError([ConfigProblem(display, None, "", f"larger than {MAX_CONFIG_BYTES} bytes")])
    try:
        text = raw.decode("utf-8")
        node = yaml.compose(text, Loader=_SafeLoader)
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(display, None, "", f"not UTF-8 (byte {exc.start})")]) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError([ConfigProblem(display, line, "", f"YAML syntax: {exc.problem}")]) from None
    lines: dict[tuple[str | int, ...], int] = {}
    data = {} if node is None else _build(node, (), lines, display)
    return LoadedYaml(display, data, lines)


def validate(model: type[M], loaded: LoadedYaml, context: dict[str, Any] | None = None) -> M:
    """Validate loaded YAML into `model`; every error becomes a ConfigProblem with its line."""
    try:
        return model.model_validate(loaded.data, context=context)
    except PydanticValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = "unknown key (check the spelling; see `arbridge init` for every key)"
            elif err["type"] == "missing":
                message = "required key is missing"
            elif message.startswith("Value error, "):
                message = message.removeprefix("Value error, ")
            problems.append(ConfigProblem(loaded.file, loaded.line_of(loc), format_path(loc), message))
        raise ConfigError(problems) from None


def load_file(model: type[M], path: Path, display: str | None = None) -> M:
    return validate(model, read_yaml(path, display))
