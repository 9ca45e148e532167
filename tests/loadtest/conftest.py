"""Baseline servers as real processes, started on port 0, awaited on their PORT line, stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadtest.processes import Server, start_baseline


@pytest.fixture(scope="module")
def udp_echo() -> Iterator[Server]:
    server = start_baseline("udp-echo")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tcp_echo() -> Iterator[Server]:
    server = start_baseline("tcp-echo")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http_hello() -> Iterator[Server]:
    server = start_baseline("http-hello")
    yield server
    server.stop()
