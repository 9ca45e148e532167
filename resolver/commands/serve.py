"""`resolver serve`: run the node: Handle TCP/UDP and HTTP workers under one supervisor."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from resolver.compiled import PURE_PYTHON_ENV, compiled_modules
from resolver.fdlimit import descriptors_needed, raise_open_file_limit
from resolver.http.tls import server_ssl_context
from resolver.http.write_ctx import node_key
from resolver.logs import setup_logging
from resolver.settings import Settings, SettingsError, add_setting_flags, load_settings
from resolver.supervisor import Supervisor, bind_sockets, supervise
from resolver.worker import WorkerSockets
from storage.embedded import resolve_redis_url

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "serve", help="run the node: Handle TCP/UDP and HTTP workers"
    )
    add_common_flags(parser)
    parser.set_defaults(run=run)


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="TOML configuration file")
    add_setting_flags(parser)
    # Ops work: the benchmark's switch (same as --metrics-enabled false / IDNODE_METRICS_ENABLED=false).
    parser.add_argument("--no-metrics", dest="metrics_enabled", action="store_const", const=False,
                        default=None, help="count nothing and serve no /metrics (health endpoints stay)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Flags > IDNODE_* environment > --config file > defaults."""
    return load_settings(vars(args), os.environ, args.config)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
        server_ssl_context(settings)  # admin work: a bad certificate fails here, not in every worker
        if settings.node_key_file is not None:  # admin work: so does a missing or short node key
            node_key(settings)
    except SettingsError as exc:
        print(f"resolver serve: {exc}", file=sys.stderr)
        return 2
    return serve_node(settings, print_ready)


def print_ready(ports: dict[str, object]) -> None:
    print(
        f"resolver ready: pid={ports['pid']} handle (TCP+UDP) port {ports['handle_port']}, "
        f"HTTP port {ports['http_port']}, workers {ports['workers']}",
        flush=True,
    )


def serve_node(
    settings: Settings, on_ready: Callable[[dict[str, object]], None],
    prepare: Callable[[Settings, WorkerSockets], None] | None = None,
) -> int:
    """Embedded Redis (if no URL) -> sockets -> ``prepare`` -> supervised workers; Redis stops last."""
    setup_logging(settings.log.format)
    raise_open_file_limit(descriptors_needed(settings))  # before the workers: they inherit it
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url, owner = resolve_redis_url(settings.storage)
    try:
        sockets = bind_sockets(settings)
        log.info("handle port %d, http port %d", sockets.tcp.getsockname()[1], sockets.http.getsockname()[1])
        workers, cache_bytes = settings.worker_count(), settings.cache_bytes_per_worker()
        log.info("%d workers, %d MiB of cache each (cache_max_bytes %s)", workers, cache_bytes >> 20,
                 settings.cache.max_bytes or "0: automatic")
        compiled = compiled_modules()
        if compiled:
            log.info("%d modules compiled (setup.py)", len(compiled))
        else:
            log.info("pure Python: no compiled modules (setup.py, %s)", PURE_PYTHON_ENV)
        # The automatic values (0) are resolved once, here: every worker then uses the same ones, whatever its
        # own view of the CPU affinity or the cgroup.
        settings = dataclasses.replace(
            settings, workers=workers, storage=dataclasses.replace(settings.storage, redis_url=url),
            cache=dataclasses.replace(settings.cache, max_bytes=cache_bytes),
        )
        if prepare is not None:
            prepare(settings, sockets)  # before the fork: no event loop survives into the workers
        return supervise(Supervisor(settings, sockets, url), on_ready, settings.shutdown_deadline_s)
    finally:
        if owner is not None:
            owner.stop()
