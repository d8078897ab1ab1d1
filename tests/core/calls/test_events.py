"""The call reducer on recorded call sequences (tests/fixtures/fake_ami.py), without a database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import pytest

from core.calls.events import (
    ESTIMATED_END,
    AmiEvent,
    CallFacts,
    Snapshot,
    build_snapshot,
    interface_of,
    parse_duration,
    reconcile,
    reduce,
)
from core.models.calls import CallOutcome, CallState
from tests.fixtures.fake_ami import (
    abandoned_call,
    answered_call,
    internal_call,
    missed_call,
    transferred_call,
)

LINES = {"12319": "12319", "12345": "12345", "057112319": "12319"}
START = 1_790_000_000.0  # a fixed instant: the sequences carry their own Timestamp headers
RECEIVED = datetime(2030, 1, 1, tzinfo=UTC)


def at(offset: float) -> datetime:
    return datetime.fromtimestamp(START + offset, UTC)


def events_of(raw: Iterable[Mapping[str, str]]) -> list[AmiEvent]:
    return [AmiEvent.of(event, RECEIVED) for event in raw]


def run(raw: Iterable[Mapping[str, str]], facts: CallFacts | None = None) -> CallFacts | None:
    for event in events_of(raw):
        facts = reduce(facts, event, lines=LINES)
    return facts


def test_answered_queue_call() -> None:
    linkedid, raw = answered_call(start=START, hold_s=12, talk_s=95, interface="PJSIP/8001")
    facts = run(raw)
    assert facts is not None
    assert facts.linkedid == linkedid
    assert (facts.line, facts.caller_number, facts.queue) == ("12319", "13800138000", "hotline")
    assert facts.state is CallState.ENDED
    assert facts.outcome is CallOutcome.ANSWERED
    assert facts.agent_interface == "PJSIP/8001"
    assert (facts.hold_s, facts.talk_s) == (12, 95)
    assert facts.started_at == at(0)
    assert facts.queued_at == at(1)
    assert facts.answered_at == at(13)
    assert facts.ended_at == at(108)
    assert (facts.hangup_cause, facts.hangup_cause_text) == (16, "Normal Clearing")
    assert facts.recording == f"{linkedid}.wav"
    assert facts.started_at.tzinfo is UTC


def test_each_step_of_an_answered_call() -> None:
    _, raw = answered_call(start=START)
    states = []
    facts: CallFacts | None = None
    for event in events_of(raw):
        facts = reduce(facts, event, lines=LINES)
        assert facts is not None
        if not states or states[-1] is not facts.state:
            states.append(facts.state)
    assert states == [CallState.RINGING, CallState.QUEUED, CallState.CONNECTED, CallState.ENDED]


def test_abandoned_call() -> None:
    _, raw = abandoned_call(start=START, hold_s=30)
    facts = run(raw)
    assert facts is not None
    assert facts.outcome is CallOutcome.ABANDONED
    assert facts.hold_s == 30
    assert facts.answered_at is None
    assert facts.talk_s is None
    assert facts.agent_interface == ""


def test_missed_call_after_the_queue_timed_out() -> None:
    _, raw = missed_call(start=START, timeout_s=60)
    facts = run(raw)
    assert facts is not None
    assert facts.outcome is CallOutcome.MISSED
    assert facts.hold_s == 60  # from joining to leaving the queue, not until the hang-up
    assert facts.ended_at == at(69)


def test_blind_transfer() -> None:
    _, raw = transferred_call(start=START, hold_s=5, first_talk_s=40, second_talk_s=60, target="8002")
    facts = run(raw)
    assert facts is not None
    assert facts.outcome is CallOutcome.ANSWERED
    assert facts.agent_interface == "PJSIP/8001"  # who answered; the transfer target is recorded apart
    assert facts.transferred_to == "8002"
    assert facts.line == "12345"
    assert facts.hold_s == 5
    assert facts.talk_s == 40 + 3 + 60  # from the answer until the caller hung up


def test_attended_transfer_records_the_target() -> None:
    linkedid, raw = answered_call(start=START)
    facts = run(raw[:16])  # connected
    assert facts is not None
    assert facts.state is CallState.CONNECTED
    event = AmiEvent.of(
        {
            "Event": "AttendedTransfer",
            "Result": "Success",
            "OrigTransfererLinkedid": linkedid,
            "SecondTransfererExten": "8003",
            "SecondTransfererConnectedLineNum": "8003",
            "DestType": "Bridge",
            "Timestamp": f"{START + 30:.6f}",
        },
        RECEIVED,
    )
    facts = reduce(facts, event, lines=LINES)
    assert facts is not None
    assert facts.transferred_to == "8003"


def test_replayed_and_duplicated_events_change_nothing() -> None:
    _, raw = answered_call(start=START)
    once = run(raw)
    assert run(raw, once) == once
    doubled = [event for event in raw for _ in range(2)]
    assert run(doubled) == once


def test_late_replay_of_the_start_does_not_reopen_the_call() -> None:
    _, raw = abandoned_call(start=START)
    ended = run(raw)
    assert run(raw[:6], ended) == ended


def test_calls_to_other_numbers_are_not_recorded() -> None:
    _, raw = internal_call(start=START)
    assert run(raw) is None


def test_a_call_first_seen_in_a_queue_is_recorded() -> None:
    _, raw = answered_call(start=START, did="s")
    facts = run(raw)
    assert facts is not None
    assert facts.line == ""
    assert facts.started_at == at(1)  # the first moment known
    assert facts.outcome is CallOutcome.ANSWERED


def test_line_mapping_and_receive_time_without_timestamp() -> None:
    _, raw = answered_call(start=START, did="057112319")
    raw = [{key: value for key, value in event.items() if key != "Timestamp"} for event in raw]
    facts = run(raw)
    assert facts is not None
    assert facts.line == "12319"
    assert facts.started_at == RECEIVED


def test_withheld_number_is_empty() -> None:
    _, raw = missed_call(start=START, caller="anonymous")
    facts = run(raw)
    assert facts is not None
    assert facts.caller_number == ""


@pytest.mark.parametrize(
    ("channel", "interface"),
    [
        ("PJSIP/8001-0000001b", "PJSIP/8001"),
        ("SIP/trunk-out-000000aa", "SIP/trunk-out"),
        ("Local/8001@agents-00000004;1", "Local/8001@agents"),
        ("PJSIP/8001", "PJSIP/8001"),
    ],
)
def test_interface_of(channel: str, interface: str) -> None:
    assert interface_of(channel) == interface


def test_parse_duration() -> None:
    assert parse_duration("01:02:03") == timedelta(hours=1, minutes=2, seconds=3)
    assert parse_duration("123:00:01") == timedelta(hours=123, seconds=1)
    assert parse_duration("garbage") == timedelta(0)


def _channel(uid: str, linkedid: str, channel: str, duration: str, **extra: str) -> dict[str, str]:
    return {
        "event": "CoreShowChannel",
        "channel": channel,
        "uniqueid": uid,
        "linkedid": linkedid,
        "calleridnum": "13800138000",
        "exten": "12319",
        "duration": duration,
        "bridgeid": "",
        "application": "",
        "applicationdata": "",
        **extra,
    }


def test_snapshot_of_a_call_connected_during_a_drop() -> None:
    taken = at(100)
    snapshot = build_snapshot(
        [
            _channel(
                "1.1",
                "1.1",
                "PJSIP/trunk-00000001",
                "00:00:40",
                bridgeid="b1",
                application="Queue",
                applicationdata="hotline,t",
            ),
            _channel("1.2", "1.1", "PJSIP/8002-00000002", "00:00:20", bridgeid="b1", exten="8002"),
        ],
        [],
        taken_at=taken,
    )
    live = snapshot.calls["1.1"]
    assert live.queue == "hotline"
    assert live.agent_interface == "PJSIP/8002"
    facts = reconcile(None, live, snapshot, lines=LINES)
    assert facts is not None
    assert facts.state is CallState.CONNECTED
    assert facts.started_at == at(60)
    assert facts.answered_at == at(80)
    assert facts.line == "12319"


def test_snapshot_of_a_caller_waiting_in_a_queue() -> None:
    taken = at(100)
    snapshot = build_snapshot(
        [_channel("1.1", "1.1", "PJSIP/trunk-00000001", "00:00:40")],
        [{"event": "QueueEntry", "queue": "hotline", "uniqueid": "1.1", "wait": "25"}],
        taken_at=taken,
    )
    facts = reconcile(None, snapshot.calls["1.1"], snapshot, lines=LINES)
    assert facts is not None
    assert facts.state is CallState.QUEUED
    assert facts.queued_at == at(75)


def test_snapshot_ends_a_call_that_vanished_during_the_drop() -> None:
    _, raw = answered_call(start=START)
    queued = run(raw[:7])  # waiting in the queue when the connection dropped
    assert queued is not None
    assert queued.state is CallState.QUEUED
    snapshot = Snapshot(taken_at=at(300), lost_at=at(5))
    ended = reconcile(queued, None, snapshot, lines=LINES)
    assert ended is not None
    assert ended.state is CallState.ENDED
    assert ended.ended_at == at(5)  # the last moment it was known to be alive
    assert ended.outcome is CallOutcome.ABANDONED
    assert ended.hangup_cause_text == ESTIMATED_END
    # Seen alive since the login (its events came after the lists): not ended.
    assert (
        reconcile(queued, None, Snapshot(taken_at=at(300), seen=frozenset({queued.linkedid})), lines=LINES)
        == queued
    )


def test_snapshot_never_moves_a_call_back() -> None:
    _, raw = answered_call(start=START)
    ended = run(raw)
    assert ended is not None
    snapshot = build_snapshot(
        [_channel(ended.linkedid, ended.linkedid, "PJSIP/t-1", "00:00:05")], [], taken_at=at(9)
    )
    assert reconcile(ended, snapshot.calls[ended.linkedid], snapshot, lines=LINES) == ended
