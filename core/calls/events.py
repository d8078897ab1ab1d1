"""The call reducer: Asterisk Manager Interface events → the state of one call per Linkedid.

Pure (no I/O, no clock): ``reduce(call, event)`` returns the call's new facts, ``reconcile(call, live,
snapshot)`` applies a resync snapshot (CoreShowChannels / QueueStatus after a (re)login). Both are
monotonic so that replayed or late events never undo what is known:

- the state only moves forward (ringing → queued → connected → ended); an ended call is never reopened;
- a time or detail is set once (the first value wins), except the facts the queue reports with
  authority (AgentConnect's and QueueCallerAbandon's HoldTime) and the talk time, which only grows.

A call is recorded when its first channel (Uniqueid == Linkedid) dials a number of the configured lines
(``Exten`` of Newchannel, mapped by ``lines``), or when it joins a queue. Other calls (agents calling
each other, tests from a desk phone) are ignored.

Times come from the AMI ``Timestamp`` header (``timestampevents=yes`` in manager.conf), else from the
moment the bridge received the event; always timezone-aware UTC.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from core.models.calls import CallDirection, CallOutcome, CallState

# The events the reducer reads; the bridge queues nothing else.
HANDLED_EVENTS: Final = frozenset(
    {
        "Newchannel",
        "Newstate",
        "DialBegin",
        "DialEnd",
        "QueueCallerJoin",
        "QueueCallerAbandon",
        "QueueCallerLeave",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "BlindTransfer",
        "AttendedTransfer",
        "Hangup",
        "UserEvent",
        "VarSet",
    }
)
RECORDING_USEREVENT: Final = "zhcgrecording"  # UserEvent(ZhcgRecording,File: ...) in the dialplan
RECORDING_VARIABLE: Final = "mixmonitor_filename"
ESTIMATED_END: Final = "ended while disconnected (time estimated)"

_RANK: Final = {CallState.RINGING: 0, CallState.QUEUED: 1, CallState.CONNECTED: 2, CallState.ENDED: 3}
_CHANNEL_SUFFIX = re.compile(r"^(?P<interface>.+?)-[0-9a-fA-F]+(?:;[12])?$")
_NO_NUMBER = frozenset({"", "<unknown>", "unknown", "anonymous", "<none>"})

MAX_NUMBER = 32
MAX_QUEUE = 64
MAX_INTERFACE = 64
MAX_LINE = 16
MAX_CAUSE_TEXT = 64
MAX_RECORDING = 255
MAX_TARGET = 64


@dataclass(frozen=True, slots=True)
class AmiEvent:
    """One AMI event: its name, its headers with lower-cased keys, and when the bridge received it."""

    name: str
    headers: Mapping[str, str]
    received_at: datetime

    @classmethod
    def of(cls, headers: Mapping[str, object], received_at: datetime) -> AmiEvent:
        """From the headers as parsed off the wire (a repeated header keeps its last value)."""
        lower: dict[str, str] = {}
        for key, value in headers.items():
            if isinstance(value, list):
                value = value[-1] if value else ""
            lower[key.lower()] = str(value)
        return cls(name=lower.get("event", ""), headers=lower, received_at=received_at)

    def get(self, key: str) -> str:
        return self.headers.get(key, "")

    @property
    def at(self) -> datetime:
        """When it happened: the ``Timestamp`` header (epoch seconds) when Asterisk sends it."""
        return parse_timestamp(self.get("timestamp")) or self.received_at

    @property
    def linkedid(self) -> str:
        return linkedid_of(self)


def parse_timestamp(value: str) -> datetime | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not 0 < seconds < 1e11:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def linkedid_of(event: AmiEvent) -> str:
    """The Linkedid an event belongs to (transfers name the transferee's or transferer's call)."""
    if event.name == "BlindTransfer":
        return event.get("transfereelinkedid") or event.get("transfererlinkedid")
    if event.name == "AttendedTransfer":
        return event.get("origtransfererlinkedid") or event.get("transfereelinkedid")
    return event.get("linkedid")


def interface_of(channel: str) -> str:
    """``PJSIP/8001-0000001b`` → ``PJSIP/8001``; ``Local/8001@agents-00000004;1`` → ``Local/8001@agents``."""
    match = _CHANNEL_SUFFIX.match(channel)
    return (match.group("interface") if match else channel)[:MAX_INTERFACE]


def clean_number(value: str) -> str:
    value = value.strip()
    return "" if value.lower() in _NO_NUMBER else value[:MAX_NUMBER]


def line_for(exten: str, lines: Mapping[str, str]) -> str:
    return lines.get(exten.strip(), "")[:MAX_LINE]


def seconds_between(start: datetime, end: datetime) -> int:
    return max(0, round((end - start).total_seconds()))


def _int(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What is known of one call: the columns of ``core.models.calls.Call`` the bridge maintains."""

    linkedid: str
    started_at: datetime
    direction: CallDirection = CallDirection.INBOUND
    line: str = ""
    caller_number: str = ""
    queue: str = ""
    agent_interface: str = ""
    state: CallState = CallState.RINGING
    outcome: CallOutcome | None = None
    queued_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    hold_s: int | None = None
    talk_s: int | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str = ""
    recording: str = ""
    transferred_to: str = ""

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED

    def reached(self, state: CallState) -> bool:
        return _RANK[self.state] >= _RANK[state]


