"""Reward points: earned when a citizen's report is registered, reversed when it is merged or voided,
spent on a catalogue. The ledger is append-only; the balance is its sum.

Awards are unique per (citizen, reason, case): a retried registration cannot pay twice. A redemption
locks the citizen (never below zero), takes stock with a conditional UPDATE (never oversells) and is
idempotent on the client's key.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.kit.clock import SHANGHAI, to_local, utcnow
from core.models import Case, Citizen, StaffRole, StaffUser
from core.models.rewards import (
    Redemption,
    RedemptionStatus,
    RewardEntry,
    RewardItem,
    RewardItemKind,
    RewardReason,
)
from core.rewards import repository
from core.settings import Settings

STAFF_WHO_DECIDE = frozenset({StaffRole.ADMIN, StaffRole.SHIFT_LEAD})


def _today_bounds(now: datetime) -> tuple[datetime, datetime]:
    day = to_local(now).date()
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


def _add(session: Session, entry: RewardEntry) -> bool:
    """Append one ledger line; False when the same award already exists (a retry)."""
    try:
        with session.begin_nested():
            session.add(entry)
    except IntegrityError:
        return False
    return True


def award_for_registration(session: Session, settings: Settings, case: Case, *, now: datetime) -> int:
    """Points for the reporter of a newly registered case (plus the first-report bonus), within the
    daily cap. Returns the points awarded now (0 on a retry)."""
    citizen_id = case.reporter_citizen_id
    if citizen_id is None or case.id is None:
        return 0
    rules = settings.rewards
    start, end = _today_bounds(now)
    room = max(0, rules.daily_cap_points - repository.awarded_between(session, citizen_id, start, end))
    awarded = 0
    points = min(rules.report_registered_points, room)
    if points > 0 and _add(
        session,
        RewardEntry(
            citizen_id=citizen_id,
            points=points,
            case_id=case.id,
            reason=RewardReason.REPORT_REGISTERED,
            note=case.case_no,
        ),
    ):
        awarded += points
    first = not repository.other_registered_case_exists(
        session, case, now - timedelta(days=rules.first_report_window_days)
    )
    bonus = min(rules.first_report_bonus_points, room - awarded)
    if (
        first
        and bonus > 0
        and _add(
            session,
            RewardEntry(
                citizen_id=citizen_id,
                points=bonus,
                case_id=case.id,
                reason=RewardReason.FIRST_REPORT_BONUS,
                note=case.case_no,
            ),
        )
    ):
        awarded += bonus
    return awarded


def reverse_for_case(session: Session, case: Case) -> int:
    """A registered report later merged or voided earns nothing: take back what it earned, once."""
    citizen_id = case.reporter_citizen_id
    if citizen_id is None or case.id is None:
        return 0
    entries = repository.entries_for_case(session, citizen_id, case.id)
    if any(entry.reason is RewardReason.REGISTRATION_VOIDED for entry in entries):
        return 0
    earned = sum(entry.points for entry in entries if entry.reason in repository.AWARDS)
    if earned <= 0:
        return 0
    _add(
        session,
        RewardEntry(
            citizen_id=citizen_id,
            points=-earned,
            case_id=case.id,
            reason=RewardReason.REGISTRATION_VOIDED,
            note=case.case_no,
        ),
    )
    return earned


def redeem(
    session: Session, *, citizen: Citizen, item_code: str, idempotency_key: str
) -> tuple[Redemption, bool]:
    """Spend points on a catalogue item: (redemption, created). A retry with the same key returns the
    first redemption and spends nothing."""
    try:
        return _redeem(session, citizen=citizen, item_code=item_code, idempotency_key=idempotency_key)
    except OperationalError as exc:  # SQLite: another redemption holds the single writer lock
        if "locked" in str(exc).lower():
            raise Conflict("busy", "系统繁忙，请稍后重试") from exc
        raise


def _redeem(
    session: Session, *, citizen: Citizen, item_code: str, idempotency_key: str
) -> tuple[Redemption, bool]:
    assert citizen.id is not None
    existing = repository.redemption_by_key(session, citizen.id, idempotency_key)
    if existing is not None:
        return existing, False
    item = repository.item_by_code(session, item_code)
    if item is None or not item.active:
        raise NotFound("reward_item_not_found", "兑换商品不存在或已下架")
    assert item.id is not None
    repository.lock_citizen(session, citizen.id)
    if repository.balance(session, citizen.id) < item.points_cost:
        raise Invalid("insufficient_points", "积分不足")
    if not repository.take_one_from_stock(session, item.id):
        raise Conflict("out_of_stock", "该商品已兑完")
    redemption = Redemption(
        citizen_id=citizen.id, item_id=item.id, points=item.points_cost, idempotency_key=idempotency_key
    )
    try:
        with session.begin_nested():
            session.add(redemption)
            session.flush()
    except IntegrityError as exc:  # the same key won in a concurrent request
        raise Conflict("redemption_in_progress", "该兑换请求正在处理，请稍后查询") from exc
    assert redemption.id is not None
    session.add(
        RewardEntry(
            citizen_id=citizen.id,
            points=-item.points_cost,
            reason=RewardReason.REDEMPTION,
            redemption_id=redemption.id,
            note=item.name,
        )
    )
    session.flush()
    return redemption, True


def _decided(session: Session, staff: StaffUser, redemption_id: int) -> Redemption:
    if staff.role not in STAFF_WHO_DECIDE:
        raise Forbidden("action_forbidden", "只有值班长或系统管理员可以处理兑换")
    redemption = repository.redemption_for_update(session, redemption_id)
    if redemption is None:
        raise NotFound("redemption_not_found", "兑换记录不存在")
    if redemption.status is not RedemptionStatus.PENDING:
        raise Conflict("redemption_decided", "该兑换已处理")
    redemption.decided_by_id, redemption.decided_at, redemption.updated_at = staff.id, utcnow(), utcnow()
    return redemption


def fulfil(session: Session, *, staff: StaffUser, redemption_id: int) -> Redemption:
    redemption = _decided(session, staff, redemption_id)
    redemption.status = RedemptionStatus.FULFILLED
    session.add(redemption)
    session.flush()
    return redemption


def refund(session: Session, *, staff: StaffUser, redemption_id: int) -> Redemption:
    redemption = _decided(session, staff, redemption_id)
    redemption.status = RedemptionStatus.REFUNDED
    session.add(redemption)
    session.add(
        RewardEntry(
            citizen_id=redemption.citizen_id,
            points=redemption.points,
            reason=RewardReason.REDEMPTION_REFUNDED,
            redemption_id=redemption.id,
            note="退回积分",
        )
    )
    repository.put_back_in_stock(session, redemption.item_id)
    session.flush()
    return redemption


def catalogue(session: Session) -> list[RewardItem]:
    return repository.items(session)


def ensure_item(
    session: Session, *, code: str, name: str, kind: RewardItemKind, points_cost: int, stock: int
) -> RewardItem:
    """Add a catalogue item if it does not exist yet (used by the demo)."""
    item = repository.item_by_code(session, code)
    if item is None:
        item = RewardItem(code=code, name=name, kind=kind, points_cost=points_cost, stock=stock)
        session.add(item)
        session.flush()
    return item
