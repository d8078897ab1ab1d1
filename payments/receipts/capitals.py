"""Amounts in Chinese capitals (中文大写金额) as written on receipts and bank slips.

Rules (《支付结算办法》 附件一, common bank practice):
- digits 零壹贰叁肆伍陆柒捌玖 with the units 拾佰仟, 万 and 亿; ``壹拾`` keeps its 壹;
- an amount in whole yuan ends in ``元整``; one with 角 and no 分 ends in 角 (no 整); 分 never takes 整;
- one 零 stands for a run of zeros inside the yuan part, and for a missing 角 before 分
  (``壹拾元零伍分``); a zero 元 digit before 角 is not written (``壹佰元伍角``).
"""

from __future__ import annotations

DIGITS = "零壹贰叁肆伍陆柒捌玖"
GROUP_UNITS = ("", "万", "亿", "万亿")
PLACES = ((1000, "仟"), (100, "佰"), (10, "拾"), (1, ""))
MAX_FEN = 10**16 * 100 - 1  # below 1 亿亿 yuan


def _group(value: int) -> str:
    """1..9999 without a leading 零 (``1005`` → 壹仟零伍, ``10`` → 壹拾)."""
    text = ""
    zero = False
    for place, unit in PLACES:
        digit = value // place % 10
        if digit == 0:
            zero = zero or bool(text)
            continue
        if zero:
            text += "零"
            zero = False
        text += DIGITS[digit] + unit
    return text


def _yuan(value: int) -> str:
    """A positive whole number of yuan in capitals, without the unit 元."""
    groups: list[int] = []
    while value:
        value, group = divmod(value, 10_000)
        groups.append(group)
    text = ""
    skipped_zero = False
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group == 0:
            skipped_zero = bool(text)
            continue
        if text and (skipped_zero or group < 1000):
            text += "零"
        text += _group(group) + GROUP_UNITS[index]
        skipped_zero = False
    return text


def fen_to_capitals(fen: int) -> str:
    """``20000`` → 贰佰元整, ``23050`` → 贰佰叁拾元伍角, ``1005`` → 壹拾元零伍分, ``0`` → 零元整."""
    if isinstance(fen, bool) or not isinstance(fen, int) or fen < 0 or fen > MAX_FEN:
        raise ValueError(f"amount must be a non-negative integer in fen, got {fen!r}")
    yuan, rest = divmod(fen, 100)
    jiao, fen_digit = divmod(rest, 10)
    if rest == 0:
        return f"{_yuan(yuan) or '零'}元整"
    text = f"{_yuan(yuan)}元" if yuan else ""
    if jiao:
        text += DIGITS[jiao] + "角"
    elif yuan:
        text += "零"
    if fen_digit:
        text += DIGITS[fen_digit] + "分"
    return text
