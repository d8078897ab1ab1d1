"""`zhcg import fines`: the whole file is validated (file/row/field), nothing is written on an error,
re-runs change nothing, amounts become exact fen and identity numbers are masked before storage."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from core.cli.main import main
from core.masterdata.errors import ImportFailed, RowError
from core.masterdata.service import import_file
from core.models import FineStatus, ImportBatch, PenaltyDecision

FULL_ID = "360102199001011234"
HEADER = (
    "decision_no,party_name,party_id,phone,amount_yuan,decided_on,served_on,due_on,status,deferral_until\n"
)
GOOD = (
    HEADER
    + f"渝城管罚决字〔2026〕第0001号,张三,{FULL_ID},13800138000,200,2026-03-01,2026-03-02,,,\n"
    + "渝城管罚决字〔2026〕第0002号,某某餐饮有限公司,,,1234.5,2026-03-01,2026-03-03,"
    + "2026-04-01,deferred,2026-05-01\n"
    + "渝城管罚决字〔2026〕第0003号,李四,3601**********5678,,0.07,2026-03-01,2026-03-01,,paid,\n"
)


def write(tmp_path: Path, text: str, name: str = "fines.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def decisions(session: Session) -> dict[str, PenaltyDecision]:
    rows = session.exec(select(PenaltyDecision).order_by(col(PenaltyDecision.decision_no))).all()
    return {row.decision_no: row for row in rows}


def refuse(session: Session, path: Path) -> list[RowError]:
    before = len(decisions(session))
    with pytest.raises(ImportFailed) as caught:
        import_file(session, "fines", path)
    assert len(decisions(session)) == before
    return caught.value.errors


def test_a_good_file_loads_with_fen_masking_and_due_dates(session: Session, tmp_path: Path) -> None:
    result = import_file(session, "fines", write(tmp_path, GOOD))
    assert (result.stats.rows, result.stats.created, result.stats.updated) == (3, 3, 0)
    rows = decisions(session)
    first = rows["渝城管罚决字〔2026〕第0001号"]
    assert first.amount_fen == 20000
    assert first.party_id_masked == "3601**********1234"
    assert first.due_on == date(2026, 3, 17)  # served + 15 days
    assert first.status is FineStatus.UNPAID
    second = rows["渝城管罚决字〔2026〕第0002号"]
    assert (second.amount_fen, second.due_on, second.status) == (
        123450,
        date(2026, 4, 1),
        FineStatus.DEFERRED,
    )
    assert second.deferral_until == date(2026, 5, 1)
    third = rows["渝城管罚决字〔2026〕第0003号"]
    assert (third.amount_fen, third.party_id_masked, third.status) == (
        7,
        "3601**********5678",
        FineStatus.PAID,
    )
    # The full number is nowhere in the database row.
    assert all(FULL_ID not in str(value) for row in rows.values() for value in row.model_dump().values())


def test_a_rerun_changes_nothing_and_a_changed_row_is_updated(session: Session, tmp_path: Path) -> None:
    import_file(session, "fines", write(tmp_path, GOOD))
    again = import_file(session, "fines", write(tmp_path, GOOD))
    assert (again.stats.created, again.stats.updated) == (0, 0)
    changed = import_file(session, "fines", write(tmp_path, GOOD.replace(",paid,", ",cancelled,")))
    assert (changed.stats.created, changed.stats.updated) == (0, 1)
    assert decisions(session)["渝城管罚决字〔2026〕第0003号"].status is FineStatus.CANCELLED
    assert session.exec(select(ImportBatch).where(col(ImportBatch.kind) == "fines")).all()


def test_every_problem_is_reported_with_row_and_field_and_nothing_is_written(
    session: Session, tmp_path: Path
) -> None:
    bad = (
        HEADER
        + "A-1,张三,,,200.123,2026-03-01,2026-03-02,,,\n"  # 3 decimals
        + "A-2,,,,abc,2026-02-30,2026-03-02,,late,\n"  # name, amount, date, status
        + "A-3,王五,36010219900101,,0,2026-03-05,2026-03-02,,deferred,\n"  # id, amount 0, served < decided
        + "A-1,赵六,,,1,2026-03-01,2026-03-02,2026-03-01,,\n"  # duplicate, due before served
        + "A-5,钱七,,,1,2026-03-01,2026-03-02,,,\n"  # fine on its own, still not written
    )
    errors = refuse(session, write(tmp_path, bad))
    found = {(error.row, error.field) for error in errors}
    assert found >= {
        (2, "amount_yuan"),
        (3, "party_name"),
        (3, "amount_yuan"),
        (3, "decided_on"),
        (3, "status"),
        (4, "party_id"),
        (4, "amount_yuan"),
        (4, "served_on"),
        (4, "deferral_until"),
        (5, "decision_no"),
        (5, "due_on"),
    }
    assert all(error.file == "fines.csv" for error in errors)
    # A mistyped identity number is never repeated in a message.
    assert not any("36010219900101" in str(error) for error in errors)


def test_missing_columns_are_a_header_error(session: Session, tmp_path: Path) -> None:
    errors = refuse(session, write(tmp_path, "decision_no,party_name\nA-1,张三\n"))
    assert {(error.row, error.field) for error in errors} == {
        (1, "amount_yuan"),
        (1, "decided_on"),
        (1, "served_on"),
    }


def test_json_files_keep_decimal_amounts_exact(session: Session, tmp_path: Path) -> None:
    document = {
        "decisions": [
            {
                "decision_no": "J-1",
                "party_name": "张三",
                "party_id": FULL_ID,
                "amount_yuan": 0.29,
                "decided_on": "2026-03-01",
                "served_on": "2026-03-02",
            },
            {
                "decision_no": "J-2",
                "party_name": "李四",
                "amount_yuan": "19.99",
                "decided_on": "2026-03-01",
                "served_on": "2026-03-02",
            },
        ]
    }
    import_file(session, "fines", write(tmp_path, json.dumps(document, ensure_ascii=False), "fines.json"))
    rows = decisions(session)
    assert (rows["J-1"].amount_fen, rows["J-2"].amount_fen) == (29, 1999)
    assert rows["J-1"].party_id_masked == "3601**********1234"

    document["decisions"].append({"decision_no": "J-3", "party_name": ["x"], "amount_yuan": 1.001})
    errors = refuse(session, write(tmp_path, json.dumps(document, ensure_ascii=False), "fines.json"))
    assert {(error.row, error.field, error.unit) for error in errors} >= {
        (3, "party_name", "条"),
        (3, "amount_yuan", "条"),
        (3, "decided_on", "条"),
    }


def test_the_cli_imports_fines_and_reports_errors(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI opens its own unit of work on the configured database: only the refusal is checked here,
    # which writes nothing.
    path = write(tmp_path, HEADER + "A-1,张三,,,-5,2026-03-01,2026-03-02,,,\n")
    assert main(["import", "fines", str(path)]) == 2
    err = capsys.readouterr().err
    assert "fines.csv 第2行 字段“amount_yuan”" in err
