"""Test data for the AR core: customers, invoices/debit/credit memos with their open item, receipts.

Inserts rows directly (no import pipeline) and posts the transaction's journal through
`ar.ledger.post` (Dr receivables / Cr revenue, or the reverse for a credit memo), so the
subledger and the GL agree from the start. Every helper flushes, never commits.

    make = Factory(session)
    customer = make.customer()
    invoice = make.invoice(customer, "100.00")          # -> PaymentSchedule (the open item)
    receipt = make.receipt("100.00", customer=customer) # -> Receipt (recorded, not posted)
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from ar import ledger, receipts
from ar.ledger import Posting
from ar.model import Customer, PaymentSchedule, ScheduleStatus, Transaction, TrxType
from ar.money import Money
from config.ar import ArConfig, Profile, ProfilesConfig

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
TODAY = NOW.date()


def ar_config(*, disputes_leave_matching: bool = True) -> ArConfig:
    """The default receivables configuration with a 'default' profile and a 'lenient' one.

    'default' holds disputed amounts out of matching when `disputes_leave_matching`;
    'lenient' always counts them.
    """
    held = Profile.model_validate({"open_balance": {"include_disputed": not disputes_leave_matching}})
    lenient = Profile.model_validate({"open_balance": {"include_disputed": True}})
    return ArConfig(profiles=ProfilesConfig(profiles={"default": held, "lenient": lenient}))


class Factory:
    """Builds rows in `session`; numbers are unique within one factory (and one test)."""

    def __init__(self, session: Session, *, config: ArConfig | None = None, now: datetime = NOW) -> None:
        self.session = session
        self.config = config or ar_config()
        self.now = now
        self._seq = itertools.count(1)

    def customer(self, *, profile: str = "default", number: str | None = None) -> Customer:
        n = next(self._seq)
        customer = Customer(
            number=number or f"C{n:05d}",
            name=f"Customer {n}",
            customer_class="trade",
            profile=profile,
            active=True,
            created_at=self.now,
            updated_at=self.now,
        )
        self.session.add(customer)
        self.session.flush()
        return customer

    def transaction(
        self,
        customer: Customer,
        amount: str | Decimal,
        *,
        trx_type: TrxType = TrxType.INVOICE,
        currency: str = "EUR",
        trx_date: date = TODAY,
        due_date: date | None = None,
        number: str | None = None,
        post: bool = True,
    ) -> PaymentSchedule:
        """A transaction of `amount` (positive; a credit memo is stored negative) and its open item."""
        total = Money.of(amount, currency)
        if trx_type is TrxType.CREDIT_MEMO:
            total = -abs(total)
        n = next(self._seq)
        trx = Transaction(
            trx_type=trx_type.value,
            trx_number=number or f"{trx_type.value}-{n:06d}",
            customer_id=customer.id,
            currency=currency,
            trx_date=trx_date,
            gl_date=trx_date,
            net_minor=total.minor_units,
            tax_minor=0,
            total_minor=total.minor_units,
            created_at=self.now,
        )
        self.session.add(trx)
        self.session.flush()
        item = PaymentSchedule(
            transaction_id=trx.id,
            installment=1,
            customer_id=customer.id,
            trx_type=trx.trx_type,
            trx_number=trx.trx_number,
            currency=currency,
            trx_date=trx_date,
            due_date=due_date or trx_date,
            amount_due_original_minor=total.minor_units,
            amount_due_remaining_minor=total.minor_units,
            amount_in_dispute_minor=0,
            discounts="[]",
            status=ScheduleStatus.OPEN.value,
        )
        self.session.add(item)
        self.session.flush()
        if post:
            accounts = self.config.ledger.accounts
            ledger.post(
                self.session,
                event="credit_memo" if total.is_negative() else "invoice",
                source_type="transaction",
                source_id=trx.id,
                accounting_date=trx_date,
                description=f"{trx.trx_type} {trx.trx_number}",
                postings=[
                    Posting.signed(accounts.receivables, total, customer_id=customer.id, schedule_id=item.id),
                    Posting.signed(accounts.revenue, -total, customer_id=customer.id),
                ],
                actor="test",
                now=self.now,
                calendar=self.config.calendar,
            )
        return item

    def invoice(self, customer: Customer, amount: str | Decimal, **kwargs: object) -> PaymentSchedule:
        return self.transaction(customer, amount, trx_type=TrxType.INVOICE, **kwargs)  # type: ignore[arg-type]

    def credit_memo(self, customer: Customer, amount: str | Decimal, **kwargs: object) -> PaymentSchedule:
        return self.transaction(customer, amount, trx_type=TrxType.CREDIT_MEMO, **kwargs)  # type: ignore[arg-type]

    def receipt(
        self,
        amount: str | Decimal,
        *,
        currency: str = "EUR",
        customer: Customer | None = None,
        receipt_date: date = TODAY,
        bank_account: str = "DE89370400440532013000",
    ) -> receipts.Receipt:
        """A statement receipt, recorded (not posted); with `customer` its payer is already known."""
        n = next(self._seq)
        receipt, _ = receipts.record(
            self.session,
            receipts.ReceiptInput(
                bank_account=bank_account,
                entry_ref=f"E2E-{n:06d}",
                tx_index=0,
                amount=Money.of(amount, currency),
                receipt_date=receipt_date,
                created_at=self.now,
            ),
            actor="test",
        )
        if customer is not None:
            receipt.customer_id = customer.id
            receipt.identified_by = "iban"
            self.session.flush()
        return receipt
