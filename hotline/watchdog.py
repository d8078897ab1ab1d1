"""The ping watchdog: a TCP connection can die without either side noticing (a NAT or firewall drops
the flow, the host is powered off): reads then simply wait forever. Every ``interval`` an Action Ping is
sent; no answer within ``timeout`` means the connection is half-open and must be replaced."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("zhcg.hotline.watchdog")


class StaleConnection(ConnectionError):
    """No Pong within the timeout."""


class PingWatchdog:
    def __init__(self, *, interval_s: float, timeout_s: float) -> None:
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.pongs = 0

    async def run(self, ping: Callable[[float], Awaitable[None]], on_pong: Callable[[], None]) -> None:
        """Ping until one is not answered in time; then raise ``StaleConnection``. Never returns."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await ping(self.timeout_s)
            except TimeoutError as exc:
                raise StaleConnection(f"no answer to Ping within {self.timeout_s:g} s") from exc
            self.pongs += 1
            on_pong()
