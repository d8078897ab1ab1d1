"""The citizen's ``fine_paid`` message (written by ``settle`` into the outbox) has a short Chinese text."""

from __future__ import annotations

import pytest

from core.notify.templates import EVENTS, TemplateError, render


def test_fine_paid_names_the_decision_amount_and_receipt() -> None:
    text = render(
        "fine_paid",
        {
            "decision_no": "赣城管罚决字〔2026〕第00000001号",
            "amount_fen": 23005,
            "receipt_no": "ZF2026112100000042",
        },
    )
    assert "赣城管罚决字〔2026〕第00000001号" in text
    assert "230.05元" in text
    assert "ZF2026112100000042" in text
    assert len(text) <= 70  # one SMS segment


def test_fine_paid_without_optional_fields_and_not_a_case_event() -> None:
    assert render("fine_paid", {"decision_no": "A-1"}).endswith("已缴纳。")
    assert "fine_paid" not in EVENTS  # case events only: WeChat case-status templates do not cover it
    with pytest.raises(TemplateError):
        render("fine_paid", {"receipt_no": "ZF1"})
