"""Alipay adapter (``python-alipay-sdk``, RSA2) for the mini-program and the H5 app.

- ``create_mini_order`` → Alipay's ``trade_no`` (``alipay.trade.create``, product code JSAPI_PAY,
  ``buyer_open_id``); the mini-program passes it to ``my.tradePay({tradeNO})``.
- ``wap_pay_url`` → the URL the H5 page opens (``alipay.trade.wap.pay``, signed locally, no request).
- ``query_order`` (with ``send_pay_date``, when the buyer paid) / ``close_order``.
- ``refund`` (``alipay.trade.refund``, synchronous, keyed on ``out_request_no``: asking again answers
  ``fund_change`` N) and ``query_refund`` (``alipay.trade.fastpay.refund.query``: a refund is done when the
  answer carries it with ``refund_status`` REFUND_SUCCESS or empty).
- ``bill(day)`` asks ``alipay.data.dataservice.bill.downloadurl.query`` (bill_type trade) and downloads the
  zip (a plain GET of a short-lived URL); ``bill_details_text(zip)`` reads its ``…_业务明细.csv`` (GBK).
- ``parse_notification`` verifies an async notify (form POST: drop ``sign`` and ``sign_type``, sort,
  join ``k=v&…``, RSA2 with Alipay's public key); the notify endpoint then answers ``NOTIFY_ANSWER``.

Amounts are integer fen on our side and a two-decimal yuan string on Alipay's (parsed exactly with
Decimal). Replies are verified by the library (the signed ``…_response`` object). The library is
synchronous (``urllib``) and keeps its gateway in a private attribute we override from settings, hence the
exact pin in pyproject.toml; it stamps requests with the host's local time, so we pass Beijing time.
"""

from __future__ import annotations

import binascii
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.error import URLError

import httpx
from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig

from core.kit.clock import ensure_aware, to_local, utcnow
from core.settings import AlipaySettings
from payments.providers import ProviderError, SignatureInvalid, fen_to_yuan, provider_time, yuan_to_fen

NOTIFY_ANSWER = "success"  # the literal body Alipay expects; anything else means "retry"
SUCCESS_CODE = "10000"
BILL_DETAILS_SUFFIX = "_业务明细.csv"
REFUND_SUCCESS = "REFUND_SUCCESS"


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
    # When the buyer paid (``send_pay_date``, Beijing time in the reply); None until paid or when absent.
    send_pay_date: datetime | None = None


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


@dataclass(frozen=True)
class AlipayRefund:
    """The answer of ``alipay.trade.refund``. ``fund_change`` False means this call moved no money: the
    refund was made before (a retry) or is still being made; confirm with ``query_refund``."""

    out_trade_no: str
    trade_no: str
    out_request_no: str
    fund_change: bool
    refunded_total_fen: int  # everything refunded of the trade so far
    gmt_refund_pay: datetime | None


@dataclass(frozen=True)
class AlipayRefundQuery:
    out_trade_no: str
    out_request_no: str
    refunded: bool  # the refund exists and succeeded
    refund_fen: int | None
    gmt_refund_pay: datetime | None


def _local_time(value: object) -> datetime | None:
    """Alipay's ``yyyy-MM-dd HH:mm:ss`` (Beijing time) as an aware time; None when absent or unreadable
    (the caller then uses its own clock)."""
    if not value:
        return None
    try:
        return provider_time(str(value))
    except ValueError:
        return None