FACT_FIELDS: Final = tuple(f.name for f in dataclasses.fields(CallFacts))


def _fill(facts: CallFacts, **values: object) -> CallFacts:
    """Set the given fields where they are still empty (None or "")."""
    changes = {
        name: value
        for name, value in values.items()
        if value not in (None, "") and getattr(facts, name) in (None, "")
    }
    return dataclasses.replace(facts, **changes) if changes else facts  # type: ignore[arg-type]


def _set(facts: CallFacts, **values: object) -> CallFacts:
    changes = {name: value for name, value in values.items() if getattr(facts, name) != value}
    return dataclasses.replace(facts, **changes) if changes else facts  # type: ignore[arg-type]


def _first_leg(event: AmiEvent) -> bool:
    return bool(event.get("uniqueid")) and event.get("uniqueid") == event.get("linkedid")


def _start(event: AmiEvent, lines: Mapping[str, str]) -> CallFacts | None:
    """A call we do not know yet: recorded from its first channel on a line, or when it joins a queue."""
    linkedid = linkedid_of(event)
    if not linkedid:
        return None
    at = event.at
    if event.name == "Newchannel" and _first_leg(event):
        line = line_for(event.get("exten"), lines)
        if not line:
            return None
        return CallFacts(
            linkedid=linkedid,
            started_at=at,
            line=line,
            caller_number=clean_number(event.get("calleridnum")),
        )
    if event.name == "QueueCallerJoin":
        return CallFacts(
            linkedid=linkedid,
            started_at=at,
            line=line_for(event.get("exten"), lines),
            caller_number=clean_number(event.get("calleridnum")),
            queue=event.get("queue")[:MAX_QUEUE],
            state=CallState.QUEUED,
            queued_at=at,
        )
    return None


def end_call(
    facts: CallFacts, at: datetime, *, cause: int | None, cause_text: str, vanished: bool = False
) -> CallFacts:
    """The call ended at ``at``: the outcome follows from what happened before.

    ``vanished``: it ended while the bridge was disconnected; a caller last seen waiting in a queue is
    counted as abandoned (the usual reason; a queue timeout is indistinguishable then).
    """
    if facts.ended:
        return facts
    if facts.answered_at is not None:
        outcome = CallOutcome.ANSWERED
    elif facts.outcome is CallOutcome.ABANDONED or (vanished and facts.queued_at is not None):
        outcome = CallOutcome.ABANDONED
    else:
        outcome = CallOutcome.MISSED
    hold_s = facts.hold_s
    if hold_s is None and facts.queued_at is not None and facts.answered_at is None:
        hold_s = seconds_between(facts.queued_at, at)
    talk_s = facts.talk_s
    if facts.answered_at is not None:
        talk_s = max(talk_s or 0, seconds_between(facts.answered_at, at))
    return dataclasses.replace(
        facts,
        state=CallState.ENDED,
        outcome=outcome,
        ended_at=max(at, facts.started_at),
        hold_s=hold_s,
        talk_s=talk_s,
        hangup_cause=cause,
        hangup_cause_text=cause_text[:MAX_CAUSE_TEXT],
    )


def _connect(facts: CallFacts, at: datetime, interface: str, hold_s: int | None) -> CallFacts:
    return dataclasses.replace(
        facts,
        state=CallState.CONNECTED,
        answered_at=facts.answered_at or at,
        agent_interface=interface[:MAX_INTERFACE],
        hold_s=hold_s if hold_s is not None else facts.hold_s,
        outcome=None,
    )


