"""SMS gateway adapter: one ``send(phone, text)`` for login codes and citizen notifications.

Wire protocol (the fake in ``tests/fixtures/fake_sms.py`` speaks exactly this):

``POST {api_base}/sms/send`` with a compact UTF-8 JSON body
``{"phone": "13800138000", "sign_name": "智慧城管", "content": "…", "out_id": "…"}`` and the headers

- ``X-Access-Key``: the account's access key
- ``X-Timestamp``: Unix seconds; the gateway refuses more than 300 s of skew
- ``X-Nonce``: random, never reused within the timestamp window (replays are refused)
- ``X-Signature``: lowercase hex HMAC-SHA256 with the account secret over
  ``"{timestamp}\\n{nonce}\\n{body}"`` (the exact body bytes)

``out_id`` is the caller's reference: the gateway accepts a repeated ``out_id`` without sending again
and answers the first message id, so a retry after a lost answer never texts twice.

Answers are JSON ``{"code": ..., "message": ..., "message_id"?: ...}``:

- 200 ``OK`` with ``message_id``: accepted
- 400 ``invalid_phone`` / ``invalid_request`` / ``content_rejected``: permanent
- 401 ``unknown_access_key`` / ``signature_invalid`` / ``timestamp_expired`` / ``nonce_reused``: permanent
  (a configuration problem; retrying the same request cannot help)
- 429 ``rate_limited`` (per phone or account): retryable
- 5xx, timeouts, connection errors, an unreadable 200: retryable
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Protocol

import httpx

from core.kit.signing import timestamp_nonce_signature
from core.settings import Environment, Settings

log = logging.getLogger("zhcg.sms")

SEND_PATH = "/sms/send"


def mask_phone(phone: str) -> str:
    """138****8000: what logs and public views may show of a phone number."""
    if len(phone) < 7:
        return "*" * len(phone)
    return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}"


def sign(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    return timestamp_nonce_signature(secret, timestamp, nonce, body)


class SmsError(Exception):
    """A message was not accepted. ``retryable`` says whether sending it again later may work."""

    retryable = False

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class SmsRetryable(SmsError):
    """Rate limited, gateway down or unreachable: try again later."""

    retryable = True


class SmsRejected(SmsError):
    """Will never be accepted as it is (bad number, refused content, wrong credentials, not configured)."""


class SmsGateway(Protocol):
    def send(self, phone: str, text: str, *, out_id: str | None = None) -> str:
        """Send ``text`` to ``phone``; the gateway's message id. Raises ``SmsError``."""
        ...


class HttpSmsGateway:
    def __init__(
        self,
        *,
        api_base: str,
        access_key: str,
        secret: str,
        sign_name: str,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = api_base.rstrip("/") + SEND_PATH
        self.access_key = access_key
        self.secret = secret
        self.sign_name = sign_name
        self.timeout_s = timeout_s
        self.transport = transport

    def send(self, phone: str, text: str, *, out_id: str | None = None) -> str:
        body = json.dumps(
            {"phone": phone, "sign_name": self.sign_name, "content": text, "out_id": out_id or ""},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Access-Key": self.access_key,
            "X-Timestamp": timestamp,
            "X-Nonce": nonce,
            "X-Signature": sign(self.secret, timestamp, nonce, body),
        }
        try:
            with httpx.Client(timeout=self.timeout_s, transport=self.transport) as client:
                response = client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SmsRetryable("unreachable", type(exc).__name__) from exc
        return self._message_id(response)

    @staticmethod
    def _message_id(response: httpx.Response) -> str:
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        code = str(answer.get("code") or f"http_{response.status_code}")
        detail = str(answer.get("message") or "")[:200]
        status = response.status_code
        if status == 200:
            message_id = answer.get("message_id")
            if code == "OK" and isinstance(message_id, str) and message_id:
                return message_id
            raise SmsRetryable("bad_answer", f"HTTP 200 {code}")
        if status == 429 or status >= 500:
            raise SmsRetryable(code, detail)
        raise SmsRejected(code, detail)


class LogSmsGateway:
    """Development only, when no gateway is configured: writes the message, login codes included, to the
    log (phone masked) instead of sending it. ``gateway_from_settings`` never builds it outside
    development."""

    def send(self, phone: str, text: str, *, out_id: str | None = None) -> str:
        message_id = f"dev-{secrets.token_hex(6)}"
        log.warning("SMS to %s (development, not sent): %s", mask_phone(phone), text)
        return message_id


class UnconfiguredSmsGateway:
    """Test and production without ``ZHCG_SMS__API_BASE``: every send is refused."""

    def send(self, phone: str, text: str, *, out_id: str | None = None) -> str:
        raise SmsRejected("not_configured", "ZHCG_SMS__API_BASE is not set")


def gateway_from_settings(settings: Settings) -> SmsGateway:
    sms = settings.sms
    if sms.api_base:
        return HttpSmsGateway(
            api_base=sms.api_base,
            access_key=sms.access_key,
            secret=sms.secret.get_secret_value(),
            sign_name=sms.sign_name,
            timeout_s=sms.timeout_s,
        )
    if settings.environment is Environment.DEVELOPMENT:
        return LogSmsGateway()
    return UnconfiguredSmsGateway()
