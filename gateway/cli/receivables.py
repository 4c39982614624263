"""Receipts, applications, disputes and adjustments from the command line.

    arbridge receipts add --customer C --amount 100.00 --currency EUR --date D [--reference R]
    arbridge receipts list [--status S] [--json] | show RECEIPT [--json]
    arbridge receipts apply RECEIPT TRX --amount A [--discount D] [--write-off W]
    arbridge receipts unapply APPLICATION | on-account RECEIPT --amount A | reverse RECEIPT --reason CODE
    arbridge disputes open TRX --amount A --reason R [--comment ...] | list [--open] [--json]
    arbridge disputes resolve ID --by credit-memo|debit-memo|refund|withdraw
    arbridge disputes approve ID | reject ID --reason R
    arbridge adjustments create TRX --amount A --activity NAME | approve ID | reject ID --reason R
    arbridge adjustments list [--pending] [--json]

The acting user is `--user`, else $ARBRIDGE_USER, else the OS user name; approval limits
are theirs (approvals.yaml). Exit status: 0 ok, 1 refused (over a limit, over-application,
unknown receipt...), 2 usage or configuration error.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from ar import adjustments, applications, disputes, receipts
from ar.applications import MadeBy, Setup
from ar.errors import ArError, NotFoundError, ValidationError
from ar.model import Customer, PaymentSchedule
from ar.money import Money
from ar.receipts import Receipt, ReceiptStatus
from config.directory import Configuration
from gateway.cli.runtime import EXIT_REJECTED, Runtime, fail, pass_runtime, print_json, print_table

T = TypeVar("T")


def setup_from(config: Configuration) -> Setup:
    """The services' Setup from a loaded configuration (accounts, calendar, profiles, limits)."""
    cash = {
        account.iban: account.gl_cash_account
        for bank in config.banks.values()
        for account in bank.accounts
        if account.gl_cash_account
    }
    return Setup(ar=config.ar, approvals=config.approvals, cash_accounts=cash)


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


