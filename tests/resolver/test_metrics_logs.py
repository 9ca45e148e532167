"""Logs: one line per event in text and JSON, errors with their cause, the sampled access log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from resolver.logs import AccessLog, LogFormat, setup_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def emit_error(fmt: LogFormat) -> str:
    out = io.StringIO()
    setup_logging(fmt, "info", stream=out)
    try:
        try:
            raise ConnectionError("redis went away")
        except ConnectionError as exc:
            raise RuntimeError("resolution failed") from exc
    except RuntimeError:
        logging.getLogger("idnode.test").exception("worker error", extra={"transport": "udp"})
    return out.getvalue()


@pytest.mark.usefixtures("restore_root")
def test_json_error_is_one_line_with_its_cause() -> None:
    text = emit_error("json")
    assert text.count("\n") == 1
    doc = json.loads(text)
    assert doc["level"] == "error"
    assert doc["msg"] == "worker error"
    assert doc["transport"] == "udp"
    assert "redis went away" in doc["exc"]
    assert "resolution failed" in doc["exc"]


@pytest.mark.usefixtures("restore_root")
def test_text_error_is_one_line_with_its_cause() -> None:
    text = emit_error("text")
    assert text.count("\n") == 1
    assert " ERROR idnode.test " in text
    assert "transport=udp" in text
    assert "ConnectionError: redis went away" in text
    assert "RuntimeError: resolution failed" in text


@pytest.mark.parametrize(("rate", "logged"), [(0.0, 0), (1.0, 100), (0.1, 10), (0.01, 1)])
def test_access_log_keeps_one_in_every_n(rate: float, logged: int) -> None:
    log = AccessLog(rate)
    assert sum(log.sampled() for _ in range(100)) == logged


def test_access_log_line(caplog: pytest.LogCaptureFixture) -> None:
    log = AccessLog(1.0)
    with caplog.at_level(logging.INFO, logger="idnode.access"):
        log.log("tcp", "127.0.0.1:5000", "88.100.1/abc", 1, 42e-6)
    (record,) = caplog.records
    assert record.__dict__["handle"] == "88.100.1/abc"
    assert record.__dict__["duration_us"] == 42


def test_access_log_refuses_a_rate_outside_0_1() -> None:
    with pytest.raises(ValueError, match="sample rate"):
        AccessLog(2.0)
