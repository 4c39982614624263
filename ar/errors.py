"""The AR core's exceptions: one hierarchy, each carrying the ids involved.

ArError
├── MoneyError
│   ├── CurrencyError            unknown ISO 4217 code
│   ├── CurrencyMismatchError    arithmetic across currencies
│   └── AmountPrecisionError     more decimals than the currency carries
├── NotFoundError                a customer, transaction, receipt... that does not exist
├── ValidationError              an input row or command argument that is wrong
├── DuplicateError               the same source reference twice
├── ApprovalError                over a limit, or approver == requester
├── PeriodClosedError            posting into a closed period
├── PeriodCloseRefused           close checks failed
├── UnbalancedJournalError       debits != credits
└── InvariantViolation           a live-data check failed
"""

from __future__ import annotations


class ArError(Exception):
    """Root of the AR core's errors."""


class MoneyError(ArError):
    pass


class CurrencyError(MoneyError):
    def __init__(self, currency: str) -> None:
        self.currency = currency
        super().__init__(f"unknown currency {currency!r}: use an ISO 4217 code such as EUR")


class CurrencyMismatchError(MoneyError):
    def __init__(self, left: str, right: str) -> None:
        self.left, self.right = left, right
        super().__init__(f"cannot combine {left} and {right} amounts")


class AmountPrecisionError(MoneyError):
    def __init__(self, value: str, currency: str, exponent: int) -> None:
        self.value, self.currency, self.exponent = value, currency, exponent
        super().__init__(f"{value} has more decimals than {currency} carries ({exponent})")


class NotFoundError(ArError):
    def __init__(self, kind: str, key: object) -> None:
        self.kind, self.key = kind, key
        super().__init__(f"{kind} {key!r} not found")


class ValidationError(ArError):
    pass


class DuplicateError(ArError):
    pass


class ApprovalError(ArError):
    pass


class PeriodClosedError(ArError):
    def __init__(self, period: str, what: str = "posting") -> None:
        self.period = period
        super().__init__(f"period {period} is closed: {what} refused; post into an open period")


class PeriodCloseRefused(ArError):
    pass


class UnbalancedJournalError(ArError):
    pass


class InvariantViolation(ArError):
    pass
