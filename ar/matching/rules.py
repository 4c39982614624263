"""Rule sets of the matching engine (the AutoCash rule set and AutoMatch options of Oracle
Receivables), as frozen records built from a plain mapping (the config layer loads YAML).

``RuleSet.from_mapping`` validates everything and names the bad key by its path:

>>> RuleSet.from_mapping({"name": "std", "rules": [{"rule": "reference", "partial": "sideways"}]})
Traceback (most recent call last):
...
ar.matching.rules.RuleSetError: rules[0].partial: 'sideways' is not one of oldest_first, recommend
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from ar.errors import ValidationError
from ar.matching.model import ZERO


class RuleSetError(ValidationError):
    """A rule-set mapping is invalid; ``path`` names the key (``rules[2].ties``)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class RuleKind(StrEnum):
    REFERENCE = "reference"
    MATCH_PAYMENT_WITH_INVOICE = "match_payment_with_invoice"
    CLEAR_ACCOUNT = "clear_account"
    CLEAR_PAST_DUE = "clear_past_due"
    CLEAR_PAST_DUE_BY_TERM = "clear_past_due_by_term"
    OLDEST_FIRST = "oldest_first"
    COMBINATION = "combination"
    SCORE = "score"


class PartialPolicy(StrEnum):
    OLDEST_FIRST = "oldest_first"  # apply to the referenced items, oldest due date first
    RECOMMEND = "recommend"  # leave it to a person, with the oldest-first split recommended


class TiePolicy(StrEnum):
    EARLIEST_DUE_DATE = "earliest_due_date"  # Oracle: the item with the earliest due date wins
    RECOMMEND = "recommend"  # never guess: recommend all tied items


class OverpaymentPolicy(StrEnum):
    UNAPPLIED = "unapplied"  # apply the referenced items, leave the rest unapplied on the payer
    RECOMMEND = "recommend"


class Keep(StrEnum):
    ALL = "all"
    FRONT = "front"
    BACK = "back"


# -- rules ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReferenceRule:
    """Apply to the items the remittance references."""

    partial: PartialPolicy = PartialPolicy.OLDEST_FIRST
    overpayment: OverpaymentPolicy = OverpaymentPolicy.UNAPPLIED
    kind: typing.ClassVar[RuleKind] = RuleKind.REFERENCE


@dataclass(frozen=True, slots=True)
class MatchPaymentWithInvoiceRule:
    """AutoCash: the one item whose open amount equals the receipt."""

    ties: TiePolicy = TiePolicy.RECOMMEND
    kind: typing.ClassVar[RuleKind] = RuleKind.MATCH_PAYMENT_WITH_INVOICE


@dataclass(frozen=True, slots=True)
class ClearAccountRule:
    """AutoCash: the receipt equals the customer's whole open balance."""

    kind: typing.ClassVar[RuleKind] = RuleKind.CLEAR_ACCOUNT


@dataclass(frozen=True, slots=True)
class ClearPastDueRule:
    """AutoCash: the receipt equals the sum of the past-due items."""

    kind: typing.ClassVar[RuleKind] = RuleKind.CLEAR_PAST_DUE


@dataclass(frozen=True, slots=True)
class ClearPastDueByTermRule:
    """AutoCash: the receipt equals the past-due items of one payment term."""

    ties: TiePolicy = TiePolicy.RECOMMEND
    kind: typing.ClassVar[RuleKind] = RuleKind.CLEAR_PAST_DUE_BY_TERM


@dataclass(frozen=True, slots=True)
class OldestFirstRule:
    """AutoCash: apply to the oldest items (by due date) first."""

    partial_receipts: bool = True  # False: leave what cannot close a whole item unapplied
    kind: typing.ClassVar[RuleKind] = RuleKind.OLDEST_FIRST


@dataclass(frozen=True, slots=True)
class CombinationRule:
    """Payments without remittance: a combination of open items that sums to the receipt."""

    max_items: int = 5
    node_budget: int = 200_000
    max_open_items: int = 500  # only the most recent this many items are searched
    kind: typing.ClassVar[RuleKind] = RuleKind.COMBINATION

    def __post_init__(self) -> None:
        if not 1 <= self.max_items <= 5:
            raise RuleSetError("max_items", "must be between 1 and 5")
        if self.node_budget < 1 or self.max_open_items < 1:
            raise RuleSetError("node_budget", "must be positive")


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    customer: int = 30
    reference: int = 40
    amount: int = 30


