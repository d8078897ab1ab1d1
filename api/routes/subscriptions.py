"""WeChat subscribe-message consents: which templates to ask for, and what the user chose.

The mini-program calls ``GET`` to learn the template ids (``wx.requestSubscribeMessage`` takes at most
three per call, so they come most useful first), asks the user, then ``POST``s the answer object of
``wx.requestSubscribeMessage`` as it is (``{"<template id>": "accept" | "reject" | "ban" | "filter",
"errMsg": "requestSubscribeMessage:ok"}``). Every "accept" allows one message of that template.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from api.deps import CitizenDep, SessionDep, SettingsDep
from api.errors import AUTH_RESPONSES, BODY_RESPONSES, PROBLEM_RESPONSES, Problem
from core.errors import Conflict, Invalid
from core.settings import Settings
from core.wechat import consents
from core.wechat.consents import Choice

router = APIRouter(
    prefix="/api/v1/wechat/subscriptions", tags=["wechat"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES}
)

# Most useful first: what a citizen most wants to hear about their report.
EVENT_ORDER = (
    "case_registered",
    "case_closed",
    "case_dispatched",
    "case_voided",
    "rating_invited",
    "case_accepted",
    "case_handled",
    "case_returned",
    "case_merged",
    "case_reopened",
)
MAX_TEMPLATE_ID_CHARS = 64
MAX_KEYS = 20


class TemplateConsent(BaseModel):
    template_id: str
    events: list[str] = Field(description="这些通知使用该模板")
    available: int = Field(description="尚可发送的次数（每次“允许”加一次）")


class Subscriptions(BaseModel):
    templates: list[TemplateConsent]


def _view(settings: Settings, counts: dict[str, int]) -> Subscriptions:
    by_template: dict[str, list[str]] = {}
    configured = settings.wechat.subscribe_templates
    order = [event for event in EVENT_ORDER if event in configured] + sorted(
        set(configured) - set(EVENT_ORDER)
    )
    for event in order:
        by_template.setdefault(configured[event].template_id, []).append(event)
    return Subscriptions(
        templates=[
            TemplateConsent(template_id=template_id, events=events, available=counts.get(template_id, 0))
            for template_id, events in by_template.items()
        ]
    )


@router.get("", response_model=Subscriptions, summary="订阅消息模板及剩余次数")
def subscriptions(session: SessionDep, settings: SettingsDep, citizen: CitizenDep) -> Subscriptions:
    assert citizen.id is not None
    return _view(settings, consents.available(session, citizen.id))


@router.post(
    "",
    response_model=Subscriptions,
    summary="记录用户的订阅选择（wx.requestSubscribeMessage 的结果）",
    responses={
        **BODY_RESPONSES,
        409: {"model": Problem, "description": "未使用微信登录，不能订阅（wechat_not_bound）"},
    },
)
def record(
    session: SessionDep,
    settings: SettingsDep,
    citizen: CitizenDep,
    results: Annotated[
        dict[str, str],
        Body(
            description="wx.requestSubscribeMessage 的 success 回调结果，原样提交",
            examples=[{"TEMPLATE_ID": "accept", "errMsg": "requestSubscribeMessage:ok"}],
        ),
    ],
) -> Subscriptions:
    assert citizen.id is not None
    if not citizen.openid:
        raise Conflict("wechat_not_bound", "请先使用微信登录后再订阅消息")
    if len(results) > MAX_KEYS:
        raise Invalid("too_many_templates", f"一次最多提交 {MAX_KEYS} 个模板的选择")
    choices: dict[str, Choice] = {}
    for key, value in results.items():
        if key == "errMsg":
            continue
        if not key or len(key) > MAX_TEMPLATE_ID_CHARS:
            raise Invalid("invalid_template_id", "订阅消息模板编号不正确", field=key[:MAX_TEMPLATE_ID_CHARS])
        try:
            choices[key] = Choice(value)
        except ValueError:
            raise Invalid(
                "invalid_subscribe_choice", "订阅选择只能是 accept、reject、ban 或 filter", field=key
            ) from None
    template_ids = {template.template_id for template in settings.wechat.subscribe_templates.values()}
    counts = consents.record(
        session,
        citizen_id=citizen.id,
        choices=choices,
        template_ids=template_ids,
        cap=settings.wechat.max_consents_per_template,
    )
    return _view(settings, counts)
