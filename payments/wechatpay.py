"""WeChat Pay API v3 adapter (``wechatpayv3``, platform public-key mode) for the mini-program.

- ``create_jsapi_order`` → ``prepay_id`` (POST /v3/pay/transactions/jsapi, amount in fen).
- ``jsapi_params`` → what ``wx.requestPayment`` needs; paySign is RSA-SHA256 over
  ``appId\\ntimeStamp\\nnonceStr\\npackage\\n`` with the merchant private key.
- ``query_order`` / ``close_order`` (close answers 204).
- ``parse_notification`` verifies a payment notification (signature over ``timestamp\\nnonce\\nbody\\n``
  with WeChat Pay's public key, SIGNTEST probes refused, ±5 min timestamp window — the library does not
  check it) and decrypts its AES-256-GCM resource. Dedupe on ``notification_id`` is the caller's job.
- ``refund`` (POST /v3/refund/domestic/refunds, keyed on ``out_refund_no``: sending the same refund again
  answers the same refund) and ``query_refund``; ``parse_refund_notification`` verifies REFUND.SUCCESS /
  REFUND.ABNORMAL / REFUND.CLOSED exactly as payment notifications are verified.
- ``trade_bill(day)`` asks for the ``ALL`` trade bill of a day (GZIP), downloads it with a signed request
  (the download answer is not signed), checks its SHA1 against the announced hash and returns the text
  ("" when WeChat Pay says there is no bill: no trade that day).

Requests go through the library, which signs them (``Authorization: WECHATPAY2-SHA256-RSA2048 …``) and
verifies the signature of every 2xx reply. The library is synchronous (``requests``): call these methods
from a worker or a thread pool. Its gateway URL is a private attribute we override from settings, hence
the exact pin in pyproject.toml. Notifications are verified here, not by the library, because the library
falls back to downloading platform certificates for an unknown serial and has no timestamp window.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from wechatpayv3 import WeChatPay, WeChatPayType

from core.kit.clock import ensure_aware, to_local
from core.settings import WechatPaySettings
from payments.providers import ProviderError, SignatureInvalid, provider_time

TIMESTAMP_WINDOW_S = 300
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"
REFUND_EVENTS = ("REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED")
GZIP_MAGIC = b"\x1f\x8b"


class TradeState(StrEnum):
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"
    NOTPAY = "NOTPAY"
    CLOSED = "CLOSED"
    REVOKED = "REVOKED"
    USERPAYING = "USERPAYING"
    PAYERROR = "PAYERROR"


class WechatRefundStatus(StrEnum):
    SUCCESS = "SUCCESS"
    PROCESSING = "PROCESSING"
    ABNORMAL = "ABNORMAL"  # the money could not reach the payer (e.g. a closed card); handled by staff
    CLOSED = "CLOSED"


@dataclass(frozen=True)
class JsapiPayParams:
    """The arguments of ``wx.requestPayment`` (see ``as_dict`` for the exact keys)."""

    app_id: str
    time_stamp: str
    nonce_str: str
    package: str
    sign_type: str
    pay_sign: str

    def as_dict(self) -> dict[str, str]:
        return {
            "appId": self.app_id,
            "timeStamp": self.time_stamp,
            "nonceStr": self.nonce_str,
            "package": self.package,
            "signType": self.sign_type,
            "paySign": self.pay_sign,
        }


@dataclass(frozen=True)
class WechatTransaction:
    """An order as WeChat Pay sees it (query answer or decrypted notification resource)."""

    out_trade_no: str
    trade_state: TradeState
    transaction_id: str | None
    amount_total: int | None  # fen
    app_id: str
    mch_id: str
    payer_openid: str | None
    success_time: datetime | None


@dataclass(frozen=True)
class WechatNotification:
    notification_id: str
    event_type: str  # TRANSACTION.SUCCESS for a payment
    transaction: WechatTransaction

    @property
    def out_trade_no(self) -> str:
        return self.transaction.out_trade_no

    @property
    def transaction_id(self) -> str | None:
        return self.transaction.transaction_id

    @property
    def trade_state(self) -> TradeState:
        return self.transaction.trade_state

    @property
    def amount_total(self) -> int | None:
        return self.transaction.amount_total


@dataclass(frozen=True)
class WechatRefund:
    """A refund as WeChat Pay sees it (refund answer, refund query, decrypted refund notification)."""

    out_refund_no: str
    out_trade_no: str
    refund_id: str
    transaction_id: str
    status: WechatRefundStatus
    refund_fen: int
    total_fen: int
    success_time: datetime | None
    user_received_account: str
    mch_id: str = ""  # only in notifications


@dataclass(frozen=True)
class WechatRefundNotification:
    notification_id: str
    event_type: str  # REFUND.SUCCESS, REFUND.ABNORMAL or REFUND.CLOSED
    refund: WechatRefund


def _read(path: Path | None, what: str) -> str:
    if path is None:
        raise ProviderError("provider_not_configured", f"微信支付未配置{what}")
    return path.read_text(encoding="utf-8")


def _transaction(data: Mapping[str, Any]) -> WechatTransaction:
    try:
        amount = data.get("amount") or {}
        payer = data.get("payer") or {}
        success_time = data.get("success_time")
        return WechatTransaction(
            out_trade_no=str(data["out_trade_no"]),
            trade_state=TradeState(data["trade_state"]),
            transaction_id=str(data["transaction_id"]) if data.get("transaction_id") else None,
            amount_total=int(amount["total"]) if "total" in amount else None,
            app_id=str(data.get("appid", "")),
            mch_id=str(data.get("mchid", "")),
            payer_openid=str(payer["openid"]) if payer.get("openid") else None,
            success_time=provider_time(str(success_time)) if success_time else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProviderError("provider_bad_reply", "微信支付返回的订单数据无法识别", reply=dict(data)) from exc


def _refund(data: Mapping[str, Any]) -> WechatRefund:
    """A refund from the API answer (``status``) or a notification resource (``refund_status``)."""
    try:
        amount = data["amount"]
        success_time = data.get("success_time")
        return WechatRefund(
            out_refund_no=str(data["out_refund_no"]),
            out_trade_no=str(data["out_trade_no"]),
            refund_id=str(data["refund_id"]),
            transaction_id=str(data.get("transaction_id", "")),
            status=WechatRefundStatus(data.get("status") or data["refund_status"]),
            refund_fen=int(amount["refund"]),
            total_fen=int(amount["total"]),
            success_time=provider_time(str(success_time)) if success_time else None,
            user_received_account=str(data.get("user_received_account", "")),
            mch_id=str(data.get("mchid", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProviderError("provider_bad_reply", "微信支付返回的退款数据无法识别", reply=dict(data)) from exc


def _json(body: str, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ProviderError("provider_bad_reply", f"微信支付{what}应答不是 JSON", reply=body[:500]) from exc


class WechatPayClient:
    """One merchant (``settings.mch_id``) and one mini-program (``settings.app_id``)."""

    def __init__(self, settings: WechatPaySettings, *, timeout_s: float = 10.0) -> None:
        if not (settings.mch_id and settings.app_id and settings.cert_serial_no and settings.public_key_id):
            raise ProviderError("provider_not_configured", "微信支付商户号、AppID、证书序列号或公钥ID未配置")
        apiv3_key = settings.apiv3_key.get_secret_value()
        if len(apiv3_key.encode()) != 32:
            raise ProviderError("provider_not_configured", "微信支付 APIv3 密钥须为 32 字节")
        self.settings = settings
        self._apiv3_key = apiv3_key
        private_pem = _read(settings.private_key_path, "商户私钥")
        public_pem = _read(settings.public_key_path, "微信支付公钥")
        private_key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        public_key = serialization.load_pem_public_key(public_pem.encode())
        if not isinstance(private_key, rsa.RSAPrivateKey) or not isinstance(public_key, rsa.RSAPublicKey):
            raise ProviderError("provider_not_configured", "微信支付密钥须为 RSA 密钥")
        self._private_key = private_key
        self._public_key = public_key
        self._pay: Any = WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=settings.mch_id,
            private_key=private_pem,
            cert_serial_no=settings.cert_serial_no,
            appid=settings.app_id,
            apiv3_key=apiv3_key,
            notify_url=settings.notify_url or None,
            timeout=(timeout_s, timeout_s),
            public_key=public_pem,
            public_key_id=settings.public_key_id,
        )
        # Private attribute of wechatpayv3==2.0.4 (pinned): the gateway is hard-coded otherwise.
        self._pay._core._gate_way = settings.api_base.rstrip("/")

    # -- requests ---------------------------------------------------------------------------------

    def _call(self, method: str, *args: Any, **kwargs: Any) -> tuple[int, str]:
        try:
            status, text = getattr(self._pay, method)(*args, **kwargs)
        except requests.RequestException as exc:
            raise ProviderError("provider_unavailable", "微信支付暂时无法连接", error=repr(exc)) from exc
        except Exception as exc:  # the library raises bare Exception for a bad reply signature
            raise SignatureInvalid(
                "reply_signature_invalid", "微信支付应答签名验证失败", error=str(exc)
            ) from exc
        body = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        if not 200 <= int(status) < 300:
            try:
                error = json.loads(body)
            except ValueError:
                error = {}
            kind = "provider_unavailable" if int(status) >= 500 else "provider_refused"
            raise ProviderError(
                kind,
                "微信支付拒绝了请求" if kind == "provider_refused" else "微信支付暂时不可用",
                status=int(status),
                provider_code=str(error.get("code", "")) if isinstance(error, dict) else "",
                provider_message=str(error.get("message", "")) if isinstance(error, dict) else "",
            )
        return int(status), body

    def create_jsapi_order(
        self,
        *,
        out_trade_no: str,
        description: str,
        amount_fen: int,
        openid: str,
        time_expire: datetime,
        notify_url: str | None = None,
    ) -> str:
        """Place a JSAPI (mini-program) order; returns its ``prepay_id`` (valid two hours)."""
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
            raise ValueError(f"amount must be a positive integer in fen, got {amount_fen!r}")
        notify = notify_url or self.settings.notify_url
        if not notify:
            raise ProviderError("provider_not_configured", "微信支付回调地址未配置")
        _, body = self._call(
            "pay",
            description=description,
            out_trade_no=out_trade_no,
            amount={"total": amount_fen, "currency": "CNY"},
            payer={"openid": openid},
            time_expire=to_local(ensure_aware(time_expire)).isoformat(timespec="seconds"),
            notify_url=notify,
            pay_type=WeChatPayType.JSAPI,
        )
        try:
            return str(json.loads(body)["prepay_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError("provider_bad_reply", "微信支付下单应答缺少 prepay_id", reply=body) from exc

    def jsapi_params(self, prepay_id: str, *, now: float | None = None) -> JsapiPayParams:
        time_stamp = str(int(time.time() if now is None else now))
        nonce_str = secrets.token_hex(16).upper()
        package = f"prepay_id={prepay_id}"
        message = f"{self.settings.app_id}\n{time_stamp}\n{nonce_str}\n{package}\n".encode()
        signature = self._private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return JsapiPayParams(
            app_id=self.settings.app_id,
            time_stamp=time_stamp,
            nonce_str=nonce_str,
            package=package,
            sign_type="RSA",
            pay_sign=base64.b64encode(signature).decode(),
        )

    def query_order(self, out_trade_no: str) -> WechatTransaction:
        _, body = self._call("query", out_trade_no=out_trade_no)
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ProviderError("provider_bad_reply", "微信支付查询应答不是 JSON", reply=body) from exc
        return _transaction(data)

    def close_order(self, out_trade_no: str) -> None:
        """Close an unpaid order (204). Closing a paid order is refused (``provider_refused``)."""
        self._call("close", out_trade_no=out_trade_no)

    # -- refunds ----------------------------------------------------------------------------------

    @property
    def refund_notify_url(self) -> str:
        """Where refund notifications go: the payment notify URL + ``/refund``
        (``…/payments/notify/wechat`` → ``…/payments/notify/wechat/refund``)."""
        base = self.settings.notify_url.rstrip("/")
        return f"{base}/refund" if base else ""

    def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        amount_fen: int,
        total_fen: int,
        reason: str,
        notify_url: str | None = None,
    ) -> WechatRefund:
        """Ask for a refund of ``amount_fen`` of the order (``total_fen`` is what was paid). Keyed on
        ``out_refund_no``: sending the same refund again is safe and answers its current state."""
        for value in (amount_fen, total_fen):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"amounts must be positive integers in fen, got {value!r}")
        _, body = self._call(
            "refund",
            out_refund_no=out_refund_no,
            amount={"refund": amount_fen, "total": total_fen, "currency": "CNY"},
            out_trade_no=out_trade_no,
            reason=reason[:80] or None,
            notify_url=notify_url or self.refund_notify_url or None,
        )
        return _refund(_json(body, "退款"))

    def query_refund(self, out_refund_no: str) -> WechatRefund:
        """The refund's current state (``provider_refused`` with RESOURCE_NOT_EXISTS when unknown)."""
        _, body = self._call("query_refund", out_refund_no=out_refund_no)
        return _refund(_json(body, "退款查询"))

    # -- bills ------------------------------------------------------------------------------------

    def trade_bill(self, bill_date: date) -> str:
        """The ``ALL`` trade bill of ``bill_date`` (a Beijing day) as text, its SHA1 checked; "" when
        WeChat Pay has no bill for the day (NO_STATEMENT_EXIST: no trade that day)."""
        try:
            _, body = self._call(
                "trade_bill", bill_date=bill_date.isoformat(), bill_type="ALL", tar_type="GZIP"
            )
        except ProviderError as exc:
            if exc.details.get("provider_code") == "NO_STATEMENT_EXIST":
                return ""
            raise
        reply = _json(body, "账单")
        try:
            hash_type = str(reply["hash_type"]).upper()
            hash_value = str(reply["hash_value"]).lower()
            download_url = str(reply["download_url"])
        except (KeyError, TypeError) as exc:
            raise ProviderError(
                "provider_bad_reply", "微信支付账单应答缺少下载地址", reply=body[:500]
            ) from exc
        if hash_type != "SHA1":
            raise ProviderError("provider_bad_reply", "不支持的账单摘要算法", hash_type=hash_type)
        data = self._download(download_url)
        if data[:2] == GZIP_MAGIC:
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise ProviderError("bill_hash_mismatch", "微信支付账单文件损坏") from exc
        if (
            hashlib.sha1(data, usedforsecurity=False).hexdigest() != hash_value
        ):  # SHA1 is what WeChat Pay sends
            raise ProviderError(
                "bill_hash_mismatch", "微信支付账单文件摘要不符（下载不完整？）", bill_date=str(bill_date)
            )
        try:
            return data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            raise ProviderError("provider_bad_reply", "微信支付账单不是 UTF-8 文本") from exc

    def _download(self, url: str) -> bytes:
        """GET a bill file with a signed request (files are not signed: the library skips that check)."""
        gateway = self.settings.api_base.rstrip("/")
        if not url.startswith(gateway + "/"):
            raise ProviderError("provider_bad_reply", "微信支付账单下载地址不在支付网关上", url=url)
        try:
            status, content = self._pay.download_bill(url)
        except requests.RequestException as exc:
            raise ProviderError("provider_unavailable", "微信支付暂时无法连接", error=repr(exc)) from exc
        if not 200 <= int(status) < 300:
            text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
            kind = "provider_unavailable" if int(status) >= 500 else "provider_refused"
            raise ProviderError(kind, "微信支付账单下载失败", status=int(status), reply=text[:500])
        return content if isinstance(content, bytes) else str(content).encode("utf-8")

    # -- notifications ----------------------------------------------------------------------------

    def _verified_resource(
        self, headers: Mapping[str, str], body: bytes | str, now: float | None
    ) -> tuple[str, str, Any]:
        """Check the signature headers and decrypt the resource: (notification id, event type, data)."""
        try:
            text = body.decode("utf-8") if isinstance(body, bytes) else body
        except UnicodeDecodeError as exc:  # WeChat Pay signs UTF-8 JSON: this is not one of its messages
            raise SignatureInvalid("bad_notification", "微信支付通知不是 UTF-8 文本") from exc
        lowered = {key.lower(): value for key, value in headers.items()}
        signature = lowered.get("wechatpay-signature", "")
        timestamp = lowered.get("wechatpay-timestamp", "")
        nonce = lowered.get("wechatpay-nonce", "")
        serial = lowered.get("wechatpay-serial", "")
        signature_type = lowered.get("wechatpay-signature-type", SIGNATURE_TYPE)
        if signature.startswith(SIGNTEST_PREFIX):
            raise SignatureInvalid("signature_probe", "微信支付签名探测请求，已拒绝")
        if signature_type != SIGNATURE_TYPE:
            raise SignatureInvalid(
                "unsupported_algorithm", "不支持的微信支付签名算法", signature_type=signature_type
            )
        if serial != self.settings.public_key_id:
            raise SignatureInvalid("unknown_serial", "微信支付公钥ID不匹配", serial=serial)
        if not timestamp.isdigit() or not nonce or not signature:
            raise SignatureInvalid("signature_invalid", "微信支付通知缺少签名信息")
        current = time.time() if now is None else now
        if abs(int(timestamp) - current) > TIMESTAMP_WINDOW_S:
            raise SignatureInvalid("timestamp_expired", "微信支付通知时间戳超出允许范围", timestamp=timestamp)
        try:
            raw_signature = base64.b64decode(signature, validate=True)
            self._public_key.verify(
                raw_signature, f"{timestamp}\n{nonce}\n{text}\n".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, binascii.Error, ValueError) as exc:
            raise SignatureInvalid("signature_invalid", "微信支付通知签名验证失败") from exc
        try:
            envelope = json.loads(text)
            resource = envelope["resource"]
            algorithm = resource["algorithm"]
            if envelope.get("resource_type") != "encrypt-resource" or algorithm != "AEAD_AES_256_GCM":
                raise SignatureInvalid("unsupported_algorithm", "不支持的微信支付通知加密方式")
            plain = AESGCM(self._apiv3_key.encode()).decrypt(
                str(resource["nonce"]).encode(),
                base64.b64decode(resource["ciphertext"]),
                str(resource.get("associated_data") or "").encode(),
            )
            data = json.loads(plain)
            notification_id = str(envelope["id"])
            event_type = str(envelope["event_type"])
        except InvalidTag as exc:
            raise SignatureInvalid("decrypt_failed", "微信支付通知解密失败（APIv3 密钥不符？）") from exc
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise SignatureInvalid("bad_notification", "微信支付通知格式无法识别") from exc
        return notification_id, event_type, data

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes | str, *, now: float | None = None
    ) -> WechatNotification:
        """Verify and decrypt a payment notification; raises ``SignatureInvalid`` when anything is off."""
        notification_id, event_type, data = self._verified_resource(headers, body, now)
        try:
            transaction = _transaction(data)
        except ProviderError as exc:
            raise SignatureInvalid("bad_notification", "微信支付通知内容无法识别") from exc
        if transaction.mch_id != self.settings.mch_id or transaction.app_id != self.settings.app_id:
            raise SignatureInvalid("bad_notification", "微信支付通知的商户号或 AppID 不符")
        return WechatNotification(
            notification_id=notification_id, event_type=event_type, transaction=transaction
        )

    def parse_refund_notification(
        self, headers: Mapping[str, str], body: bytes | str, *, now: float | None = None
    ) -> WechatRefundNotification:
        """Verify and decrypt a REFUND.* notification (same checks as payments; the resource carries
        ``mchid`` but no AppID); raises ``SignatureInvalid`` when anything is off."""
        notification_id, event_type, data = self._verified_resource(headers, body, now)
        if event_type not in REFUND_EVENTS:
            raise SignatureInvalid("bad_notification", "不是微信支付退款通知", event_type=event_type)
        try:
            refund = _refund(data)
        except ProviderError as exc:
            raise SignatureInvalid("bad_notification", "微信支付退款通知内容无法识别") from exc
        if refund.mch_id != self.settings.mch_id:
            raise SignatureInvalid("bad_notification", "微信支付退款通知的商户号不符")
        if event_type != f"REFUND.{refund.status.value}":
            raise SignatureInvalid("bad_notification", "微信支付退款通知的事件与退款状态不符")
        return WechatRefundNotification(notification_id=notification_id, event_type=event_type, refund=refund)
