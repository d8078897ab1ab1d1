"""The outbound adapter: status pushes to the 12345 platform (httpx, signed like inbound orders).

``POST {base_url}/orders/status`` with a compact UTF-8 JSON body (one push, docs/exchange-12345.md) and
the ``X-Gov-*`` headers of ``core.exchange.signing``. The platform deduplicates on ``push_id``.

Answers are JSON ``{"code": ..., "message": ...}``:

- 200 ``OK``: acknowledged (also for a push already received)
- 400 / 404 / 409 / 422 with a business code (unknown order, bad data, stage not allowed): refused for
  good — retrying the same push cannot help
- 401 / 403 (signature, app id, clock skew), 408, 429, 5xx, timeouts, connection errors, an unreadable
  or non-OK 200: retried (a configuration fixed later lets the push through)
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from core.exchange.signing import signed_headers
from core.settings import Settings

STATUS_PATH = "/orders/status"
PERMANENT_STATUSES = frozenset({400, 404, 409, 410, 422})


class ExchangeCallError(Exception):
    """A push was not acknowledged; ``retryable`` says whether sending it again later may work."""

    def __init__(self, code: str, detail: str = "", *, retryable: bool) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.retryable = retryable


class Gov12345Client:
    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        secret: str,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + STATUS_PATH
        self.app_id = app_id
        self.secret = secret
        self.timeout_s = timeout_s
        self.transport = transport

    def push(self, body: dict[str, Any]) -> None:
        """Send one push; returns when the platform acknowledged it. Raises ``ExchangeCallError``."""
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            **signed_headers(app_id=self.app_id, secret=self.secret, body=content),
        }
        try:
            with httpx.Client(timeout=self.timeout_s, transport=self.transport) as client:
                response = client.post(self.url, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise ExchangeCallError("unreachable", type(exc).__name__, retryable=True) from exc
        self._check(response)

    @staticmethod
    def _check(response: httpx.Response) -> None:
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        status = response.status_code
        code = str(answer.get("code") or f"http_{status}")
        detail = str(answer.get("message") or "")[:200]
        if status == 200 and code == "OK":
            return
        if status == 200:
            raise ExchangeCallError("bad_answer", f"HTTP 200 {code}", retryable=True)
        raise ExchangeCallError(
            f"http_{status}_{code}"[:64], detail, retryable=status not in PERMANENT_STATUSES
        )


def client_from_settings(settings: Settings) -> Gov12345Client | None:
    """The adapter, or None while the exchange is not configured (pushes then wait, pending)."""
    config = settings.gov12345
    secret = config.secret.get_secret_value()
    if not (config.base_url and config.app_id and secret):
        return None
    return Gov12345Client(
        base_url=config.base_url, app_id=config.app_id, secret=secret, timeout_s=config.timeout_s
    )
