"""One-time subscribe-message consents: recorded when the mini-program reports the user's choices,
spent one per message sent, given back when WeChat did not use it, zeroed when WeChat says 43101.

Counting is done with single UPDATE statements (``available = available - 1 WHERE available > 0``), so
two deliveries running at once can never spend the same consent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.kit.clock import utcnow
from core.models import SubscribeConsent


class Choice(StrEnum):
    """What ``wx.requestSubscribeMessage`` answers for each template id."""

    ACCEPT = "accept"  # one more message of this template may be sent
    REJECT = "reject"  # the user declined this time
    BAN = "ban"  # the template was banned by the platform
    FILTER = "filter"  # WeChat filtered the template (title duplicates …)


def available(session: Session, citizen_id: int) -> dict[str, int]:
    rows = session.exec(select(SubscribeConsent).where(col(SubscribeConsent.citizen_id) == citizen_id)).all()
    return {row.template_id: row.available for row in rows}


def _row(session: Session, citizen_id: int, template_id: str) -> SubscribeConsent:
    query = select(SubscribeConsent).where(
        col(SubscribeConsent.citizen_id) == citizen_id, col(SubscribeConsent.template_id) == template_id
    )
    row = session.exec(query.with_for_update()).first()
    if row is not None:
        return row
    row = SubscribeConsent(citizen_id=citizen_id, template_id=template_id)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # a concurrent request created it first
        row = session.exec(query.with_for_update()).one()
    return row


def record(
    session: Session,
    *,
    citizen_id: int,
    choices: Mapping[str, Choice],
    template_ids: Iterable[str],
    cap: int,
) -> dict[str, int]:
    """Apply the user's choices for the templates we use; the consents available afterwards."""
    known = set(template_ids)
    now = utcnow()
    for template_id, choice in sorted(choices.items()):
        if template_id not in known or choice in (Choice.REJECT, Choice.FILTER):
            continue
        row = _row(session, citizen_id, template_id)
        row.available = min(cap, row.available + 1) if choice is Choice.ACCEPT else 0
        row.updated_at = now
    session.flush()
    return available(session, citizen_id)


def spend(session: Session, *, citizen_id: int, template_id: str) -> bool:
    """Take one consent; False when none is left."""
    result = session.execute(
        update(SubscribeConsent)
        .where(
            col(SubscribeConsent.citizen_id) == citizen_id,
            col(SubscribeConsent.template_id) == template_id,
            col(SubscribeConsent.available) > 0,
        )
        .values(available=SubscribeConsent.available - 1, updated_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))


def give_back(session: Session, *, citizen_id: int, template_id: str) -> None:
    """The message was not delivered and WeChat did not use the consent."""
    session.execute(
        update(SubscribeConsent)
        .where(
            col(SubscribeConsent.citizen_id) == citizen_id, col(SubscribeConsent.template_id) == template_id
        )
        .values(available=SubscribeConsent.available + 1, updated_at=utcnow())
    )


def exhaust(session: Session, *, citizen_id: int, template_id: str) -> None:
    """WeChat answered 43101: whatever we counted, no consent is left."""
    session.execute(
        update(SubscribeConsent)
        .where(
            col(SubscribeConsent.citizen_id) == citizen_id, col(SubscribeConsent.template_id) == template_id
        )
        .values(available=0, updated_at=utcnow())
    )
