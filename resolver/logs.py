"""Logging for the node: one line per event (text or JSON), errors with their cause, a sampled access log.

Tracebacks are folded into the event's line (JSON field ``exc``, or `` | `` separated in text) so that a log
shipper never splits one event into many. Resolutions are never logged one by one on the hot path: the access
log keeps one in ``1/rate`` of them, decided by a counter, not a random draw.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from time import perf_counter
from typing import Any, Literal, TextIO

from resolver.metrics import request_handle, response_code_of

LogFormat = Literal["text", "json"]
ACCESS_LOGGER = "idnode.access"
# Attributes every LogRecord has; anything else was passed in ``extra=`` and is printed as a field.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _one_line(text: str) -> str:
    return text.replace("\r", "").replace("\n", " | ")


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "pid", "msg", ...extra, "exc"}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        doc.update(_extras(record))
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)  # the chain, causes included
        return json.dumps(doc, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-01-01T00:00:00.123Z INFO logger [pid] message key=value ... exc=...`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [f"{stamp}.{int(record.msecs):03d}Z", record.levelname, record.name, f"[{record.process}]",
                 record.getMessage()]
        parts += [f"{k}={v}" for k, v in _extras(record).items()]
        if record.exc_info:
            parts.append("exc=" + self.formatException(record.exc_info))
        return _one_line(" ".join(parts))


def setup_logging(fmt: LogFormat = "text", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Replace the root handlers with one writing ``fmt`` lines to ``stream`` (stderr by default)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


class AccessLog:
    """Logs one resolution in every ``round(1 / rate)``; ``rate`` 0 logs none, 1 logs all."""

    __slots__ = ("_countdown", "_every", "_logger")

    def __init__(self, rate: float, logger: logging.Logger | None = None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"access log sample rate must be in [0, 1], not {rate}")
        self._every = round(1 / rate) if rate > 0 else 0
        self._countdown = self._every
        self._logger = logger if logger is not None else logging.getLogger(ACCESS_LOGGER)

    def sampled(self) -> bool:
        """True for the one call in ``every`` that should be logged: the hot-path check, a decrement."""
        if not self._every:
            return False
        self._countdown -= 1
        if self._countdown:
            return False
        self._countdown = self._every
        return True

    def log(self, transport: str, peer: str, handle: str, code: int, seconds: float) -> None:
        """Write one access line (call only when ``sampled()`` said so)."""
        self._logger.info(
            "resolution", extra={"transport": transport, "peer": peer, "handle": handle, "code": code,
                                 "duration_us": round(seconds * 1e6)},
        )


def log_handle_access(
    access: AccessLog, transport: str, peer: str, request: bytes, response: bytes, started: float
) -> None:
    """One sampled Handle (TCP/UDP) access line: the handle and code are read from the messages only now."""
    seconds = perf_counter() - started
    access.log(transport, peer, request_handle(request), response_code_of(response), seconds)


class LogThrottle:
    """At most one line per ``interval_s`` for a repeating error (an outage must not flood the log); the line
    says how many were held back since the last one."""

    __slots__ = ("_interval_s", "_next_at", "suppressed")

    def __init__(self, interval_s: float = 5.0) -> None:
        self._interval_s = interval_s
        self._next_at = 0.0
        self.suppressed = 0

    def ready(self, now: float) -> int | None:
        """None: stay quiet (counted); else log now, and the int is how many were held back before."""
        if now < self._next_at:
            self.suppressed += 1
            return None
        held, self.suppressed = self.suppressed, 0
        self._next_at = now + self._interval_s
        return held

    def emit(
        self, logger: logging.Logger, level: int, message: str, *args: object,
        exc_info: BaseException | None = None,
    ) -> None:
        """Log ``message % args`` unless a line went out within the interval; it ends with the count held
        back since the last one."""
        held = self.ready(time.monotonic())
        if held is not None:
            logger.log(level, message + " (%d more since the last line)", *args, held, exc_info=exc_info)
