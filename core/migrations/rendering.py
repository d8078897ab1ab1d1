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


# Indexes that exist only in migrations (PostgreSQL expression indexes the models cannot declare
# without importing query code): autogenerate must neither drop nor recreate them.
MIGRATION_ONLY_INDEXES = frozenset({"ix_case_current_due_at_id"})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)
