"""The FastAGI server of the hotline process (panoramisk.fast_agi): IVR self-service and follow-ups.

The dialplan hands a call to a script with ``AGI(agi://<zhcg host>:<agi_port>/<script>)``:

- ``followup`` — the follow-up (回访) call of a closed case, originated by the scheduler with
  ``ZHCG_TASK=<task id>`` (or ``AGI(agi://…/followup,<task id>)``). Plays ``zhcg/followup-question``
  and reads one digit: 1 满意, 2 基本满意, 3 不满意 (``agi_tries`` tries, ``zhcg/followup-invalid``
  between them); stores it on the task and in the case's history (``core.calls.followup``); sets
  ``ZHCG_SATISFACTION`` (the digit, empty when none) and plays ``zhcg/followup-thanks``.
- ``case_status`` — the caller keys a case number ended by ``#`` (prompt ``zhcg/case-enter-number``);
  the script sets ``ZHCG_CASE_FOUND`` (1/0), ``ZHCG_STATUS_TEXT`` (the answer for a TTS application)
  and ``ZHCG_STATUS_PROMPT`` (a sound file: ``zhcg/status-<state>``, ``zhcg/case-unknown``…) for the
  dialplan to say.

Database work runs on the bridge's database thread (``DbRunner``). Every read from Asterisk is bounded;
a hang-up or a closed socket ends the script quietly.

panoramisk's ``Application.handler`` is replaced (the routes and ``Request`` are kept): it spins
forever on a connection closed before the blank line ending the ``agi_*`` block, and routes by
``agi_network_script`` including its query string.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from panoramisk.fast_agi import Application, Request
from panoramisk.utils import parse_agi_result

from core.calls import followup
from core.calls.service import mask_number
from core.kit.clock import utcnow
from core.settings import AmiSettings
from hotline.scheduler import DbRunner

log = logging.getLogger("zhcg.hotline.agi")

HEADER_TIMEOUT_S = 10.0
SCRIPT_TIMEOUT_S = 600.0
COMMAND_MARGIN_S = 30.0
MAX_HEADER_LINES = 200
CASE_NO_DIGITS = 20


class AgiHangup(Exception):
    """The caller hung up, or Asterisk closed the connection."""


class AgiRequest(Request):  # type: ignore[misc]
    """panoramisk's request, with a closed connection read as a hang-up (panoramisk raises ValueError)."""

    async def _read_result(self) -> dict[str, Any]:
        line = await self.reader.readline()
        if not line:
            return {"error": "AGIResultHangup", "msg": "connection closed"}
        result: dict[str, Any] = parse_agi_result(line.decode(self.encoding).rstrip("\r\n"))
        return result


def quote(value: str) -> str:
    """An AGI argument: double-quoted, with backslashes and quotes escaped, on one line."""
    text = value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
    return f'"{text}"'


class AgiChannel:
    """The commands the scripts use, each bounded in time."""

    def __init__(self, request: AgiRequest, command_timeout_s: float) -> None:
        self.request = request
        self.headers: dict[str, str] = dict(request.headers)
        self.timeout = command_timeout_s

    async def command(self, text: str) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await asyncio.wait_for(self.request.send_command(text), self.timeout)
        except (ConnectionError, TimeoutError) as exc:
            raise AgiHangup(str(exc) or type(exc).__name__) from exc
        if result.get("error") == "AGIResultHangup":
            raise AgiHangup(result.get("msg", "hangup"))
        return result

    @staticmethod
    def _value(result: dict[str, Any]) -> tuple[str, str]:
        value = result.get("result", ("", ""))
        return (str(value[0]), str(value[1])) if isinstance(value, tuple) else (str(value), "")

    async def get_variable(self, name: str) -> str:
        result = await self.command(f"GET VARIABLE {name}")
        code, data = self._value(result)
        return data if code == "1" else ""

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(f"SET VARIABLE {name} {quote(value)}")

    async def get_data(self, prompt: str, timeout_s: float, max_digits: int) -> str:
        """Play ``prompt`` and collect up to ``max_digits`` digits (``#`` ends early); "" when none."""
        result = await self.command(f"GET DATA {prompt} {int(timeout_s * 1000)} {max_digits}")
        digits, _ = self._value(result)
        return digits if digits.isdigit() else ""

    async def stream_file(self, prompt: str) -> None:
        await self.command(f'STREAM FILE {prompt} ""')


