"""The per-worker counters and the closed label sets, in-process (no prometheus_client metric is built)."""

from __future__ import annotations

import pytest

from protocol.constants import OpCode, ResponseCode
from protocol.messages import encode_error
from resolver.metrics import (
    LATENCY_BUCKETS_S,
    OTHER,
    WRITE_OPERATIONS,
    LocalHistogram,
    TransportStats,
    WorkerStats,
    closed_label,
    code_label,
    response_code_of,
)


def test_code_labels_are_the_named_codes_or_other() -> None:
    assert code_label(1) == "success"
    assert code_label(ResponseCode.PREFIX_REFERRAL) == "prefix_referral"
    assert code_label(12345) == OTHER
    assert code_label(ResponseCode(777)) == OTHER  # an unknown code kept by the open enum


@pytest.mark.parametrize(
    ("raw", "label"), [("create", "create"), ("doc-put", "doc_put"), ("88.100.1/abc", OTHER), ("", OTHER)]
)
def test_operation_labels_come_from_a_closed_set(raw: str, label: str) -> None:
    assert closed_label(raw, WRITE_OPERATIONS) == label


def test_buckets_span_50us_to_1s() -> None:
    assert LATENCY_BUCKETS_S[0] == 50e-6
    assert LATENCY_BUCKETS_S[-1] == 1.0
    assert list(LATENCY_BUCKETS_S) == sorted(LATENCY_BUCKETS_S)


@pytest.mark.parametrize(
    ("seconds", "index"), [(0.0, 0), (50e-6, 0), (51e-6, 1), (1.0, len(LATENCY_BUCKETS_S) - 1), (1.5, 14)]
)
def test_an_observation_lands_in_its_le_bucket(seconds: float, index: int) -> None:
    hist = LocalHistogram(LATENCY_BUCKETS_S)
    hist.observe(seconds)
    assert hist.counts.index(1) == index
    assert hist.sum == seconds


def test_take_returns_the_counts_and_starts_again() -> None:
    hist = LocalHistogram((1.0, 2.0))
    for v in (0.5, 1.5, 3.0, 3.0):
        hist.observe(v)
    assert hist.take() == ([1, 1, 2], 8.0)
    assert hist.take() == ([0, 0, 0], 0.0)


def test_finish_counts_codes_and_latency() -> None:
    stats = TransportStats()
    stats.finish(1, 40e-6)
    stats.finish(1, 3e-3)
    stats.finish(100, 40e-6)
    assert stats.codes == {1: 2, 100: 1}
    assert sum(stats.latency.counts) == 3
    assert stats.latency.counts[0] == 2


def test_storage_roundtrips_feed_batches_and_errors() -> None:
    stats = WorkerStats()
    stats.on_roundtrip("read", 12, 1e-3, ok=True)
    stats.on_roundtrip("read", 3, 1e-3, ok=False)
    stats.on_roundtrip("write", 1, 2e-3, ok=False)
    stats.on_roundtrip("88.100.1/x", 1, 2e-3, ok=True)
    assert sorted(stats.storage) == ["other", "read", "write"]
    assert stats.storage_errors == {"read": 1, "write": 1}
    assert stats.batch_errors == 1
    assert sum(stats.batch_keys.counts) == 2
    assert stats.transport("tcp") is stats.tcp


def test_the_response_code_is_read_from_an_encoded_answer() -> None:
    from protocol.messages import decode_message
    from resolver.client import resolution_request

    request = decode_message(resolution_request("88.100.1/x"))
    assert request.header.opcode == OpCode.RESOLUTION
    answer = encode_error(request, ResponseCode.HANDLE_NOT_FOUND, "no such handle")
    assert response_code_of(answer) == 100


def test_finish_message_reads_the_code_from_the_answer_bytes() -> None:
    from time import perf_counter

    from protocol.messages import decode_message
    from resolver.client import resolution_request

    request = decode_message(resolution_request("88.100.1/x"))
    stats = TransportStats()
    for code in (ResponseCode.SUCCESS, ResponseCode.PREFIX_REFERRAL, ResponseCode.REQUEST_LIMIT_DAILY):
        stats.finish_message(encode_error(request, code, "x"), perf_counter())
    stats.finish(1, 1e-3)
    assert stats.take_codes() == {1: 2, 303: 1, 603: 1}
    assert stats.take_codes() == {}
    assert sum(stats.latency.counts) == 4


def test_metrics_can_be_built_again_in_one_process() -> None:
    # Not registered in the default registry: a second worker object (or test) in a process must not clash.
    from resolver.metrics import MetricsFlusher, NodeMetrics, SupervisorMetrics

    for _ in range(2):
        stats = WorkerStats()
        stats.udp.finish(1, 1e-4)
        MetricsFlusher(stats, NodeMetrics()).flush()
        SupervisorMetrics().describe({"workers": "2"})
    assert stats.udp.codes == {}  # taken by the flush
