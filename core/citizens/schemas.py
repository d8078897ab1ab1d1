"""What the citizen login API reads and answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SmsCodeRequest(BaseModel):
    phone: str = Field(max_length=32, description="中国大陆手机号码，11 位")


class SmsCodeSent(BaseModel):
    sent: bool = True
    expires_in: int = Field(description="验证码有效期（秒）")
    resend_after: int = Field(description="多少秒后可重新获取")


class PhoneLogin(BaseModel):
    phone: str = Field(max_length=32, description="中国大陆手机号码，11 位")
    code: str = Field(max_length=16, description="短信验证码，6 位数字")


class CitizenOut(BaseModel):
    id: int
    phone_masked: str = Field(description="脱敏手机号，如 138****8000")


class CitizenToken(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the scheme name, not a secret)
    expires_in: int = Field(description="令牌有效期（秒）")
    citizen: CitizenOut


class WechatLogin(BaseModel):
    code: str = Field(min_length=1, max_length=128, description="小程序 wx.login() 返回的临时登录凭证")


class BindPhone(BaseModel):
    phone: str = Field(max_length=32, description="中国大陆手机号码，11 位")
    code: str = Field(max_length=16, description="短信验证码，6 位数字")