def reduce(facts: CallFacts | None, event: AmiEvent, *, lines: Mapping[str, str]) -> CallFacts | None:
    """The call after ``event`` (``None``: a call we do not record). Replaying an event changes nothing."""
    if facts is None:
        return _start(event, lines)
    name = event.name
    at = event.at
    if _first_leg(event) and not facts.caller_number:
        facts = _fill(facts, caller_number=clean_number(event.get("calleridnum")))

    # Details that may arrive after the caller hung up.
    if name == "UserEvent":
        # The dialplan's own export wins over MixMonitor's variable (which may be a full path).
        if event.get("userevent").lower() == RECORDING_USEREVENT and event.get("file"):
            return _set(facts, recording=event.get("file")[:MAX_RECORDING])
        return facts
    if name == "VarSet":
        if event.get("variable").lower() == RECORDING_VARIABLE:
            return _fill(facts, recording=event.get("value")[:MAX_RECORDING])
        return facts
    if name == "AgentComplete":
        talk = _int(event.get("talktime"))
        if talk is not None and facts.answered_at is not None and talk > (facts.talk_s or 0):
            return dataclasses.replace(facts, talk_s=talk)
        return facts
    if name == "BlindTransfer":
        if event.get("result").lower() == "success":
            return _fill(facts, transferred_to=event.get("extension")[:MAX_TARGET])
        return facts
    if name == "AttendedTransfer":
        if event.get("result").lower() == "success":
            target = (
                clean_number(event.get("secondtransfererconnectedlinenum"))
                or event.get("secondtransfererexten")
                or interface_of(event.get("transfertargetchannel"))
            )
            return _fill(facts, transferred_to=target[:MAX_TARGET])
        return facts
    if facts.ended:
        return facts

    if name == "Newchannel":
        if _first_leg(event):
            return _fill(facts, line=line_for(event.get("exten"), lines))
        return facts
    if name == "QueueCallerJoin":
        facts = _fill(facts, queue=event.get("queue")[:MAX_QUEUE], queued_at=at)
        return facts if facts.reached(CallState.QUEUED) else _set(facts, state=CallState.QUEUED)
    if name == "QueueCallerAbandon":
        if facts.answered_at is not None:
            return facts
        hold = _int(event.get("holdtime"))
        return _set(facts, outcome=CallOutcome.ABANDONED, hold_s=hold if hold is not None else facts.hold_s)
    if name == "QueueCallerLeave":
        if facts.answered_at is None and facts.hold_s is None and facts.queued_at is not None:
            return dataclasses.replace(facts, hold_s=seconds_between(facts.queued_at, at))
        return facts
    if name == "AgentConnect":
        facts = _fill(facts, queue=event.get("queue")[:MAX_QUEUE])
        if facts.reached(CallState.CONNECTED):
            return facts
        interface = event.get("interface") or interface_of(event.get("destchannel"))
        return _connect(facts, at, interface, _int(event.get("holdtime")))
    if name == "DialEnd":
        # Queue calls are connected by AgentConnect (the queue's own view); DialEnd covers direct dials.
        if (
            event.get("dialstatus").upper() == "ANSWER"
            and _first_leg(event)
            and not facts.queue
            and not facts.reached(CallState.CONNECTED)
        ):
            return _connect(facts, at, interface_of(event.get("destchannel")), None)
        return facts
    if name == "Hangup":
        if _first_leg(event):
            return end_call(facts, at, cause=_int(event.get("cause")), cause_text=event.get("cause-txt"))
        return facts
    return facts  # Newstate, DialBegin, AgentCalled: nothing more to record


