"""The access log never carries query strings (they can hold personal data)."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import get_settings


def test_access_log_has_path_and_status_but_no_query(
    caplog: pytest.LogCaptureFixture, engine: object
) -> None:
    with (
        TestClient(create_app(get_settings())) as client,
        caplog.at_level(logging.INFO, logger="zhcg.access"),
    ):
        client.get("/healthz", params={"phone": "13800138000", "lat": "27.81"})
    lines = [record.getMessage() for record in caplog.records if record.name == "zhcg.access"]
    assert lines
    assert lines[-1].startswith("GET /healthz 200 ")
    assert not any("13800138000" in line or "27.81" in line for line in lines)
