"""The ``loadtest`` command: seed, run, capacity, day, baseline and bench.

The only reader of argv: each sub-command turns its flags into a frozen spec and calls one module
(``seed``, ``session``, ``capacity``, ``baselines``, ``bench``). Exit codes: 0 done, 1 the run failed (target
unreachable, SLO never held), 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from loadtest.clients import Target
from loadtest.runner import RunSpec
from loadtest.workloads import KeySpec

Handler = Callable[[argparse.Namespace], int]


def _add_run_flags(p: argparse.ArgumentParser, *, rate: bool = True) -> None:
    p.add_argument("--target", required=True, type=Target.parse, help="udp://H:P, tcp://H:P or http://H:P")
    if rate:
        p.add_argument("--rate", type=float, required=True, help="requests per second (open loop)")
        p.add_argument("--duration", type=float, default=30.0, help="seconds (default 30)")
    p.add_argument("--connections", type=int, default=16, help="sockets/connections in all (default 16)")
    p.add_argument("--processes", type=int, default=1, help="generator processes, each at rate/K")
    p.add_argument("--keys", default="zipf:1.1", help="zipf:S or uniform (default zipf:1.1)")
    p.add_argument("--key-count", type=int, default=1_000_000, help="identifiers seeded (default 1,000,000)")
    p.add_argument("--prefix", default="88.100.1")
    p.add_argument("--miss-ratio", type=float, default=0.0, help="share of requests for absent identifiers")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds before a request counts as timed out")
    p.add_argument("--seed", type=int, default=1,
                   help="key sequence (default 1): runs with one seed ask for the same identifiers, so a "
                        "second cold-cache run finds the first one's keys cached; give each its own")
    p.add_argument("--window", type=_window, metavar="N", default=0,
                   help="requests in flight per connection before further ones are shed at the client (as "
                        "a pipelining SDK does; `make bench` searches TCP/HTTP maxima with 256); default: "
                        "unbounded, an overloaded server's backlog then grows until answers time out")
    p.add_argument("--report", type=Path, help="directory for JSON, HTML and PNG reports")


def run_spec(args: argparse.Namespace, rate: float, duration_s: float,
             profile: tuple[float, ...] = (1.0,)) -> RunSpec:
    keys = KeySpec.parse(args.keys, count=args.key_count, prefix=args.prefix, miss_ratio=args.miss_ratio)
    return RunSpec(args.target, rate, duration_s, profile=profile, keys=keys, connections=args.connections,
                   processes=args.processes, timeout_s=args.timeout, seed=args.seed, window=args.window)


def cmd_run(args: argparse.Namespace) -> int:
    from loadtest.progress import ProgressLine
    from loadtest.report import format_summary, write_report
    from loadtest.session import run_load

    spec = run_spec(args, args.rate, args.duration)
    progress = ProgressLine(spec.duration_s)
    result = run_load(spec, progress)
    progress.done()
    print(format_summary(result))
    if args.report:
        files = write_report(result, args.report)
        print(f"report: {files.html} {files.json}")
    return 0


def cmd_capacity(args: argparse.Namespace) -> int:
    from loadtest.capacity import Slo, find_capacity
    from loadtest.capacity_report import print_step, summarise, write_capacity_report

    slo = Slo.parse(args.slo)
    base = run_spec(args, args.start_rate, args.step_duration)
    result = find_capacity(base, slo, start_rate=args.start_rate, factor=args.factor,
                           max_steps=args.max_steps, on_step=print_step)
    print(summarise(result))
    if args.report:
        print(f"report: {write_capacity_report(result, args.report)}")
    return 0 if result.best else 1


def cmd_day(args: argparse.Namespace) -> int:
    from loadtest.day import run_day

    return run_day(run_spec, args)


def cmd_seed(args: argparse.Namespace) -> int:
    from loadtest.seed import seed_parallel
    from storage.api import StorageConfig

    config = StorageConfig(redis_url=args.redis_url, data_dir=args.data_dir)
    result = seed_parallel(config, args.prefix, args.count, processes=args.processes, batch=args.batch)
    print(f"seeded {result.count:,} identifiers under {args.prefix} in {result.elapsed_s:.1f}s "
          f"({result.rate:,.0f}/s)")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from loadtest.baselines import main as serve_baseline

    if args.rates:
        from loadtest.bench import measure_rates

        measure_rates(args.kind, args.rates, args.measure or 6.0)
        return 0
    if args.measure:
        from loadtest.bench import measure_baseline

        return measure_baseline(args.kind, args.measure)
    argv = [args.kind, "--listen", args.listen, "--reply-bytes", str(args.reply_bytes)]
    return serve_baseline(argv)


def cmd_bench(args: argparse.Namespace) -> int:
    from loadtest.bench import BenchOptions, run_bench

    options = BenchOptions(output=args.output, quick=args.quick, count=args.count,
                           scenario_s=args.scenario_seconds, only=frozenset(args.only),
                           redis_cpus=frozenset({args.redis_cpu}), half_runs=args.half_runs,
                           peak_searches=args.peak_searches,
                           command=" ".join(["loadtest", *args.argv]))
    return run_bench(options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loadtest", description="Load tests and capacity reports.")
    sub = parser.add_subparsers(dest="command", required=True)
    _seed_parser(sub.add_parser("seed", help="write N identifiers through the storage bulk path"))
    run = sub.add_parser("run", help="an open-loop run at a constant rate")
    _add_run_flags(run)
    run.set_defaults(handler=cmd_run)
    _capacity_parser(sub.add_parser("capacity", help="raise the rate until the SLO breaks"))
    _day_parser(sub.add_parser("day", help="a compressed 24-hour curve"))
    _baseline_parser(sub.add_parser("baseline", help="serve a bare uvloop/aiohttp baseline"))
    _bench_parser(sub.add_parser("bench", help="the benchmark of record (writes BENCHMARKS.md)"))
    return parser


def _seed_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, default=1_000_000)
    p.add_argument("--prefix", default="88.100.1")
    p.add_argument("--data-dir", type=Path, default=Path("var"), help="embedded Redis data dir (default var)")
    p.add_argument("--redis-url", help="an external Redis instead of the embedded one")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--batch", type=int, default=2_000)
    p.set_defaults(handler=cmd_seed)


def _capacity_parser(p: argparse.ArgumentParser) -> None:
    _add_run_flags(p, rate=False)
    p.add_argument("--slo", default="p99=5ms", help="like p99=5ms or p99.9=20ms")
    p.add_argument("--start-rate", type=float, default=1_000.0)
    p.add_argument("--factor", type=float, default=1.5, help="rate multiplier while the SLO holds")
    p.add_argument("--step-duration", type=float, default=10.0, help="seconds per step")
    p.add_argument("--max-steps", type=int, default=12)
    p.set_defaults(handler=cmd_capacity)


def _day_parser(p: argparse.ArgumentParser) -> None:
    _add_run_flags(p, rate=False)
    p.add_argument("--peak", type=float, required=True, help="rate at the busiest hour")
    p.add_argument("--minutes", type=float, default=24.0, help="length of the compressed day")
    p.set_defaults(handler=cmd_day)


def _rates(text: str) -> list[float]:
    """``--rates``: positive requests per second, comma-separated."""
    try:
        rates = [float(rate) for rate in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of rates: {text!r} (like 3000,12000)") from None
    if not all(rate > 0 for rate in rates):
        raise argparse.ArgumentTypeError(f"rates must be above 0: {text!r}")
    return rates


def _window(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"the window is a count of requests, at least 1: {text!r}")
    return int(text)


def _baseline_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=("udp-echo", "tcp-echo", "http-hello"))
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0 picks a free one)")
    p.add_argument("--reply-bytes", type=int, default=420, help="size of each Handle echo reply")
    p.add_argument("--measure", type=float, metavar="SECONDS",
                   help="instead of serving: start it, measure its maximum rate and latencies, and stop")
    p.add_argument("--rates", metavar="R1,R2,...", type=_rates,
                   help="instead of serving: its server CPU per answer and p99 at each rate (--measure "
                        "SECONDS each, default 6)")
    p.set_defaults(handler=cmd_baseline)


def _bench_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    p.add_argument("--quick", action="store_true", help="small seed, short scenarios (for tests)")
    p.add_argument("--count", type=int, help="identifiers to seed (default 1,000,000; 20,000 with --quick)")
    p.add_argument("--scenario-seconds", type=float, help="seconds per measurement (default 10; 2 quick)")
    p.add_argument("--only", action="append", choices=("udp", "tcp", "http"), default=[],
                   help="measure only this transport (repeatable); skips the codec and storage figures")
    p.add_argument("--redis-cpu", type=int, choices=(0, 1), default=0,
                   help="CPU for the bench's Redis: 0 beside the worker (default), 1 beside the generator")
    p.add_argument("--half-runs", type=int, default=5,  # loadtest.bench.HALF_RUNS (imported lazily)
                   help="runs at half the maximum per scenario, in rounds across the scenarios; the table "
                        "shows the median p99 (default 5)")
    p.add_argument("--peak-searches", type=int, choices=range(1, 6),
                   default=2,  # loadtest.bench.PEAK_SEARCHES (imported lazily)
                   help="searches for each scenario's maximum, in rounds across the scenarios; the table "
                        "keeps the best (default 2)")
    p.set_defaults(handler=cmd_bench)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    args.argv = args_list
    handler: Handler = args.handler
    from loadtest.session import GeneratorFailed

    try:
        return handler(args)
    except GeneratorFailed as exc:
        print(f"loadtest: the run failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
