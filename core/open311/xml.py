"""GeoReport v2 XML: root element, one element per item, one child element per field.

Values are rendered as the specification shows them: booleans ``true``/``false``, missing values as
empty elements, lists as a plural wrapper with one singular child each (``<attributes><attribute>``,
``<values><value>``, ``<endpoints><endpoint>``, ``<formats><format>``). Characters XML 1.0 cannot carry
are dropped, so any text stored in a case still renders as well-formed XML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from xml.etree import ElementTree as ET

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
SINGULAR = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}
# XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Value = str | int | float | bool | None | Sequence["Value"] | Mapping[str, "Value"]
Item = Mapping[str, Value]


def _text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Value) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, (str, int, float, bool)):
        element.text = _text(value)
    else:
        tag = SINGULAR.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, tag), child)


def document(root: str, body: Item | Sequence[Item], *, item: str | None = None) -> str:
    """``body`` is one object (its fields under ``root``) or a list of objects (each an ``item``)."""
    element = ET.Element(root)
    if isinstance(body, Mapping):
        _fill(element, body)
    else:
        assert item is not None
        for entry in body:
            _fill(ET.SubElement(element, item), entry)
    return DECLARATION + ET.tostring(element, encoding="unicode")