@dataclass(frozen=True, slots=True)
class ScoreRule:
    """AutoMatch: a weighted score of customer, reference and amount evidence (0..100)."""

    weights: ScoreWeights = ScoreWeights()
    auto_apply: int = 90  # at or above: apply, unless the runner-up is within ``margin``
    recommend: int = 50  # at or above: recommend
    margin: int = 5
    fuzzy_reference: int = 85  # minimum similarity of a near reference (typo) to count
    kind: typing.ClassVar[RuleKind] = RuleKind.SCORE

    def __post_init__(self) -> None:
        if not 0 <= self.recommend <= self.auto_apply <= 100:
            raise RuleSetError("auto_apply", "need 0 <= recommend <= auto_apply <= 100")
        if sum((self.weights.customer, self.weights.reference, self.weights.amount)) <= 0:
            raise RuleSetError("weights", "at least one weight must be positive")


Rule = (
    ReferenceRule
    | MatchPaymentWithInvoiceRule
    | ClearAccountRule
    | ClearPastDueRule
    | ClearPastDueByTermRule
    | OldestFirstRule
    | CombinationRule
    | ScoreRule
)

_RULE_CLASSES: dict[str, type[typing.Any]] = {
    cls.kind.value: cls
    for cls in (
        ReferenceRule,
        MatchPaymentWithInvoiceRule,
        ClearAccountRule,
        ClearPastDueRule,
        ClearPastDueByTermRule,
        OldestFirstRule,
        CombinationRule,
        ScoreRule,
    )
}


# -- options -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StringHandling:
    """AutoMatch remittance string handling: keep the front or back N characters, strip zeros/spaces."""

    keep: Keep = Keep.ALL
    chars: int = 0
    strip_zeros: bool = False  # leading zeros
    strip_spaces: bool = False

    def __post_init__(self) -> None:
        if self.keep is not Keep.ALL and self.chars < 1:
            raise RuleSetError("chars", "must be at least 1 when keeping the front or back")


@dataclass(frozen=True, slots=True)
class ReferenceOptions:
    patterns: tuple[str, ...] = ()  # regexes; group "ref" (or the whole match) is the reference
    min_bare_digits: int = 4  # a number without prefix counts only with this many significant digits
    string_handling: tuple[StringHandling, ...] = ()

    def __post_init__(self) -> None:
        for index, pattern in enumerate(self.patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise RuleSetError(f"patterns[{index}]", f"invalid regex: {exc}") from None

    def compiled(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p, re.IGNORECASE) for p in self.patterns)


@dataclass(frozen=True, slots=True)
class Tolerance:
    """Short payments that may be written off: both limits hold when both are set."""

    amount: Decimal = ZERO  # absolute, in the receipt currency; 0 = no absolute limit set
    percent: Decimal = ZERO  # of the open amount; 0 = no percent limit set
    max_write_off: tuple[tuple[str, Decimal], ...] = ()  # per currency; a missing currency allows none

    def write_off_limit(self, currency: str) -> Decimal:
        for code, limit in self.max_write_off:
            if code == currency:
                return limit
        return ZERO

    def allows(self, shortfall: Decimal, open_amount: Decimal, currency: str) -> bool:
        """Whether ``shortfall`` (> 0) of ``open_amount`` may be written off."""
        if shortfall <= 0:
            return shortfall == 0
        if self.amount == 0 and self.percent == 0:
            return False
        if self.amount > 0 and shortfall > self.amount:
            return False
        if self.percent > 0 and shortfall * 100 > open_amount * self.percent:
            return False
        return shortfall <= self.write_off_limit(currency)


@dataclass(frozen=True, slots=True)
class OpenBalanceOptions:
    """What counts in an item's open balance for the AutoCash rules (Oracle's rule-set options)."""

    include_disputed: bool = False
    include_late_charges: bool = True
    count_discounts: bool = True  # an earned discount lowers the balance the receipt must equal
    discount_grace_days: int = 0


@dataclass(frozen=True, slots=True)
class IdentificationOptions:
    name_threshold: int = 88  # rapidfuzz similarity for a name to count as (weak) evidence
    allow_unrelated_payer: bool = False  # apply a known payer's receipt to an unrelated customer's items


