"""Logs: the request id on every record, the JSON and text formats, and the access log middleware."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from core.kit.accesslog import AccessLogMiddleware
from core.kit.request_id import accept_or_new, bound_request_id, current_request_id
from core.logging import (
    JsonFormatter,
    TextFormatter,
    build_formatter,
    configure_logging,
    install_request_id_factory,
    log_format,
)
from core.settings import Settings

SHANGHAI = "Asia/Shanghai"


def make_settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def record(message: str = "订单 %s 已处理", *args: object, exc: bool = False) -> logging.LogRecord:
    install_request_id_factory()
    logger = logging.getLogger("zhcg.test")
    exc_info = None
    if exc:
        try:
            raise ValueError("坏的输入")
        except ValueError as error:
            exc_info = (type(error), error, error.__traceback__)
    return logger.makeRecord("zhcg.test", logging.WARNING, __file__, 1, message, args or ("P1",), exc_info)


# --- request ids -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "A-b_c.1", "x" * 64, b"from-proxy.42"])
def test_a_safe_request_id_is_kept(value: str | bytes) -> None:
    assert accept_or_new(value) == (value.decode() if isinstance(value, bytes) else value)


@pytest.mark.parametrize("value", [None, "", "x" * 65, "a b", "a\nb", "<script>", "编号", "a/b", "a;b=c"])
def test_an_unsafe_or_missing_request_id_is_replaced(value: str | None) -> None:
    new = accept_or_new(value)
    assert new != value
    assert len(new) == 32
    assert new.isalnum()


def test_a_bound_request_id_ends_with_its_block() -> None:
    assert current_request_id() is None
    with bound_request_id("job-7") as request_id:
        assert request_id == "job-7"
        assert current_request_id() == "job-7"
        with bound_request_id() as inner:
            assert current_request_id() == inner != "job-7"
        assert current_request_id() == "job-7"
    assert current_request_id() is None


def test_every_record_carries_the_request_id() -> None:
    assert record().request_id is None  # type: ignore[attr-defined]
    with bound_request_id("req-1"):
        assert record().request_id == "req-1"  # type: ignore[attr-defined]


def test_installing_the_factory_twice_wraps_it_once() -> None:
    install_request_id_factory()
    factory = logging.getLogRecordFactory()
    install_request_id_factory()
    assert logging.getLogRecordFactory() is factory


# --- formats ----------------------------------------------------------------------------------


def test_json_line_has_the_fields_and_the_local_offset() -> None:
    from zoneinfo import ZoneInfo

    with bound_request_id("req-json"):
        line = JsonFormatter(ZoneInfo(SHANGHAI)).format(record())
    assert "\n" not in line
    entry = json.loads(line)
    assert entry == {
        "ts": entry["ts"],
        "level": "WARNING",
        "logger": "zhcg.test",
        "message": "订单 P1 已处理",
        "request_id": "req-json",
    }
    assert "订单" in line  # Chinese written as is, not \\u escapes
    ts = datetime.fromisoformat(entry["ts"])
    assert ts.utcoffset() is not None
    assert ts.utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]


def test_json_line_carries_the_exception_text() -> None:
    from zoneinfo import ZoneInfo

    entry = json.loads(JsonFormatter(ZoneInfo(SHANGHAI)).format(record(exc=True)))
    assert entry["request_id"] is None
    assert "Traceback" in entry["exc"]
    assert "ValueError: 坏的输入" in entry["exc"]


def test_text_line_shows_the_request_id_or_a_dash() -> None:
    formatter = TextFormatter()
    plain = record()
    assert " WARNING zhcg.test [-] 订单 P1 已处理" in formatter.format(plain)
    assert plain.request_id is None  # type: ignore[attr-defined]  # other handlers see the record unchanged
    with bound_request_id("req-text"):
        assert "[req-text] 订单 P1 已处理" in formatter.format(record())


@pytest.mark.parametrize(
    ("environment", "chosen", "expected"),
    [
        ("development", "auto", "text"),
        ("test", "auto", "text"),
        ("production", "auto", "json"),
        ("development", "json", "json"),
        ("production", "text", "text"),
    ],
)
def test_log_format_choice(environment: str, chosen: str, expected: str) -> None:
    settings = make_settings(
        environment=environment,
        app={"secret_key": "a-real-secret-with-enough-length", "log_format": chosen},
        sms={"api_base": "https://sms.example.cn"},
    )
    assert log_format(settings) == expected
    assert isinstance(build_formatter(settings), JsonFormatter if expected == "json" else TextFormatter)


@contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without the test runner's handlers (those of the running phase), restored after."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    server = logging.getLogger("uvicorn")
    saved_server = (server.handlers[:], server.propagate)
    root.handlers.clear()
    try:
        yield root
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        server.handlers[:], server.propagate = saved_server


def test_configure_logging_installs_one_handler_and_switches_its_format() -> None:
    with bare_root() as root:
        _installs_one_handler_and_switches_its_format(root)


def _installs_one_handler_and_switches_its_format(bare_root: logging.Logger) -> None:
    configure_logging(make_settings(app={"log_format": "text"}))
    configure_logging(make_settings(app={"log_format": "text"}))
    assert len(bare_root.handlers) == 1
    handler = bare_root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    assert isinstance(handler.formatter, TextFormatter)

    logging.getLogger("uvicorn").addHandler(logging.NullHandler())
    logging.getLogger("uvicorn").propagate = False
    configure_logging(make_settings(app={"log_format": "json"}))
    assert bare_root.handlers == [handler]
    assert isinstance(handler.formatter, JsonFormatter)
    # The server's own lines (start-up, tracebacks) go through our handler in the same format.
    assert logging.getLogger("uvicorn").handlers == []
    assert logging.getLogger("uvicorn").propagate is True

    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    with bound_request_id("req-root"):
        logging.getLogger("zhcg.test").warning("hello %s", "world")
    entry = json.loads(stream.getvalue().strip())
    assert (entry["message"], entry["request_id"], entry["logger"]) == (
        "hello world",
        "req-root",
        "zhcg.test",
    )


def test_configure_logging_keeps_handlers_set_up_by_others() -> None:
    with bare_root() as root:
        theirs = logging.NullHandler()
        root.addHandler(theirs)
        configure_logging(make_settings(app={"log_format": "json"}))
        assert root.handlers == [theirs]


def test_http_client_libraries_stay_quiet() -> None:
    with bare_root():
        configure_logging(make_settings())
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


# --- the access log middleware ------------------------------------------------------------------


def _app() -> Starlette:
    async def show(request: Request) -> PlainTextResponse:
        logging.getLogger("zhcg.test").info("inside %s", request.path_params["case_no"])
        return PlainTextResponse(current_request_id() or "")

    async def broken(request: Request) -> PlainTextResponse:
        raise RuntimeError("bug")

    def threaded(request: Request) -> PlainTextResponse:  # a sync endpoint runs in the thread pool
        logging.getLogger("zhcg.test").info("in a thread")
        return PlainTextResponse(current_request_id() or "")

    app = Starlette(
        routes=[Route("/cases/{case_no}", show), Route("/broken", broken), Route("/threaded", threaded)]
    )
    app.add_middleware(AccessLogMiddleware)
    return app


def test_request_id_is_generated_echoed_and_on_every_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with TestClient(_app()) as client:
        response = client.get("/cases/T1?lng=117.1&lat=28.2&phone=13800138000")
    request_id = response.headers["x-request-id"]
    assert response.text == request_id
    assert len(request_id) == 32
    lines = [r for r in caplog.records if r.name in {"zhcg.test", "zhcg.access"}]
    assert [r.getMessage().split()[0] for r in lines] == ["inside", "GET"]
    assert {r.request_id for r in lines} == {request_id}  # type: ignore[attr-defined]
    access = lines[-1].getMessage()
    assert access.startswith("GET /cases/T1 200 ")
    assert "lng" not in access
    assert "13800138000" not in caplog.text  # the query string (coordinates, phone) is never logged
    assert current_request_id() is None


def test_a_safe_incoming_request_id_is_kept_and_an_unsafe_one_replaced() -> None:
    with TestClient(_app()) as client:
        kept = client.get("/cases/T1", headers={"X-Request-Id": "proxy-1a2b.3"})
        replaced = client.get("/cases/T1", headers={"X-Request-Id": "evil\tvalue"})
    assert kept.headers["x-request-id"] == kept.text == "proxy-1a2b.3"
    assert replaced.headers["x-request-id"] == replaced.text
    assert replaced.text != "evil\tvalue"
    assert len(replaced.text) == 32


def test_each_request_gets_its_own_id() -> None:
    with TestClient(_app()) as client:
        ids = {client.get("/cases/T1").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_an_unexpected_exception_is_logged_as_500_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with TestClient(_app(), raise_server_exceptions=False) as client:
        response = client.get("/broken", headers={"X-Request-Id": "req-broken"})
    assert response.status_code == 500
    access = [r for r in caplog.records if r.name == "zhcg.access"]
    assert access[-1].getMessage().startswith("GET /broken 500 ")
    assert access[-1].request_id == "req-broken"  # type: ignore[attr-defined]


def test_a_sync_endpoint_in_the_thread_pool_sees_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with TestClient(_app()) as client:
        response = client.get("/threaded", headers={"X-Request-Id": "req-thread"})
    assert response.text == "req-thread"
    inside = [r for r in caplog.records if r.getMessage() == "in a thread"]
    assert [r.request_id for r in inside] == ["req-thread"]  # type: ignore[attr-defined]
