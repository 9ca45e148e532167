"""The open-loop generator: requests leave at a constant arrival rate whatever the server does.

Request ``i`` of a process is *intended* at ``t0 + i / rate``; latency is measured from that instant, so a
server (or generator) stall is charged to every request it delayed: coordinated omission is corrected by
construction. Each process runs its own uvloop at ``rate / processes``; the parent starts them together on one
monotonic ``t0`` (CLOCK_MONOTONIC is system-wide on Linux), relays their progress and merges their tallies.
Ctrl-C sets a stop event: every process stops scheduling, drains what is in flight and still reports.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import uvloop

from loadtest.clients import Client, Target, open_client
from loadtest.schedule import Schedule
from loadtest.tally import Tally
from loadtest.workloads import KeyDrawer, KeySpec

MAX_BATCH = 512  # sends per scheduler tick before yielding to the receive side
SWEEP_S = 0.1  # how often timeouts, the stop flag and progress are looked at
SPIN_S = 0.002  # closer than this to the next send, poll instead of sleeping (uvloop timers have 1 ms grain)


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One load run: where, how fast, how long, and which keys."""

    target: Target
    rate: float  # the peak rate when ``profile`` is given
    duration_s: float
    profile: tuple[float, ...] = (1.0,)  # shares of ``rate`` in equal segments of the run (loadtest day)
    keys: KeySpec = field(default_factory=KeySpec)
    connections: int = 16
    processes: int = 1
    timeout_s: float = 2.0
    max_in_flight: int = 200_000  # per process; past it requests are counted as errors, not queued
    # Requests in flight per connection (TCP, HTTP), past which further ones are shed at once, as a pipelining
    # SDK's window does; 0: only ``max_in_flight`` bounds them.
    window: int = 0
    seed: int = 1
    label: str = ""

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.duration_s <= 0 or self.processes < 1 or self.connections < 1:
            raise ValueError("rate and duration must be positive, processes and connections at least 1")
        if self.window < 0:
            raise ValueError("the window is a count of requests: 0 (none) or more")

    def connections_per_process(self) -> int:
        return max(1, self.connections // self.processes)

    def in_flight_cap(self) -> int:
        """Requests one process keeps in flight at most: its window over all its connections, if any."""
        if self.window:
            return min(self.max_in_flight, self.window * self.connections_per_process())
        return self.max_in_flight


@dataclass(frozen=True, slots=True)
class Tick:
    """Progress of one process in its latest second (sent to the parent once a second)."""

    process: int
    elapsed_s: float
    sent: int
    answered: int
    failed: int


class StopFlag:
    """Something that says whether to stop early (a multiprocessing Event in workers)."""

    def __init__(self, check: Callable[[], bool] = lambda: False) -> None:
        self.check = check


async def drive(
    spec: RunSpec, index: int, wait_start: Callable[[], Awaitable[float]], stop: StopFlag,
    on_tick: Callable[[Tick], None],
) -> tuple[Tally, float]:
    """Run process ``index``'s share of ``spec``; return its tally and how long it sent.

    Keys and connections are made ready *before* ``wait_start`` returns the common monotonic ``t0``, so no
    set-up time is charged to the first requests.
    """
    tally = Tally()
    drawer = KeyDrawer(spec.keys, seed=spec.seed * 1_000 + index)
    client = open_client(spec.target, tally, spec.connections_per_process(), spec.timeout_s)
    try:
        await client.open()
        tally.t0 = await wait_start()
        elapsed = await _schedule(spec, index, client, drawer, tally, stop, on_tick)
        await _drain(client, spec.timeout_s)
        client.abandon(time.monotonic())
    finally:
        await client.aclose()
    return tally, elapsed


async def _schedule(
    spec: RunSpec, index: int, client: Client, drawer: KeyDrawer, tally: Tally, stop: StopFlag,
    on_tick: Callable[[Tick], None],
) -> float:
    schedule = Schedule([spec.rate * share / spec.processes for share in spec.profile], spec.duration_s)
    t0 = tally.t0
    i = 0
    next_sweep = t0 + SWEEP_S
    next_tick = t0 + 1.0
    cap = spec.in_flight_cap()
    while i < schedule.total:
        now = time.monotonic()
        due = min(schedule.due_by(now - t0), i + MAX_BATCH)
        room = cap - client.in_flight()
        while i < due:
            intended = t0 + schedule.intended(i)
            i += 1
            if room <= 0:
                tally.on_sent(now, intended)
                tally.on_error(now, "in-flight-cap")
                continue
            room -= 1
            client.send(drawer.draw_name(), intended, now)
        client.flush()
        if now >= next_sweep:
            client.expire(now)
            next_sweep = now + SWEEP_S
            if stop.check():
                break
            if now >= next_tick:
                on_tick(Tick(index, now - t0, tally.sent, tally.answered, tally.errors + tally.timeouts))
                next_tick += 1.0
        delay = t0 + schedule.intended(min(i, schedule.total - 1)) - time.monotonic()
        if delay > SPIN_S:
            await asyncio.sleep(delay - SPIN_S / 2)
        else:
            # Polling: hand the core to whatever else is ready on it first (Redis, in `make bench`, shares
            # the generator's core; without this its replies waited out the poller's time slice).
            os.sched_yield()
            await asyncio.sleep(0)
    return time.monotonic() - t0


async def _drain(client: Client, timeout_s: float) -> None:
    """Wait (bounded by the timeout) for answers to what is still in flight."""
    deadline = time.monotonic() + timeout_s
    while client.in_flight() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
        client.expire(time.monotonic())


def run_in_process(
    spec: RunSpec, index: int, wait_start: Callable[[], Awaitable[float]], stop: StopFlag,
    on_tick: Callable[[Tick], None],
) -> tuple[Tally, float]:
    """Entry point of one generator process."""
    return uvloop.run(drive(spec, index, wait_start, stop, on_tick))


def ignore_sigint() -> None:
    # Worker processes leave Ctrl-C to the parent, which stops them through the stop event.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_time(lead_s: float = 0.2) -> float:
    """A monotonic t0 a little ahead, so every process starts its schedule at the same instant."""
    return time.monotonic() + lead_s
