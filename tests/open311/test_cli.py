"""`zhcg open311 …` run in-process with its real unit of work, on a database of its own.

The sub-command is registered on a parser built here exactly as ``core.cli.main`` registers the others
(``open311.add_parser(sub)``), and a ``DomainError`` is printed and exits with 2 as ``main`` does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.cli import open311 as open311_cli
from core.db import build_engine, dispose_engines, session_scope
from core.errors import DomainError
from core.migrate import upgrade
from core.models.open311 import Open311Client, Open311Token
from core.open311 import service
from core.open311.errors import InvalidApiKey
from core.settings import get_settings
from tests.conftest import database_url, drop_database


@dataclass
class Run:
    code: int
    out: str
    err: str


Zhcg = Callable[..., Run]


def run_open311(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="zhcg")
    open311_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["open311", *argv])
    try:
        code: int = args.handler(args)
    except DomainError as exc:
        print(f"错误 [{exc.code}]：{exc.message}", file=sys.stderr)
        return 2
    return code


@pytest.fixture(scope="module")
def cli_engine() -> Iterator[Engine]:
    url = database_url("open311_cli")
    engine = build_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    dispose_engines()
    drop_database(url)


@pytest.fixture
def zhcg(cli_engine: Engine, capsys: pytest.CaptureFixture[str]) -> Iterator[Zhcg]:
    url = cli_engine.url.render_as_string(hide_password=False)
    saved = os.environ["ZHCG_DB__URL"]
    os.environ["ZHCG_DB__URL"] = url
    get_settings.cache_clear()

    def run(*args: str) -> Run:
        capsys.readouterr()
        code = run_open311(list(args))
        out, err = capsys.readouterr()
        return Run(code, out, err)

    try:
        yield run
    finally:
        os.environ["ZHCG_DB__URL"] = saved
        get_settings.cache_clear()
        with session_scope(cli_engine) as session:
            session.execute(sa.delete(Open311Token))
            session.execute(sa.delete(Open311Client))


def authenticated(engine: Engine, key: str) -> int | None:
    with Session(engine) as session:
        try:
            return service.authenticate(session, api_key=key).id
        except InvalidApiKey:
            return None


def added(zhcg: Zhcg, name: str, *options: str) -> tuple[int, str]:
    result = zhcg("add", name, *options)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    return int(lines[0].split("#")[1].split()[0]), lines[-1]


def test_add_prints_the_key_once_and_stores_only_its_hash(zhcg: Zhcg, cli_engine: Engine) -> None:
    result = zhcg("add", "随手拍", "--per-hour", "30")
    assert result.code == 0
    lines = result.out.splitlines()
    assert len(lines) == 3
    assert "“随手拍”" in lines[0]
    assert "30" in lines[0]
    assert "只显示这一次" in lines[1]
    key = lines[2]
    with Session(cli_engine) as session:
        client = session.exec(select(Open311Client)).one()
    assert client.api_key_hash == service.hash_api_key(key)
    assert key not in client.api_key_hash
    assert client.requests_per_hour == 30
    assert authenticated(cli_engine, key) == client.id


def test_add_refuses_a_taken_name(zhcg: Zhcg) -> None:
    client_id, _ = added(zhcg, "随手拍")
    result = zhcg("add", " 随手拍 ")
    assert result.code == 2
    assert f"错误 [open311_client_name_taken]：Open311 客户端“随手拍”已存在（#{client_id}）" in result.err


def test_list_never_shows_keys(zhcg: Zhcg) -> None:
    assert zhcg("list").out == "还没有 Open311 客户端。\n"
    first, key = added(zhcg, "甲")
    added(zhcg, "乙")
    assert zhcg("disable", str(first)).code == 0
    out = zhcg("list").out
    assert key not in out
    assert out.splitlines()[0] == "编号\t状态\t每小时上限\t已提交\t名称"
    assert out.splitlines()[1] == f"{first}\t停用\t120\t0\t甲"


def test_rotate_key_invalidates_the_old_key(zhcg: Zhcg, cli_engine: Engine) -> None:
    client_id, old = added(zhcg, "随手拍")
    result = zhcg("rotate-key", str(client_id))
    assert result.code == 0
    new = result.out.splitlines()[-1]
    assert new != old
    assert authenticated(cli_engine, old) is None
    assert authenticated(cli_engine, new) == client_id


def test_disable_and_enable(zhcg: Zhcg, cli_engine: Engine) -> None:
    client_id, key = added(zhcg, "随手拍")
    assert zhcg("disable", str(client_id)).code == 0
    assert authenticated(cli_engine, key) is None
    assert "本来就已停用" in zhcg("disable", str(client_id)).out
    assert zhcg("enable", str(client_id)).code == 0
    assert authenticated(cli_engine, key) == client_id


def test_unknown_client_and_bad_arguments(zhcg: Zhcg) -> None:
    result = zhcg("disable", "999")
    assert result.code == 2
    assert "open311_client_not_found" in result.err
    with pytest.raises(SystemExit):
        run_open311(["rotate-key", "abc"])
    with pytest.raises(SystemExit):
        run_open311(["add", "x", "--per-hour", "0"])
    assert zhcg("add", "x", "--per-hour", "1000000").code == 2