# --- Resync ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A call Asterisk reports as live in a resync (CoreShowChannels, QueueStatus)."""

    linkedid: str
    started_at: datetime
    exten: str = ""
    caller_number: str = ""
    queue: str = ""
    queued_at: datetime | None = None
    agent_interface: str = ""
    answered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What Asterisk reported live right after a (re)login.

    ``seen``: calls with events received since the login (the lists may predate them: such a call is
    not ended for being missing). ``lost_at``: when the previous connection was last heard from (None on
    the first login of the process).
    """

    taken_at: datetime
    calls: Mapping[str, LiveCall] = field(default_factory=dict)
    seen: frozenset[str] = frozenset()
    lost_at: datetime | None = None


def reconcile(
    facts: CallFacts | None, live: LiveCall | None, snapshot: Snapshot, *, lines: Mapping[str, str]
) -> CallFacts | None:
    """The call after a resync: live calls are created or advanced, vanished ones are ended."""
    if live is None:
        if facts is None or facts.ended or facts.linkedid in snapshot.seen:
            return facts
        known = max(t for t in (facts.started_at, facts.queued_at, facts.answered_at) if t is not None)
        ended_at = known
        if snapshot.lost_at is not None:
            ended_at = max(known, min(snapshot.lost_at, snapshot.taken_at))
        return end_call(facts, ended_at, cause=None, cause_text=ESTIMATED_END, vanished=True)
    if facts is None:
        line = line_for(live.exten, lines)
        if not line and not live.queue:
            return None
        facts = CallFacts(
            linkedid=live.linkedid, started_at=live.started_at, line=line, caller_number=live.caller_number
        )
    if facts.ended:
        return facts
    facts = _fill(facts, caller_number=live.caller_number, queue=live.queue[:MAX_QUEUE])
    if live.queued_at is not None and not facts.reached(CallState.QUEUED):
        facts = dataclasses.replace(
            facts, state=CallState.QUEUED, queued_at=facts.queued_at or live.queued_at
        )
    if live.agent_interface and not facts.reached(CallState.CONNECTED):
        answered = live.answered_at or snapshot.taken_at
        queued = facts.queued_at or live.queued_at
        hold = seconds_between(queued, answered) if queued is not None else None
        facts = _connect(facts, answered, live.agent_interface, hold)
    return facts


def parse_duration(value: str) -> timedelta:
    """CoreShowChannel's ``Duration``: ``HH:MM:SS`` (hours may exceed 24)."""
    parts = value.strip().split(":")
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        return timedelta(0)
    seconds = 0
    for number in numbers:
        seconds = seconds * 60 + number
    return timedelta(seconds=max(seconds, 0))


def build_snapshot(
    channels: Iterable[Mapping[str, str]],
    queue_entries: Iterable[Mapping[str, str]],
    *,
    taken_at: datetime,
    seen: Iterable[str] = (),
    lost_at: datetime | None = None,
) -> Snapshot:
    """From the CoreShowChannel and QueueEntry events of a resync (headers with lower-cased keys).

    The first leg (Uniqueid == Linkedid, else the longest-lived) gives caller, number dialled and start;
    a leg of the same call in the same bridge is the agent; a queue entry (or the Queue application)
    gives the queue and the time waited so far.
    """
    by_call: dict[str, list[Mapping[str, str]]] = {}
    linkedid_of_leg: dict[str, str] = {}
    for channel in channels:
        linkedid = channel.get("linkedid", "")
        if not linkedid:
            continue
        by_call.setdefault(linkedid, []).append(channel)
        linkedid_of_leg[channel.get("uniqueid", "")] = linkedid
    entries: dict[str, Mapping[str, str]] = {}
    for entry in queue_entries:
        linkedid = entry.get("linkedid") or linkedid_of_leg.get(entry.get("uniqueid", ""), "")
        if linkedid:
            entries[linkedid] = entry
    calls: dict[str, LiveCall] = {}
    for linkedid, legs in by_call.items():
        first = next(
            (leg for leg in legs if leg.get("uniqueid") == linkedid),
            max(legs, key=lambda leg: parse_duration(leg.get("duration", ""))),
        )
        started_at = taken_at - parse_duration(first.get("duration", ""))
        queue, queued_at = "", None
        waiting = entries.get(linkedid)
        if waiting is not None:
            queue = waiting.get("queue", "")
            wait = _int(waiting.get("wait", ""))
            queued_at = taken_at - timedelta(seconds=wait) if wait is not None else taken_at
        elif first.get("application", "").lower() == "queue":
            queue = first.get("applicationdata", "").split(",", 1)[0]
        agent_interface, answered_at = "", None
        bridge = first.get("bridgeid", "")
        if bridge:
            agent = next(
                (leg for leg in legs if leg is not first and leg.get("bridgeid") == bridge),
                None,
            )
            if agent is not None:
                agent_interface = interface_of(agent.get("channel", ""))
                answered_at = taken_at - parse_duration(agent.get("duration", ""))
        calls[linkedid] = LiveCall(
            linkedid=linkedid,
            started_at=started_at,
            exten=first.get("exten") or first.get("extension", ""),
            caller_number=clean_number(first.get("calleridnum", "")),
            queue=queue[:MAX_QUEUE],
            queued_at=queued_at,
            agent_interface=agent_interface,
            answered_at=answered_at,
        )
    return Snapshot(taken_at=taken_at, calls=calls, seen=frozenset(seen), lost_at=lost_at)
