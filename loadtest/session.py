"""One load run across K generator processes: start them together, relay progress, merge, survive Ctrl-C.

Processes are spawned (fresh interpreters, no inherited event loop), each reports ``ready`` once its keys are
drawn and its connections open, then all start on one monotonic ``t0``. Once a second each sends a ``Tick``;
at the end its tally as JSON. Ctrl-C in the parent sets the stop event; the workers ignore SIGINT, stop
scheduling, drain and still report, so the run's report is written with what was measured.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.synchronize
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loadtest.runner import RunSpec, StopFlag, Tick, ignore_sigint, run_in_process, start_time
from loadtest.stats import Summary
from loadtest.tally import Tally

READY_TIMEOUT_S = 60.0  # a Zipf CDF over 10^7 keys plus connecting takes a few seconds at most


@dataclass(frozen=True, slots=True)
class RunResult:
    spec: RunSpec
    tally: Tally
    elapsed_s: float  # length of the sending phase (shorter than asked if stopped)
    started_at: float  # wall-clock epoch
    interrupted: bool

    @property
    def throughput(self) -> float:
        """Answered requests per second over the sending phase."""
        return self.tally.answered / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def steady_throughput(self) -> float:
        """Mean answered per second over the whole seconds of the sending phase, the first one skipped.

        Unlike ``throughput`` it leaves out the ramp-up and the answers that trickle in while draining.
        """
        seconds = self.tally.timeline[1 : int(self.elapsed_s)]
        if not seconds:
            return self.throughput
        return sum(s.answered for s in seconds) / len(seconds)

    @property
    def summary(self) -> Summary:
        return self.tally.histogram.summary()

    @property
    def consistent(self) -> bool:
        t = self.tally
        return t.sent == t.answered + t.errors + t.timeouts


def _worker(spec: RunSpec, index: int, events: Any, go: Any, start: Any, stop: Any) -> None:
    ignore_sigint()

    async def wait_start() -> float:
        events.put(("ready", index, None))
        if not await asyncio.get_running_loop().run_in_executor(None, go.wait, READY_TIMEOUT_S):
            raise GeneratorFailed("the run was not started")
        return float(start.value)

    try:
        tally, elapsed = run_in_process(
            spec, index, wait_start, StopFlag(stop.is_set), lambda tick: events.put(("tick", index, tick))
        )
        events.put(("done", index, (tally.to_json(), elapsed)))
    except Exception as exc:  # noqa: BLE001 - any failure is reported to the parent, which fails the run
        events.put(("failed", index, f"{type(exc).__name__}: {exc}"))


class GeneratorFailed(RuntimeError):
    """A generator process could not run (target unreachable, bad spec)."""


def run_load(spec: RunSpec, on_progress: Callable[[list[Tick]], None] | None = None) -> RunResult:
    """Run ``spec`` on ``spec.processes`` processes and return the merged result."""
    ctx = multiprocessing.get_context("spawn")
    events = ctx.Queue()
    go, stop = ctx.Event(), ctx.Event()
    start = ctx.Value("d", 0.0)
    procs = [ctx.Process(target=_worker, args=(spec, i, events, go, start, stop), daemon=True)
             for i in range(spec.processes)]
    for p in procs:
        p.start()
    try:
        return _collect(spec, procs, events, go, start, stop, on_progress)
    finally:
        for p in procs:
            p.join(timeout=spec.timeout_s + 5)
            if p.is_alive():
                p.kill()
                p.join()


def _collect(
    spec: RunSpec, procs: list[Any], events: Any, go: multiprocessing.synchronize.Event, start: Any,
    stop: multiprocessing.synchronize.Event, on_progress: Callable[[list[Tick]], None] | None,
) -> RunResult:
    ready: set[int] = set()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while len(ready) < spec.processes:
        if time.monotonic() > deadline or not all(p.is_alive() for p in procs):
            raise GeneratorFailed("a generator process did not get ready")
        try:
            kind, index, payload = events.get(timeout=0.25)
        except queue.Empty:
            continue
        if kind == "failed":
            raise GeneratorFailed(payload)
        ready.add(index)
    started_at = time.time()
    start.value = start_time()
    go.set()
    results, interrupted = _gather(spec, events, stop, on_progress)
    tally = Tally()
    elapsed = 0.0
    for tally_json, proc_elapsed in results:
        tally.merge(Tally.from_json(tally_json))
        elapsed = max(elapsed, proc_elapsed)
    return RunResult(spec, tally, elapsed, started_at, interrupted)


def _gather(
    spec: RunSpec, events: Any, stop: multiprocessing.synchronize.Event,
    on_progress: Callable[[list[Tick]], None] | None,
) -> tuple[list[tuple[dict[str, Any], float]], bool]:
    ticks: dict[int, Tick] = {}
    results: list[tuple[dict[str, Any], float]] = []
    failures: list[str] = []
    interrupted = False
    deadline = time.monotonic() + spec.duration_s + spec.timeout_s + 30.0
    while len(results) + len(failures) < spec.processes and time.monotonic() < deadline:
        try:
            kind, index, payload = events.get(timeout=0.25)
            if kind == "tick":
                ticks[index] = payload
                if on_progress is not None and index == 0:
                    on_progress(list(ticks.values()))
            elif kind == "done":
                results.append(payload)
            elif kind == "failed":
                failures.append(payload)
        except queue.Empty:
            continue
        except KeyboardInterrupt:
            interrupted = True
            stop.set()
    if failures or len(results) < spec.processes:
        raise GeneratorFailed("; ".join(failures) or "generator processes did not finish in time")
    return results, interrupted
