"""One outbound call with AMI ``Originate`` (Async: true) and its later ``OriginateResponse``.

Asterisk answers an asynchronous Originate at once (``Response: Success`` / "Originate successfully
queued") and reports the result later with ``Event: OriginateResponse`` carrying the same ActionID
(``Response: Success|Failure``, ``Reason``: 4 answered, 3 no answer, 5 busy, 8 congestion, 0/1 failed).
panoramisk matches both to the action by ActionID and resolves the action with the two messages, so
``originate`` simply waits for that list (bounded by the ring time plus a margin).
"""

from __future__ import annotations

import logging
from typing import Any

from core.calls.callbacks import NO_RESPONSE, DialResult, OutboundCall, originate_fields
from core.calls.service import mask_number
from core.settings import AmiSettings
from hotline.ami import AmiConnection, ConnectionClosed

log = logging.getLogger("zhcg.hotline.originate")

RESPONSE_MARGIN_S = 15.0  # beyond the ring time: dialling the trunk, the answer's way back


def answer_timeout(ami: AmiSettings) -> float:
    return ami.ring_timeout_s + RESPONSE_MARGIN_S


def _first(value: Any, name: str) -> str:
    item = value.get(name) if hasattr(value, "get") else None
    if isinstance(item, list):
        item = item[-1] if item else None
    return "" if item is None else str(item)


def result_of(answer: Any) -> DialResult:
    """The answer panoramisk resolved the action with → the result of the try."""
    messages = answer if isinstance(answer, list) else [answer]
    if not messages:
        return DialResult(success=False, message=NO_RESPONSE)
    report = next((m for m in messages if _first(m, "Event") == "OriginateResponse"), None)
    if report is None:  # refused at once: permission, bad channel, …
        text = _first(messages[0], "Message") or _first(messages[0], "Response") or "Originate 被拒绝"
        return DialResult(success=False, message=f"呼叫被拒绝：{text}")
    return DialResult(success=_first(report, "Response") == "Success", reason=_first(report, "Reason"))


async def originate(connection: AmiConnection, call: OutboundCall, ami: AmiSettings) -> DialResult:
    """Place one try; never raises for a failed call (the result says why)."""
    fields = originate_fields(call, ami)
    try:
        answer = await connection.action(fields, answer_timeout(ami))
    except TimeoutError:
        result = DialResult(success=False, message=NO_RESPONSE)
    except ConnectionClosed:
        result = DialResult(success=False, message="与呼叫中心的连接中断")
    else:
        result = result_of(answer)
    log.info(
        "%s task %d to %s (try %d): %s",
        call.kind.value,
        call.task_id,
        mask_number(call.number),
        call.attempt,
        "answered" if result.success else f"failed, reason {result.reason or result.message}",
    )
    return result