user_option = click.option(
    "--user",
    "user",
    envvar="ARBRIDGE_USER",
    default=_default_user,
    show_default="$ARBRIDGE_USER, else the OS user",
    help="The acting user (approval limits are theirs).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _now() -> datetime:
    return datetime.now(UTC)


def _run(rt: Runtime, work: Callable[[Session, Setup], T]) -> T:
    """Run `work` in one transaction; an AR refusal rolls back and exits 1 with its message."""
    setup = setup_from(rt.config)
    try:
        with rt.transaction() as session:
            return work(session, setup)
    except ArError as exc:
        fail(str(exc), EXIT_REJECTED)


def _money(text: str, currency: str) -> Money:
    try:
        return Money.of(text, currency)
    except ArError as exc:
        raise click.BadParameter(str(exc)) from None


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _customer(session: Session, number: str) -> Customer:
    customer = session.scalars(select(Customer).where(Customer.number == number)).one_or_none()
    if customer is None:
        raise NotFoundError("customer", number)
    return customer


def _item(session: Session, trx_number: str, installment: int | None) -> PaymentSchedule:
    stmt = select(PaymentSchedule).where(PaymentSchedule.trx_number == trx_number)
    if installment is not None:
        stmt = stmt.where(PaymentSchedule.installment == installment)
    items: Sequence[PaymentSchedule] = session.scalars(stmt.order_by(PaymentSchedule.id)).all()
    if not items:
        raise NotFoundError("transaction", trx_number)
    if len(items) > 1:
        raise ValidationError(
            f"{trx_number} has {len(items)} installments (or types): choose one with --installment"
        )
    return items[0]


installment_option = click.option("--installment", type=int, help="The installment, when there are several.")


# --------------------------------------------------------------------------- receipts
@click.group("receipts")
def receipts_group() -> None:
    """Receipts: add manual ones, list, apply, unapply, put on account, reverse."""


def _receipt_row(session: Session, receipt: Receipt) -> dict[str, Any]:
    amounts = applications.open_amounts(session, receipt.id)
    customer = session.get(Customer, receipt.customer_id) if receipt.customer_id else None
    return {
        "id": receipt.id,
        "date": receipt.receipt_date,
        "source": receipt.source,
        "status": receipt.status,
        "customer": customer.number if customer else None,
        "reference": receipt.entry_ref,
        "amount": amounts.amount.format(),
        "unapplied": amounts.unapplied.format(),
        "currency": receipt.currency,
        "reversal_reason": receipt.reversal_reason,
    }


@receipts_group.command("add")
@click.option("--customer", "customer_number", required=True, help="The paying customer's number.")
@click.option("--amount", required=True)
@click.option("--currency", required=True)
@click.option("--date", "receipt_date", required=True, help="Receipt date, YYYY-MM-DD.")
@click.option("--reference", help="Cheque number or other reference (unique per bank account).")
@click.option("--bank-account", help="The configured bank account (IBAN) it arrived on.")
@user_option
@json_option
@pass_runtime
def receipts_add(
    rt: Runtime,
    customer_number: str,
    amount: str,
    currency: str,
    receipt_date: str,
    reference: str | None,
    bank_account: str | None,
    user: str,
    as_json: bool,
) -> None:
    """Record and post a manual receipt of a known customer (Dr cash / Cr unapplied)."""
    money, day = _money(amount, currency), _date(receipt_date)
    if bank_account is not None and rt.config.account(bank_account) is None:
        fail(f"bank account {bank_account} is not configured in banks/*.yaml")

    def work(session: Session, setup: Setup) -> dict[str, Any]:
        now = _now()
        receipt = receipts.record_manual(
            session,
            customer_id=_customer(session, customer_number).id,
            amount=money,
            receipt_date=day,
            now=now,
            actor=user,
            reference=reference,
            bank_account=bank_account,
        )
        applications.post_receipt(session, receipt.id, setup=setup, actor=user, now=now)
        return _receipt_row(session, receipt)

    row = _run(rt, work)
    if as_json:
        print_json(row)
    else:
        click.echo(f"receipt {row['id']} {row['amount']} {row['currency']} from {customer_number}: unapplied")


@receipts_group.command("list")
@click.option("--status", type=click.Choice([s.value for s in ReceiptStatus]))
@json_option
@pass_runtime
def receipts_list(rt: Runtime, status: str | None, as_json: bool) -> None:
    """Receipts, oldest first, with what is still unapplied."""

    def work(session: Session, setup: Setup) -> list[dict[str, Any]]:
        stmt = select(Receipt).order_by(Receipt.id)
        if status:
            stmt = stmt.where(Receipt.status == status)
        return [_receipt_row(session, r) for r in session.scalars(stmt)]

    rows = _run(rt, work)
    if as_json:
        print_json(rows)
    else:
        print_table(
            rows,
            ["id", "date", "source", "status", "customer", "reference", "amount", "unapplied", "currency"],
        )


@receipts_group.command("show")
@click.argument("receipt_id", type=int)
@json_option
@pass_runtime
def receipts_show(rt: Runtime, receipt_id: int, as_json: bool) -> None:
    """Where a receipt's money is, and its active applications."""

    def work(session: Session, setup: Setup) -> dict[str, Any]:
        receipt = applications.get_receipt(session, receipt_id)
        data = _receipt_row(session, receipt) | applications.open_amounts(session, receipt_id).as_dict()
        data["applications"] = [
            {
                "id": a.id,
                "status": a.status,
                "trx_number": (
                    session.get(PaymentSchedule, a.schedule_id).trx_number  # type: ignore[union-attr]
                    if a.schedule_id
                    else None
                ),
                "amount": a.amount.format(),
                "discount": a.discount.format(),
                "write_off": a.write_off.format(),
                "activity": a.activity,
                "rule": a.rule,
                "score": a.score,
                "made_by": a.made_by,
                "actor": a.actor,
            }
            for a in applications.applications(session, receipt_id)
        ]
        return data

    data = _run(rt, work)
    if as_json:
        print_json(data)
        return
    click.echo(f"receipt {data['id']} {data['amount']} {data['currency']} {data['status']}")
    for key in ("applied", "unapplied", "on_account", "unidentified", "activity"):
        click.echo(f"  {key:<13} {data[key]:>14}")
    print_table(
        data["applications"], ["id", "status", "trx_number", "amount", "discount", "write_off", "rule"]
    )


@receipts_group.command("apply")
@click.argument("receipt_id", type=int)
@click.argument("trx_number")
@click.option("--amount", required=True)
@click.option("--discount")
@click.option("--write-off")
@installment_option
@user_option
@pass_runtime
def receipts_apply(
    rt: Runtime,
    receipt_id: int,
    trx_number: str,
    amount: str,
    discount: str | None,
    write_off: str | None,
    installment: int | None,
    user: str,
) -> None:
    """Apply part of a receipt to an invoice or debit memo (a negative amount consumes a credit memo)."""

    def work(session: Session, setup: Setup) -> str:
        receipt = applications.get_receipt(session, receipt_id)
        cur = receipt.currency
        item = _item(session, trx_number, installment)
        app = applications.apply(
            session,
            receipt_id,
            item.id,
            _money(amount, cur),
            discount=_money(discount, cur) if discount else None,
            write_off=_money(write_off, cur) if write_off else None,
            rule="manual",
            evidence={"entered_by": user},
            setup=setup,
            actor=user,
            now=_now(),
            made_by=MadeBy.USER,
        )
        return f"application {app.id}: {app.amount} of receipt {receipt_id} to {trx_number}"

    click.echo(_run(rt, work))


@receipts_group.command("unapply")
@click.argument("application_id", type=int)
@click.option("--reason")
@user_option
@pass_runtime
def receipts_unapply(rt: Runtime, application_id: int, reason: str | None, user: str) -> None:
    """Undo an application (or on-account amount): the item reopens, the money is unapplied again."""

    def work(session: Session, setup: Setup) -> str:
        row = applications.unapply(
            session, application_id, setup=setup, actor=user, now=_now(), reason=reason
        )
        return f"application {application_id} undone; receipt {row.receipt_id}"

    click.echo(_run(rt, work))


@receipts_group.command("on-account")
@click.argument("receipt_id", type=int)
@click.option("--amount", required=True)
@user_option
@pass_runtime
def receipts_on_account(rt: Runtime, receipt_id: int, amount: str, user: str) -> None:
    """Leave part of a receipt on the customer's account."""

    def work(session: Session, setup: Setup) -> str:
        receipt = applications.get_receipt(session, receipt_id)
        row = applications.put_on_account(
            session, receipt_id, _money(amount, receipt.currency), setup=setup, actor=user, now=_now()
        )
        return f"application {row.id}: {row.amount} of receipt {receipt_id} on account"

    click.echo(_run(rt, work))


@receipts_group.command("reverse")
@click.argument("receipt_id", type=int)
@click.option("--reason", required=True, help="Reason code, e.g. a direct-debit return code (AM04, MD06).")
@user_option
@pass_runtime
def receipts_reverse(rt: Runtime, receipt_id: int, reason: str, user: str) -> None:
    """Reverse a receipt: its applications undone, items reopened, journals reversed."""

    def work(session: Session, setup: Setup) -> str:
        receipt = applications.reverse_receipt(
            session, receipt_id, reason=reason, setup=setup, actor=user, now=_now()
        )
        return f"receipt {receipt.id} reversed ({reason})"

    click.echo(_run(rt, work))


# --------------------------------------------------------------------------- disputes
@click.group("disputes")
def disputes_group() -> None:
    """Disputes: open, list, resolve (credit memo, debit memo, refund, withdraw), approve, reject."""


def _dispute_row(d: disputes.Dispute) -> dict[str, Any]:
    return {
        "id": d.id,
        "trx_number": d.trx_number,
        "amount": d.amount.format(),
        "currency": d.currency,
        "reason": d.reason,
        "status": d.status,
        "resolution": d.resolution,
        "opened_by": d.opened_by,
        "resolved_by": d.resolved_by,
        "comment": d.comment,
    }


@disputes_group.command("open")
@click.argument("trx_number")
@click.option("--amount", required=True)
@click.option("--reason", required=True)
@click.option("--comment")
@installment_option
@user_option
@pass_runtime
def disputes_open(
    rt: Runtime,
    trx_number: str,
    amount: str,
    reason: str,
    comment: str | None,
    installment: int | None,
    user: str,
) -> None:
    """Put an amount of an invoice in dispute."""

    def work(session: Session, setup: Setup) -> str:
        item = _item(session, trx_number, installment)
        d = disputes.open_dispute(
            session,
            item.id,
            _money(amount, item.currency),
            reason=reason,
            comment=comment,
            actor=user,
            now=_now(),
        )
        return f"dispute {d.id}: {d.amount} of {trx_number} ({reason})"

    click.echo(_run(rt, work))


@disputes_group.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only open ones and those waiting for approval.")
@json_option
@pass_runtime
def disputes_list(rt: Runtime, open_only: bool, as_json: bool) -> None:
    """Disputes, oldest first."""
    rows = _run(rt, lambda s, _: [_dispute_row(d) for d in disputes.list_disputes(s, open_only=open_only)])
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["id", "trx_number", "amount", "currency", "reason", "status", "resolution"])


