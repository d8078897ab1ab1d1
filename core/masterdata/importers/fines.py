"""Penalty decisions (行政处罚决定书) from the enforcement system: CSV or JSON.

Validated as a whole like master data (file, row, field; all or nothing) and upserted by
``decision_no``. Amounts come in yuan with at most two decimals and are converted to fen exactly
(``Decimal``). A full identity number in the file is masked before anything is stored, and error
messages never repeat it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from core.masterdata import parse
from core.masterdata.errors import ErrorCollector
from core.masterdata.importers.base import ImportStats, upsert
from core.masterdata.readers import SourceFile, csv_rows
from core.models import Case, FineStatus, PenaltyDecision
from core.models.fines import PAYMENT_DAYS

REQUIRED = ("decision_no", "party_name", "amount_yuan", "decided_on", "served_on")
OPTIONAL = (
    "party_id",
    "phone",
    "case_no",
    "due_on",
    "status",
    "deferral_from",
    "deferral_until",
    "instalment_note",
)
MAX_YUAN = Decimal("10000000.00")  # ten million yuan: far above any fine of urban management
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Resident identity number (18 or 15 characters) or a unified social credit code (18).
PARTY_ID_RE = re.compile(r"[0-9A-Za-z]{15}|[0-9A-Za-z]{18}")
MASKED_ID_RE = re.compile(r"[0-9A-Za-z]{4}\*{7,10}[0-9A-Za-z]{4}")
AMOUNT_RE = re.compile(r"[0-9]{1,9}(\.[0-9]{1,2})?")
PHONE_RE = re.compile(r"[0-9+\- ]{5,20}")


def mask_party_id(value: str) -> str:
    """``360102199001011234`` → ``3601**********1234``: the first four and last four kept."""
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def _json_rows(source: SourceFile, errors: ErrorCollector) -> Iterator[tuple[int, dict[str, str]]]:
    """A JSON array of objects (or ``{"decisions": [...]}``); rows are numbered from 1 (unit 条)."""
    try:
        document = json.loads(source.text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        errors.add(exc.lineno, None, f"不是合法的 JSON（第 {exc.colno} 列：{exc.msg}）")
        errors.raise_if_any()
        raise AssertionError("unreachable") from exc
    except RecursionError as exc:
        errors.add(None, None, "JSON 嵌套层数过深")
        errors.raise_if_any()
        raise AssertionError("unreachable") from exc
    if isinstance(document, dict):
        document = document.get("decisions")
    if not isinstance(document, list):
        errors.add(None, "decisions", "应为决定书列表（数组，或含 decisions 数组的对象）")
        errors.raise_if_any()
        return
    for number, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            errors.add(number, None, "应为对象", unit="条")
            continue
        values: dict[str, str] = {}
        for name in (*REQUIRED, *OPTIONAL):
            value: Any = item.get(name)
            if value is None:
                values[name] = ""
            elif isinstance(value, bool) or not isinstance(value, str | int | Decimal):
                errors.add(number, name, "应为字符串或数字", unit="条")
                values[name] = ""
            else:
                values[name] = str(value).strip()
        yield number, values


def _text(
    errors: ErrorCollector, row_no: int, row: dict[str, str], name: str, unit: str, *, required: bool = True
) -> str | None:
    value = row[name]
    if required and not value:
        errors.add(row_no, name, "不能为空", unit=unit)
        return None
    if parse.CONTROL_CHARACTERS.search(value):
        errors.add(row_no, name, "含有不可见的控制字符", unit=unit)
        return None
    limit = parse.column_length(PenaltyDecision, name)
    if len(value) > limit:
        errors.add(row_no, name, f"长度 {len(value)} 超过上限 {limit} 个字符", unit=unit)
        return None
    return value


def _date(errors: ErrorCollector, row: int, name: str, value: str, unit: str) -> date | None:
    if not DATE_RE.fullmatch(value):
        errors.add(row, name, f"“{value}”不是日期（YYYY-MM-DD）", unit=unit)
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.add(row, name, f"“{value}”不是有效日期", unit=unit)
        return None


def _optional_date(errors: ErrorCollector, row: int, name: str, value: str, unit: str) -> date | None:
    return _date(errors, row, name, value, unit) if value else None


def _party_id(errors: ErrorCollector, row: int, value: str, unit: str) -> str | None:
    if not value:
        return ""
    if MASKED_ID_RE.fullmatch(value):
        return value
    if PARTY_ID_RE.fullmatch(value):
        return mask_party_id(value.upper())
    # Never repeat the value: it may be a (mistyped) identity number.
    errors.add(row, "party_id", "格式不正确，应为 15 或 18 位证件号码或统一社会信用代码", unit=unit)
    return None


def _amount_fen(errors: ErrorCollector, row: int, value: str, unit: str) -> int | None:
    """Yuan with at most two decimals (``1234.5``, ``200.00``) to exact integer fen."""
    if not value:
        errors.add(row, "amount_yuan", "不能为空", unit=unit)
        return None
    if re.fullmatch(r"[0-9]+\.[0-9]{3,}", value):
        errors.add(row, "amount_yuan", f"{value} 最多保留 2 位小数", unit=unit)
        return None
    if not AMOUNT_RE.fullmatch(value):
        errors.add(row, "amount_yuan", f"“{value}”不是金额（元，如 200 或 200.50）", unit=unit)
        return None
    number = Decimal(value)
    if not Decimal("0.01") <= number <= MAX_YUAN:
        errors.add(row, "amount_yuan", f"{value} 超出范围（0.01–{MAX_YUAN}）", unit=unit)
        return None
    return int(number * 100)


def _status(errors: ErrorCollector, row: int, value: str, unit: str) -> FineStatus | None:
    if not value:
        return FineStatus.UNPAID
    try:
        return FineStatus(value)
    except ValueError:
        allowed = "、".join(member.value for member in FineStatus)
        errors.add(row, "status", f"“{value}”不是允许的值（{allowed}）", unit=unit)
        return None


def _cases_by_no(session: Session, numbers: set[str]) -> dict[str, int]:
    if not numbers:
        return {}
    rows = session.exec(select(Case.case_no, Case.id).where(col(Case.case_no).in_(numbers))).all()
    return {case_no: case_id for case_no, case_id in rows if case_id is not None}


def _existing(session: Session) -> dict[str, PenaltyDecision]:
    return {row.decision_no: row for row in session.exec(select(PenaltyDecision)).all()}


def import_fines(session: Session, source: SourceFile) -> ImportStats:
    errors = ErrorCollector(source.name)
    is_json = source.path.suffix.lower() == ".json"
    unit = "条" if is_json else "行"
    rows = list(_json_rows(source, errors) if is_json else csv_rows(source, REQUIRED))
    cases = _cases_by_no(session, {row.get("case_no", "") for _, row in rows} - {""})
    parsed: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for row_no, raw in rows:
        row = {name: raw.get(name, "") for name in (*REQUIRED, *OPTIONAL)}

        decision_no = _text(errors, row_no, row, "decision_no", unit)
        party_name = _text(errors, row_no, row, "party_name", unit)
        instalment_note = _text(errors, row_no, row, "instalment_note", unit, required=False)
        party_id = _party_id(errors, row_no, row["party_id"], unit)
        phone = row["phone"]
        if phone and not PHONE_RE.fullmatch(phone):
            errors.add(row_no, "phone", f"“{phone}”不是电话号码", unit=unit)
        amount = _amount_fen(errors, row_no, row["amount_yuan"], unit)
        decided_on = _date(errors, row_no, "decided_on", row["decided_on"], unit)
        served_on = _date(errors, row_no, "served_on", row["served_on"], unit)
        due_on = _optional_date(errors, row_no, "due_on", row["due_on"], unit)
        deferral_from = _optional_date(errors, row_no, "deferral_from", row["deferral_from"], unit)
        deferral_until = _optional_date(errors, row_no, "deferral_until", row["deferral_until"], unit)
        status = _status(errors, row_no, row["status"], unit)
        case_id = cases.get(row["case_no"]) if row["case_no"] else None
        if row["case_no"] and case_id is None:
            errors.add(row_no, "case_no", f"案件“{row['case_no']}”不存在", unit=unit)
        if decided_on and served_on and served_on < decided_on:
            errors.add(row_no, "served_on", "送达日期早于决定日期", unit=unit)
        if served_on and due_on and due_on < served_on:
            errors.add(row_no, "due_on", "缴款期限早于送达日期", unit=unit)
        if deferral_from and not deferral_until:
            errors.add(row_no, "deferral_until", "有暂缓起始日期时须填写暂缓截止日期", unit=unit)
        if deferral_from and deferral_until and deferral_until < deferral_from:
            errors.add(row_no, "deferral_until", "暂缓截止日期早于起始日期", unit=unit)
        if status is FineStatus.DEFERRED and not row["deferral_until"]:
            errors.add(row_no, "deferral_until", "状态为 deferred 时须填写暂缓截止日期", unit=unit)
        if decision_no is not None:
            if decision_no in seen:
                errors.add(row_no, "decision_no", f"决定书编号与第{seen[decision_no]}{unit}重复", unit=unit)
                continue
            seen[decision_no] = row_no
        values = (decision_no, party_name, instalment_note, party_id, amount, decided_on, served_on, status)
        if None in values:
            continue
        assert served_on is not None
        parsed.append(
            {
                "decision_no": decision_no,
                "party_name": party_name,
                "party_id_masked": party_id,
                "phone": phone,
                "case_id": case_id,
                "amount_fen": amount,
                "decided_on": decided_on,
                "served_on": served_on,
                "due_on": due_on or served_on + timedelta(days=PAYMENT_DAYS),
                "status": status,
                "deferral_from": deferral_from,
                "deferral_until": deferral_until,
                "instalment_note": instalment_note,
            }
        )
    if not rows and not errors.errors:
        errors.add(None, None, "文件中没有决定书")
    errors.raise_if_any()

    stats = ImportStats()
    existing = _existing(session)
    for item in parsed:
        upsert(session, stats, existing, item["decision_no"], PenaltyDecision, item)
    session.flush()
    return stats
