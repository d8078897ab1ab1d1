"""Refund errors with stable codes."""

from __future__ import annotations

from core.errors import Conflict, NotFound


class OrderNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("payment_not_found", "未找到该支付订单")


class RefundNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("refund_not_found", "未找到该退款")


class NotRefundable(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__("payment_not_refundable", "该订单未收到款项或已退款，不能退款", status=status)


class RefundExists(Conflict):
    """Another refund of the same payment was recorded at the same moment (one refund per payment)."""

    def __init__(self) -> None:
        super().__init__("refund_exists", "该订单已有退款申请")
