"""``python -m hotline`` as it runs in production: a process configured by the environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

from core.models import CallOutcome, CallState
from tests.fixtures.fake_ami import FakeAmi, answered_call
from tests.hotline.conftest import eventually, load_call, run

ROOT = Path(__file__).resolve().parents[2]


def _environment(fake: FakeAmi, engine: Engine) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZHCG_AMI__")}
    env.update(fake.environment())
    env.update(
        {
            "ZHCG_DB__URL": engine.url.render_as_string(hide_password=False),
            "ZHCG_AMI__PING_INTERVAL_S": "0.2",
            "ZHCG_AMI__PING_TIMEOUT_S": "0.5",
            "ZHCG_AMI__RECONNECT_MIN_S": "0.05",
            "ZHCG_AMI__RECONNECT_MAX_S": "0.2",
            "ZHCG_AMI__LINES": '{"12319": "12319", "057112319": "12319"}',
        }
    )
    return env


def test_python_m_hotline_stores_calls_and_stops_on_sigterm(fake_ami: FakeAmi, engine_: Engine) -> None:
    linkedid, events = answered_call(did="057112319", hold_s=3, talk_s=20)
    process = subprocess.Popen(
        [sys.executable, "-m", "hotline"],
        cwd=ROOT,
        env=_environment(fake_ami, engine_),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        async def scenario() -> None:
            await eventually(lambda: fake_ami.logged_in >= 1 and fake_ami.state.actions["queuestatus"] >= 1)
            fake_ami.replay(events)
            await eventually(lambda: (call := load_call(engine_, linkedid)) and call.state is CallState.ENDED)

        run(scenario())
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    assert process.returncode == 0, output.decode()
    call = load_call(engine_, linkedid)
    assert call is not None
    assert call.outcome is CallOutcome.ANSWERED
    assert call.line == "12319"
    log = output.decode()
    assert "logged in to AMI" in log
    assert "hotline bridge stopped" in log
    assert "13800138000" not in log


def test_python_m_hotline_refuses_to_start_without_a_user(engine_: Engine) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZHCG_AMI__")}
    env["ZHCG_AMI__USERNAME"] = ""
    result = subprocess.run(
        [sys.executable, "-m", "hotline"], cwd=ROOT, env=env, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert b"ZHCG_AMI__USERNAME" in result.stderr


def test_fake_ami_originate_answers_now_and_reports_later(fake_ami: FakeAmi) -> None:
    import asyncio

    from hotline.ami import AmiConnection

    async def scenario() -> list[object]:
        loop = asyncio.get_running_loop()
        connection = AmiConnection(
            host=fake_ami.host, port=fake_ami.port, on_event=lambda *_: None, loop=loop
        )
        await connection.open(2)
        try:
            await connection.login(fake_ami.username, fake_ami.secret, 2)
            answer = await connection.action(
                {
                    "Action": "Originate",
                    "Channel": "PJSIP/8001",
                    "Context": "callback",
                    "Exten": "13800138000",
                    "Priority": "1",
                    "Async": "true",
                },
                2,
            )
        finally:
            connection.abort()
        return list(answer)

    first, report = run(scenario())
    assert first["Response"] == "Success"  # type: ignore[index]
    assert report["Event"] == "OriginateResponse"  # type: ignore[index]
    assert report["ActionID"] == first["ActionID"]  # type: ignore[index]
    assert report["Reason"] == "4"  # type: ignore[index]
