"""Process logging set-up (one format for every entry point; no PII is ever logged)."""

from __future__ import annotations

import logging

from core.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
QUIET_LIBRARIES = ("httpx", "httpcore", "urllib3", "requests")


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=settings.app.log_level, format=FORMAT)
    logging.getLogger("zhcg").setLevel(settings.app.log_level)
    # HTTP client libraries log every request URL at INFO; some carry tokens (a bill's download URL)
    # or personal data in query strings. Their warnings and errors still come through.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))
