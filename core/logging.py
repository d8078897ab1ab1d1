"""Process logging set-up (one format for every entry point; no PII is ever logged)."""

from __future__ import annotations

import logging

from core.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=settings.app.log_level, format=FORMAT)
    logging.getLogger("zhcg").setLevel(settings.app.log_level)