Script = Callable[[AgiChannel], Awaitable[None]]


class HotlineAgi(Application):  # type: ignore[misc]
    """The FastAGI application with the ``followup`` and ``case_status`` scripts."""

    def __init__(self, ami: AmiSettings, db: DbRunner) -> None:
        super().__init__(loop=asyncio.get_running_loop())
        self.ami = ami
        self.db = db
        self.scripts: dict[str, Script] = {"followup": self.followup, "case_status": self.case_status}
        for name, script in self.scripts.items():
            self.add_route(name, script)
        self.requests = 0
        self.failures = 0

    # --- connections ---------------------------------------------------------------------------

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            headers = await asyncio.wait_for(_read_headers(reader, self.default_encoding), HEADER_TIMEOUT_S)
            if headers is None:
                return
            name = headers.get("agi_network_script", "").split("?", 1)[0].strip("/")
            script = self.scripts.get(name)
            if script is None:
                log.error("FastAGI request for unknown script %r", name)
                return
            self.requests += 1
            request = AgiRequest(
                app=self, headers=headers, reader=reader, writer=writer, encoding=self.default_encoding
            )
            channel = AgiChannel(request, self.ami.agi_digit_timeout_s * CASE_NO_DIGITS + COMMAND_MARGIN_S)
            try:
                await asyncio.wait_for(script(channel), SCRIPT_TIMEOUT_S)
            except AgiHangup:
                log.info("FastAGI %s: the caller hung up", name)
        except TimeoutError:
            log.warning("FastAGI request timed out")
        except Exception:
            self.failures += 1
            log.exception("FastAGI script failed")
        finally:
            writer.close()

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.handler, host, port)

    # --- scripts -------------------------------------------------------------------------------

    async def followup(self, agi: AgiChannel) -> None:
        raw = agi.headers.get("agi_arg_1", "") or await agi.get_variable("ZHCG_TASK")
        if not raw.strip().isdigit():
            log.error("FastAGI followup without a task id (set ZHCG_TASK or pass it as the argument)")
            await agi.set_variable("ZHCG_SATISFACTION", "")
            return
        task_id = int(raw.strip())
        digit = ""
        try:
            for attempt in range(self.ami.agi_tries):
                keyed = await agi.get_data("zhcg/followup-question", self.ami.agi_digit_timeout_s, 1)
                if keyed in ("1", "2", "3"):
                    digit = keyed
                    break
                if attempt + 1 < self.ami.agi_tries:
                    await agi.stream_file("zhcg/followup-invalid")
        finally:
            # Also after a hang-up: the task says whether the citizen rated the case.
            await self.db(
                lambda s: followup.record_satisfaction(s, task_id=task_id, digit=digit, now=utcnow())
            )
        log.info("FastAGI followup task %d: satisfaction %s", task_id, digit or "none")
        await agi.set_variable("ZHCG_SATISFACTION", digit)
        await agi.stream_file("zhcg/followup-thanks" if digit else "zhcg/followup-noinput")

    async def case_status(self, agi: AgiChannel) -> None:
        keyed = ""
        for attempt in range(self.ami.agi_tries):
            keyed = await agi.get_data("zhcg/case-enter-number", self.ami.agi_digit_timeout_s, CASE_NO_DIGITS)
            if keyed:
                break
            if attempt + 1 < self.ami.agi_tries:
                await agi.stream_file("zhcg/case-noinput")
        caller = agi.headers.get("agi_callerid", "")
        answer = await self.db(lambda s: followup.case_status_answer(s, keyed=keyed, caller=caller))
        log.info("FastAGI case_status from %s: %s", mask_number(caller), answer.case_no or "not found")
        await agi.set_variable("ZHCG_CASE_FOUND", "1" if answer.found else "0")
        await agi.set_variable("ZHCG_STATUS_TEXT", answer.text)
        await agi.set_variable("ZHCG_STATUS_PROMPT", answer.prompt)


async def _read_headers(reader: asyncio.StreamReader, encoding: str) -> dict[str, str] | None:
    """The ``agi_*: value`` block up to the blank line; None when the connection closes before it."""
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        line = await reader.readline()
        if not line:
            return None
        text = line.decode(encoding, "replace").rstrip("\r\n")
        if not text:
            return headers
        key, sep, value = text.partition(": ")
        if sep:
            headers[key] = value
    return headers
