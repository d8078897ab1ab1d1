"""`zhcg demo`: the whole demo city loads into a fresh database, re-loads without duplicates, and
geocodes correctly over the full grid."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.db import build_engine, session_scope
from core.demo.load import DEMO_ACCOUNTS, DEMO_PASSWORD, load_demo
from core.errors import Forbidden
from core.geo import service as geo_service
from core.geo.coords import CoordSystem, wgs84_to_gcj02
from core.geo.errors import OutsideServiceArea
from core.migrate import upgrade
from core.models import (
    Category,
    CategoryLevel,
    Department,
    Place,
    PlaceKind,
    RegisterStandard,
    RoutingRule,
    UnitGrid,
)
from core.settings import Settings, get_settings
from core.staff.service import authenticate
from tests.conftest import database_url, drop_database


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    url = database_url("demo")
    engine = build_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        load_demo(session, settings=get_settings(), out_dir=tmp_path_factory.mktemp("demo"))
    yield engine
    engine.dispose()
    drop_database(url)


@pytest.fixture
def demo(demo_engine: sa.Engine) -> Iterator[Session]:
    with Session(demo_engine) as session:
        yield session
        session.rollback()


def count(session: Session, model: type, *where: sa.ColumnElement[bool]) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one())


def test_demo_city_sizes(demo: Session) -> None:
    assert count(demo, UnitGrid) >= 7000
    assert count(demo, Department) >= 15
    assert count(demo, Category, col(Category.level) == CategoryLevel.MAJOR) == 12
    assert count(demo, Category, col(Category.level) == CategoryLevel.MINOR) >= 60
    assert count(demo, Place, col(Place.kind) == PlaceKind.TOILET) >= 200
    assert count(demo, Place, col(Place.kind) == PlaceKind.PARKING) >= 100


def test_every_minor_category_has_a_standard_and_a_default_department(demo: Session) -> None:
    minors = demo.exec(select(Category).where(col(Category.level) == CategoryLevel.MINOR)).all()
    with_standard = set(demo.exec(select(RegisterStandard.category_id)).all())
    with_default = set(
        demo.exec(select(RoutingRule.category_id).where(col(RoutingRule.area_id).is_(None))).all()
    )
    assert {c.id for c in minors} <= with_standard
    assert {c.id for c in minors} <= with_default


def test_one_demo_account_per_role(demo: Session) -> None:
    roles = set()
    for account in DEMO_ACCOUNTS:
        user = authenticate(demo, username=account.username, password=DEMO_PASSWORD)
        assert user is not None
        assert user.password_hash.startswith("$argon2")
        roles.add(user.role)
    assert authenticate(demo, username="operator", password="wrong-password") is None
    assert len(roles) == len(DEMO_ACCOUNTS)


def test_reloading_creates_nothing(demo: Session, tmp_path: Path) -> None:
    summary = load_demo(demo, settings=get_settings(), out_dir=tmp_path)
    assert summary.accounts_created == []
    for result in summary.imports:
        assert (result.stats.created, result.stats.updated) == (0, 0), result.kind


def test_every_sampled_grid_locates_to_itself_in_wgs84_and_gcj02(demo: Session) -> None:
    grids = demo.exec(select(UnitGrid)).all()
    for grid in random.Random(7).sample(list(grids), 300):
        location = geo_service.locate(demo, lng=grid.centroid_lng, lat=grid.centroid_lat)
        assert location.unit_grid == grid.code
        assert location.community.name
        assert location.street.name.endswith("街道")
        gcj = wgs84_to_gcj02(grid.centroid_lng, grid.centroid_lat)
        assert (
            geo_service.locate(demo, lng=gcj[0], lat=gcj[1], coord=CoordSystem.GCJ02).unit_grid == grid.code
        )


def test_routing_over_the_demo(demo: Session) -> None:
    grid = demo.exec(select(UnitGrid)).first()
    assert grid is not None
    location = geo_service.locate(demo, lng=grid.centroid_lng, lat=grid.centroid_lat, category="BJ0101")
    assert location.department is not None


def test_outside_the_city(demo: Session) -> None:
    with pytest.raises(OutsideServiceArea):
        geo_service.locate(demo, lng=115.5, lat=28.5)


def test_demo_is_refused_in_production(demo: Session, tmp_path: Path) -> None:
    production = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        app={"secret_key": "x" * 32},
        sms={"api_base": "https://sms.example.cn"},
    )
    with pytest.raises(Forbidden):
        load_demo(demo, settings=production, out_dir=tmp_path)
