"""The matching engine's hot modules, compiled to C by mypyc (ADR 4), and whether they are current.

mypyc compiles a module that ``mypy --strict`` accepts into an extension beside its source;
Python then imports the extension instead of the ``.py``. The match run spends its time
in these modules (the engine deciding, the view building open items), and compiled they
do the same work in about a third fewer instructions. They are optional, like the C readers
in ``formats/``: without a compiler the same sources run as Python, slower.

An extension is only right while its source is unchanged: an edited ``engine.py`` beside
an extension built before the edit would silently run the old engine. The build records
the SHA-256 of every source it compiled (``MANIFEST``); ``stale`` compares, and the tests
refuse to run on stale extensions (``tests/conftest.py``).
"""

from __future__ import annotations

import compileall
import hashlib
import importlib
import importlib.machinery
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Compiled, in this order. Not ``ar.matching.rules``: its frozen rule records keep their
#: kind in a ``ClassVar``, which mypyc's dataclasses refuse; it is read once per run.
MODULES: tuple[str, ...] = (
    "ar.matching.autocash",
    "ar.matching.combination",
    "ar.matching.context",
    "ar.matching.engine",
    "ar.matching.identify",
    "ar.matching.model",
    "ar.matching.references",
    "ar.matching.scoring",
    "ar.cashapp.view",
)

#: The packages whose bytecode is written ahead (``write_bytecode``).
PACKAGES: tuple[str, ...] = ("ar", "config", "formats", "gateway")

#: What the last build compiled: module -> SHA-256 of the source it was compiled from.
MANIFEST = ROOT / "build" / "mypyc" / "sources.json"


def source_of(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


def source_digest(module: str) -> str:
    return hashlib.sha256(source_of(module).read_bytes()).hexdigest()


def extensions_of(module: str) -> list[Path]:
    """The compiled extensions lying beside the module's source (none when not built)."""
    source = source_of(module)
    return [
        source.with_name(source.stem + suffix)
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        if source.with_name(source.stem + suffix).exists()
    ]


def not_built() -> list[str]:
    """The modules with no extension beside their source."""
    return [m for m in MODULES if not extensions_of(m)]


def built_from() -> dict[str, str]:
    """The manifest of the last build; empty when there is none."""
    try:
        recorded = json.loads(MANIFEST.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in recorded.items()} if isinstance(recorded, dict) else {}


def strays() -> list[str]:
    """Modules of ``ar`` with an extension beside their source that are not in ``MODULES``
    (left by a build from an older list): Python would import the extension, not the source."""
    found = []
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for extension in sorted((ROOT / "ar").rglob(f"*{suffix}")):
            source = extension.with_name(extension.name[: -len(suffix)] + ".py")
            module = ".".join(source.relative_to(ROOT).with_suffix("").parts)
            if source.exists() and module not in MODULES:
                found.append(module)
    return found


def stale() -> list[str]:
    """The modules whose extension was built from another source than the one beside it, or
    that are no longer to be compiled at all."""
    recorded = built_from()
    return [m for m in MODULES if extensions_of(m) and recorded.get(m) != source_digest(m)] + strays()


def loaded_compiled() -> list[str]:
    """The modules this interpreter runs compiled (imports them)."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return [m for m in MODULES if str(importlib.import_module(m).__file__).endswith(suffixes)]


def describe() -> str:
    """One line for benchmarks and reports: which build of the engine runs."""
    compiled = loaded_compiled()
    if len(compiled) == len(MODULES):
        return f"compiled (mypyc): {len(compiled)} modules"
    if not compiled:
        return "pure Python (not compiled: scripts/compile_modules.py)"
    return f"partly compiled: {', '.join(compiled)}"


def write_bytecode() -> None:
    """Every package's bytecode, where missing or older than its source (``make``, the speed
    benchmark): where PYTHONDONTWRITEBYTECODE is set, each process would otherwise compile the
    sources it imports, 0.4 s of every ``arbridge`` start and of the match run's planner."""
    for package in PACKAGES:
        compileall.compile_dir(ROOT / package, quiet=1, workers=0)
