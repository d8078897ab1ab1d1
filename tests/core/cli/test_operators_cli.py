"""`zhcg operators …` called in-process through `core.cli.main.main`, with its real unit of work.

The commands commit through `core.db.session_scope()` on the configured database, so they run on a
database of their own (pointed at through the environment, as a deployment would); every table they
touch is emptied after each test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.cli.main import main
from core.db import build_engine, dispose_engines, session_scope
from core.migrate import upgrade
from core.models.places import ParkingOperator, Place, PlaceKind
from core.places import service
from core.places.errors import InvalidApiKey
from core.settings import get_settings
from tests.conftest import database_url, drop_database


@dataclass
class Run:
    code: int
    out: str
    err: str


Zhcg = Callable[..., Run]


@pytest.fixture(scope="module")
def cli_engine() -> Iterator[Engine]:
    url = database_url("operators_cli")
    engine = build_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    dispose_engines()
    drop_database(url)


@pytest.fixture
def zhcg(cli_engine: Engine, capsys: pytest.CaptureFixture[str]) -> Iterator[Zhcg]:
    """`zhcg operators ARGS…` → exit code, stdout, stderr."""
    url = cli_engine.url.render_as_string(hide_password=False)
    saved = os.environ["ZHCG_DB__URL"]
    os.environ["ZHCG_DB__URL"] = url
    get_settings.cache_clear()
    assert get_settings().db.url == url

    def run(*args: str) -> Run:
        capsys.readouterr()
        code = main(["operators", *args])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    try:
        yield run
    finally:
        os.environ["ZHCG_DB__URL"] = saved
        get_settings.cache_clear()
        with session_scope(cli_engine) as session:
            session.execute(sa.delete(Place))
            session.execute(sa.delete(ParkingOperator))


def add_lots(engine: Engine, *codes: str, kind: PlaceKind = PlaceKind.PARKING) -> None:
    with session_scope(engine) as session:
        for code in codes:
            session.add(Place(code=code, kind=kind, name=f"测试{code}", lng=114.917, lat=27.818))


# Each check reads in a short session of its own: a longer one would keep reading its first snapshot on
# SQLite and miss what later commands commit.


def operator_of(engine: Engine, code: str) -> int | None:
    with Session(engine) as session:
        return session.exec(select(Place).where(col(Place.code) == code)).one().operator_id


def authenticated(engine: Engine, key: str) -> int | None:
    """The id of the operator the key authenticates, or None when it is refused."""
    with Session(engine) as session:
        try:
            return service.authenticate_operator(session, api_key=key).id
        except InvalidApiKey:
            return None


def added(zhcg: Zhcg, name: str) -> tuple[int, str]:
    """Add an operator; its id and its key (the line after the warning)."""
    result = zhcg("add", name)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    operator_id = int(lines[0].split("#")[1].split()[0])
    return operator_id, lines[-1]


def test_add_prints_the_id_and_the_key_once_with_a_warning(zhcg: Zhcg, cli_engine: Engine) -> None:
    result = zhcg("add", "城投停车")
    assert result.code == 0
    assert result.err == ""
    lines = result.out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("已创建停车场运营方 #")
    assert "“城投停车”" in lines[0]
    assert "只显示这一次" in lines[1]
    key = lines[2]
    with Session(cli_engine) as session:
        operator = session.exec(select(ParkingOperator)).one()
    assert f"#{operator.id} " in lines[0]
    assert operator.api_key_hash == service.hash_api_key(key)
    assert authenticated(cli_engine, key) == operator.id


def test_add_a_taken_name_fails(zhcg: Zhcg) -> None:
    operator_id, _ = added(zhcg, "城投停车")
    result = zhcg("add", "城投停车")
    assert result.code == 2
    assert result.out == ""
    assert f"错误 [operator_name_taken]：已有名为“城投停车”的停车场运营方（#{operator_id}）" in result.err


def test_list_shows_lots_and_never_keys(zhcg: Zhcg, cli_engine: Engine) -> None:
    assert zhcg("list").out == "还没有停车场运营方。\n"
    first, first_key = added(zhcg, "甲停车")
    second, second_key = added(zhcg, "乙停车")
    add_lots(cli_engine, "TC0001", "TC0002", "TC0003")
    assert zhcg("assign", str(first), "TC0001", "TC0002").code == 0
    assert zhcg("disable", str(second)).code == 0

    result = zhcg("list")
    assert result.code == 0
    assert result.out.splitlines() == [
        "编号\t状态\t停车场数\t名称",
        f"{first}\t启用\t2\t甲停车",
        f"{second}\t停用\t0\t乙停车",
    ]
    for key in (first_key, second_key):
        assert key not in result.out
        assert service.hash_api_key(key) not in result.out


def test_rotate_key(zhcg: Zhcg, cli_engine: Engine) -> None:
    operator_id, old_key = added(zhcg, "城投停车")
    result = zhcg("rotate-key", str(operator_id))
    assert result.code == 0
    lines = result.out.splitlines()
    assert "旧密钥已失效" in lines[0]
    assert "只显示这一次" in lines[1]
    new_key = lines[2]
    assert new_key != old_key
    assert authenticated(cli_engine, old_key) is None
    assert authenticated(cli_engine, new_key) == operator_id


def test_rotate_key_of_a_disabled_operator_says_so(zhcg: Zhcg) -> None:
    operator_id, _ = added(zhcg, "城投停车")
    zhcg("disable", str(operator_id))
    result = zhcg("rotate-key", str(operator_id))
    assert result.code == 0
    assert "该运营方已停用" in result.out


def test_unknown_operator(zhcg: Zhcg) -> None:
    for command in ("rotate-key", "disable", "enable"):
        result = zhcg(command, "999999")
        assert result.code == 2
        assert result.out == ""
        assert "错误 [operator_not_found]：停车场运营方 #999999 不存在" in result.err


def test_disable_and_enable(zhcg: Zhcg, cli_engine: Engine) -> None:
    operator_id, key = added(zhcg, "城投停车")
    result = zhcg("disable", str(operator_id))
    assert result.code == 0
    assert f"已停用停车场运营方 #{operator_id} “城投停车”" in result.out
    minutes = get_settings().places.availability_stale_s / 60
    assert f"{minutes:g} 分钟" in result.out
    assert authenticated(cli_engine, key) is None
    again = zhcg("disable", str(operator_id))
    assert (again.code, "本来就已停用" in again.out) == (0, True)

    result = zhcg("enable", str(operator_id))
    assert result.code == 0
    assert "原接口密钥恢复可用" in result.out
    assert authenticated(cli_engine, key) == operator_id
    again = zhcg("enable", str(operator_id))
    assert (again.code, "本来就已启用" in again.out) == (0, True)


def test_assign_and_unassign(zhcg: Zhcg, cli_engine: Engine) -> None:
    first, _ = added(zhcg, "甲停车")
    second, _ = added(zhcg, "乙停车")
    add_lots(cli_engine, "TC0001", "TC0002")
    assert zhcg("assign", str(second), "TC0002").code == 0

    result = zhcg("assign", str(first), "TC0001", "TC0002")
    assert result.code == 0
    assert result.out.splitlines() == [
        f"已将 2 个停车场指定给运营方 #{first} “甲停车”：",
        "  TC0001  测试TC0001（原无运营方）",
        f"  TC0002  测试TC0002（原运营方 #{second}）",
    ]
    assert (operator_of(cli_engine, "TC0001"), operator_of(cli_engine, "TC0002")) == (first, first)
    assert "（未变）" in zhcg("assign", str(first), "TC0001").out

    result = zhcg("unassign", "TC0002")
    assert result.code == 0
    assert result.out.splitlines() == [
        "已解除 1 个停车场的运营方：",
        f"  TC0002  测试TC0002（原运营方 #{first}）",
    ]
    assert operator_of(cli_engine, "TC0002") is None


def test_assign_refusals_name_the_codes_and_write_nothing(zhcg: Zhcg, cli_engine: Engine) -> None:
    operator_id, _ = added(zhcg, "城投停车")
    add_lots(cli_engine, "TC0001")
    add_lots(cli_engine, "GC0001", kind=PlaceKind.TOILET)

    result = zhcg("assign", str(operator_id), "TC0001", "TC9999", "GC0001")
    assert result.code == 2
    assert result.out == ""
    assert "错误 [lots_refused]" in result.err
    assert "设施编码不存在：TC9999" in result.err
    assert "不是停车场：GC0001" in result.err
    assert "未做任何修改" in result.err
    assert operator_of(cli_engine, "TC0001") is None
    assert operator_of(cli_engine, "GC0001") is None

    unknown_operator = zhcg("assign", "999999", "TC0001")
    assert unknown_operator.code == 2
    assert "operator_not_found" in unknown_operator.err
    assert operator_of(cli_engine, "TC0001") is None


def test_unassign_refusals_write_nothing(zhcg: Zhcg, cli_engine: Engine) -> None:
    operator_id, _ = added(zhcg, "城投停车")
    add_lots(cli_engine, "TC0001")
    zhcg("assign", str(operator_id), "TC0001")
    result = zhcg("unassign", "TC0001", "NOPE")
    assert result.code == 2
    assert "设施编码不存在：NOPE" in result.err
    assert operator_of(cli_engine, "TC0001") == operator_id


@pytest.mark.parametrize(
    "args",
    [
        ("rotate-key", "abc"),
        ("disable", "0"),
        ("assign", "1"),
        ("unassign",),
        ("frobnicate",),
    ],
)
def test_bad_arguments_are_refused_by_the_parser(zhcg: Zhcg, args: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as caught:
        zhcg(*args)
    assert caught.value.code == 2
