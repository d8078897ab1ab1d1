"""One line of a provider's bill, whatever the provider."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BillKind(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"


@dataclass(frozen=True)
class BillLine:
    """A payment received or a refund paid out, as the provider's bill lists it.

    ``amount_fen`` is always positive (a refund's direction is its ``kind``); ``provider_txn_id`` is the
    provider's id of the payment (for a refund: of the payment refunded); ``out_refund_no`` is ours,
    set on refunds only.
    """

    kind: BillKind
    out_trade_no: str
    provider_txn_id: str
    amount_fen: int
    out_refund_no: str = ""
