"""The hand-authored Xinyu master data files are complete and consistent with each other."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from core.demo.generate import STREETS

DATA = Path(__file__).resolve().parents[3] / "core" / "data" / "xinyu"
DEPARTMENT_KINDS = {
    "municipal",
    "sanitation",
    "landscaping",
    "enforcement",
    "utility",
    "telecom",
    "traffic",
    "housing",
    "environment",
    "street",
    "other",
}
LIMIT_KINDS = {"urgent_hours", "work_hours", "work_days"}
MAJOR_NAMES = {
    "BJ01": "公用设施",
    "BJ02": "道路交通",
    "BJ03": "市容环境",
    "BJ04": "园林绿化",
    "BJ05": "房屋土地",
    "BJ06": "其他设施",
    "SJ01": "市容环境",
    "SJ02": "宣传广告",
    "SJ03": "施工管理",
    "SJ04": "街面秩序",
    "SJ05": "突发事件",
    "SJ06": "其他事件",
}


def read(name: str, header: list[str]) -> list[dict[str, str]]:
    raw = (DATA / name).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no BOM"
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == header
        rows = list(reader)
    for row in rows:
        assert None not in row, f"too many fields: {row}"
        assert all(value is not None for value in row.values()), f"too few fields: {row}"
    return rows


@pytest.fixture(scope="module")
def departments() -> list[dict[str, str]]:
    return read("departments.csv", ["code", "name", "kind", "parent_code", "contact_name", "contact_phone"])


@pytest.fixture(scope="module")
def categories() -> list[dict[str, str]]:
    return read("categories.csv", ["code", "kind", "level", "parent_code", "name"])


@pytest.fixture(scope="module")
def minors(categories: list[dict[str, str]]) -> set[str]:
    return {row["code"] for row in categories if row["level"] == "minor"}


def test_departments(departments: list[dict[str, str]]) -> None:
    assert len(departments) >= 15
    seen: set[str] = set()
    for row in departments:
        assert re.fullmatch(r"D\d{3}", row["code"])
        assert row["code"] not in seen
        assert row["kind"] in DEPARTMENT_KINDS
        assert not row["parent_code"] or row["parent_code"] in seen, f"{row['code']}: parent listed later"
        assert re.fullmatch(r"0790-6\d{6}", row["contact_phone"])
        assert row["name"]
        assert row["contact_name"]
        seen.add(row["code"])
    assert len({row["name"] for row in departments}) == len(departments)


def test_every_street_has_an_office(departments: list[dict[str, str]]) -> None:
    offices = [row["name"] for row in departments if row["kind"] == "street"]
    assert len(offices) == len(STREETS)
    for _, street in STREETS:
        assert any(name.startswith(street) for name in offices), street


def test_categories(categories: list[dict[str, str]]) -> None:
    codes = [row["code"] for row in categories]
    assert len(set(codes)) == len(codes)
    majors = {row["code"]: row for row in categories if row["level"] == "major"}
    assert {code: row["name"] for code, row in majors.items()} == MAJOR_NAMES
    for code, row in majors.items():
        assert row["kind"] == ("component" if code.startswith("BJ") else "event")
        assert row["parent_code"] == ""
    minors = [row for row in categories if row["level"] == "minor"]
    assert len(minors) >= 60
    for row in minors:
        assert re.fullmatch(row["parent_code"] + r"\d{2}", row["code"])
        assert row["parent_code"] in majors
        assert row["kind"] == majors[row["parent_code"]]["kind"]
        assert row["name"]
    per_major = Counter(row["parent_code"] for row in minors)
    assert set(per_major) == set(majors)
    assert min(per_major.values()) >= 4
    assert {row["level"] for row in categories} == {"major", "minor"}


def test_register_standards(minors: set[str]) -> None:
    rows = read(
        "register_standards.csv",
        ["category_code", "seq", "condition", "time_limit_kind", "time_limit_amount", "close_condition"],
    )
    by_category: dict[str, list[int]] = {}
    for row in rows:
        assert row["category_code"] in minors
        assert row["time_limit_kind"] in LIMIT_KINDS
        assert float(row["time_limit_amount"]) > 0
        assert row["condition"]
        assert row["close_condition"]
        by_category.setdefault(row["category_code"], []).append(int(row["seq"]))
    assert set(by_category) == minors
    for seqs in by_category.values():
        assert seqs == list(range(1, len(seqs) + 1))
    assert sum(len(seqs) >= 2 for seqs in by_category.values()) >= len(minors) // 2


def test_routing(minors: set[str], departments: list[dict[str, str]]) -> None:
    rows = read("routing.csv", ["category_code", "area_code", "department_code"])
    department_codes = {row["code"] for row in departments}
    street_codes = {code for code, _ in STREETS}
    keys = [(row["category_code"], row["area_code"]) for row in rows]
    assert len(set(keys)) == len(keys)
    defaults = Counter(row["category_code"] for row in rows if row["area_code"] == "")
    assert set(defaults) == minors
    assert set(defaults.values()) == {1}
    for row in rows:
        assert row["category_code"] in minors
        assert row["department_code"] in department_codes
        assert row["area_code"] == "" or row["area_code"] in street_codes
    assert any(row["area_code"] for row in rows), "some street overrides"
