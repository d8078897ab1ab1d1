"""Daily reconciliation job (being written)."""

from __future__ import annotations


def reconcile(channel: str | None = None, bill_date: str | None = None) -> None:
    raise NotImplementedError
