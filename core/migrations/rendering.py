"""How autogenerate writes our portable column types: as the plain SQL types they are."""

from __future__ import annotations

from typing import Any

from core.kit.sqltypes import StrEnumType, UTCDateTime


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    if type_ == "type" and isinstance(obj, StrEnumType):
        return f"sa.String(length={obj.impl.length})"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False
