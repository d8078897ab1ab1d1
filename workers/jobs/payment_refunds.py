"""Refund jobs (being written)."""

from __future__ import annotations


def refund(refund_id: int) -> None:
    raise NotImplementedError


def refund_poll() -> None:
    raise NotImplementedError
