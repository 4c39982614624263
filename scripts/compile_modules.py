"""Compile the matching engine's hot modules with mypyc, in place (ADR 4; ``gateway/compiled.py``).

    .venv/bin/python scripts/compile_modules.py [--if-stale]

``make`` runs it with ``--if-stale`` before the tests and the demo: it does nothing while
every extension was built from the source beside it, and builds all of them otherwise
(a minute or two). Then it writes the packages' bytecode ahead
(``compiled.write_bytecode``). mypyc type-checks with the project's mypy configuration
(``pyproject.toml``) first. Where it cannot build (no C compiler, a type error), it says
why, removes what it built, and exits 0: the sources then run as Python, slower, and the
test ``tests/ar/cashapp/test_compiled.py`` fails in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway import compiled  # noqa: E402  (after the path is set)

BUILD = ROOT / "build" / "mypyc"


def _remove_extensions() -> None:
    for module in (*compiled.MODULES, *compiled.strays()):
        for extension in compiled.extensions_of(module):
            extension.unlink()
    for shared in (ROOT / "ar").glob("_compiled__mypyc*"):
        shared.unlink()
    compiled.MANIFEST.unlink(missing_ok=True)


def build() -> None:
    from mypyc.build import mypycify
    from setuptools import setup

    digests = {m: compiled.source_digest(m) for m in compiled.MODULES}  # before: what is compiled
    sources = [str(compiled.source_of(m).relative_to(ROOT)) for m in compiled.MODULES]
    _remove_extensions()
    BUILD.mkdir(parents=True, exist_ok=True)
    extensions = mypycify(sources, opt_level="3", target_dir=str(BUILD), group_name="ar._compiled")
    setup(
        name="arbridge-compiled",
        ext_modules=extensions,
        script_args=["--quiet", "build_ext", "--inplace", "--build-temp", str(BUILD / "temp")],
    )
    compiled.MANIFEST.write_text(json.dumps(digests, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--if-stale", action="store_true", help="build only when an extension is missing or stale"
    )
    args = parser.parse_args()
    os.chdir(ROOT)  # mypy reads [tool.mypy] from pyproject.toml here
    if not args.if_stale or compiled.not_built() or compiled.stale():
        _build_or_say_why()
    compiled.write_bytecode()
    return 0


def _build_or_say_why() -> None:
    print(f"compiling {len(compiled.MODULES)} modules with mypyc (a minute or two)", file=sys.stderr)
    try:
        build()
    except (Exception, SystemExit) as exc:  # setuptools reports a failed compiler as SystemExit
        _remove_extensions()
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        print(
            f"warning: the hot modules could not be compiled ({detail}); they run as Python, slower",
            file=sys.stderr,
        )
        return
    print(f"compiled: {', '.join(compiled.MODULES)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
