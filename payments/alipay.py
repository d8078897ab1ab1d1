"""Alipay adapter (``python-alipay-sdk``, RSA2) for the mini-program and the H5 app.

- ``create_mini_order`` → Alipay's ``trade_no`` (``alipay.trade.create``, product code JSAPI_PAY,
  ``buyer_open_id``); the mini-program passes it to ``my.tradePay({tradeNO})``.
- ``wap_pay_url`` → the URL the H5 page opens (``alipay.trade.wap.pay``, signed locally, no request).
- ``query_order`` / ``close_order``.
- ``parse_notification`` verifies an async notify (form POST: drop ``sign`` and ``sign_type``, sort,
  join ``k=v&…``, RSA2 with Alipay's public key); the notify endpoint then answers ``NOTIFY_ANSWER``.

Amounts are integer fen on our side and a two-decimal yuan string on Alipay's (parsed exactly with
Decimal). Replies are verified by the library (the signed ``…_response`` object). The library is
synchronous (``urllib``) and keeps its gateway in a private attribute we override from settings, hence the
exact pin in pyproject.toml; it stamps requests with the host's local time, so we pass Beijing time.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.error import URLError

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig

from core.kit.clock import ensure_aware, to_local, utcnow
from core.settings import AlipaySettings
from payments.providers import ProviderError, SignatureInvalid, fen_to_yuan, yuan_to_fen

NOTIFY_ANSWER = "success"  # the literal body Alipay expects; anything else means "retry"
SUCCESS_CODE = "10000"


class TradeStatus(StrEnum):
    WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
    TRADE_CLOSED = "TRADE_CLOSED"
    TRADE_SUCCESS = "TRADE_SUCCESS"
    TRADE_FINISHED = "TRADE_FINISHED"

    @property
    def paid(self) -> bool:
        return self in (TradeStatus.TRADE_SUCCESS, TradeStatus.TRADE_FINISHED)


@dataclass(frozen=True)
class AlipayTrade:
    out_trade_no: str
    trade_no: str
    trade_status: TradeStatus
    total_amount: int  # fen


@dataclass(frozen=True)
class AlipayNotification:
    """A verified async notify. Check out_trade_no, total_amount, seller_id and app_id against the order."""

    notify_id: str
    out_trade_no: str
    trade_no: str
    trade_status: TradeStatus
    total_amount: int  # fen
    app_id: str
    seller_id: str
    buyer_open_id: str | None

    @property
    def paid(self) -> bool:
        return self.trade_status.paid


def _read(path: Path | None, what: str) -> str:
    if path is None:
        raise ProviderError("provider_not_configured", f"支付宝未配置{what}")
    return path.read_text(encoding="utf-8")


class AlipayClient:
    def __init__(self, settings: AlipaySettings, *, timeout_s: float = 15.0) -> None:
        if not settings.app_id:
            raise ProviderError("provider_not_configured", "支付宝 AppID 未配置")
        self.settings = settings
        self._client: Any = AliPay(
            appid=settings.app_id,
            app_notify_url=settings.notify_url or None,
            app_private_key_string=_read(settings.private_key_path, "应用私钥"),
            alipay_public_key_string=_read(settings.alipay_public_key_path, "支付宝公钥"),
            sign_type="RSA2",
            config=AliPayConfig(timeout=timeout_s),
        )
        # Private attribute of python-alipay-sdk==3.4.0 (pinned): only two gateways are built in.
        self._client._gateway = settings.gateway

    @staticmethod
    def _timestamp() -> str:
        return to_local(utcnow()).strftime("%Y-%m-%d %H:%M:%S")

    def _call(self, method: str, biz_content: dict[str, Any], **extra: Any) -> dict[str, Any]:
        try:
            reply = self._client.server_api(method, biz_content, timestamp=self._timestamp(), **extra)
        except AliPayValidationError as exc:
            raise SignatureInvalid("reply_signature_invalid", "支付宝应答签名验证失败") from exc
        except AliPayException as exc:  # unsigned error reply (error_response)
            raise ProviderError("provider_refused", "支付宝拒绝了请求", error=str(exc)) from exc
        except (URLError, OSError) as exc:
            raise ProviderError("provider_unavailable", "支付宝暂时无法连接", error=repr(exc)) from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ProviderError("provider_bad_reply", "支付宝应答无法识别", error=repr(exc)) from exc
        if not isinstance(reply, dict):
            raise ProviderError("provider_bad_reply", "支付宝应答无法识别")
        if str(reply.get("code")) != SUCCESS_CODE:
            raise ProviderError(
                "provider_refused",
                "支付宝拒绝了请求",
                provider_code=str(reply.get("code", "")),
                provider_sub_code=str(reply.get("sub_code", "")),
                provider_message=str(reply.get("sub_msg", "")),
            )
        return reply

    def _notify(self, notify_url: str | None) -> dict[str, str]:
        url = notify_url or self.settings.notify_url
        return {"notify_url": url} if url else {}

    def create_mini_order(
        self,
        *,
        out_trade_no: str,
        subject: str,
        amount_fen: int,
        buyer_open_id: str,
        time_expire: datetime | None = None,
        notify_url: str | None = None,
    ) -> str:
        """``alipay.trade.create`` for the mini-program; returns ``trade_no`` (my.tradePay's tradeNO)."""
        biz: dict[str, Any] = {
            "out_trade_no": out_trade_no,
            "total_amount": fen_to_yuan(amount_fen),
            "subject": subject,
            "product_code": "JSAPI_PAY",
            "op_app_id": self.settings.app_id,
            "buyer_open_id": buyer_open_id,
        }
        if time_expire is not None:
            biz["time_expire"] = to_local(ensure_aware(time_expire)).strftime("%Y-%m-%d %H:%M:%S")
        reply = self._call("alipay.trade.create", biz, **self._notify(notify_url))
        trade_no = reply.get("trade_no")
        if not trade_no:
            raise ProviderError("provider_bad_reply", "支付宝下单应答缺少 trade_no")
        return str(trade_no)

    def wap_pay_url(
        self,
        *,
        out_trade_no: str,
        subject: str,
        amount_fen: int,
        return_url: str | None = None,
        time_expire: datetime | None = None,
        notify_url: str | None = None,
    ) -> str:
        """The signed ``alipay.trade.wap.pay`` URL the H5 page navigates to (no request is made here)."""
        biz: dict[str, Any] = {
            "out_trade_no": out_trade_no,
            "total_amount": fen_to_yuan(amount_fen),
            "subject": subject,
            "product_code": "QUICK_WAP_WAY",
        }
        if time_expire is not None:
            biz["time_expire"] = to_local(ensure_aware(time_expire)).strftime("%Y-%m-%d %H:%M:%S")
        extra: dict[str, str] = self._notify(notify_url)
        if return_url:
            extra["return_url"] = return_url
        query = self._client.client_api("alipay.trade.wap.pay", biz, timestamp=self._timestamp(), **extra)
        return f"{self.settings.gateway}?{query}"

    def query_order(self, out_trade_no: str) -> AlipayTrade:
        reply = self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        try:
            return AlipayTrade(
                out_trade_no=str(reply["out_trade_no"]),
                trade_no=str(reply["trade_no"]),
                trade_status=TradeStatus(reply["trade_status"]),
                total_amount=yuan_to_fen(str(reply["total_amount"])),
            )
        except (KeyError, ValueError) as exc:
            raise ProviderError("provider_bad_reply", "支付宝查询应答无法识别", reply=reply) from exc

    def close_order(self, out_trade_no: str) -> None:
        self._call("alipay.trade.close", {"out_trade_no": out_trade_no})

    def parse_notification(self, form: Mapping[str, str]) -> AlipayNotification:
        """Verify an async notify (the POSTed form as a flat mapping); raises ``SignatureInvalid``."""
        data = {str(key): str(value) for key, value in form.items()}
        signature = data.pop("sign", "")
        sign_type = data.pop("sign_type", "RSA2")
        if not signature:
            raise SignatureInvalid("signature_invalid", "支付宝通知缺少签名")
        if sign_type != "RSA2":
            raise SignatureInvalid("unsupported_algorithm", "不支持的支付宝签名算法", sign_type=sign_type)
        try:
            valid = bool(self._client.verify(dict(data), signature))
        except (ValueError, TypeError, binascii.Error) as exc:
            raise SignatureInvalid("signature_invalid", "支付宝通知签名验证失败") from exc
        if not valid:
            raise SignatureInvalid("signature_invalid", "支付宝通知签名验证失败")
        try:
            notification = AlipayNotification(
                notify_id=data.get("notify_id", ""),
                out_trade_no=data["out_trade_no"],
                trade_no=data["trade_no"],
                trade_status=TradeStatus(data["trade_status"]),
                total_amount=yuan_to_fen(data["total_amount"]),
                app_id=data["app_id"],
                seller_id=data.get("seller_id", ""),
                buyer_open_id=data.get("buyer_open_id") or None,
            )
        except (KeyError, ValueError) as exc:
            raise SignatureInvalid("bad_notification", "支付宝通知内容无法识别") from exc
        if notification.app_id != self.settings.app_id:
            raise SignatureInvalid("bad_notification", "支付宝通知的 AppID 不符", app_id=notification.app_id)
        return notification
