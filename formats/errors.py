"""Errors and problems of the ``formats`` layer: one exception tree, problems as values.

A problem in an input file is a :class:`Problem` value with a code and a place
(file, line, XPath). A parse that cannot accept a file raises a subclass of
:class:`FormatError` carrying *every* problem it collected, not just the first::

    FormatError                      every error raised by formats/
     ├── UnknownFormatError          no adapter / profile recognises the bytes (CAMT-E004)
     ├── MalformedInputError         not well-formed XML: truncated, binary, bad syntax (CAMT-E001)
     ├── HostileInputError           DOCTYPE / entities, or a size, depth or length cap hit
     │    └── LimitExceededError     file size, bytes per entry, text length, problem count (CAMT-E003)
     ├── InvalidContentError         well-formed but wrong content: missing Amt, impossible amount...
     └── SchemaUnavailableError      an XSD of the package cannot be loaded (a packaging bug)

``str(problem)`` renders like
``stmt.xml:412: CAMT-E012 Ntry/Amt is missing (/Document/BkToCstmrStmt/Stmt[1]/Ntry[17])``.

>>> path = "/Document/BkToCstmrStmt/Stmt[1]/Ntry[17]"
>>> p = Problem("CAMT-E012", "Ntry/Amt is missing", "stmt.xml", 412, path)
>>> str(p)
'stmt.xml:412: CAMT-E012 Ntry/Amt is missing (/Document/BkToCstmrStmt/Stmt[1]/Ntry[17])'
>>> err = InvalidContentError("stmt.xml", (p,))
>>> isinstance(err, FormatError), err.source, len(err.problems)
(True, 'stmt.xml', 1)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"  # the file is refused
    WARNING = "warning"  # the file is accepted; the problem is reported beside the records


# Problem codes. E = error (refuses the file), W = warning (kept beside the records).
CODES: dict[str, str] = {
    "CAMT-E001": "not well-formed XML (truncated, binary, syntax error)",
    "CAMT-E002": "DOCTYPE / entity declarations are refused",
    "CAMT-E003": "a size limit was exceeded (file, entry, text length, depth, problem count)",
    "CAMT-E004": "unknown document: root element or namespace is not camt.052/053/054",
    "CAMT-E010": "impossible amount (negative, not a number, more than 5 decimals, too long)",
    "CAMT-E011": "invalid or missing currency code",
    "CAMT-E012": "a required element is missing",
    "CAMT-E013": "invalid credit/debit indicator",
    "CAMT-E014": "invalid date or date-time",
    "CAMT-E015": "invalid or unsupported code (entry status, boolean, number)",
    "CAMT-W001": "opening balance + booked entries != closing balance",
    "CAMT-W002": "creditor reference fails its check digits (ISO 11649 RF or Swiss QRR)",
    "CAMT-W003": "unknown balance type code (kept as proprietary)",
    "CAMT-W004": "batch total or count does not match its transactions",
    "CAMT-W005": "an entry's only transaction has another amount than the entry, same currency",
    "XSD-E001": "the document does not validate against the official XSD",
    "XSD-E002": "no official XSD for the document's namespace",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, and where."""

    code: str  # e.g. "CAMT-E012"; see CODES
    message: str
    source: str  # file name as given by the caller
    line: int | None  # 1-based line in the source, when known
    path: str | None  # XPath by local names, e.g. /Document/BkToCstmrStmt/Stmt[1]/Ntry[17]
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        tail = f" ({self.path})" if self.path else ""
        return f"{where}: {self.code} {self.message}{tail}"


class FormatError(Exception):
    """Root of every error raised by ``formats``; carries all the problems found."""

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(source, self.problems)

    def __str__(self) -> str:
        if not self.problems:
            return f"{self.source}: {type(self).__name__}"
        lines = [str(p) for p in self.problems[:20]]
        if len(self.problems) > 20:
            lines.append(f"... and {len(self.problems) - 20} more problems")
        return "\n".join(lines)


class UnknownFormatError(FormatError):
    """The bytes are not a document this adapter (or any registered one) understands."""


class MalformedInputError(FormatError):
    """Not well-formed XML: truncated, binary, encoding or syntax error."""


class HostileInputError(FormatError):
    """A DOCTYPE / entity declaration, or another construct refused for safety."""


class LimitExceededError(HostileInputError):
    """A configured cap was hit: file size, bytes per entry, text length, depth, problem count."""


class InvalidContentError(FormatError):
    """Well-formed XML whose content is wrong: missing element, impossible amount, bad code..."""


class SchemaUnavailableError(FormatError):
    """An XSD shipped in ``schemas`` could not be loaded or compiled."""
