"""`loadtest day`: a 24-hour curve compressed into minutes, at a given peak rate.

Each hour of ``schedule.diurnal_profile`` becomes ``minutes * 60 / 24`` seconds of the run, at that hour's
share of the peak. The report scales the compressed day back: the same hourly rates held for real hours give
the identifiers resolved in a full day, which is set next to the 300-million-a-day target.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from loadtest.report import TARGET_PER_DAY, format_summary, html_table, ms, render_html, write_report
from loadtest.runner import RunSpec
from loadtest.schedule import diurnal_profile
from loadtest.session import RunResult, run_load

SpecBuilder = Callable[[argparse.Namespace, float, float, tuple[float, ...]], RunSpec]


def run_day(build: SpecBuilder, args: argparse.Namespace) -> int:
    profile = diurnal_profile()
    spec = build(args, args.peak, args.minutes * 60.0, profile)
    from loadtest.progress import ProgressLine

    progress = ProgressLine(spec.duration_s)
    result = run_load(spec, progress)
    progress.done()
    rows = hourly_rows(result, profile)
    print(format_summary(result))
    print(day_summary(args.peak, profile))
    for row in rows:
        print("  hour {:>2}: offered {:>9}/s answered {:>9}/s p99 {} ms".format(*row[:3], row[4]))
    if args.report:
        write_day_report(result, rows, args.peak, profile, args.report)
    return 0


def day_summary(peak: float, profile: tuple[float, ...]) -> str:
    full_day = sum(peak * share * 3_600 for share in profile)
    return (f"the same curve over a real day: {full_day:,.0f} resolutions "
            f"({full_day / TARGET_PER_DAY:.2f}x the 300,000,000/day target)")


def hourly_rows(result: RunResult, profile: tuple[float, ...]) -> list[list[str]]:
    """Per compressed hour: offered and answered rate, p50 and p99 over that hour's seconds."""
    from loadtest.stats import merged

    hour_s = result.spec.duration_s / len(profile)
    rows = []
    for hour, share in enumerate(profile):
        seconds = result.tally.timeline[int(hour * hour_s): int((hour + 1) * hour_s)]
        answered = sum(s.answered for s in seconds)
        h = merged(s.histogram for s in seconds)
        rows.append([str(hour), f"{result.spec.rate * share:,.0f}", f"{answered / hour_s:,.0f}",
                     ms(h.percentile(50)), ms(h.percentile(99))])
    return rows


def write_day_report(result: RunResult, rows: list[list[str]], peak: float, profile: tuple[float, ...],
                     directory: Path) -> Path:
    files = write_report(result, directory, "day")
    table = html_table(["hour", "offered/s", "answered/s", "p50 ms", "p99 ms"], rows)
    summary = format_summary(result) + "\n" + day_summary(peak, profile)
    files.html.write_text(render_html("loadtest day", summary, files.pngs, table))
    return files.html
