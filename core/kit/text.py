"""Input text types for request bodies and paths: no control characters (PostgreSQL refuses NUL, and
none belongs in a report, a note or a name), and database-sized integers."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
INT32_MAX = 2**31 - 1


def _no_control_characters(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("含有不可见的控制字符")
    return value


CleanStr = Annotated[str, AfterValidator(_no_control_characters)]
DbId = Annotated[int, Field(ge=1, le=INT32_MAX)]
CODE_PATTERN = r"^[0-9A-Za-z_-]{1,32}$"
