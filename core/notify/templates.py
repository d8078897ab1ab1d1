"""The Chinese text of every SMS a citizen receives.

The gateway adds the signature (【智慧城管】, ``ZHCG_SMS__SIGN_NAME``), so texts start without it. Keep
them short: one SMS segment is 70 characters, and a long message costs several.

Outbox events and the payload keys their text uses (``core.notify.outbox.record(..., payload=...)``):

| event | required | optional |
|---|---|---|
| ``case_accepted`` | ``case_no`` | |
| ``case_registered`` | ``case_no`` | ``due_text`` (e.g. "2个工作日") |
| ``case_voided`` | ``case_no`` | ``reason`` |
| ``case_dispatched`` | ``case_no`` | ``department`` (name of the department) |
| ``case_handled`` | ``case_no`` | |
| ``case_returned`` | ``case_no`` | |
| ``case_closed`` | ``case_no`` | ``reply`` (答复, shortened to fit) |
| ``case_merged`` | ``case_no`` | ``target_case_no`` (the case it was merged into) |
| ``case_reopened`` | ``case_no`` | |
| ``rating_invited`` | ``case_no`` | |

Payloads never need personal data: the text names the case by its number only.

Events about something other than a case (``OTHER_TEMPLATES``, not in ``EVENTS``, which lists the case
events every channel must know) name their own required key:

| event | required | optional |
|---|---|---|
| ``fine_paid`` | ``decision_no`` | ``amount_fen``, ``receipt_no`` |
| ``fine_refunded`` | ``decision_no`` | ``amount_fen`` (what went back) |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

MAX_REPLY_CHARS = 60
MAX_REASON_CHARS = 40
MAX_TEXT_CHARS = 300


class TemplateError(Exception):
    """The message cannot be written (unknown event or missing ``case_no``): retrying cannot help."""


def login_code(code: str, ttl_s: int) -> str:
    minutes = max(1, ttl_s // 60)
    return (
        f"您的登录验证码为 {code}，{minutes} 分钟内有效。请勿将验证码告诉他人；如非本人操作，请忽略本短信。"
    )


def _short(value: Any, limit: int) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _case(payload: Mapping[str, Any]) -> str:
    return f"您反映的问题（案件编号 {payload['case_no']}）"


def _accepted(p: Mapping[str, Any]) -> str:
    return f"{_case(p)}已受理，我们将尽快核实处理。"


def _registered(p: Mapping[str, Any]) -> str:
    due = _short(p.get("due_text"), 20)
    return f"{_case(p)}已立案，将在{due}内处置。" if due else f"{_case(p)}已立案，我们将尽快安排处置。"


def _voided(p: Mapping[str, Any]) -> str:
    reason = _short(p.get("reason"), MAX_REASON_CHARS)
    because = f"，原因：{reason}" if reason else ""
    return f"{_case(p)}经核实不予立案{because}。感谢您的支持。"


def _dispatched(p: Mapping[str, Any]) -> str:
    department = _short(p.get("department"), 30) or "责任单位"
    return f"{_case(p)}已派遣至{department}处置。"


def _handled(p: Mapping[str, Any]) -> str:
    return f"{_case(p)}已处置完毕，正在核查处置结果。"


def _returned(p: Mapping[str, Any]) -> str:
    return f"{_case(p)}正在重新安排责任单位处置。"


def _closed(p: Mapping[str, Any]) -> str:
    reply = _short(p.get("reply"), MAX_REPLY_CHARS)
    return f"{_case(p)}已办结。{reply}" if reply else f"{_case(p)}已办结，感谢您对城市管理的支持。"


def _merged(p: Mapping[str, Any]) -> str:
    other = _short(p.get("target_case_no"), 32)
    into = f"（案件编号 {other}）" if other else ""
    return f"{_case(p)}与他人反映的同一问题{into}合并处理，处理进展请查看该案件。"


def _reopened(p: Mapping[str, Any]) -> str:
    return f"{_case(p)}已重新启动处理。"


def _rating(p: Mapping[str, Any]) -> str:
    return f"{_case(p)}已办结，欢迎在“我的上报”中对处理结果进行评价。"


TEMPLATES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "case_accepted": _accepted,
    "case_registered": _registered,
    "case_voided": _voided,
    "case_dispatched": _dispatched,
    "case_handled": _handled,
    "case_returned": _returned,
    "case_closed": _closed,
    "case_merged": _merged,
    "case_reopened": _reopened,
    "rating_invited": _rating,
}

EVENTS = frozenset(TEMPLATES)


def _yuan(fen: Any) -> str:
    if isinstance(fen, bool) or not isinstance(fen, int) or fen <= 0:
        return ""
    return f"{fen // 100}.{fen % 100:02d}"


def _fine_paid(p: Mapping[str, Any]) -> str:
    amount = _yuan(p.get("amount_fen"))
    paid = f"已缴纳{amount}元" if amount else "已缴纳"
    receipt = _short(p.get("receipt_no"), 32)
    tail = f"，电子票据号 {receipt}。" if receipt else "。"
    return f"您的罚款（决定书 {_short(p['decision_no'], 64)}）{paid}{tail}"


def _fine_refunded(p: Mapping[str, Any]) -> str:
    amount = _yuan(p.get("amount_fen"))
    refunded = f"已退款{amount}元" if amount else "已退款"
    return f"您缴纳的罚款（决定书 {_short(p['decision_no'], 64)}）{refunded}，将原路退回您的支付账户。"


# Events that are not about a case: (text, the payload key it cannot be written without).
OTHER_TEMPLATES: dict[str, tuple[Callable[[Mapping[str, Any]], str], str]] = {
    "fine_paid": (_fine_paid, "decision_no"),
    "fine_refunded": (_fine_refunded, "decision_no"),
}


def render(event: str, payload: Mapping[str, Any]) -> str:
    """The SMS text for an outbox event; ``TemplateError`` when it cannot be written."""
    template = TEMPLATES.get(event)
    required = "case_no"
    if template is None and event in OTHER_TEMPLATES:
        template, required = OTHER_TEMPLATES[event]
    if template is None:
        raise TemplateError(f"unknown event {event!r}")
    if not str(payload.get(required) or "").strip():
        raise TemplateError(f"event {event!r} needs {required} in its payload")
    return _short(template(payload), MAX_TEXT_CHARS)
