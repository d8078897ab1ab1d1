"""What the rewards API returns."""

from __future__ import annotations

from pydantic import BaseModel

from core.cases.schemas import LocalTime


class Balance(BaseModel):
    balance: int


class LedgerLine(BaseModel):
    points: int
    reason: str
    reason_label: str
    note: str
    at: LocalTime


class CatalogueItem(BaseModel):
    code: str
    name: str
    kind: str
    points_cost: int
    in_stock: bool


class RedemptionView(BaseModel):
    id: int
    item: str
    points: int
    status: str
    at: LocalTime