@disputes_group.command("resolve")
@click.argument("dispute_id", type=int)
@click.option("--by", "by", required=True, type=click.Choice([r.value for r in disputes.Resolution]))
@click.option("--activity", default=disputes.DEFAULT_CREDIT_ACTIVITY, show_default=True)
@user_option
@pass_runtime
def disputes_resolve(rt: Runtime, dispute_id: int, by: str, activity: str, user: str) -> None:
    """Resolve a dispute; above your limit it waits for an approver."""

    def work(session: Session, setup: Setup) -> str:
        d = disputes.resolve(
            session,
            dispute_id,
            disputes.Resolution(by),
            setup=setup,
            actor=user,
            now=_now(),
            activity=activity,
        )
        if d.status == disputes.DisputeStatus.PENDING_APPROVAL:
            return f"dispute {d.id}: {by} of {d.amount} waits for approval (above {user}'s limit)"
        return f"dispute {d.id}: {d.status} by {by}"

    click.echo(_run(rt, work))


@disputes_group.command("approve")
@click.argument("dispute_id", type=int)
@user_option
@pass_runtime
def disputes_approve(rt: Runtime, dispute_id: int, user: str) -> None:
    """Approve a dispute's pending resolution (not your own request; within your limit)."""

    def work(session: Session, setup: Setup) -> str:
        d = disputes.approve(session, dispute_id, setup=setup, actor=user, now=_now())
        return f"dispute {d.id}: resolved by {d.resolution}, approved by {user}"

    click.echo(_run(rt, work))