def bill_details_text(archive: bytes) -> str:
    """The ``…_业务明细.csv`` of an Alipay bill zip as text (the file and its name are GBK)."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive), metadata_encoding="gbk") as bundle:
            names = [n for n in bundle.namelist() if n.endswith(BILL_DETAILS_SUFFIX)]
            if len(names) != 1:
                raise ProviderError(
                    "provider_bad_reply", "支付宝账单压缩包中没有业务明细文件", files=bundle.namelist()
                )
            data = bundle.read(names[0])
    except (zipfile.BadZipFile, OSError) as exc:
        raise ProviderError("provider_bad_reply", "支付宝账单不是有效的压缩包") from exc
    try:
        return data.decode("gb18030").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ProviderError("provider_bad_reply", "支付宝账单编码无法识别") from exc


def _read(path: Path | None, what: str) -> str:
    if path is None:
        raise ProviderError("provider_not_configured", f"支付宝未配置{what}")
    return path.read_text(encoding="utf-8")


class AlipayClient:
    def __init__(self, settings: AlipaySettings, *, timeout_s: float = 15.0) -> None:
        if not settings.app_id:
            raise ProviderError("provider_not_configured", "支付宝 AppID 未配置")
        self.settings = settings
        self._timeout_s = timeout_s
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
                send_pay_date=_local_time(reply.get("send_pay_date")),
            )
        except (KeyError, ValueError) as exc:
            raise ProviderError("provider_bad_reply", "支付宝查询应答无法识别", reply=reply) from exc

    def close_order(self, out_trade_no: str) -> None:
        self._call("alipay.trade.close", {"out_trade_no": out_trade_no})

    # -- refunds ----------------------------------------------------------------------------------

    def refund(self, *, out_trade_no: str, out_request_no: str, amount_fen: int, reason: str) -> AlipayRefund:
        """``alipay.trade.refund`` (synchronous). Safe to repeat with the same ``out_request_no``."""
        reply = self._call(
            "alipay.trade.refund",
            {
                "out_trade_no": out_trade_no,
                "out_request_no": out_request_no,
                "refund_amount": fen_to_yuan(amount_fen),
                "refund_reason": reason[:256],
            },
        )
        try:
            return AlipayRefund(
                out_trade_no=str(reply["out_trade_no"]),
                trade_no=str(reply["trade_no"]),
                out_request_no=out_request_no,
                fund_change=str(reply["fund_change"]) == "Y",
                refunded_total_fen=yuan_to_fen(str(reply["refund_fee"])),
                gmt_refund_pay=_local_time(reply.get("gmt_refund_pay")),
            )
        except (KeyError, ValueError) as exc:
            raise ProviderError("provider_bad_reply", "支付宝退款应答无法识别", reply=reply) from exc

    def query_refund(self, out_trade_no: str, out_request_no: str) -> AlipayRefundQuery:
        """``alipay.trade.fastpay.refund.query``: whether that refund request succeeded."""
        reply = self._call(
            "alipay.trade.fastpay.refund.query",
            {
                "out_trade_no": out_trade_no,
                "out_request_no": out_request_no,
                "query_options": ["gmt_refund_pay"],
            },
        )
        try:
            amount = reply.get("refund_amount")
            status = str(reply.get("refund_status") or "")
            refunded = amount is not None and status in ("", REFUND_SUCCESS)
            return AlipayRefundQuery(
                out_trade_no=str(reply.get("out_trade_no", out_trade_no)),
                out_request_no=str(reply.get("out_request_no", out_request_no)),
                refunded=refunded,
                refund_fen=yuan_to_fen(str(amount)) if amount is not None else None,
                gmt_refund_pay=_local_time(reply.get("gmt_refund_pay")),
            )
        except ValueError as exc:
            raise ProviderError("provider_bad_reply", "支付宝退款查询应答无法识别", reply=reply) from exc

    # -- bills ------------------------------------------------------------------------------------

    def bill(self, bill_date: date) -> bytes:
        """The trade bill zip of ``bill_date`` (a Beijing day); read it with ``bill_details_text``."""
        reply = self._call(
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "trade", "bill_date": bill_date.isoformat()},
        )
        url = str(reply.get("bill_download_url") or "")
        if not url.startswith(("https://", "http://")):
            raise ProviderError("provider_bad_reply", "支付宝账单应答缺少下载地址")
        try:
            answer = httpx.get(url, timeout=self._timeout_s, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise ProviderError("provider_unavailable", "支付宝账单下载失败", error=repr(exc)) from exc
        if answer.status_code != 200 or not answer.content.startswith(b"PK"):
            raise ProviderError("provider_bad_reply", "支付宝账单下载失败", status=answer.status_code)
        return answer.content

    # -- notifications ----------------------------------------------------------------------------

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
