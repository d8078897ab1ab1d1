"""Reconciliation errors with stable codes."""

from __future__ import annotations

from typing import Any

from core.errors import Invalid


class BillUnreadable(Invalid):
    """The provider's bill is not in the format we know (or is truncated): nothing is compared or stored
    from it; the run records the error instead."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__("bill_unreadable", f"对账单无法识别：{reason}", **details)
