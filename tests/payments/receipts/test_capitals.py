"""Amounts in Chinese capitals as banks write them."""

from __future__ import annotations

import pytest

from payments.receipts.capitals import fen_to_capitals


@pytest.mark.parametrize(
    ("fen", "expected"),
    [
        (0, "零元整"),
        (5, "伍分"),
        (50, "伍角"),
        (55, "伍角伍分"),
        (100, "壹元整"),
        (1_000, "壹拾元整"),
        (1_005, "壹拾元零伍分"),
        (1_030, "壹拾元叁角"),
        (20_000, "贰佰元整"),
        (23_050, "贰佰叁拾元伍角"),
        (100_050, "壹仟元伍角"),
        (100_500, "壹仟零伍元整"),
        (101_005, "壹仟零壹拾元零伍分"),
        (168_032, "壹仟陆佰捌拾元叁角贰分"),
        (1_000_000, "壹万元整"),
        (1_000_100, "壹万零壹元整"),
        (1_010_000, "壹万零壹佰元整"),
        (10_000_000, "壹拾万元整"),
        (11_000_000, "壹拾壹万元整"),
        (99_000_000, "玖拾玖万元整"),
        (1_000_000_500, "壹仟万零伍元整"),
        (10_000_000_000, "壹亿元整"),
        (10_001_000_000, "壹亿零壹万元整"),
        (10_000_100_000, "壹亿零壹仟元整"),
        (123_456_789_012, "壹拾贰亿叁仟肆佰伍拾陆万柒仟捌佰玖拾元壹角贰分"),
    ],
)
def test_capitals(fen: int, expected: str) -> None:
    assert fen_to_capitals(fen) == expected


@pytest.mark.parametrize("bad", [-1, True, 1.5, "100"])
def test_refuses_what_is_not_fen(bad: object) -> None:
    with pytest.raises(ValueError, match="fen"):
        fen_to_capitals(bad)  # type: ignore[arg-type]
