"""Shared types and errors of the payment-provider adapters (``payments.wechatpay``, ``payments.alipay``).

The adapters take plain values (no database): money is integer fen everywhere on our side and is
converted to the provider's unit (WeChat: fen; Alipay: a yuan string with two decimals) at the edge.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from core.errors import DomainError, ErrorKind
from core.kit.clock import SHANGHAI


class ProviderError(DomainError):
    """The provider could not be reached, refused the request, or answered something unexpected.

    ``code`` is stable (``provider_unavailable``, ``provider_refused``, ``provider_bad_reply``);
    ``details`` carry the provider's own error code and message for the logs.
    """

    kind = ErrorKind.UNAVAILABLE


class SignatureInvalid(DomainError):
    """A notification or reply whose signature, timestamp, key or ciphertext does not check out.

    The notify endpoint answers a 4xx (WeChat and Alipay then retry); never apply such a message.
    ``code`` tells why: ``signature_invalid``, ``signature_probe``, ``timestamp_expired``,
    ``unknown_serial``, ``unsupported_algorithm``, ``decrypt_failed``, ``bad_notification``.
    """

    kind = ErrorKind.FORBIDDEN


def fen_to_yuan(fen: int) -> str:
    """123 → "1.23": Alipay's ``total_amount`` (yuan, two decimals)."""
    if isinstance(fen, bool) or not isinstance(fen, int) or fen <= 0:
        raise ValueError(f"amount must be a positive integer in fen, got {fen!r}")
    return f"{fen // 100}.{fen % 100:02d}"


def yuan_to_fen(value: str) -> int:
    """ "0.10" → 10, "0.1" → 10, "100.00" → 10000; exact (Decimal), refuses fractions of a fen."""
    try:
        amount = Decimal(value.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise ValueError(f"not an amount in yuan: {value!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"not an amount in yuan: {value!r}")
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"amount has fractions of a fen: {value!r}")
    return int(fen)


def provider_time(text: str) -> datetime:
    """A time as a provider writes it, always zone-aware: WeChat Pay's RFC 3339
    (``2026-03-05T14:07:08+08:00``) or Alipay's ``2026-03-05 14:07:08``. A time without a zone is
    Beijing time, the providers' own clock (never dropped, never read as UTC). Raises ``ValueError``
    for anything else."""
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo is not None else value.replace(tzinfo=SHANGHAI)
