"""How autogenerate writes our portable column types: as the plain SQL types they are."""

from __future__ import annotations

from typing import Any, Literal

from alembic.autogenerate.api import AutogenContext
from sqlmodel.sql.sqltypes import AutoString

from core.kit.sqltypes import StrEnumType, UTCDateTime


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    if type_ == "type" and isinstance(obj, StrEnumType):
        return f"sa.String(length={getattr(obj.impl_instance, 'length', None)})"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False
