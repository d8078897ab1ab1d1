"""What the key-holding registries' commands share (``zhcg open311``, ``zhcg operators``): a positive id
argument, a ``… ID`` sub-command, and printing a new key once under its warning."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

Handler = Callable[[argparse.Namespace], int]


def positive_int(value: str, what: str) -> int:
    """``value`` as a positive integer, or an argparse error naming ``what`` (e.g. 客户端编号)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"“{value}”不是{what}（整数）") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"“{value}”不是{what}（正整数）")
    return number


def print_key(warning: str, key: str) -> None:
    print(warning)
    print(key)


@dataclass(frozen=True)
class IdArgument:
    """The ``ID`` argument of a registry's commands: where it is stored, how it is read, its help."""

    dest: str
    type: Callable[[str], int]
    help: str


def add_id_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    handler: Handler,
    id_argument: IdArgument,
) -> argparse.ArgumentParser:
    """``name ID``: a sub-command about one record."""
    parser = commands.add_parser(name, help=help_text)
    parser.add_argument(id_argument.dest, metavar="ID", type=id_argument.type, help=id_argument.help)
    parser.set_defaults(handler=handler)
    return parser