DEFAULT_RULES: tuple[Rule, ...] = (
    ReferenceRule(),
    MatchPaymentWithInvoiceRule(),
    ClearAccountRule(),
    ClearPastDueRule(),
    ClearPastDueByTermRule(),
    CombinationRule(),
    ScoreRule(),
)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules, in order, and their options for one customer profile."""

    name: str
    rules: tuple[Rule, ...] = DEFAULT_RULES
    tolerance: Tolerance = Tolerance()
    open_balance: OpenBalanceOptions = OpenBalanceOptions()
    references: ReferenceOptions = ReferenceOptions()
    identification: IdentificationOptions = IdentificationOptions()

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> RuleSet:
        """Build from a plain mapping (YAML); ``RuleSetError`` names the bad key."""
        result = _build(cls, data, "")
        assert isinstance(result, RuleSet)
        return result

    def score_rule(self) -> ScoreRule:
        for rule in self.rules:
            if isinstance(rule, ScoreRule):
                return rule
        return ScoreRule()


# -- the mapping -> record builder ----------------------------------------------------


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _build(cls: type[typing.Any], data: object, path: str) -> object:
    if not isinstance(data, Mapping):
        raise RuleSetError(path, f"expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, object] = {}
    for key, value in data.items():
        if not isinstance(key, str) or key not in fields:
            allowed = ", ".join(sorted(fields))
            raise RuleSetError(_join(path, str(key)), f"unknown key (allowed: {allowed})")
        kwargs[key] = _convert(hints[key], value, _join(path, key), key)
    if "name" in fields and fields["name"].default is dataclasses.MISSING and "name" not in kwargs:
        raise RuleSetError(_join(path, "name"), "is required")
    try:
        return cls(**kwargs)
    except RuleSetError as exc:
        raise RuleSetError(_join(path, exc.path), str(exc).split(": ", 1)[-1]) from None


def _convert(hint: object, value: object, path: str, key: str) -> object:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Decimal:
        if isinstance(value, (bool, float)):
            raise RuleSetError(path, "write amounts as strings or integers, never floats")
        if not isinstance(value, str | int | Decimal):
            raise RuleSetError(path, f"expected a decimal number, got {type(value).__name__}")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise RuleSetError(path, f"{value!r} is not a decimal number") from None
        if not number.is_finite() or number < 0:
            raise RuleSetError(path, "must be a non-negative number")
        return number
    if hint is bool:
        if not isinstance(value, bool):
            raise RuleSetError(path, f"expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RuleSetError(path, f"expected an integer, got {value!r}")
        if value < 0:
            raise RuleSetError(path, "must not be negative")
        return value
    if hint is str:
        if not isinstance(value, str) or not value:
            raise RuleSetError(path, f"expected a non-empty string, got {value!r}")
        return value
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        try:
            return hint(str(value)) if isinstance(value, str) else hint(value)  # type: ignore[arg-type]
        except ValueError:
            choices = ", ".join(m.value for m in hint)
            raise RuleSetError(path, f"{value!r} is not one of {choices}") from None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    if key == "max_write_off":
        if not isinstance(value, Mapping):
            raise RuleSetError(path, "expected a mapping of currency to amount")
        pairs = []
        for code, amount in sorted(value.items(), key=lambda kv: str(kv[0])):
            if not isinstance(code, str) or len(code) != 3 or not code.isupper():
                raise RuleSetError(_join(path, str(code)), "expected an ISO 4217 currency code")
            pairs.append((code, _convert(Decimal, amount, _join(path, code), code)))
        return tuple(pairs)
    if key == "rules":
        if not isinstance(value, list | tuple) or not value:
            raise RuleSetError(path, "expected a non-empty list of rules")
        rules = []
        for index, item in enumerate(value):
            item_path = _join(path, index)
            if not isinstance(item, Mapping) or "rule" not in item:
                raise RuleSetError(item_path, "each rule is a mapping with a 'rule' key")
            kind = item["rule"]
            if kind not in _RULE_CLASSES:
                raise RuleSetError(
                    _join(item_path, "rule"), f"{kind!r} is not one of {', '.join(_RULE_CLASSES)}"
                )
            options = {k: v for k, v in item.items() if k != "rule"}
            rules.append(_build(_RULE_CLASSES[str(kind)], options, item_path))
        return tuple(rules)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, list | tuple):
            raise RuleSetError(path, f"expected a list, got {type(value).__name__}")
        return tuple(_convert(args[0], v, _join(path, i), key) for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        raise RuleSetError(path, "unsupported option type")  # pragma: no cover - no such field today
    raise RuleSetError(path, f"unsupported option type {hint!r}")  # pragma: no cover
