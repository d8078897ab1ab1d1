"""The ``zhcg`` command: migrate, import master data, load the demo city, serve, inspect."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import DomainError
from core.settings import get_settings

if TYPE_CHECKING:
    from core.masterdata.service import ImportResult

Handler = Callable[[argparse.Namespace], int]


def cmd_migrate(args: argparse.Namespace) -> int:
    from core.db import get_engine
    from core.migrate import downgrade, upgrade

    engine = get_engine()
    if args.revision.startswith("-") or args.down:
        downgrade(engine, args.revision)
    else:
        upgrade(engine, args.revision)
    print(f"数据库已迁移到 {args.revision}")
    return 0


def _print_results(results: Sequence[ImportResult]) -> None:
    for result in results:
        stats = result.stats
        counts = f"{stats.rows:>6} 行  新增 {stats.created:>6}  更新 {stats.updated:>6}"
        print(f"  {result.kind:<22} {counts}  ← {result.source}")


def cmd_import(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.masterdata.service import import_file, import_folders

    with session_scope() as session:
        if args.kind == "all":
            results = import_folders(session, [Path(path) for path in args.paths])
        else:
            results = [import_file(session, args.kind, Path(path)) for path in args.paths]
    print("导入完成：")
    _print_results(results)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.demo.load import DEMO_ACCOUNTS, DEMO_PASSWORD, load_demo
    from core.masterdata.repository import all_by_code
    from core.models import UnitGrid

    settings = get_settings()
    with session_scope() as session:
        if args.if_empty and all_by_code(session, UnitGrid):
            print("数据库中已有网格数据，跳过演示数据加载。")
        else:
            summary = load_demo(session, settings=settings, out_dir=Path(args.out), seed=args.seed)
            print("演示城市（新余市渝水区）已加载：")
            _print_results(summary.imports)
    print(f"演示账号（密码均为 {DEMO_PASSWORD}）：")
    for account in DEMO_ACCOUNTS:
        print(f"  {account.username:<11} {account.role.label}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    print(f"智慧城管便民服务平台: http://{args.host}:{args.port}/  API 文档 /docs  管理后台 /admin")
    # uvicorn's access log prints full query strings (citizens' coordinates); core.kit.accesslog does not.
    uvicorn.run(
        "core.cli.serve:build_site",
        factory=True,
        host=args.host,
        port=args.port,
        reload=args.reload,
        access_log=False,
    )
    return 0


def cmd_locate(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.geo.coords import CoordSystem
    from core.geo.service import locate

    with session_scope() as session:
        location = locate(
            session, lng=args.lng, lat=args.lat, coord=CoordSystem(args.coord), category=args.category
        )
    print(json.dumps(location.model_dump(), ensure_ascii=False, indent=2))
    return 0


def cmd_calendar(args: argparse.Namespace) -> int:
    from core.calendar.service import get_calendar, year_warnings
    from core.db import session_scope

    with session_scope() as session:
        calendar = get_calendar(session)
        for year in args.years:
            print(f"{year}: {calendar.year_source(year).value}")
        for warning in year_warnings(calendar, args.years):
            print(f"警告：{warning}")
    return 0


def _year(value: str) -> int:
    from core.calendar.service import FIRST_SUPPORTED_YEAR, LAST_SUPPORTED_YEAR

    try:
        year = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"“{value}”不是年份") from None
    if not FIRST_SUPPORTED_YEAR <= year <= LAST_SUPPORTED_YEAR:
        raise argparse.ArgumentTypeError(f"年份应在 {FIRST_SUPPORTED_YEAR}–{LAST_SUPPORTED_YEAR} 之间")
    return year


def build_parser() -> argparse.ArgumentParser:
    from core.cli import open311, operators
    from core.masterdata.service import KINDS, RECORD_KINDS

    parser = argparse.ArgumentParser(prog="zhcg", description="智慧城管便民服务平台 管理命令")
    sub = parser.add_subparsers(dest="command", required=True)

    migrate = sub.add_parser("migrate", help="迁移数据库结构（默认到最新）")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.add_argument("--down", action="store_true", help="降级到指定版本")
    migrate.set_defaults(handler=cmd_migrate)

    imp = sub.add_parser("import", help="导入主数据文件（可重复执行，不会产生重复数据）")
    imp.add_argument("kind", choices=["all", *(kind.name for kind in (*KINDS, *RECORD_KINDS))])
    imp.add_argument("paths", nargs="+", help="数据文件；kind 为 all 时为目录")
    imp.set_defaults(handler=cmd_import)

    demo = sub.add_parser("demo", help="生成并加载演示城市（新余市渝水区）")
    demo.add_argument("--out", default="var/demo", help="生成文件的目录")
    demo.add_argument("--seed", type=int, default=None)
    demo.add_argument("--if-empty", action="store_true", help="数据库已有网格时跳过")
    demo.set_defaults(handler=cmd_demo)

    serve = sub.add_parser("serve", help="启动 API 与管理后台")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--reload", action="store_true")
    serve.set_defaults(handler=cmd_serve)

    loc = sub.add_parser("locate", help="坐标定位到单元网格")
    loc.add_argument("lng", type=float)
    loc.add_argument("lat", type=float)
    loc.add_argument("--coord", choices=["wgs84", "gcj02"], default="wgs84")
    loc.add_argument("--category")
    loc.set_defaults(handler=cmd_locate)

    cal = sub.add_parser("calendar", help="查看工作日历的数据来源")
    cal.add_argument("years", nargs="+", type=_year)
    cal.set_defaults(handler=cmd_calendar)

    operators.add_parser(sub)
    open311.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except DomainError as exc:
        from core.masterdata.errors import ImportFailed

        print(f"错误 [{exc.code}]：{exc.message}", file=sys.stderr)
        if isinstance(exc, ImportFailed):
            for error in exc.errors:
                print(f"  - {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
