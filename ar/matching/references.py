"""Reference extraction and normalisation for cash application.

Finds what may be invoice numbers or creditor references in a receipt's remittance
(``RmtInf/Ustrd`` lines, ``CdtrRefInf/Ref``, the ``EndToEndId``) and turns each into
*keys*: the same function turns an open item's number into the keys it is indexed
by (``index_keys``), so a lookup is one dictionary (or indexed column) probe.

A key is the upper-case alphanumeric prefix followed by the number without leading
zeros (``INV-000123`` -> ``INV123``), or the bare number (``123``). Inside number
runs O reads as 0 and I/L as 1. ISO 11649 creditor references (``RF18 5390 0754
7034``) count only with a valid check (python-stdnum).

>>> index_keys("INV-000123")
('INV000123', '123', 'INV123')
>>> {"INV123", "123"} <= {k.key for k in extract_text("pmt inv 0OO123 thx", source="ustrd")}
True
>>> "RF18539007547034" in {k.key for k in extract_text("RF18 5390 0754 7034", source="ustrd")}
True
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from stdnum import iso11649

from ar.matching.rules import Keep, ReferenceOptions, StringHandling

MAX_TEXT = 1024  # characters of one remittance line that are looked at (hostile input)
MAX_PREFIX = 5  # letters before a number that count as its prefix ("INV", "RE", "CM")

_PARTS = re.compile(r"[A-Z0-9]+")
_DIGITS = re.compile(r"([A-Z]{0,5}?)([0-9]+)")
_NUMBER = re.compile(r"([A-Z]*)([0-9]+)")
_CONFUSED = re.compile(r"[0-9OIL]*[0-9][0-9OIL]*")
_RF = re.compile(r"RF[0-9]{2}")
_HAS_DIGIT = re.compile(r"[0-9]")
_PREFIXED = re.compile(r"([A-Z]{1,5})([0-9]+)")
_CONFUSIONS = str.maketrans({"O": "0", "I": "1", "L": "1"})


@dataclass(frozen=True, slots=True, order=True, init=False)
class FoundReference:
    """One key found in a receipt, with the text it came from."""

    key: str
    text: str  # the text as found (for the evidence)
    source: str  # "ustrd", "structured", "end_to_end", "rf", "pattern"
    prefixed: bool  # the key carries a letter prefix (INV123) or is an RF reference

    def __init__(self, key: str, text: str, source: str, prefixed: bool) -> None:
        # written out: compiled, faster than the generated one (see ``OpenItem.__init__``)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "prefixed", prefixed)

    def significant_digits(self) -> int:
        return sum(ch.isdigit() for ch in self.key)


def compact(text: str) -> str:
    """Upper case, only letters and digits."""
    return "".join(_PARTS.findall(text.upper()))


def _number_keys(prefix: str, digits: str) -> list[str]:
    number = digits.lstrip("0") or "0"
    keys = [number]
    if prefix:
        keys.insert(0, prefix + number)
    return keys


def index_keys(trx_number: str, references: Iterable[str] = ()) -> tuple[str, ...]:
    """The keys an open item is found by: its compact number, prefix+number, the bare number,
    and its other references (an RF creditor reference) compacted."""
    keys: list[str] = []
    parts = _PARTS.findall(trx_number.upper())
    whole = "".join(parts)
    if whole:
        keys.append(whole)
    for part in parts:
        for match in _DIGITS.finditer(part):
            keys.extend(_number_keys(match.group(1), match.group(2)))
    for match in _PREFIXED.finditer(whole):
        keys.extend(_number_keys(match.group(1), match.group(2)))
    for reference in references:
        ref = compact(reference)
        if ref:
            keys.append(ref)
    return tuple(dict.fromkeys(keys))


def valid_rf(text: str) -> bool:
    return bool(iso11649.is_valid(text))


def _rf_references(upper: str) -> list[tuple[str, str]]:
    """(compact RF, text) for each valid ISO 11649 reference, spaces between groups allowed."""
    found: list[tuple[str, str]] = []
    for match in _RF.finditer(upper):
        tail = upper[match.start() :]
        groups = re.match(r"RF[0-9]{2}((?: ?[0-9A-Z]{1,4}){1,6})", tail)
        if not groups:
            continue
        text = groups.group(0)
        # the longest prefix (by groups) that has a valid check wins: trailing words are not part of it
        pieces = text.split(" ")
        for end in range(len(pieces), 0, -1):
            candidate = "".join(pieces[:end])
            if 5 <= len(candidate) <= 25 and valid_rf(candidate):
                found.append((candidate, " ".join(pieces[:end])))
                break
    return found


def _keys_of_part(part: str) -> list[tuple[str, bool]]:
    """(key, prefixed) pairs for one alphanumeric part, including numbers inside longer tokens."""
    out: list[tuple[str, bool]] = []
    if not part.isdigit() and not part.isalpha():
        out.append((part, True))
    for match in _NUMBER.finditer(part):
        letters, digits = match.group(1), match.group(2)
        out.append((digits.lstrip("0") or "0", False))
        # the prefix is some tail of the letters before the number ("PAYREFINV123": INV)
        for length in range(1, min(MAX_PREFIX, len(letters)) + 1):
            out.append((letters[-length:] + (digits.lstrip("0") or "0"), True))
    # O/0, I/1 and L/1 confusions inside number runs ("INV-OO0123", "1O5")
    for match in _CONFUSED.finditer(part):
        run = match.group(0)
        if match.end() < len(part) and part[match.end()].isalpha():
            run = run.rstrip("OIL")  # "12345INV": the I belongs to the next word
        if run.isdigit() or not run:
            continue
        letters_before = part[: match.start()]
        # letters of the prefix are those before the run; a run such as "OO123" also starts with them
        fixed = run.translate(_CONFUSIONS)
        prefix = letters_before[-MAX_PREFIX:] if letters_before.isalpha() else ""
        for key in _number_keys(prefix, fixed):
            out.append((key, key[0].isalpha()))
    return out


def extract_text(text: str, *, source: str) -> list[FoundReference]:
    """Every key a line of text may hold. Most keys will not hit anything: that is expected."""
    upper = text[:MAX_TEXT].upper()
    found: dict[str, FoundReference] = {}

    def add(key: str, original: str, src: str, prefixed: bool) -> None:
        if key not in found and _HAS_DIGIT.search(key):
            found[key] = FoundReference(key, original, src, prefixed)

    for rf, rf_text in _rf_references(upper):
        add(rf, rf_text, "rf", True)
        for key, prefixed in _keys_of_part(rf[4:]):
            add(key, rf_text, "rf", prefixed)
    original = text[:MAX_TEXT]
    spans = [(m.group(0), m.start(), m.end()) for m in _PARTS.finditer(upper)]
    for index, (part, start, end) in enumerate(spans):
        for key, prefixed in _keys_of_part(part):
            add(key, original[start:end], source, prefixed)
        # "INV 000123", "INV-000123", "Nr. 123": a short word followed by a number
        if index + 1 < len(spans) and part.isalpha() and len(part) <= MAX_PREFIX:
            following, _, following_end = spans[index + 1]
            if following[:1].isdigit() or (following[:1] in "OIL" and _CONFUSED.match(following)):
                for key, prefixed in _keys_of_part(part + following):
                    add(key, original[start:following_end], source, prefixed)
    return list(found.values())


def apply_string_handling(token: str, handling: StringHandling) -> str:
    """Oracle AutoMatch remittance string handling on one token.

    >>> apply_string_handling("0000123456", StringHandling(keep=Keep.BACK, chars=6))
    '123456'
    >>> apply_string_handling("00012 34", StringHandling(strip_zeros=True, strip_spaces=True))
    '1234'
    """
    value = token.replace(" ", "") if handling.strip_spaces else token
    if handling.keep is Keep.FRONT:
        value = value[: handling.chars]
    elif handling.keep is Keep.BACK:
        value = value[-handling.chars :]
    if handling.strip_zeros:
        value = value.lstrip("0")
    return value


def extract(
    remittance_lines: Iterable[str],
    structured_references: Iterable[str],
    end_to_end_id: str | None,
    options: ReferenceOptions,
) -> tuple[FoundReference, ...]:
    """All candidate keys of a receipt, deterministic order (prefixed first, then by key).

    Remembered for the last receipts (a run extracts each receipt's keys twice: to prefetch
    what they point to, then to decide); the answer is immutable.
    """
    if isinstance(remittance_lines, tuple) and isinstance(structured_references, tuple):
        return _extract_cached(remittance_lines, structured_references, end_to_end_id, options)
    return _extract(remittance_lines, structured_references, end_to_end_id, options)


@functools.lru_cache(maxsize=4096)
def _extract_cached(
    remittance_lines: tuple[str, ...],
    structured_references: tuple[str, ...],
    end_to_end_id: str | None,
    options: ReferenceOptions,
) -> tuple[FoundReference, ...]:
    return _extract(remittance_lines, structured_references, end_to_end_id, options)


def _extract(
    remittance_lines: Iterable[str],
    structured_references: Iterable[str],
    end_to_end_id: str | None,
    options: ReferenceOptions,
) -> tuple[FoundReference, ...]:
    found: dict[str, FoundReference] = {}

    def merge(items: Iterable[FoundReference]) -> None:
        for item in items:
            found.setdefault(item.key, item)

    sources: list[tuple[str, str]] = [(line, "structured") for line in structured_references]
    sources += [(line, "ustrd") for line in remittance_lines]
    if end_to_end_id and end_to_end_id.upper() != "NOTPROVIDED":
        sources.append((end_to_end_id, "end_to_end"))
    patterns = options.compiled()
    for line, source in sources:
        line = line[:MAX_TEXT]
        merge(extract_text(line, source=source))
        for pattern in patterns:
            for match in pattern.finditer(line):
                text = match.groupdict().get("ref") or match.group(0)
                merge(extract_text(compact(text), source="pattern"))
        for handling in options.string_handling:
            tokens = [line] if handling.strip_spaces else line.split()
            for token in tokens:
                handled = apply_string_handling(token, handling)
                if handled:
                    merge(extract_text(handled, source="string_handling"))
    return tuple(sorted(found.values(), key=lambda f: (not f.prefixed, f.key)))
