"""``zhcg open311``: Open311 GeoReport v2 clients and their API keys.

Each command is one unit of work (``core.db.session_scope``): a ``DomainError`` rolls it back and
``core.cli.main`` prints it and exits with 2. Keys are printed only by ``add`` and ``rotate-key``, once;
``list`` never prints keys or their hashes. The service imports stay inside the handlers so that
building the parser (``zhcg --help``) stays cheap.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from core.cli._keyed import IdArgument, add_id_command, positive_int, print_key

if TYPE_CHECKING:
    from core.models.open311 import Open311Client

KEY_WARNING = "api_key 只显示这一次，系统只保存其摘要、无法再次查看；请立即通过安全渠道交给接入方："
DEFAULT_PER_HOUR = 120


def _label(client: Open311Client) -> str:
    return f"#{client.id} “{client.name}”"


def cmd_add(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.open311.service import add_client

    with session_scope() as session:
        client, key = add_client(session, name=args.name, requests_per_hour=args.per_hour)
    print(f"已创建 Open311 客户端 {_label(client)}（每小时最多提交 {client.requests_per_hour} 条）。")
    print_key(KEY_WARNING, key)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.open311.service import list_clients

    with session_scope() as session:
        clients = list_clients(session)
    if not clients:
        print("还没有 Open311 客户端。")
        return 0
    # Tab-separated: aligned in a terminal whatever the width of Chinese names, and easy to script.
    print("编号\t状态\t每小时上限\t已提交\t名称")
    for row in clients:
        state = "启用" if row.enabled else "停用"
        print(f"{row.id}\t{state}\t{row.requests_per_hour}\t{row.requests}\t{row.name}")
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.open311.service import rotate_key

    with session_scope() as session:
        client, key = rotate_key(session, client_id=args.client_id)
    print(f"已为 Open311 客户端 {_label(client)} 生成新的 api_key，旧密钥已失效。")
    if not client.enabled:
        print("注意：该客户端已停用，启用（zhcg open311 enable）后新密钥才能使用。")
    print_key(KEY_WARNING, key)
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.open311.service import set_enabled

    with session_scope() as session:
        client, changed = set_enabled(session, client_id=args.client_id, enabled=False)
    if not changed:
        print(f"Open311 客户端 {_label(client)} 本来就已停用。")
        return 0
    print(f"已停用 Open311 客户端 {_label(client)}，其 api_key 立即失效；已提交的案件不受影响。")
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.open311.service import set_enabled

    with session_scope() as session:
        client, changed = set_enabled(session, client_id=args.client_id, enabled=True)
    if not changed:
        print(f"Open311 客户端 {_label(client)} 本来就已启用。")
        return 0
    print(
        f"已启用 Open311 客户端 {_label(client)}，原 api_key 恢复可用（如密钥可能泄露，请执行 rotate-key）。"
    )
    return 0


def _client_id(value: str) -> int:
    return positive_int(value, "客户端编号")


def _per_hour(value: str) -> int:
    return positive_int(value, "每小时上限")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``zhcg open311 …`` on the top-level sub-command set."""
    open311 = sub.add_parser("open311", help="Open311 客户端：api_key、启用停用、提交频率上限")
    commands = open311.add_subparsers(dest="open311_command", required=True)

    add = commands.add_parser("add", help="新建客户端（api_key 只显示一次）")
    add.add_argument("name", help="客户端名称")
    add.add_argument(
        "--per-hour",
        type=_per_hour,
        default=DEFAULT_PER_HOUR,
        help=f"每小时最多提交的请求数（默认 {DEFAULT_PER_HOUR}）",
    )
    add.set_defaults(handler=cmd_add)

    lst = commands.add_parser("list", help="列出客户端及其已提交的请求数（不显示密钥）")
    lst.set_defaults(handler=cmd_list)

    client_id = IdArgument("client_id", _client_id, "客户端编号（见 list）")
    add_id_command(
        commands, "rotate-key", "更换 api_key（旧密钥立即失效，新密钥只显示一次）", cmd_rotate_key, client_id
    )
    add_id_command(commands, "disable", "停用客户端（api_key 立即失效）", cmd_disable, client_id)
    add_id_command(commands, "enable", "重新启用客户端（原密钥恢复可用）", cmd_enable, client_id)
