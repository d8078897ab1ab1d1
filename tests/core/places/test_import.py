"""The places importer: the original header still works; the new columns are optional."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.masterdata.errors import ImportFailed
from core.masterdata.importers.places import import_places
from core.masterdata.readers import read_source
from core.models.places import Place

OLD_HEADER = "code,kind,name,address,lng,lat,open_hours,capacity,fee_note,accessible"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "places.csv"
    path.write_text(text, encoding="utf-8")
    return path


def place(session: Session, code: str) -> Place:
    return session.exec(select(Place).where(Place.code == code)).one()


def test_old_header(session: Session, tmp_path: Path) -> None:
    text = (
        f"{OLD_HEADER}\nWC1,toilet,甲公厕,,114.9,27.8,00:00-24:00,,免费,true\n"
        "P1,parking,乙停车场,,114.9,27.8,,50,2元/小时,false\n"
    )
    stats = import_places(session, read_source(write(tmp_path, text)))
    assert stats.created == 2
    toilet = place(session, "WC1")
    assert (toilet.free, toilet.baby_room, toilet.ev_charging, toilet.attributes) == (
        True,
        False,
        False,
        None,
    )
    assert place(session, "P1").free is False


def test_new_columns(session: Session, tmp_path: Path) -> None:
    header = OLD_HEADER + ",baby_room,ev_charging,free,attributes"
    row_text = 'P1,parking,乙停车场,,114.9,27.8,,50,2元/小时,false,false,true,false,"{""限高米"": 2.2}"'
    text = f"{header}\n{row_text}\n"
    import_places(session, read_source(write(tmp_path, text)))
    row = place(session, "P1")
    assert (row.baby_room, row.ev_charging, row.free) == (False, True, False)
    assert json.loads(row.attributes or "") == {"限高米": 2.2}

    # Re-importing with the old header leaves the new attributes alone.
    import_places(
        session, read_source(write(tmp_path, f"{OLD_HEADER}\nP1,parking,乙停车场,,114.9,27.8,,60,,false\n"))
    )
    session.refresh(row)
    assert (row.capacity, row.ev_charging) == (60, True)


@pytest.mark.parametrize(
    ("columns", "values", "field"),
    [
        ("baby_room", "maybe", "baby_room"),
        ("attributes", '"[1, 2]"', "attributes"),
        ("attributes", "not-json", "attributes"),
    ],
)
def test_bad_new_values(session: Session, tmp_path: Path, columns: str, values: str, field: str) -> None:
    text = f"{OLD_HEADER},{columns}\nWC1,toilet,甲公厕,,114.9,27.8,,,,true,{values}\n"
    with pytest.raises(ImportFailed) as caught:
        import_places(session, read_source(write(tmp_path, text)))
    assert [error.field for error in caught.value.errors] == [field]
