"""What the payment endpoints take and answer: amounts in fen and as exact yuan strings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, PlainSerializer

from core.kit.clock import local_isoformat
from core.kit.text import CleanStr
from core.models import PaymentChannel, PaymentClient, PaymentOrderStatus

LocalTime = Annotated[datetime, PlainSerializer(local_isoformat, return_type=str)]


def _utf8(value: str) -> str:
    """A lone surrogate (``"\\udfff"`` in JSON) cannot be stored or compared: refused as bad input."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("含有无效的字符") from None
    return value


# Text a payer sends: no control characters (PostgreSQL refuses NUL) and valid Unicode.
PayerText = Annotated[CleanStr, AfterValidator(_utf8)]


class PaymentIn(BaseModel):
    channel: PaymentChannel = Field(description="wechat 微信支付 / alipay 支付宝")
    client: PaymentClient = Field(description="miniprogram 小程序 / h5 手机网页（仅支付宝）")
    party_name: PayerText = Field(
        min_length=1, max_length=128, description="当事人姓名或名称（须与决定书一致）"
    )
    payer_openid: PayerText | None = Field(
        default=None, min_length=1, max_length=128, description="微信付款人 openid（未登录时必填）"
    )
    buyer_open_id: PayerText | None = Field(
        default=None, min_length=1, max_length=128, description="支付宝买家 open_id（支付宝小程序必填）"
    )


class WechatPayParams(BaseModel):
    """The arguments of ``wx.requestPayment`` (its own camelCase names)."""

    appId: str
    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str


class AlipayParams(BaseModel):
    """``trade_no`` for ``my.tradePay({tradeNO})`` in the mini-program, or ``pay_url`` for an H5 page."""

    trade_no: str | None = None
    pay_url: str | None = None


class PaymentOrderOut(BaseModel):
    out_trade_no: str = Field(description="支付订单号")
    channel: PaymentChannel
    client: PaymentClient
    status: PaymentOrderStatus
    amount_fen: int = Field(description="应付金额（分），下单时锁定")
    amount_yuan: str = Field(description="应付金额（元）")
    fine_fen: int = Field(description="罚款（分）")
    late_fee_fen: int = Field(description="加处罚款（分）")
    expires_at: LocalTime = Field(description="订单失效时间")
    wechat: WechatPayParams | None = Field(default=None, description="微信小程序调起支付参数")
    alipay: AlipayParams | None = Field(default=None, description="支付宝 tradeNO 或 H5 支付地址")


class PaymentStatusOut(BaseModel):
    out_trade_no: str
    channel: PaymentChannel
    status: PaymentOrderStatus = Field(
        description="pending 待支付 / paid 已支付 / closed 已关闭 / needs_refund 待退款 / refunded 已退款"
    )
    amount_fen: int
    amount_yuan: str
    fine_fen: int
    late_fee_fen: int
    expires_at: LocalTime
    paid_at: LocalTime | None = None
    receipt_no: str | None = Field(default=None, description="电子票据号（已支付时）")
