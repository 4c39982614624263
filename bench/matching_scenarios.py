"""Seeded generator of labelled cash-application scenarios for the matching quality benchmark.

Each scenario is one payment with the TRUE applications (what a careful person would
apply), in a difficulty class. ``generate`` gives (a) in-memory ``CustomerFacts``,
``OpenItem``s and ``ReceiptFacts`` for the pure engine and (b) through ``describe``, a
plain description (customers, invoices, payments) from which the integrator renders a
customers CSV, transactions and a camt.053 to run the same scenarios end to end.

Every customer of a scenario is its own (so "clear the account" is well defined) and
has other open items beside the ones paid: the engine must find the right ones among
them. Background customers (``extra_customers``) only make the ledger big.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from stdnum.iso7064 import mod_97_10

from ar.matching.model import CustomerFacts, DiscountTier, OpenItem, ReceiptFacts, TrxType

CLASSES = (
    "exact_reference",
    "noisy_reference",
    "rf_reference",
    "several_invoices",
    "no_remittance",
    "clear_account",
    "short_bank_fee",
    "early_discount",
    "partial_payment",
    "parent_pays_child",
    "unknown_payer",
    "same_amount",
)
# Classes where no application is right: leaving the receipt unapplied/recommended is the right answer.
HOLD_CLASSES = frozenset({"unknown_payer", "same_amount"})

BOOKING_DATE = date(2024, 6, 14)
CURRENCY = "EUR"
CENT = Decimal("0.01")
TERMS: dict[str, tuple[int, tuple[DiscountTier, ...]]] = {
    "NET30": (30, ()),
    "NET60": (60, ()),
    "2/10NET30": (30, (DiscountTier(days=10, percent=Decimal(2)),)),
}
_FIRST = (
    "Nord Sud Ost West Alpen Rhein Main Elb Donau Berg Tal Hafen Stadt Land Wald Feld Stern Licht".split()
)
_SECOND = (
    "bau tech logistik handel metall werk plast chemie food pharma textil druck energie holz glas".split()
)
_FORMS = ("GmbH", "AG", "GmbH & Co. KG", "SE", "e.K.", "KG")
_CITIES = ("Berlin", "Hamburg", "Muenchen", "Koeln", "Frankfurt", "Stuttgart", "Leipzig", "Bremen")


@dataclass(frozen=True, slots=True)
class TrueApplication:
    item_id: str
    trx_number: str
    amount: Decimal  # cash
    write_off: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Scenario:
    klass: str
    receipt: ReceiptFacts
    truth: tuple[TrueApplication, ...]  # empty: nothing may be applied
    customer_id: str | None  # the true payer, None when not a customer


@dataclass(slots=True)
class World:
    seed: int
    customers: list[CustomerFacts] = field(default_factory=list)
    items: list[OpenItem] = field(default_factory=list)
    scenarios: list[Scenario] = field(default_factory=list)


def iban(rng: random.Random) -> str:
    """A German IBAN with a valid check (random bank code and account)."""
    bban = "".join(rng.choice("0123456789") for _ in range(18))
    check = 98 - int(bban + "131400") % 97
    return f"DE{check:02d}{bban}"


def rf_reference(body: str) -> str:
    """An ISO 11649 creditor reference for ``body`` (letters and digits)."""
    return f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"


def spaced(text: str) -> str:
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.world = World(seed)
        self.next_customer = 1
        self.next_invoice = 1
        self.next_credit = 1

    # -- master data -------------------------------------------------------------
    def name(self) -> str:
        rng = self.rng
        return f"{rng.choice(_FIRST)}{rng.choice(_SECOND)} {rng.choice(_FIRST)} {rng.choice(_FORMS)}"

    def customer(self, *, parent: CustomerFacts | None = None, with_iban: bool = True) -> CustomerFacts:
        number = f"C{self.next_customer:06d}"
        self.next_customer += 1
        ibans = (iban(self.rng),) if with_iban else ()
        if with_iban and self.rng.random() < 0.1:
            ibans += (iban(self.rng),)
        customer = CustomerFacts(
            customer_id=number,
            number=number,
            name=self.name(),
            ibans=ibans,
            parent_id=parent.customer_id if parent else None,
            profile="standard",
        )
        self.world.customers.append(customer)
        return customer

    def amount(self) -> Decimal:
        # log-uniform 40 .. 25,000 with cents, as invoice amounts are
        value = 10 ** self.rng.uniform(1.6, 4.4)
        return Decimal(str(round(value, 2))).quantize(CENT)

    def invoice(
        self,
        customer: CustomerFacts,
        *,
        amount: Decimal | None = None,
        term: str | None = None,
        age_days: int | None = None,
        with_rf: bool = False,
        remaining: Decimal | None = None,
    ) -> OpenItem:
        rng = self.rng
        term = term or rng.choice(("NET30", "NET30", "NET60", "2/10NET30"))
        days, discounts = TERMS[term]
        age = age_days if age_days is not None else rng.randint(1, 120)
        trx_date = BOOKING_DATE - timedelta(days=age)
        number = f"INV-{self.next_invoice:06d}"
        self.next_invoice += 1
        original = amount if amount is not None else self.amount()
        item = OpenItem(
            item_id=f"I{number[4:]}",
            trx_number=number,
            customer_id=customer.customer_id,
            currency=CURRENCY,
            amount_due_original=original,
            amount_due_remaining=remaining if remaining is not None else original,
            trx_date=trx_date,
            due_date=trx_date + timedelta(days=days),
            discounts=discounts,
            payment_term=term,
            references=(rf_reference(number.replace("-", "")),) if with_rf else (),
        )
        self.world.items.append(item)
        return item

    def credit_memo(self, customer: CustomerFacts) -> OpenItem:
        number = f"CM-{self.next_credit:05d}"
        self.next_credit += 1
        amount = (self.amount() / 5).quantize(CENT)
        trx_date = BOOKING_DATE - timedelta(days=self.rng.randint(1, 60))
        item = OpenItem(
            item_id=f"M{number[3:]}",
            trx_number=number,
            customer_id=customer.customer_id,
            currency=CURRENCY,
            amount_due_original=-amount,
            amount_due_remaining=-amount,
            trx_date=trx_date,
            due_date=trx_date,
            payment_term="IMMEDIATE",
            trx_type=TrxType.CREDIT_MEMO,
        )
        self.world.items.append(item)
        return item

    def background(self, customer: CustomerFacts, low: int = 0, high: int = 8) -> list[OpenItem]:
        items = [self.invoice(customer) for _ in range(self.rng.randint(low, high))]
        if self.rng.random() < 0.08:
            items.append(self.credit_memo(customer))
        return items

    # -- how payers write -------------------------------------------------------------
    def payer_name(self, customer: CustomerFacts) -> str:
        rng = self.rng
        variant = rng.random()
        if variant < 0.4:
            return customer.name
        if variant < 0.6:
            return customer.name.upper()
        if variant < 0.8:
            return customer.name.rsplit(" ", 1)[0] + " " + rng.choice(_CITIES)
        return customer.name.split(" ")[0]

    def payer_iban(self, customer: CustomerFacts, known: float) -> str:
        if customer.ibans and self.rng.random() < known:
            return self.rng.choice(customer.ibans)
        return iban(self.rng)  # an account we have never seen

    def filler(self) -> str:
        return self.rng.choice(
            (
                "",
                "",
                f"Kd-Nr {self.rng.randint(1000, 99999)}",
                f"vom {self.rng.randint(1, 28):02d}.{self.rng.randint(1, 12):02d}.2024",
                "Vielen Dank",
                "SEPA Ueberweisung",
            )
        )

    def noisy(self, number: str) -> str:
        digits = number.split("-")[1]
        rng = self.rng
        forms: list[Callable[[], str]] = [
            lambda: number.lower(),
            lambda: number.replace("-", ""),
            lambda: number.replace("-", " "),
            lambda: number.replace("-", "/"),
            lambda: f"INV-{int(digits)}",
            lambda: f"Rechnung {digits}",
            lambda: f"RE {int(digits)}",
            lambda: f"Invoice no. {number.replace('-', '.')}",
            lambda: number.replace("0", "O", 2),
            lambda: f"{digits} {self.filler()}",
            lambda: f"INV{digits}/{rng.randint(1, 9)}",
            lambda: f"ZAHLUNG {number} {self.filler()}",
        ]
        return rng.choice(forms)()

    def receipt(
        self,
        index: int,
        amount: Decimal,
        customer: CustomerFacts | None,
        *,
        known_iban: float = 0.9,
        ustrd=(),
    ) -> ReceiptFacts:
        rng = self.rng
        return ReceiptFacts(
            receipt_id=f"R{index:06d}",
            amount=amount,
            currency=CURRENCY,
            receipt_date=BOOKING_DATE,
            debtor_iban=self.payer_iban(customer, known_iban) if customer else iban(rng),
            debtor_name=self.payer_name(customer) if customer else self.name(),
            remittance_lines=tuple(line for line in ustrd if line),
            end_to_end_id=rng.choice(("NOTPROVIDED", f"E2E{rng.randint(10**8, 10**9)}")),
        )

    # -- the classes -------------------------------------------------------------------
    def scenario(self, index: int, klass: str) -> Scenario:
        rng = self.rng
        if klass == "parent_pays_child":
            parent = self.customer()
            child = self.customer(parent=parent, with_iban=rng.random() < 0.5)
            self.background(parent, 0, 4)
            self.background(child, 0, 4)
            target = self.invoice(child)
            if rng.random() < 0.75:
                ustrd: tuple[str, ...] = (f"{target.trx_number} {child.name}",)
            else:
                ustrd = ()
            receipt = self.receipt(index, target.amount_due_remaining, parent, known_iban=1.0, ustrd=ustrd)
            return Scenario(klass, receipt, (_full(target),), parent.customer_id)

        if klass == "unknown_payer":
            amount = self.amount()
            if rng.random() < 0.25 and self.world.items:
                amount = rng.choice(self.world.items).amount_due_remaining.copy_abs()
            ustrd = (rng.choice(("Spende", "Mitgliedsbeitrag 2024", f"Auftrag {rng.randint(10, 99)}", "")),)
            return Scenario(klass, self.receipt(index, amount, None, ustrd=ustrd), (), None)

        customer = self.customer()
        others = self.background(customer)
        if klass == "exact_reference":
            target = self.invoice(customer)
            ustrd = (rng.choice((target.trx_number, f"Invoice {target.trx_number}")), self.filler())
            receipt = self.receipt(index, target.amount_due_remaining, customer, ustrd=ustrd)
            return Scenario(klass, receipt, (_full(target),), customer.customer_id)
        if klass == "noisy_reference":
            target = self.invoice(customer)
            receipt = self.receipt(
                index, target.amount_due_remaining, customer, ustrd=(self.noisy(target.trx_number),)
            )
            return Scenario(klass, receipt, (_full(target),), customer.customer_id)
        if klass == "rf_reference":
            target = self.invoice(customer, with_rf=True)
            rf = target.references[0]
            if rng.random() < 0.5:
                receipt = self.receipt(
                    index, target.amount_due_remaining, customer, known_iban=0.6, ustrd=(spaced(rf),)
                )
            else:
                receipt = self.receipt(index, target.amount_due_remaining, customer, known_iban=0.6)
                receipt = _with(receipt, structured_references=(rf,))
            return Scenario(klass, receipt, (_full(target),), customer.customer_id)
        if klass == "several_invoices":
            targets = [self.invoice(customer) for _ in range(rng.randint(2, 4))]
            refs = [t.trx_number if rng.random() < 0.6 else self.noisy(t.trx_number) for t in targets]
            ustrd = (", ".join(refs),) if rng.random() < 0.7 else tuple(refs)
            total = sum((t.amount_due_remaining for t in targets), Decimal(0))
            receipt = self.receipt(index, total, customer, ustrd=ustrd)
            return Scenario(klass, receipt, tuple(_full(t) for t in targets), customer.customer_id)
        if klass == "no_remittance":
            targets = [self.invoice(customer) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
            total = sum((t.amount_due_remaining for t in targets), Decimal(0))
            receipt = self.receipt(
                index, total, customer, known_iban=0.92, ustrd=(rng.choice(("", "Zahlung")),)
            )
            return Scenario(klass, receipt, tuple(_full(t) for t in targets), customer.customer_id)
        if klass == "clear_account":
            targets = others + [self.invoice(customer) for _ in range(rng.randint(2, 4))]
            total = sum((t.amount_due_remaining for t in targets), Decimal(0))
            ustrd = (rng.choice(("", "Kontoausgleich", "Saldo per 31.05.")),)
            receipt = self.receipt(index, total, customer, known_iban=0.95, ustrd=ustrd)
            return Scenario(klass, receipt, tuple(_full(t) for t in targets), customer.customer_id)
        if klass == "short_bank_fee":
            target = self.invoice(customer)
            fee = rng.choice(
                (Decimal("0.35"), Decimal("1.50"), Decimal("2.50"), Decimal("5.00"), Decimal("12.00"))
            )
            ustrd = (rng.choice((target.trx_number, self.noisy(target.trx_number))),)
            receipt = self.receipt(index, target.amount_due_remaining - fee, customer, ustrd=ustrd)
            truth = TrueApplication(target.item_id, target.trx_number, target.amount_due_remaining - fee, fee)
            return Scenario(klass, receipt, (truth,), customer.customer_id)
        if klass == "early_discount":
            target = self.invoice(customer, term="2/10NET30", age_days=rng.randint(0, 10))
            discount = (target.amount_due_original * Decimal("0.02")).quantize(CENT, rounding=ROUND_HALF_UP)
            ustrd = (target.trx_number + " abzgl. 2% Skonto",) if rng.random() < 0.8 else ()
            receipt = self.receipt(index, target.amount_due_remaining - discount, customer, ustrd=ustrd)
            truth = TrueApplication(target.item_id, target.trx_number, target.amount_due_remaining - discount)
            return Scenario(klass, receipt, (truth,), customer.customer_id)
        if klass == "partial_payment":
            target = self.invoice(customer)
            part = (target.amount_due_remaining * Decimal(rng.randint(20, 80)) / 100).quantize(CENT)
            ustrd = (rng.choice((f"Teilzahlung {target.trx_number}", f"{target.trx_number} 1. Rate")),)
            receipt = self.receipt(index, part, customer, ustrd=ustrd)
            return Scenario(
                klass,
                receipt,
                (TrueApplication(target.item_id, target.trx_number, part),),
                customer.customer_id,
            )
        if klass == "same_amount":
            amount = self.amount()
            self.invoice(customer, amount=amount)
            self.invoice(customer, amount=amount)
            receipt = self.receipt(
                index, amount, customer, known_iban=1.0, ustrd=(rng.choice(("", "Zahlung")),)
            )
            return Scenario(klass, receipt, (), customer.customer_id)
        raise ValueError(klass)


def _full(item: OpenItem) -> TrueApplication:
    return TrueApplication(item.item_id, item.trx_number, item.amount_due_remaining)


def _with(receipt: ReceiptFacts, **changes: object) -> ReceiptFacts:
    from dataclasses import replace

    return replace(receipt, **changes)  # type: ignore[arg-type]


def generate(
    scenarios: int = 5000, *, seed: int = 20240614, extra_customers: int = 0, items_per_extra: int = 20
) -> World:
    """``scenarios`` payments spread evenly over the classes, plus background customers."""
    builder = _Builder(seed)
    for index in range(scenarios):
        klass = CLASSES[index % len(CLASSES)]
        builder.world.scenarios.append(builder.scenario(index, klass))
    for _ in range(extra_customers):
        customer = builder.customer()
        for _ in range(items_per_extra):
            builder.invoice(customer)
    return builder.world


def describe(world: World) -> dict[str, list[dict[str, object]]]:
    """The plain description: customers, invoices and payments (with the expected applications),
    for rendering a customers CSV, transactions and a camt.053 for an end-to-end run."""
    by_id = {c.customer_id: c for c in world.customers}
    customers = [
        {
            "customer_number": c.number,
            "name": c.name,
            "class": "standard",
            "profile": c.profile,
            "parent_number": by_id[c.parent_id].number if c.parent_id else "",
            "iban": ";".join(c.ibans),
        }
        for c in world.customers
    ]
    invoices = [
        {
            "trx_number": i.trx_number,
            "customer_number": by_id[i.customer_id].number,
            "trx_type": str(i.trx_type),
            "trx_date": i.trx_date.isoformat(),
            "due_date": i.due_date.isoformat(),
            "payment_term": i.payment_term,
            "amount": str(i.amount_due_original),
            "currency": i.currency,
            "references": list(i.references),
        }
        for i in world.items
    ]
    payments = [
        {
            "receipt_id": s.receipt.receipt_id,
            "class": s.klass,
            "booking_date": s.receipt.receipt_date.isoformat(),
            "amount": str(s.receipt.amount),
            "currency": s.receipt.currency,
            "debtor_iban": s.receipt.debtor_iban,
            "debtor_name": s.receipt.debtor_name,
            "remittance_unstructured": list(s.receipt.remittance_lines),
            "creditor_references": list(s.receipt.structured_references),
            "end_to_end_id": s.receipt.end_to_end_id,
            "expected": [
                {"trx_number": t.trx_number, "amount": str(t.amount), "write_off": str(t.write_off)}
                for t in s.truth
            ],
        }
        for s in world.scenarios
    ]
    return {"customers": customers, "invoices": invoices, "payments": payments}
