"""One AMI connection on panoramisk 1.4 (pinned: this module relies on its internals).

panoramisk's ``Manager`` parses the protocol, matches answers to actions by ActionID (list actions
included: "… will follow", the entries, then the ``…Complete`` event) and dispatches events. Its
connection management is replaced here, because it:

- logs in but leaves a refused login silently unauthenticated → ``AmiConnection.login`` raises
  ``LoginRefused``;
- reconnects on its own every ``reconnect_timeout`` seconds and pings without reading the answer →
  ``connection_lost`` and ``ping`` are overridden; the bridge reconnects with back-off and
  ``hotline.watchdog`` pings and checks the Pong;
- decodes every TCP read on its own, losing a multi-byte character (a Chinese caller name) split across
  two reads → ``AmiProtocol`` decodes incrementally.

One ``AmiConnection`` per TCP connection: a new one is built for every (re)connection, so no action of
a dropped connection is ever resent on the next (panoramisk would, after FullyBooted).
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from collections.abc import Callable
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message
from panoramisk.utils import EOL

log = logging.getLogger("zhcg.hotline.ami")

EventCallback = Callable[[Manager, Message], None]


class AmiError(Exception):
    """An action was answered with an error."""


class LoginRefused(AmiError):
    """Asterisk answered the Login with ``Response: Error`` (wrong user or secret, ACL, …)."""


class ConnectionClosed(ConnectionError):
    """The connection ended while an action was waiting for its answer."""


class AmiProtocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol with an incremental UTF-8 decoder, tied to its manager from the start (a
    connection closed before ``open`` returns must still reach ``AmiConnection.connection_lost``)."""

    def __init__(self, manager: AmiConnection) -> None:
        super().__init__()
        self._manager = manager

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.factory = self._manager
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def data_received(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if getattr(self, "version", None) is None and text.startswith("Asterisk Call Manager/"):
            banner, _, _ = text.partition(EOL)
            self.version = banner.partition("/")[2].strip()
        if self.queue:
            text = self.queue.popleft() + text
        chunks = text.split(EOL + EOL)
        self.queue.append(chunks.pop(-1))
        for chunk in chunks:
            message = Message.from_line(chunk.strip())
            if message is not None:
                self.handle_message(message)


class AmiConnection(Manager):  # type: ignore[misc]
    """A panoramisk Manager for exactly one TCP connection; ``lost`` completes when it ends."""

    def __init__(
        self, *, host: str, port: int, on_event: EventCallback, loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__(
            host=host,
            port=port,
            loop=loop,
            log=logging.getLogger("zhcg.hotline.panoramisk"),
            protocol_factory=lambda: AmiProtocol(self),
            ping_delay=10**6,  # its own pinger is off (``ping`` below); hotline.watchdog checks the Pong
            reconnect_timeout=10**6,
            forgetable_actions=("ping", "login", "coreshowchannels", "queuestatus", "originate"),
        )
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()
        self.register_event("*", on_event)

    async def open(self, timeout: float) -> None:
        """Connect (OSError / TimeoutError when Asterisk cannot be reached)."""
        transport_protocol = await asyncio.wait_for(
            self.loop.create_connection(
                self.config["protocol_factory"], self.config["host"], self.config["port"]
            ),
            timeout,
        )
        done: asyncio.Future[Any] = self.loop.create_future()
        done.set_result(transport_protocol)
        self.connection_made(done)  # panoramisk wires the protocol to this manager

    def ping(self) -> None:  # panoramisk's unanswered pinger: replaced by hotline.watchdog
        return None

    def connection_lost(self, exc: BaseException | None) -> None:  # no reconnection of its own
        self._connected = False
        if not self.lost.done():
            self.lost.set_result(exc)

    def abort(self) -> None:
        """Close now, without flushing: the peer may not be reading any more (half-open)."""
        protocol = getattr(self, "protocol", None)
        transport = getattr(protocol, "transport", None)
        if protocol is not None:
            protocol.responses = {}  # nothing to resend on a next connection: this manager is discarded
            protocol.closed = True
        if transport is not None:
            transport.abort()
        if not self.lost.done():
            self.lost.set_result(None)

    async def action(self, action: dict[str, str], timeout: float) -> Any:
        """Send ``action`` and wait for its answer (one Message, or the list of a list action)."""
        if self.lost.done():
            raise ConnectionClosed("AMI connection closed")
        answer = asyncio.ensure_future(self.send_action(dict(action)))
        done, _ = await asyncio.wait(
            {answer, self.lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if answer in done:
            return answer.result()
        answer.cancel()
        if self.lost.done():
            raise ConnectionClosed("AMI connection closed")
        raise TimeoutError(f"no answer to {action.get('Action')} within {timeout:g} s")

    async def login(self, username: str, secret: str, timeout: float) -> None:
        answer = await self.action(
            {"Action": "Login", "Username": username, "Secret": secret, "Events": "on"}, timeout
        )
        if isinstance(answer, list):
            answer = answer[0]
        if not answer.success:
            raise LoginRefused(str(answer.message or answer.response or "login refused"))
        self.authenticated = True

    async def list_action(self, name: str, timeout: float) -> list[dict[str, str]]:
        """A list action's entries (headers with lower-cased keys), without the start and Complete."""
        answer = await self.action({"Action": name}, timeout)
        messages = answer if isinstance(answer, list) else [answer]
        if not messages or not messages[0].success:
            first = messages[0] if messages else None
            raise AmiError(f"{name}: {first.message if first is not None else 'no answer'}")
        entries = [message for message in messages[1:] if not str(message.event).endswith("Complete")]
        return [{key.lower(): _text(value) for key, value in message.items()} for message in entries]

    async def ping_once(self, timeout: float) -> None:
        answer = await self.action({"Action": "Ping"}, timeout)
        if isinstance(answer, list):
            answer = answer[0]
        if not answer.success:
            raise AmiError(f"Ping: {answer.message}")


def _text(value: object) -> str:
    if isinstance(value, list):
        return str(value[-1]) if value else ""
    return str(value)
