"""``zhcg operators``: parking operators, their API keys and their lots.

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
    from core.models.places import ParkingOperator
    from core.places.operators import LotChange

KEY_WARNING = "接口密钥只显示这一次，系统只保存其摘要、无法再次查看；请立即通过安全渠道交给运营方："


def _label(operator: ParkingOperator) -> str:
    return f"#{operator.id} “{operator.name}”"


def _print_changes(changes: list[LotChange], *, new_operator_id: int | None) -> None:
    for change in changes:
        previous = change.previous_operator_id
        if previous == new_operator_id:
            note = "未变"
        elif previous is None:
            note = "原无运营方"
        else:
            note = f"原运营方 #{previous}"
        print(f"  {change.code}  {change.name}（{note}）")


def cmd_add(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.places.operators import add_operator

    with session_scope() as session:
        operator, key = add_operator(session, name=args.name)
    print(f"已创建停车场运营方 {_label(operator)}。")
    print_key(KEY_WARNING, key)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.places.operators import list_operators

    with session_scope() as session:
        operators = list_operators(session)
    if not operators:
        print("还没有停车场运营方。")
        return 0
    # Tab-separated: aligned in a terminal whatever the width of Chinese names, and easy to script.
    print("编号\t状态\t停车场数\t名称")
    for row in operators:
        print(f"{row.id}\t{'启用' if row.active else '停用'}\t{row.lots}\t{row.name}")
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.places.operators import rotate_key

    with session_scope() as session:
        operator, key = rotate_key(session, operator_id=args.operator_id)
    print(f"已为停车场运营方 {_label(operator)} 生成新的接口密钥，旧密钥已失效。")
    if not operator.active:
        print("注意：该运营方已停用，启用（zhcg operators enable）后新密钥才能使用。")
    print_key(KEY_WARNING, key)
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.places.operators import set_active
    from core.settings import get_settings

    with session_scope() as session:
        operator, changed = set_active(session, operator_id=args.operator_id, active=False)
    if not changed:
        print(f"停车场运营方 {_label(operator)} 本来就已停用。")
        return 0
    minutes = get_settings().places.availability_stale_s / 60
    print(
        f"已停用停车场运营方 {_label(operator)}，其接口密钥立即失效；"
        f"已上报的空余车位最迟 {minutes:g} 分钟后过期。"
    )
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.places.operators import set_active

    with session_scope() as session:
        operator, changed = set_active(session, operator_id=args.operator_id, active=True)
    if not changed:
        print(f"停车场运营方 {_label(operator)} 本来就已启用。")
        return 0
    print(f"已启用停车场运营方 {_label(operator)}，原接口密钥恢复可用（如密钥可能泄露，请执行 rotate-key）。")
    return 0


def cmd_assign(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.places.operators import assign_lots, get_operator

    with session_scope() as session:
        changes = assign_lots(session, operator_id=args.operator_id, codes=args.codes)
        operator = get_operator(session, args.operator_id)
    print(f"已将 {len(changes)} 个停车场指定给运营方 {_label(operator)}：")
    _print_changes(changes, new_operator_id=args.operator_id)
    return 0


def cmd_unassign(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from core.places.operators import unassign_lots

    with session_scope() as session:
        changes = unassign_lots(session, codes=args.codes)
    print(f"已解除 {len(changes)} 个停车场的运营方：")
    _print_changes(changes, new_operator_id=None)
    return 0


def _operator_id(value: str) -> int:
    return positive_int(value, "运营方编号")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``zhcg operators …`` on the top-level sub-command set."""
    operators = sub.add_parser("operators", help="停车场运营方：接口密钥、启用停用、负责的停车场")
    commands = operators.add_subparsers(dest="operators_command", required=True)

    add = commands.add_parser("add", help="新建运营方（接口密钥只显示一次）")
    add.add_argument("name", help="运营方名称")
    add.set_defaults(handler=cmd_add)

    lst = commands.add_parser("list", help="列出运营方及其停车场数量（不显示密钥）")
    lst.set_defaults(handler=cmd_list)

    operator_id = IdArgument("operator_id", _operator_id, "运营方编号（见 list）")
    add_id_command(
        commands,
        "rotate-key",
        "更换接口密钥（旧密钥立即失效，新密钥只显示一次）",
        cmd_rotate_key,
        operator_id,
    )
    add_id_command(commands, "disable", "停用运营方（接口密钥立即失效）", cmd_disable, operator_id)
    add_id_command(commands, "enable", "重新启用运营方（原密钥恢复可用）", cmd_enable, operator_id)
    assign = add_id_command(
        commands, "assign", "把停车场指定给运营方（只有它能上报空余车位）", cmd_assign, operator_id
    )
    assign.add_argument("codes", metavar="LOT_CODE", nargs="+", help="停车场编码")

    unassign = commands.add_parser("unassign", help="解除停车场的运营方")
    unassign.add_argument("codes", metavar="LOT_CODE", nargs="+", help="停车场编码")
    unassign.set_defaults(handler=cmd_unassign)
