"""Payment order jobs (being written): receipt, close_at_provider, poll_pending, close_expired."""

from __future__ import annotations


def receipt(order_id: int) -> None:
    raise NotImplementedError


def close_at_provider(order_id: int) -> None:
    raise NotImplementedError


def poll_pending() -> None:
    raise NotImplementedError


def close_expired() -> None:
    raise NotImplementedError
