"""Receipt errors with stable codes."""

from __future__ import annotations

from core.errors import NotFound


class ReceiptNotFound(NotFound):
    """The one answer for an unknown order, an unpaid one and a caller who may not see it."""

    def __init__(self) -> None:
        super().__init__("receipt_not_found", "未找到该缴款凭证，请核对订单号和当事人姓名")
