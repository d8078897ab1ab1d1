"""Every outbox event has a short Chinese text that names the case by its number."""

from __future__ import annotations

import pytest

from core.notify.templates import EVENTS, MAX_REPLY_CHARS, TemplateError, login_code, render


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_event_renders_with_only_a_case_number(event: str) -> None:
    text = render(event, {"case_no": "20261121A0001"})
    assert "20261121A0001" in text
    assert len(text) <= 70  # one SMS segment


def test_required_events_exist() -> None:
    assert {"case_registered", "case_voided", "case_dispatched", "case_closed", "rating_invited"} <= EVENTS


def test_optional_payload_fields() -> None:
    assert "原因：重复上报" in render("case_voided", {"case_no": "N1", "reason": "重复上报"})
    assert "市政设施管理所" in render("case_dispatched", {"case_no": "N1", "department": "市政设施管理所"})
    assert "2个工作日" in render("case_registered", {"case_no": "N1", "due_text": "2个工作日"})
    closed = render("case_closed", {"case_no": "N1", "reply": "井盖已更换。" * 30})
    assert closed.endswith("…")
    assert len(closed) < 40 + MAX_REPLY_CHARS


@pytest.mark.parametrize(
    ("event", "payload"),
    [("no_such_event", {"case_no": "N1"}), ("case_closed", {}), ("case_closed", {"case_no": " "})],
)
def test_unwritable_messages(event: str, payload: dict[str, str]) -> None:
    with pytest.raises(TemplateError):
        render(event, payload)


def test_login_code_text() -> None:
    text = login_code("012345", 300)
    assert "验证码为 012345" in text
    assert "5 分钟内有效" in text


def test_merged_names_the_other_case() -> None:
    text = render("case_merged", {"case_no": "N1", "target_case_no": "N0"})
    assert "N0" in text
