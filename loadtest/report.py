"""Reports of a run: the text summary, JSON, PNG plots and one self-contained HTML page.

The HTML embeds the same PNGs as data URIs, so the page can be mailed or attached to a ticket as one file.
Plots: throughput over time (sent, answered, failed per second), latency over time (p50/p99/max per second)
and the latency percentile spectrum (HdrHistogram's plot: percentile on a log "nines" axis). matplotlib runs
on the Agg backend, imported only when a report is written.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest.session import RunResult
from loadtest.stats import Histogram

PER_DAY_S = 86_400
TARGET_PER_DAY = 300_000_000  # the national-scale target


def ms(us: int | float) -> str:
    return f"{us / 1000:.2f}"


def per_day(rate: float) -> float:
    return rate * PER_DAY_S


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def timeline_rows(result: RunResult) -> list[dict[str, Any]]:
    rows = []
    for second, sec in enumerate(result.tally.timeline):
        h = sec.histogram
        rows.append({"second": second, "sent": sec.sent, "answered": sec.answered, "errors": sec.errors,
                     "timeouts": sec.timeouts, "p50_us": h.percentile(50), "p99_us": h.percentile(99),
                     "max_us": h.max_us})
    return rows


def result_json(result: RunResult) -> dict[str, Any]:
    spec, t = result.spec, result.tally
    return {
        "target": str(spec.target), "label": spec.label, "rate": spec.rate, "duration_s": spec.duration_s,
        "connections": spec.connections, "processes": spec.processes, "keys": spec.keys.label(),
        "key_count": spec.keys.count, "miss_ratio": spec.keys.miss_ratio, "timeout_s": spec.timeout_s,
        "started_at": iso(result.started_at), "elapsed_s": round(result.elapsed_s, 3),
        "interrupted": result.interrupted, "sent": t.sent, "answered": t.answered, "errors": t.errors,
        "timeouts": t.timeouts, "consistent": result.consistent, "codes": t.codes,
        "error_kinds": t.error_kinds,
        "throughput": round(result.throughput, 1), "per_day": round(per_day(result.throughput)),
        "latency": result.summary.to_json(), "send_lag": t.send_lag.summary().to_json(),
        "spectrum": [[p, v] for p, v in t.histogram.spectrum()],
        "timeline": timeline_rows(result), "histogram": t.histogram.to_json(),
    }


def format_summary(result: RunResult) -> str:
    """The lines `loadtest run` prints."""
    t, s = result.tally, result.summary
    lag = t.send_lag.summary()
    codes = ", ".join(f"{k}: {n}" for k, n in sorted(t.codes.items())) or "none"
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(t.error_kinds.items())) or "none"
    return "\n".join([
        f"target {result.spec.target}  offered {result.spec.rate:g}/s for {result.elapsed_s:.1f}s"
        + ("  (interrupted)" if result.interrupted else ""),
        f"sent {t.sent}  answered {t.answered}  errors {t.errors}  timeouts {t.timeouts}"
        + ("" if result.consistent else "  (counts do not add up!)"),
        f"throughput {result.throughput:,.0f}/s  = {per_day(result.throughput):,.0f}/day",
        f"latency ms  p50 {ms(s.p50_us)}  p90 {ms(s.p90_us)}  p99 {ms(s.p99_us)}  p99.9 {ms(s.p999_us)}"
        f"  max {ms(s.max_us)}",
        f"response codes: {codes}",
        f"errors: {kinds}",
        f"generator send lag ms  p99 {ms(lag.p99_us)}  max {ms(lag.max_us)}",
    ])


@dataclass(frozen=True, slots=True)
class ReportFiles:
    json: Path
    html: Path
    pngs: tuple[Path, ...]


def write_report(result: RunResult, directory: Path, name: str = "run") -> ReportFiles:
    directory.mkdir(parents=True, exist_ok=True)
    data = result_json(result)
    json_path = directory / f"{name}.json"
    json_path.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    pngs = (
        _plot_throughput(data["timeline"], directory / f"{name}-throughput.png"),
        _plot_latency(data["timeline"], directory / f"{name}-latency.png"),
        plot_spectrum({str(result.spec.target): result.tally.histogram}, directory / f"{name}-spectrum.png"),
    )
    html_path = directory / f"{name}.html"
    html_path.write_text(render_html(f"loadtest {result.spec.target}", format_summary(result), pngs))
    return ReportFiles(json_path, html_path, pngs)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_throughput(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    xs = [r["second"] for r in rows]
    ax.plot(xs, [r["sent"] for r in rows], label="sent/s")
    ax.plot(xs, [r["answered"] for r in rows], label="answered/s")
    ax.plot(xs, [r["errors"] + r["timeouts"] for r in rows], label="failed/s")
    ax.set_xlabel("second of the run")
    ax.set_ylabel("requests per second")
    ax.set_title("Throughput over time")
    ax.legend()
    return _save(fig, path)


def _plot_latency(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    xs = [r["second"] for r in rows]
    for key, label in (("p50_us", "p50"), ("p99_us", "p99"), ("max_us", "max")):
        ax.plot(xs, [max(r[key], 1) / 1000 for r in rows], label=label)
    ax.set_yscale("log")
    ax.set_xlabel("second of the run")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency over time (from intended send time)")
    ax.legend()
    return _save(fig, path)


def plot_spectrum(histograms: dict[str, Histogram], path: Path) -> Path:
    """HdrHistogram-style percentile spectrum; x is 1/(1-p) on a log axis, labelled in percent."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for label, h in histograms.items():
        points = [(p, v) for p, v in h.spectrum() if p < 100.0]
        if points:
            ax.plot([1.0 / (1.0 - p / 100.0) for p, _ in points], [max(v, 1) / 1000 for _, v in points],
                    marker=".", label=label)
    ax.set_xscale("log")
    ticks = [1 / (1 - q) for q in (0.5, 0.9, 0.99, 0.999, 0.9999)]
    ax.set_xticks(ticks, ["50%", "90%", "99%", "99.9%", "99.99%"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency by percentile")
    ax.legend()
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=90)
    _pyplot().close(fig)
    return path


def render_html(title: str, summary: str, pngs: Sequence[Path], table: str = "") -> str:
    """One self-contained page: the summary text, an optional table and every plot inline."""
    images = "\n".join(
        f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>{html.escape(p.stem)}</figcaption></figure>'
        for p in pngs
    )
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "pre{background:#f4f4f4;padding:1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em}img{max-width:100%}"
        "</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n<pre>{html.escape(summary)}</pre>\n{table}\n{images}\n"
        "</body></html>\n"
    )


def html_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"
