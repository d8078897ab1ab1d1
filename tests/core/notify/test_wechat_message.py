"""Fitting outbox facts into subscribe-message keywords: every value obeys its keyword's rule, checked
against the same rules the local fake WeChat server enforces (47003 otherwise)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.notify.templates import EVENTS
from core.notify.wechat_message import STATUS, facts, fit, page, template_data
from core.settings import SubscribeTemplate
from tests.fixtures.fake_wechat import _bad_value

WRITTEN = datetime(2026, 11, 21, 16, 5, tzinfo=UTC)
LONG_PAYLOAD = {
    "case_no": "20261121A0001",
    "reason": "经现场核实，该问题不属于城市管理部门职责范围，已转交相关单位处理",
    "department": "渝水区城市管理局环境卫生管理所第三作业队",
    "reply": "已安排人员清理完毕，并加强巡查频次，感谢您的监督与支持。",
    "target_case_no": "20261120A0099",
    "category": "暴露垃圾（含生活垃圾、建筑垃圾、园林垃圾等）",
    "address": "江西省新余市渝水区仙来东大道与北湖路交叉口东南侧人行道",
}


def test_every_event_has_a_short_status() -> None:
    assert set(STATUS) == set(EVENTS)
    assert all(len(text) <= 5 for text in STATUS.values())


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_event_fits_the_default_template_and_a_wide_one(event: str) -> None:
    wide = SubscribeTemplate(
        template_id="t",
        fields={
            "character_string1": "case_no",
            "phrase2": "status",
            "thing3": "note",
            "time4": "time",
            "thing5": "category",
            "thing6": "address",
            "date7": "time",
            "short_thing8": "status",
        },
    )
    for template in (SubscribeTemplate(template_id="t"), wide):
        for payload in (LONG_PAYLOAD, {"case_no": "20261121A0001"}):
            data = template_data(template, facts(event, payload, written_at=WRITTEN))
            assert set(data) == set(template.fields)
            assert [key for key, value in data.items() if _bad_value(key, value)] == []


def test_time_is_local_and_taken_from_the_event() -> None:
    known = facts("case_closed", {"case_no": "X", "at": "2026-11-21T23:30:00+00:00"}, written_at=WRITTEN)
    assert known["time"] == "2026-11-22 07:30"
    assert (
        facts("case_closed", {"case_no": "X", "at": "nonsense"}, written_at=WRITTEN)["time"]
        == "2026-11-22 00:05"
    )


def test_notes_say_what_happened() -> None:
    assert facts("case_dispatched", {"case_no": "X", "department": "环卫所"}, written_at=WRITTEN)["note"] == (
        "已派遣至环卫所"
    )
    assert facts("case_voided", {"case_no": "X", "reason": "重复上报"}, written_at=WRITTEN)["note"] == (
        "原因：重复上报"
    )


@pytest.mark.parametrize(
    ("keyword", "value", "expected"),
    [
        ("thing1", "一二三四五六七八九十一二三四五六七八九十一", "一二三四五六七八九十一二三四五六七八九…"),
        ("phrase2", "已办结 OK", "已办结"),
        ("character_string3", "NO. 2026/11 案", "NO.2026/11"),
        ("number4", "第12件", "12"),
        ("date5", "2026-11-21 10:00", "2026-11-21"),
        ("thing6", "   ", "-"),
        ("unknown7", "x" * 40, "x" * 40),
    ],
)
def test_fit(keyword: str, value: str, expected: str) -> None:
    assert fit(keyword, value) == expected


def test_page_names_the_case() -> None:
    assert page(SubscribeTemplate(template_id="t"), "A1") == "pages/case/detail?no=A1"
    assert page(SubscribeTemplate(template_id="t", page="pages/index"), "A1") == "pages/index"


def test_templates_refuse_unknown_facts() -> None:
    with pytest.raises(ValueError, match="unknown facts"):
        SubscribeTemplate(template_id="t", fields={"thing1": "phone"})
