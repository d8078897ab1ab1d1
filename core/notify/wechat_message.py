"""What a subscribe message says: an outbox event's facts fitted into a template's keywords.

A template's keywords carry their value rules in their names (WeChat's "订阅消息参数值内容限制"):
``thing`` ≤ 20 characters, ``phrase`` ≤ 5 Chinese characters, ``character_string`` ≤ 32 letters,
digits and symbols, ``time`` a date-time, ``date`` a date, ``number`` digits, ``letter`` letters,
``name`` ≤ 10 characters, ``short_thing`` ≤ 5 characters. A value breaking its rule is answered 47003,
so every value is fitted here rather than trusted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.settings import SubscribeTemplate

LOCAL = ZoneInfo("Asia/Shanghai")

# A short state per event for ``phrase`` keywords (≤ 5 characters).
STATUS = {
    "case_accepted": "已受理",
    "case_registered": "已立案",
    "case_voided": "不予立案",
    "case_dispatched": "已派遣",
    "case_handled": "已处置",
    "case_returned": "重新派遣",
    "case_closed": "已办结",
    "case_merged": "已合并",
    "case_reopened": "重新办理",
    "rating_invited": "待评价",
}

# The default remark per event, when the payload brings nothing better.
NOTE = {
    "case_accepted": "我们将尽快核实处理",
    "case_registered": "已立案，将尽快安排处置",
    "case_voided": "经核实不予立案",
    "case_dispatched": "已派遣责任单位处置",
    "case_handled": "已处置完毕，正在核查",
    "case_returned": "正在重新安排责任单位",
    "case_closed": "感谢您对城市管理的支持",
    "case_merged": "与同一问题合并处理",
    "case_reopened": "已重新启动处理",
    "rating_invited": "欢迎对处理结果进行评价",
}

LIMITS = {"thing": 20, "phrase": 5, "character_string": 32, "name": 10, "short_thing": 5, "letter": 32}
_NOT_CHARACTER_STRING = re.compile(r"[^0-9A-Za-z_\-.:/#@]")
_NOT_DIGITS = re.compile(r"[^0-9.]")
_KEYWORD = re.compile(r"^([a-z_]+?)(\d+)$")


def _note(event: str, payload: Mapping[str, Any]) -> str:
    if event == "case_voided" and payload.get("reason"):
        return f"原因：{payload['reason']}"
    if event == "case_dispatched" and payload.get("department"):
        return f"已派遣至{payload['department']}"
    if event == "case_closed" and payload.get("reply"):
        return str(payload["reply"])
    if event == "case_merged" and payload.get("target_case_no"):
        return f"并入案件{payload['target_case_no']}"
    return NOTE.get(event, "")


def _when(payload: Mapping[str, Any], fallback: datetime) -> datetime:
    try:
        at = datetime.fromisoformat(str(payload.get("at")))
    except ValueError:
        return fallback
    return at if at.tzinfo is not None else fallback


def facts(event: str, payload: Mapping[str, Any], *, written_at: datetime) -> dict[str, str]:
    """Everything a template may show about this message (see ``SubscribeTemplate.fields``)."""
    at = _when(payload, written_at).astimezone(LOCAL)
    return {
        "case_no": str(payload.get("case_no") or ""),
        "status": STATUS.get(event, "有更新"),
        "note": _note(event, payload),
        "time": at.strftime("%Y-%m-%d %H:%M"),
        "category": str(payload.get("category") or "") or "城市管理问题",
        "address": str(payload.get("address") or "") or "见案件详情",
    }


def fit(keyword: str, value: str) -> str:
    """``value`` made acceptable for ``keyword`` (by its type prefix)."""
    match = _KEYWORD.match(keyword)
    kind = match.group(1) if match else keyword
    text = " ".join(value.split())
    if kind == "character_string":
        text = _NOT_CHARACTER_STRING.sub("", text)
    elif kind == "number":
        text = _NOT_DIGITS.sub("", text) or "0"
        return text[:32]
    elif kind == "date":
        text = text[:10]
    elif kind == "phrase":
        text = re.sub(r"[^\u4e00-\u9fff]", "", text)
    limit = LIMITS.get(kind)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…" if kind in ("thing", "name") else text[:limit]
    return text or "-"


def template_data(template: SubscribeTemplate, known: Mapping[str, str]) -> dict[str, str]:
    return {keyword: fit(keyword, known.get(fact, "")) for keyword, fact in template.fields.items()}


def page(template: SubscribeTemplate, case_no: str) -> str:
    return template.page.replace("{case_no}", case_no)
