"""Printing and writing `loadtest capacity` results: steps, the sustainable rate, what it means per day."""

from __future__ import annotations

import json
from pathlib import Path

from loadtest.capacity import CapacityResult, Step
from loadtest.report import TARGET_PER_DAY, html_table, ms, per_day, plot_spectrum, render_html


def print_step(step: Step) -> None:
    s = step.result.summary
    verdict = "ok " if step.holds else "BREAKS"
    print(f"  {step.rate:>10,.0f}/s offered  {step.result.throughput:>10,.0f}/s answered  "
          f"p50 {ms(s.p50_us)} p99 {ms(s.p99_us)} p99.9 {ms(s.p999_us)} ms  {verdict} ({step.reason})",
          flush=True)


def summarise(result: CapacityResult) -> str:
    best = result.best
    if best is None:
        return f"SLO {result.slo} did not hold even at the first step ({result.steps[0].reason})"
    rate = result.sustainable_rate
    day = per_day(rate)
    floor = "" if any(not s.holds for s in result.steps) else (
        f"\n(the SLO never broke within {len(result.steps)} steps: the capacity is at least this)")
    return (f"highest sustainable rate under {result.slo}: {rate:,.0f}/s "
            f"(offered {best.rate:,.0f}/s)\n"
            f"= {day:,.0f} resolutions per day at that rate all day; "
            f"{day / TARGET_PER_DAY:.2f}x the 300,000,000/day target "
            f"(which averages {TARGET_PER_DAY / 86_400:,.0f}/s){floor}")


def capacity_json(result: CapacityResult) -> dict[str, object]:
    return {
        "slo": str(result.slo), "sustainable_rate": round(result.sustainable_rate, 1),
        "per_day": round(per_day(result.sustainable_rate)), "target_per_day": TARGET_PER_DAY,
        "steps": [{"rate": s.rate, "throughput": round(s.result.throughput, 1), "holds": s.holds,
                   "reason": s.reason, "latency": s.result.summary.to_json(), "sent": s.result.tally.sent,
                   "errors": s.result.tally.errors, "timeouts": s.result.tally.timeouts}
                  for s in result.steps],
    }


def write_capacity_report(result: CapacityResult, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "capacity.json").write_text(json.dumps(capacity_json(result), indent=1))
    spectrum = plot_spectrum({f"{s.rate:,.0f}/s": s.result.tally.histogram for s in result.steps},
                             directory / "capacity-spectrum.png")
    rows = [[f"{s.rate:,.0f}", f"{s.result.throughput:,.0f}", ms(s.result.summary.p50_us),
             ms(s.result.summary.p99_us), ms(s.result.summary.p999_us), "yes" if s.holds else s.reason]
            for s in result.steps]
    table = html_table(["offered/s", "answered/s", "p50 ms", "p99 ms", "p99.9 ms", "SLO holds"], rows)
    page = directory / "capacity.html"
    page.write_text(render_html("loadtest capacity", summarise(result), [spectrum], table))
    return page