@disputes_group.command("reject")
@click.argument("dispute_id", type=int)
@click.option("--reason", required=True)
@user_option
@pass_runtime
def disputes_reject(rt: Runtime, dispute_id: int, reason: str, user: str) -> None:
    """Reject a dispute's pending resolution; the dispute is open again."""

    def work(session: Session, setup: Setup) -> str:
        d = disputes.reject(session, dispute_id, reason=reason, setup=setup, actor=user, now=_now())
        return f"dispute {d.id}: resolution rejected by {user}; open again"

    click.echo(_run(rt, work))


# --------------------------------------------------------------------------- adjustments
@click.group("adjustments")
def adjustments_group() -> None:
    """Adjustments of open items: create, approve, reject, list."""


def _adjustment_row(a: adjustments.Adjustment) -> dict[str, Any]:
    return {
        "id": a.id,
        "trx_number": a.trx_number,
        "amount": a.amount.format(),
        "currency": a.currency,
        "activity": a.activity,
        "account": a.account,
        "status": a.status,
        "requested_by": a.requested_by,
        "date": a.accounting_date,
        "comment": a.comment,
    }


@adjustments_group.command("create")
@click.argument("trx_number")
@click.option("--amount", required=True, help="Negative: -5.00 writes 5.00 off the balance.")
@click.option("--activity", required=True, help="A receivable activity of approvals.yaml.")
@click.option("--comment")
@installment_option
@user_option
@pass_runtime
def adjustments_create(
    rt: Runtime,
    trx_number: str,
    amount: str,
    activity: str,
    comment: str | None,
    installment: int | None,
    user: str,
) -> None:
    """Adjust an open item; above your limit it waits for an approver."""

    def work(session: Session, setup: Setup) -> str:
        item = _item(session, trx_number, installment)
        a = adjustments.create(
            session,
            item.id,
            _money(amount, item.currency),
            activity=activity,
            setup=setup,
            actor=user,
            now=_now(),
            comment=comment,
        )
        if a.status == adjustments.AdjustmentStatus.PENDING:
            return f"adjustment {a.id}: {a.amount} of {trx_number} waits for approval (above {user}'s limit)"
        return f"adjustment {a.id}: {a.amount} of {trx_number} approved and posted"

    click.echo(_run(rt, work))


@adjustments_group.command("approve")
@click.argument("adjustment_id", type=int)
@user_option
@pass_runtime
def adjustments_approve(rt: Runtime, adjustment_id: int, user: str) -> None:
    """Approve a pending adjustment (not your own; within your limit) and post it."""

    def work(session: Session, setup: Setup) -> str:
        a = adjustments.approve(session, adjustment_id, setup=setup, actor=user, now=_now())
        return f"adjustment {a.id}: approved by {user} and posted"

    click.echo(_run(rt, work))


@adjustments_group.command("reject")
@click.argument("adjustment_id", type=int)
@click.option("--reason", required=True)
@user_option
@pass_runtime
def adjustments_reject(rt: Runtime, adjustment_id: int, reason: str, user: str) -> None:
    """Reject a pending adjustment with a reason."""

    def work(session: Session, setup: Setup) -> str:
        a = adjustments.reject(session, adjustment_id, reason=reason, setup=setup, actor=user, now=_now())
        return f"adjustment {a.id}: rejected by {user}"

    click.echo(_run(rt, work))


@adjustments_group.command("list")
@click.option("--pending", "pending_only", is_flag=True)
@json_option
@pass_runtime
def adjustments_list(rt: Runtime, pending_only: bool, as_json: bool) -> None:
    """Adjustments, oldest first."""
    rows = _run(
        rt,
        lambda s, _: [_adjustment_row(a) for a in adjustments.list_adjustments(s, pending_only=pending_only)],
    )
    if as_json:
        print_json(rows)
    else:
        print_table(
            rows, ["id", "trx_number", "amount", "currency", "activity", "status", "requested_by", "date"]
        )


COMMANDS = [receipts_group, disputes_group, adjustments_group]
