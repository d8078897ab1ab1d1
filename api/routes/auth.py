"""Login: citizens by phone + SMS code or by WeChat mini-program code, staff by password; who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from api.deps import CitizenDep, SessionDep, SettingsDep, StaffDep
from api.errors import AUTH_RESPONSES, BODY_RESPONSES, PROBLEM_RESPONSES, Problem, problem_responses
from core.citizens import service as citizens_service
from core.citizens.errors import CodeRejected
from core.citizens.schemas import (
    BindPhone,
    CitizenOut,
    CitizenToken,
    PhoneLogin,
    SmsCodeRequest,
    SmsCodeSent,
    WechatLogin,
)
from core.notify.sms import SmsGateway, gateway_from_settings
from core.staff import auth as staff_auth
from core.staff.auth import StaffLogin, StaffProfile, StaffToken
from core.wechat.client import WechatClient, client_from_settings

RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    401: {"model": Problem, "description": "未登录、登录失效或验证失败（code 说明原因）"},
}

router = APIRouter(prefix="/api/v1", tags=["citizen-auth"], responses=RESPONSES)
staff_router = APIRouter(prefix="/api/v1/staff", tags=["staff-auth"], responses=RESPONSES)


def get_sms_gateway(settings: SettingsDep) -> SmsGateway:
    return gateway_from_settings(settings)


SmsGatewayDep = Annotated[SmsGateway, Depends(get_sms_gateway)]


def get_wechat_client(settings: SettingsDep) -> WechatClient:
    return client_from_settings(settings)


WechatClientDep = Annotated[WechatClient, Depends(get_wechat_client)]


def _no_store(response: Response) -> None:
    # Tokens must not be kept by caches or proxies.
    response.headers["Cache-Control"] = "no-store"


@router.post(
    "/auth/sms-code",
    response_model=SmsCodeSent,
    summary="获取短信登录验证码",
    responses={
        **BODY_RESPONSES,
        429: {"model": Problem, "description": "发送过于频繁（sms_rate_limited，见 Retry-After）"},
    },
)
def send_sms_code(
    body: SmsCodeRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    gateway: SmsGatewayDep,
) -> SmsCodeSent:
    client_ip = request.client.host if request.client else ""
    return citizens_service.request_login_code(
        session, settings=settings, gateway=gateway, phone=body.phone, client_ip=client_ip
    )


@router.post(
    "/auth/phone",
    response_model=CitizenToken,
    summary="手机号 + 验证码登录（首次登录自动注册）",
    responses={**BODY_RESPONSES, **problem_responses(403)},
)
def phone_login(
    body: PhoneLogin, response: Response, session: SessionDep, settings: SettingsDep
) -> CitizenToken:
    try:
        token = citizens_service.login_with_code(session, settings=settings, phone=body.phone, code=body.code)
    except CodeRejected:
        # A wrong try was counted on the code: keep that count, then answer the error (the request's
        # unit of work would otherwise roll it back and the attempt limit would not hold).
        session.commit()
        raise
    _no_store(response)
    return token


@router.post(
    "/auth/wechat",
    response_model=CitizenToken,
    summary="微信小程序登录（wx.login 凭证，首次登录自动注册）",
    responses={
        **BODY_RESPONSES,
        403: {"model": Problem, "description": "微信账号存在风险（wechat_user_blocked）或账号停用"},
        429: {"model": Problem, "description": "微信登录过于频繁（wechat_rate_limited）"},
        503: {
            "model": Problem,
            "description": "微信服务不可用（wechat_unavailable）或未开通（wechat_not_configured）",
        },
    },
)
def wechat_login(
    body: WechatLogin, response: Response, session: SessionDep, settings: SettingsDep, client: WechatClientDep
) -> CitizenToken:
    token = citizens_service.login_with_wechat(session, settings=settings, code=body.code, client=client)
    _no_store(response)
    return token


@router.post(
    "/auth/wechat/bind-phone",
    response_model=CitizenToken,
    summary="微信登录的市民绑定手机号（短信验证码；该手机号已有账号时合并到该账号）",
    responses={
        **BODY_RESPONSES,
        **AUTH_RESPONSES,
        409: {"model": Problem, "description": "手机号已绑定其他微信账号，或本账号已绑定其他手机号"},
    },
)
def wechat_bind_phone(
    body: BindPhone, response: Response, citizen: CitizenDep, session: SessionDep, settings: SettingsDep
) -> CitizenToken:
    try:
        token = citizens_service.bind_phone(
            session, settings=settings, citizen=citizen, phone=body.phone, code=body.code
        )
    except CodeRejected:
        session.commit()  # keep the counted wrong try (see phone_login)
        raise
    _no_store(response)
    return token


@router.get("/me", response_model=CitizenOut, summary="当前市民", responses=AUTH_RESPONSES)
def citizen_me(citizen: CitizenDep) -> CitizenOut:
    return citizens_service.citizen_out(citizen)


@staff_router.post(
    "/auth/login",
    response_model=StaffToken,
    summary="工作人员登录",
    responses={**BODY_RESPONSES, **problem_responses(429)},
)
def staff_login(
    body: StaffLogin, request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> StaffToken:
    client_ip = request.client.host if request.client else ""
    try:
        token = staff_auth.login(
            session, settings=settings, username=body.username, password=body.password, client_ip=client_ip
        )
    except staff_auth.CredentialsRejected:
        session.commit()  # keep the counted failure (the throttle), then answer the error
        raise
    _no_store(response)
    return token


@staff_router.get("/me", response_model=StaffProfile, summary="当前工作人员", responses=AUTH_RESPONSES)
def staff_me(staff: StaffDep, session: SessionDep) -> StaffProfile:
    return staff_auth.profile(session, staff)
