"""``python -m hotline``: the AMI bridge (see hotline/bridge.py and docs/hotline.md). Run exactly one."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from core.logging import configure_logging
from core.settings import Settings, get_settings
from hotline.bridge import Bridge

log = logging.getLogger("zhcg.hotline")


async def serve(settings: Settings) -> None:
    bridge = Bridge(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, bridge.stop)
    log.info("hotline bridge starting: AMI %s:%s", settings.ami.host, settings.ami.port)
    log.info(
        "outbound calls %s; FastAGI %s",
        "on" if settings.ami.outbound_enabled else "off (ZHCG_AMI__OUTBOUND_ENABLED)",
        f"on {settings.ami.agi_host}:{settings.ami.agi_port}" if settings.ami.agi_enabled else "off",
    )
    await bridge.run()
    log.info("hotline bridge stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hotline", description="zhcg hotline bridge: Asterisk Manager Interface → calls"
    )
    parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings)
    if not settings.ami.username:
        log.error("ZHCG_AMI__USERNAME is not set: nothing to log in as (see docs/hotline.md)")
        return 2
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
