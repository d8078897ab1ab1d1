"""The catalogue and redemptions as administrators manage them in the console: every item (also the
inactive ones), adding and editing items, adjusting stock, and the redemption list."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.errors import Conflict, Invalid, NotFound
from core.kit.clock import utcnow
from core.kit.text import CONTROL_CHARACTERS, INT32_MAX
from core.models import Citizen
from core.models.rewards import Redemption, RedemptionStatus, RewardItem, RewardItemKind

CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_NAME = 64
MAX_STOCK = 1_000_000
MAX_COST = 1_000_000

KIND_LABELS = {RewardItemKind.PHONE_CREDIT: "话费", RewardItemKind.COUPON: "优惠券"}
STATUS_LABELS = {
    RedemptionStatus.PENDING: "待发放",
    RedemptionStatus.FULFILLED: "已发放",
    RedemptionStatus.REFUNDED: "已退回",
}


@dataclass(frozen=True)
class ItemData:
    name: str
    kind: RewardItemKind
    points_cost: int
    active: bool = True


@dataclass(frozen=True)
class RedemptionRow:
    redemption: Redemption
    item: RewardItem | None
    citizen_phone: str  # the full number: the caller masks it


def _check(data: ItemData) -> ItemData:
    name = data.name.strip()
    if not name or len(name) > MAX_NAME or CONTROL_CHARACTERS.search(name):
        raise Invalid("reward_item_name_invalid", f"请填写名称（不超过 {MAX_NAME} 个字符）")
    if not 1 <= data.points_cost <= MAX_COST:
        raise Invalid("reward_item_cost_invalid", f"所需积分应在 1–{MAX_COST} 之间")
    return ItemData(name=name, kind=data.kind, points_cost=data.points_cost, active=data.active)


def all_items(session: Session) -> list[RewardItem]:
    return list(session.exec(select(RewardItem).order_by(col(RewardItem.code))).all())


def get_item(session: Session, item_id: int) -> RewardItem:
    item = session.get(RewardItem, item_id)
    if item is None:
        raise NotFound("reward_item_not_found", "兑换商品不存在")
    return item


def add_item(session: Session, *, code: str, data: ItemData, stock: int) -> RewardItem:
    code = code.strip()
    if not CODE_PATTERN.fullmatch(code):
        raise Invalid("reward_item_code_invalid", "编码应为 1–32 位字母、数字、下划线或连字符")
    if not 0 <= stock <= MAX_STOCK:
        raise Invalid("reward_item_stock_invalid", f"库存应在 0–{MAX_STOCK} 之间")
    data = _check(data)
    if session.exec(select(RewardItem).where(col(RewardItem.code) == code)).first() is not None:
        raise Conflict("reward_item_code_taken", f"编码“{code}”已存在")
    item = RewardItem(
        code=code,
        name=data.name,
        kind=data.kind,
        points_cost=data.points_cost,
        stock=stock,
        active=data.active,
    )
    session.add(item)
    session.flush()
    return item


def edit_item(session: Session, item: RewardItem, data: ItemData) -> list[str]:
    """Name, kind, cost and whether it is offered; the changed field names. Pending redemptions keep
    the points they were made for."""
    data = _check(data)
    changed = []
    for name in ("name", "kind", "points_cost", "active"):
        value = getattr(data, name)
        if getattr(item, name) != value:
            setattr(item, name, value)
            changed.append(name)
    if changed:
        item.updated_at = utcnow()
        session.add(item)
        session.flush()
    return changed


def adjust_stock(session: Session, item: RewardItem, delta: int) -> int:
    """Add (or with a negative delta take away) stock atomically, never below zero; the new stock."""
    if delta == 0 or abs(delta) > MAX_STOCK:
        raise Invalid("reward_stock_delta_invalid", f"调整数量应为 ±1–{MAX_STOCK} 之间的整数")
    stmt = (
        sa.update(RewardItem)
        .where(
            col(RewardItem.id) == item.id,
            col(RewardItem.stock) + delta >= 0,
            col(RewardItem.stock) + delta <= min(MAX_STOCK, INT32_MAX),
        )
        .values(stock=col(RewardItem.stock) + delta, updated_at=utcnow())
    )
    if not session.execute(stmt).rowcount:  # type: ignore[attr-defined]
        raise Conflict("reward_stock_negative", "库存不足，不能减到 0 以下")
    session.refresh(item)
    return item.stock


def redemptions(
    session: Session, *, status: RedemptionStatus | None, limit: int = 50, offset: int = 0
) -> tuple[list[RedemptionRow], int]:
    stmt = select(Redemption)
    if status is not None:
        stmt = stmt.where(col(Redemption.status) == status)
    total = int(session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one())
    rows = session.exec(stmt.order_by(col(Redemption.id).desc()).limit(limit).offset(offset)).all()
    items = {i.id: i for i in session.exec(select(RewardItem)).all()}
    citizen_ids = {r.citizen_id for r in rows}
    phones = (
        dict(
            session.execute(
                sa.select(col(Citizen.id), col(Citizen.phone)).where(col(Citizen.id).in_(citizen_ids))
            ).all()
        )
        if citizen_ids
        else {}
    )
    return [RedemptionRow(r, items.get(r.item_id), phones.get(r.citizen_id) or "") for r in rows], total
