"""CSV master-data importers: good files load idempotently; a broken file is refused as a whole with
an error that names the file, the line and the field."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from core.masterdata.errors import ImportFailed, RowError
from core.masterdata.service import KINDS, KINDS_BY_NAME, import_file, import_folders
from core.models import AdminArea, Department, ImportBatch
from tests.core.masterdata.files import (
    COMMUNITY,
    DISTRICT,
    GOOD_FILES,
    GOOD_ROWS,
    MODELS,
    STREET,
    Writer,
    count,
    counts,
    csv_text,
)


@pytest.fixture
def loaded(session: Session, good_folder: Path) -> Path:
    """The good folder imported; broken files are then refused on top of it."""
    import_folders(session, [good_folder])
    return good_folder


def refuse(session: Session, kind: str, path: Path) -> list[RowError]:
    """Import ``path``, expect it refused, and check nothing at all was written."""
    before = counts(session)
    with pytest.raises(ImportFailed) as caught:
        import_file(session, kind, path)
    assert caught.value.code == "import_invalid"
    assert counts(session) == before
    return caught.value.errors


# --------------------------------------------------------------------------- good files


def test_every_kind_imports_with_its_row_counts(session: Session, good_folder: Path) -> None:
    for kind in KINDS:
        result = import_file(session, kind.name, good_folder / kind.file_name)
        assert (result.kind, result.stats.rows) == (kind.name, GOOD_ROWS[kind.name])
        assert result.stats.created == GOOD_ROWS[kind.name]
        assert result.stats.updated == 0
    assert counts(session) == GOOD_ROWS | {"batches": len(KINDS)}


def test_import_folders_runs_the_kinds_in_dependency_order(session: Session, good_folder: Path) -> None:
    results = import_folders(session, [good_folder])
    assert [result.kind for result in results] == [kind.name for kind in KINDS]
    assert {result.kind: result.stats.created for result in results} == GOOD_ROWS


def test_kinds_of_several_folders_interleave_in_dependency_order(session: Session, write: Writer) -> None:
    # The routing of "district" refers to areas and categories of "city", listed after it.
    district = [
        write(name, GOOD_FILES[name], folder="district") for name in ("departments.csv", "routing.csv")
    ]
    city = [write(name, GOOD_FILES[name], folder="city") for name in ("areas.csv", "categories.csv")]
    results = import_folders(session, [district[0].parent, city[0].parent])
    assert [result.kind for result in results] == ["areas", "departments", "categories", "routing"]
    assert count(session, MODELS["routing"]) == GOOD_ROWS["routing"]


def test_reimporting_the_same_folder_changes_nothing(session: Session, good_folder: Path) -> None:
    import_folders(session, [good_folder])
    before = counts(session)
    session.expire_all()  # compare with what the database gives back, not with the objects just written
    results = import_folders(session, [good_folder])
    changed = {r.kind: (r.stats.created, r.stats.updated) for r in results if r.kind != "calendar"}
    assert changed == {kind: (0, 0) for kind in changed}
    assert counts(session) == before | {"batches": before["batches"] + len(KINDS)}


def test_reimporting_the_calendar_creates_nothing(session: Session, good_folder: Path) -> None:
    import_file(session, "calendar", good_folder / "calendar.csv")
    result = import_file(session, "calendar", good_folder / "calendar.csv")
    assert (result.stats.created, result.stats.updated) == (0, 0)


@pytest.mark.parametrize(
    ("file_name", "old", "new"),
    [
        ("areas.csv", "南湖社区", "南湖新社区"),
        ("departments.csv", "路灯所", "路灯管理所"),
        ("categories.csv", "上水井盖", "自来水井盖"),
        ("register_standards.csv", "工作日,1.5", "工作日,2.5"),
        ("routing.csv", f"BJ0101,{STREET},SZJ-LD", f"BJ0101,{STREET},HWC"),
        ("responsibility_grids.csv", "北湖第01责任网格", "北湖一号责任网格"),
        ("places.csv", "北湖公厕", "北湖一号公厕"),
    ],
)
def test_changing_one_row_updates_exactly_that_row(
    session: Session, loaded: Path, write: Writer, file_name: str, old: str, new: str
) -> None:
    kind = next(kind.name for kind in KINDS if kind.file_name == file_name)
    text = GOOD_FILES[file_name]
    assert text.count(old) == 1
    session.expire_all()
    result = import_file(session, kind, write(file_name, text.replace(old, new)))
    assert (result.stats.rows, result.stats.created, result.stats.updated) == (GOOD_ROWS[kind], 0, 1)
    assert count(session, MODELS[kind]) == GOOD_ROWS[kind]


def test_an_import_batch_records_kind_hash_and_counts(session: Session, good_folder: Path) -> None:
    path = good_folder / "areas.csv"
    import_file(session, "areas", path)
    batch = session.exec(select(ImportBatch).order_by(col(ImportBatch.id).desc())).first()
    assert batch is not None
    assert (batch.kind, batch.source) == ("areas", str(path))
    assert batch.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (batch.rows, batch.created, batch.updated) == (4, 4, 0)


def test_areas_are_linked_to_their_parents(session: Session, good_folder: Path) -> None:
    import_file(session, "areas", good_folder / "areas.csv")
    by_code = {area.code: area for area in session.exec(select(AdminArea)).all()}
    assert by_code[COMMUNITY].parent_id == by_code[STREET].id
    assert by_code[STREET].parent_id == by_code[DISTRICT].id
    assert by_code[DISTRICT].parent_id is None


def test_a_bom_and_blank_lines_are_accepted(session: Session, write: Writer) -> None:
    text = "\ufeffcode,name,kind,parent_code,contact_name,contact_phone\n\nA1,甲,other,,,\n,,,,,\n"
    result = import_file(session, "departments", write("departments.csv", text))
    assert (result.stats.rows, result.stats.created) == (1, 1)
    assert session.exec(select(Department).where(Department.code == "A1")).one().name == "甲"


# --------------------------------------------------------------------------- broken rows

NEW_AREA = "360503,分宜县,district,"
NEW_DEPARTMENT = "NEW0,新部门,municipal,,,"
NEW_STANDARD = "SJ0101,2,大件垃圾,工作日,1,已清理"
NEW_ROUTE = f"SJ0101,{STREET},HWC"
NEW_PLACE = "WC009,toilet,新公厕,,114.9,27.8,,,,false"
AREAS = "code,name,level,parent_code"
DEPARTMENTS = "code,name,kind,parent_code,contact_name,contact_phone"
CATEGORIES = "code,kind,level,parent_code,name"
STANDARDS = "category_code,seq,condition,time_limit_kind,time_limit_amount,close_condition"
ROUTING = "category_code,area_code,department_code"
PLACES = "code,kind,name,address,lng,lat,open_hours,capacity,fee_note,accessible"

# (kind, lines of the file, line of the error, field, words of the problem). The good row(s)
# before the bad one would be written by an importer that does not validate the whole file first.
BROKEN = {
    "area header lacks a column": (
        "areas",
        ["code,name,level", "360503,分宜县,district"],
        1,
        "parent_code",
        "缺少",
    ),
    "area level unknown": ("areas", [AREAS, NEW_AREA, "360504,某县,county,"], 3, "level", "county"),
    "area code too short": ("areas", [AREAS, NEW_AREA, "36050,某县,district,"], 3, "code", "6 位数字"),
    "community without its street": (
        "areas",
        [AREAS, NEW_AREA, "360503001001,某社区,community,360503001"],
        3,
        "parent_code",
        "360503001",
    ),
    "street not prefixed by its district": (
        "areas",
        [AREAS, NEW_AREA, f"360503001,某街道,street,{DISTRICT}"],
        3,
        "code",
        DISTRICT,
    ),
    "area code twice": ("areas", [AREAS, NEW_AREA, "360503,又一个,district,"], 3, "code", "重复"),
    "district with a parent": (
        "areas",
        [AREAS, NEW_AREA, f"360504,某县,district,{DISTRICT}"],
        3,
        "parent_code",
        "不应有上级",
    ),
    "department kind unknown": (
        "departments",
        [DEPARTMENTS, NEW_DEPARTMENT, "NEW1,某部门,police,,,"],
        3,
        "kind",
        "police",
    ),
    "department parent defined later": (
        "departments",
        [DEPARTMENTS, NEW_DEPARTMENT, "NEW1,下级,municipal,NEW2,,", "NEW2,上级,municipal,,,"],
        3,
        "parent_code",
        "NEW2",
    ),
    "department code twice": (
        "departments",
        [DEPARTMENTS, NEW_DEPARTMENT, "NEW0,同名,other,,,"],
        3,
        "code",
        "重复",
    ),
    "department name empty": (
        "departments",
        [DEPARTMENTS, NEW_DEPARTMENT, "NEW1,,other,,,"],
        3,
        "name",
        "不能为空",
    ),
    "minor category of an unknown major": (
        "categories",
        [CATEGORIES, "BJ02,component,major,,道路交通", "BJ0901,component,minor,BJ09,某小类"],
        3,
        "parent_code",
        "不存在",
    ),
    "minor category not prefixed by its major": (
        "categories",
        [CATEGORIES, "BJ02,component,major,,道路交通", "BJ0201,component,minor,BJ01,某小类"],
        3,
        "code",
        "BJ01",
    ),
    "event category with a component code": (
        "categories",
        [CATEGORIES, "BJ02,component,major,,道路交通", "BJ03,event,major,,某大类"],
        3,
        "code",
        "SJ",
    ),
    "standard of an unknown category": (
        "register-standards",
        [STANDARDS, NEW_STANDARD, "BJ0999,1,某条件,工作日,1,已处理"],
        3,
        "category_code",
        "BJ0999",
    ),
    "standard time limit kind unknown": (
        "register-standards",
        [STANDARDS, NEW_STANDARD, "BJ0101,3,某条件,weeks,1,已处理"],
        3,
        "time_limit_kind",
        "weeks",
    ),
    "standard seq twice": (
        "register-standards",
        [STANDARDS, NEW_STANDARD, "SJ0101,2,又一条,工作日,1,已处理"],
        3,
        "seq",
        "重复",
    ),
    "routing to an unknown department": (
        "routing",
        [ROUTING, NEW_ROUTE, f"BJ0101,{COMMUNITY},NOPE"],
        3,
        "department_code",
        "NOPE",
    ),
    "routing in an unknown area": (
        "routing",
        [ROUTING, NEW_ROUTE, "BJ0101,360599,SZJ"],
        3,
        "area_code",
        "360599",
    ),
    "two default routings of one category": (
        "routing",
        [ROUTING, NEW_ROUTE, "SJ0101,,HWC", "SJ0101,,SZJ"],
        4,
        "area_code",
        "SJ0101",
    ),
    "routing of a major category": ("routing", [ROUTING, NEW_ROUTE, "BJ01,,SZJ"], 3, "category_code", "BJ01"),
    "place latitude 200": (
        "places",
        [PLACES, NEW_PLACE, "WC010,toilet,某公厕,,114.9,200,,,,false"],
        3,
        "lat",
        "200",
    ),
    "place longitude x": (
        "places",
        [PLACES, NEW_PLACE, "WC010,toilet,某公厕,,x,27.8,,,,false"],
        3,
        "lng",
        "x",
    ),
    "place capacity -1": (
        "places",
        [PLACES, NEW_PLACE, "P010,parking,某停车场,,114.9,27.8,,-1,,false"],
        3,
        "capacity",
        "-1",
    ),
    "place accessible maybe": (
        "places",
        [PLACES, NEW_PLACE, "WC010,toilet,某公厕,,114.9,27.8,,,,maybe"],
        3,
        "accessible",
        "maybe",
    ),
    "place kind unknown": (
        "places",
        [PLACES, NEW_PLACE, "X010,bench,长椅,,114.9,27.8,,,,false"],
        3,
        "kind",
        "bench",
    ),
    "calendar date invalid": (
        "calendar",
        ["date,is_workday,name", "2027-01-01,false,元旦", "2027-13-01,false,某日"],
        3,
        "date",
        "2027-13-01",
    ),
    "calendar date twice": (
        "calendar",
        ["date,is_workday,name", "2027-01-01,false,元旦", "2027-01-01,true,又一次"],
        3,
        "date",
        "重复",
    ),
    "calendar workday flag unknown": (
        "calendar",
        ["date,is_workday,name", "2027-01-01,false,元旦", "2027-02-01,sometimes,某日"],
        3,
        "is_workday",
        "sometimes",
    ),
    "row with more columns than the header": (
        "areas",
        [AREAS, NEW_AREA, "360504,某县,district,,extra"],
        3,
        None,
        "列数多于表头",
    ),
}
BAD_AMOUNTS = {"zero": "0", "negative": "-1", "not a number": "abc", "too large": "1001", "not finite": "NaN"}
BROKEN |= {
    f"standard amount {label}": (
        "register-standards",
        [STANDARDS, NEW_STANDARD, f"BJ0101,3,某条件,工作日,{amount},已处理"],
        3,
        "time_limit_amount",
        amount,
    )
    for label, amount in BAD_AMOUNTS.items()
}


@pytest.mark.parametrize(("kind", "lines", "row", "field", "words"), list(BROKEN.values()), ids=list(BROKEN))
def test_a_broken_row_refuses_the_whole_file(
    session: Session,
    loaded: Path,
    write: Writer,
    kind: str,
    lines: list[str],
    row: int,
    field: str | None,
    words: str,
) -> None:
    file_name = KINDS_BY_NAME[kind].file_name
    errors = refuse(session, kind, write(file_name, "\n".join(lines) + "\n"))
    assert [(error.file, error.row, error.field) for error in errors] == [(file_name, row, field)]
    assert words in errors[0].problem


def test_every_broken_row_of_a_file_is_reported_at_once(
    session: Session, loaded: Path, write: Writer
) -> None:
    text = csv_text(
        f"""
        {PLACES}
        WC010,toilet,某公厕,,x,27.8,,,,false
        {NEW_PLACE}
        WC011,toilet,某公厕,,114.9,200,,-1,,maybe
        """
    )
    errors = refuse(session, "places", write("places.csv", text))
    assert [(error.row, error.field) for error in errors] == [
        (2, "lng"),
        (4, "lat"),
        (4, "capacity"),
        (4, "accessible"),
    ]


def test_a_non_utf8_file_is_refused(session: Session, write: Writer) -> None:
    path = write("areas.csv", csv_text(f"{AREAS}\n{NEW_AREA}").encode("gbk"))
    errors = refuse(session, "areas", path)
    assert [(error.file, error.row) for error in errors] == [("areas.csv", None)]
    assert "UTF-8" in errors[0].problem


def test_an_empty_file_is_refused(session: Session, write: Writer) -> None:
    errors = refuse(session, "departments", write("departments.csv", ""))
    assert {(error.file, error.row) for error in errors} == {("departments.csv", 1)}


def test_an_empty_file_says_it_is_empty(session: Session, write: Writer) -> None:
    errors = refuse(session, "departments", write("departments.csv", ""))
    assert [(error.row, error.field, error.problem) for error in errors] == [(1, None, "文件为空")]


def test_a_calendar_without_days_is_refused(session: Session, write: Writer) -> None:
    errors = refuse(session, "calendar", write("calendar.csv", "date,is_workday,name\n"))
    assert errors[0].problem == "文件中没有任何日期"


def test_an_unknown_kind_is_refused(session: Session, good_folder: Path) -> None:
    errors = refuse(session, "trees", good_folder / "areas.csv")
    assert "trees" in errors[0].problem


def test_a_missing_file_is_refused(session: Session, tmp_path: Path) -> None:
    errors = refuse(session, "areas", tmp_path / "areas.csv")
    assert "无法读取" in errors[0].problem


# --------------------------------------------------------------------------- all or nothing


def test_a_broken_third_file_leaves_nothing_of_the_folder(session: Session, write: Writer) -> None:
    for name in ("areas.csv", "departments.csv"):
        write(name, GOOD_FILES[name])
    path = write(
        "categories.csv",
        csv_text(f"{CATEGORIES}\nBJ01,component,major,,公用设施\nBJ0901,component,minor,BJ09,x"),
    )
    before = counts(session)
    with pytest.raises(ImportFailed) as caught:
        import_folders(session, [path.parent])
    assert [(e.file, e.row, e.field) for e in caught.value.errors] == [("categories.csv", 3, "parent_code")]
    assert counts(session) == before
    # The savepoint was rolled back, not the session: it is still usable.
    assert import_file(session, "areas", path.parent / "areas.csv").stats.created == GOOD_ROWS["areas"]


def test_a_missing_folder_is_refused(session: Session, tmp_path: Path) -> None:
    with pytest.raises(ImportFailed) as caught:
        import_folders(session, [tmp_path / "nope"])
    assert caught.value.errors[0].problem == "目录不存在"


# --------------------------------------------------------------------------- messages


def test_a_row_error_reads_as_chinese_text(session: Session, loaded: Path, write: Writer) -> None:
    text = csv_text(f"{AREAS}\n{NEW_AREA}\n360503001001,某社区,community,360503001")
    errors = refuse(session, "areas", write("areas.csv", text))
    assert str(errors[0]) == "areas.csv 第3行 字段“parent_code”：上级“360503001”不存在或不是街道"


def test_the_failure_message_summarises_the_first_errors() -> None:
    errors = [RowError("places.csv", row, "lat", "超出范围") for row in range(2, 7)]
    failure = ImportFailed(errors)
    assert failure.message.startswith("导入失败，未写入任何数据：places.csv 第2行 字段“lat”：超出范围；")
    assert failure.message.endswith("另有 2 处错误")
    assert failure.details["errors"][0] == {
        "file": "places.csv",
        "row": 2,
        "field": "lat",
        "problem": "超出范围",
        "unit": "行",
    }


def test_a_file_level_error_names_only_the_file() -> None:
    assert str(RowError("areas.csv", None, None, "文件为空")) == "areas.csv：文件为空"


# --------------------------------------------------------------------------- known importer bugs


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"{DEPARTMENTS}\n\n{NEW_DEPARTMENT}\nNEW1,某部门,police,,,\n", id="after a blank line"),
        pytest.param(
            f'{DEPARTMENTS}\nNEW0,"新\n部门",municipal,,,\nNEW1,某部门,police,,,\n',
            id="after a quoted newline",
        ),
    ],
)
def test_the_line_number_is_the_physical_line(session: Session, write: Writer, text: str) -> None:
    errors = refuse(session, "departments", write("departments.csv", text))
    assert [(error.row, error.field) for error in errors] == [(4, "kind")]


def test_a_calendar_year_out_of_range_is_a_row_error(session: Session, write: Writer) -> None:
    text = "date,is_workday,name\n2027-01-01,false,元旦\n1999-01-01,false,元旦\n"
    errors = refuse(session, "calendar", write("calendar.csv", text))
    assert [(error.row, error.field) for error in errors] == [(3, "date")]


def test_a_time_limit_with_three_decimals_is_refused_or_stable(
    session: Session, loaded: Path, write: Writer
) -> None:
    path = write("register_standards.csv", GOOD_FILES["register_standards.csv"].replace("1.5", "1.005"))
    refused: list[RowError] = []
    try:
        import_file(session, "register-standards", path)
    except ImportFailed as exc:  # refusing is one correct fix …
        refused = exc.errors
    if refused:
        assert [(e.row, e.field) for e in refused] == [(3, "time_limit_amount")]
        return
    session.expire_all()  # … storing it exactly (or rounded once, for good) is the other
    assert import_file(session, "register-standards", path).stats.updated == 0


def test_departments_cannot_become_their_own_ancestors(session: Session, loaded: Path, write: Writer) -> None:
    text = f"{DEPARTMENTS}\nSZJ,市政局,municipal,SZJ-LD,,\nSZJ-LD,路灯所,municipal,SZJ,,\n"
    errors = refuse(session, "departments", write("departments.csv", text))
    assert {error.field for error in errors} == {"parent_code"}


def test_a_name_longer_than_its_column_is_a_row_error(session: Session, write: Writer) -> None:
    text = f"{AREAS}\n{DISTRICT},{'长' * 65},district,\n"
    errors = refuse(session, "areas", write("areas.csv", text))
    assert [(error.row, error.field) for error in errors] == [(2, "name")]


@pytest.mark.parametrize(
    ("kind", "file_name", "text", "field"),
    [
        pytest.param(
            "places",
            "places.csv",
            f"{PLACES}\nWC1,toilet,公厕,,114.9,27.8,,3000000000,,false\n",
            "capacity",
            id="capacity beyond int32",
        ),
        pytest.param(
            "areas", "areas.csv", f"{AREAS}\n360502,渝水\x00区,district,\n", "name", id="NUL in a name"
        ),
        pytest.param(
            "departments",
            "departments.csv",
            f"{DEPARTMENTS}\nD1,部门,municipal,,值班\x07室,\n",
            "contact_name",
            id="bell in a contact",
        ),
    ],
)
def test_values_postgresql_would_refuse_are_row_errors_on_every_database(
    session: Session, write: Writer, kind: str, file_name: str, text: str, field: str
) -> None:
    errors = refuse(session, kind, write(file_name, text))
    assert [(error.row, error.field) for error in errors] == [(2, field)]


def test_a_seq_beyond_int32_is_a_row_error(session: Session, loaded: Path, write: Writer) -> None:
    text = f"{STANDARDS}\nSJ0101,99999999999999999999,大件垃圾,工作日,1,已清理\n"
    errors = refuse(session, "register-standards", write("register_standards.csv", text))
    assert [(error.row, error.field) for error in errors] == [(2, "seq")]


def test_absurdly_nested_geojson_is_refused(session: Session, write: Writer) -> None:
    errors = refuse(session, "unit-grids", write("unit_grids.geojson", "[" * 100_000 + "]" * 100_000))
    assert "嵌套" in errors[0].problem


def test_a_quote_that_is_never_closed_is_a_csv_error(session: Session, write: Writer) -> None:
    text = f'{AREAS}\n360502,渝水区,district,\n360502001,"城北街道,street,360502\n'
    errors = refuse(session, "areas", write("areas.csv", text))
    assert len(errors) == 1
    assert "CSV 格式错误" in errors[0].problem
