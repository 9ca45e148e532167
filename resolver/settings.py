"""The node's configuration: one frozen ``Settings`` tree, built only by the CLI.

Every setting has one flat name (``redis_url``, ``cache_max_entries``, ...) used the same way in the TOML
file (top level, or ``[cache] max_entries`` for ``cache_max_entries``), the environment
(``IDNODE_CACHE_MAX_ENTRIES``) and the flags (``--cache-max-entries``). Precedence, lowest to highest:
defaults < TOML file < environment < flags. Nothing here reads the environment by itself.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from protocol.constants import DEFAULT_HTTP_PORT, DEFAULT_PORT
from protocol.handle import IdentifierLimits
from resolver.cgroup import memory_limit, usable_cpus
from resolver.udpbuffer import DEFAULT_RECEIVE_BUFFER_BYTES
from storage.api import StorageConfig

ENV_PREFIX = "IDNODE_"
LogFormat = Literal["text", "json"]


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the setting and its source."""


DEFAULT_CACHE_BYTES = 1 << 30  # per worker, when no memory limit says less (cache_max_bytes = 0)
CACHE_SHARE_OF_MEMORY_LIMIT = 0.5


@dataclass(frozen=True, slots=True)
class Address:
    """A listening address. Port 0 lets the kernel pick a free port (the chosen one goes to ports.json)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(text: str) -> Address:
    """``HOST:PORT``, ``[v6]:PORT`` or ``:PORT`` (all interfaces)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise SettingsError(f"not a HOST:PORT address: {text!r}")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - a server listens on all interfaces unless told
    return Address(host, int(port))


@dataclass(frozen=True, slots=True)
class ListenSettings:
    """Where the node listens.

    handle: Handle protocol, TCP and UDP on the same port (handle-protocol.md §1.1, default 2641).
    http: HTTP REST API and proxy (default 8000).
    admin: optional separate address for the admin API (None: admin routes share ``http``).
    metrics: optional separate address for /metrics (None: served on ``http``).
    """

    handle: Address = Address("0.0.0.0", DEFAULT_PORT)  # noqa: S104
    http: Address = Address("0.0.0.0", DEFAULT_HTTP_PORT)  # noqa: S104
    admin: Address | None = None
    metrics: Address | None = None


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """cert/key: PEM files for HTTPS on the HTTP port(s); both None means plain HTTP."""

    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """Per-worker resolution cache.

    max_entries: identifiers kept (positive and negative); least recently used go first.
    max_ttl_s: cap on the TTL taken from a record's smallest relative value TTL.
    negative_ttl_s: how long "no such identifier" is remembered (writes invalidate it earlier).
    max_hot_responses: pre-encoded responses kept per worker (one per distinct request shape).
    max_bytes: memory the records and the pre-encoded responses may take per worker, about (half each; an
        estimate per item, resolver/cache.py): whichever bound a map reaches first, count or bytes, drops its
        oldest. 0: automatic (``Settings.cache_bytes_per_worker``).
    read_window_s: a batch of misses waits while it grows, at most this long, to share one Redis round trip
        (0: it waits one tick; resolver/loader.py).
    max_stale_s: when storage cannot be read, an identifier whose entry expired less than this long ago is
        answered from it (serve-stale, RFC 8767's 1 to 3 days; 0: never).
    """

    max_entries: int = 200_000
    max_ttl_s: float = 300.0
    negative_ttl_s: float = 5.0
    max_hot_responses: int = 200_000
    max_bytes: int = 0
    read_window_s: float = 0.001
    max_stale_s: float = 86_400.0


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """Input bounds.

    identifier: identifier/prefix length limits (domain.md §3.4: 255 / 64 characters).
    max_body_bytes: largest HTTP request body accepted.
    max_message_bytes: largest Handle message (handle-protocol.md §1.5: 262,144).
    tcp_max_in_flight: requests one TCP connection may have unanswered before the node stops reading it.
    tcp_idle_timeout_s: a TCP connection with nothing in flight and no bytes for this long is closed.
    tcp_max_connections: open Handle TCP connections per worker; more are closed at once (0 = no cap).
    tcp_max_connections_per_address: the same for one client address, so one cannot take every slot.
    tcp_message_timeout_s: a Handle message must arrive whole within this from its first byte (slowloris).
    udp_max_partial: multi-packet UDP requests held for reassembly at once, per worker.
    udp_receive_buffer_bytes: the kernel receive buffer asked for each UDP socket, so a moment's backlog waits
        instead of being dropped (resolver/udpbuffer.py); 0 keeps the system default. Linux caps it at
        ``net.core.rmem_max`` (the node logs a warning when it does).
    http_max_connections: open HTTP connections per worker and listener; more are closed at once (0 = no cap).
    http_max_connections_per_address: the same for one client address, so one cannot take every slot.
    http_header_timeout_s: a request's headers must arrive whole within this (slowloris), per request.
    http_keepalive_timeout_s: an idle keep-alive HTTP connection is closed after this.
    http_body_timeout_s: a write's JSON body must arrive whole within this.
    """

    identifier: IdentifierLimits = field(default_factory=IdentifierLimits)
    max_body_bytes: int = 1_048_576
    max_message_bytes: int = 262_144
    tcp_max_in_flight: int = 128
    tcp_idle_timeout_s: float = 600.0
    tcp_max_connections: int = 1024  # ours, as http_max_connections: bounds descriptors and buffers
    tcp_max_connections_per_address: int = 256  # ours: room for an SDK pool behind a NAT, not for a flood
    tcp_message_timeout_s: float = 30.0  # ours: 256 KiB (the largest message) at ~9 KB/s still fits
    udp_max_partial: int = 1024
    udp_max_in_flight: int = 1024
    udp_receive_buffer_bytes: int = DEFAULT_RECEIVE_BUFFER_BYTES
    http_max_connections: int = 1024  # admin work: ours; bounds descriptors and buffers (see ulimit -n)
    http_max_connections_per_address: int = 256  # ours, as tcp_max_connections_per_address
    http_header_timeout_s: float = 10.0
    http_keepalive_timeout_s: float = 15.0
    http_body_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """Per-client token buckets (0 disables): resolutions and writes per second, and the burst allowed.

    udp_packets_per_s / udp_packets_burst: datagrams of multi-packet UDP answers each source address may
    receive (one-packet answers are not counted). A UDP source can be forged, and a 50-byte request can ask
    for an answer of hundreds of datagrams: this bounds what the node sends a victim named as the source.
    """

    resolutions_per_s: float = 0.0
    writes_per_s: float = 0.0
    burst: int = 100
    udp_packets_per_s: float = 500.0  # ~250 KB/s of large answers per address, node-wide
    udp_packets_burst: int = 5_000


@dataclass(frozen=True, slots=True)
class LogSettings:
    """format: "text" or "json" lines on stderr. access_log_sample: fraction of requests logged (0..1)."""

    format: LogFormat = "text"
    access_log_sample: float = 0.0


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole node configuration.

    workers: worker processes (0 = one per CPU core).
    shutdown_deadline_s: how long SIGTERM waits for in-flight requests before cancelling them.
    token_ttl_s: lifetime of admin API bearer tokens (one day).
    metrics_enabled: count and serve /metrics (False: the hot path counts nothing; /healthz, /readyz stay).
    http_fast_lane: answer REST reads and proxy hits on the public HTTP listener without aiohttp
        (resolver/http/fastlane.py); off with TLS.
    storage: how to reach Redis (``redis_url`` None = the embedded redis-server in ``data_dir``).
    """

    workers: int = 0
    shutdown_deadline_s: float = 10.0
    token_ttl_s: int = 86_400
    metrics_enabled: bool = True
    http_fast_lane: bool = True  # issue 4: the public plain-HTTP listener answers reads on a raw protocol
    node_key_file: Path | None = None  # admin work: the SNMS v1 seal key; None = <data_dir>/node.key
    storage: StorageConfig = field(default_factory=StorageConfig)
    listen: ListenSettings = ListenSettings()
    tls: TlsSettings = TlsSettings()
    cache: CacheSettings = CacheSettings()
    limits: LimitSettings = LimitSettings()
    rate: RateLimitSettings = RateLimitSettings()
    log: LogSettings = LogSettings()

    @property
    def data_dir(self) -> Path:
        return self.storage.data_dir

    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else usable_cpus()  # a container's quota, not the host's

    def cache_bytes_per_worker(self) -> int:
        """``cache.max_bytes``, or when 0: 1 GiB, or less in a container with a memory limit, whose half the
        workers share (its other half is for the processes themselves, the read path's memo tables and the
        allocator's slack). Read from the cgroup each call: workers ask at start."""
        if self.cache.max_bytes > 0:
            return self.cache.max_bytes
        limit = memory_limit()
        if limit is None:
            return DEFAULT_CACHE_BYTES
        return min(DEFAULT_CACHE_BYTES, int(limit * CACHE_SHARE_OF_MEMORY_LIMIT) // self.worker_count())


def _opt_address(text: str) -> Address | None:
    return parse_address(text) if text else None


def _opt_path(text: str) -> Path | None:
    return Path(text) if text else None


def _opt_str(text: str) -> str | None:
    return text or None


def parse_bool(text: str) -> bool:
    """``true/false``, ``1/0``, ``yes/no``, ``on/off`` (environment and flags are text)."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"not a boolean: {text!r}")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise SettingsError(f"must be between 0 and 1, not {value}")
    return value


def _log_format(text: str) -> LogFormat:
    if text == "text":
        return "text"
    if text == "json":
        return "json"
    raise SettingsError(f"log_format must be 'text' or 'json', not {text!r}")


@dataclass(frozen=True, slots=True)
class _Field:
    """Where a flat setting lives in the tree and how to read it from text."""

    path: tuple[str, ...]
    parse: Callable[[str], Any]
    help: str = field(default="")


FIELDS: dict[str, _Field] = {
    "redis_url": _Field(("storage", "redis_url"), _opt_str, "Redis URL (default: embedded Redis)"),
    "data_dir": _Field(("storage", "data_dir"), Path, "data directory (embedded Redis, ports.json)"),
    "workers": _Field(("workers",), int, "worker processes (0 = one per usable core)"),
    "handle_listen": _Field(("listen", "handle"), parse_address, "Handle TCP+UDP HOST:PORT"),
    "http_listen": _Field(("listen", "http"), parse_address, "HTTP HOST:PORT"),
    "admin_listen": _Field(("listen", "admin"), _opt_address, "separate admin API HOST:PORT"),
    "metrics_listen": _Field(("listen", "metrics"), _opt_address, "separate /metrics HOST:PORT"),
    "tls_cert": _Field(("tls", "cert"), _opt_path, "PEM certificate for HTTPS"),
    "tls_key": _Field(("tls", "key"), _opt_path, "PEM key for HTTPS"),
    "log_format": _Field(("log", "format"), _log_format, "text or json"),
    "access_log_sample": _Field(("log", "access_log_sample"), _fraction, "fraction of requests logged"),
    "metrics_enabled": _Field(("metrics_enabled",), parse_bool, "count and serve /metrics (true/false)"),
    "http_fast_lane": _Field(("http_fast_lane",), parse_bool, "HTTP reads on the fast lane (true/false)"),
    "resolutions_per_s": _Field(("rate", "resolutions_per_s"), float, "per-client resolution rate"),
    "writes_per_s": _Field(("rate", "writes_per_s"), float, "per-client write rate"),
    "rate_burst": _Field(("rate", "burst"), int, "rate limit burst"),
    "udp_packets_per_s": _Field(("rate", "udp_packets_per_s"), float, "large-answer UDP datagrams/address"),
    "udp_packets_burst": _Field(("rate", "udp_packets_burst"), int, "burst of those datagrams"),
    "token_ttl_s": _Field(("token_ttl_s",), int, "admin token lifetime"),
    "max_body_bytes": _Field(("limits", "max_body_bytes"), int, "largest HTTP body"),
    "max_message_bytes": _Field(("limits", "max_message_bytes"), int, "largest Handle message"),
    "max_identifier_length": _Field(("limits", "identifier", "max_length"), int, "identifier characters"),
    "max_prefix_length": _Field(("limits", "identifier", "max_prefix_length"), int, "prefix characters"),
    "tcp_max_in_flight": _Field(("limits", "tcp_max_in_flight"), int, "unanswered requests per connection"),
    "tcp_idle_timeout_s": _Field(("limits", "tcp_idle_timeout_s"), float, "idle TCP connection timeout"),
    "tcp_max_connections": _Field(("limits", "tcp_max_connections"), int, "TCP connections per worker"),
    "tcp_max_connections_per_address": _Field(
        ("limits", "tcp_max_connections_per_address"), int, "TCP connections per worker and address"
    ),
    "tcp_message_timeout_s": _Field(("limits", "tcp_message_timeout_s"), float, "time to send one message"),
    "cache_max_entries": _Field(("cache", "max_entries"), int, "cached identifiers per worker"),
    "cache_max_ttl_s": _Field(("cache", "max_ttl_s"), float, "cap on cache TTL"),
    "cache_negative_ttl_s": _Field(("cache", "negative_ttl_s"), float, "TTL of 'not found' entries"),
    "cache_max_hot_responses": _Field(("cache", "max_hot_responses"), int, "pre-encoded responses"),
    "cache_max_bytes": _Field(("cache", "max_bytes"), int, "memory for cached records and responses"),
    "cache_read_window_s": _Field(("cache", "read_window_s"), float, "longest wait of a growing miss batch"),
    "cache_max_stale_s": _Field(("cache", "max_stale_s"), float, "serve expired entries in a storage outage"),
    "udp_max_partial": _Field(("limits", "udp_max_partial"), int, "UDP requests in reassembly"),
    "udp_max_in_flight": _Field(("limits", "udp_max_in_flight"), int, "UDP misses in flight per worker"),
    "udp_receive_buffer_bytes": _Field(
        ("limits", "udp_receive_buffer_bytes"), int, "kernel receive buffer per UDP socket (0: the default)"
    ),
    "storage_max_connections": _Field(("storage", "max_connections"), int, "Redis pool size per worker"),
    "storage_socket_timeout_s": _Field(("storage", "socket_timeout_s"), float, "Redis socket timeout"),
    "storage_retries": _Field(("storage", "retries"), int, "Redis retries per command"),
    "storage_retry_backoff_s": _Field(("storage", "retry_backoff_s"), float, "Redis retry backoff base"),
    "storage_record_buckets": _Field(("storage", "record_buckets"), int, "record buckets of a new database"),
    "http_max_connections": _Field(("limits", "http_max_connections"), int, "HTTP connections per worker"),
    "http_max_connections_per_address": _Field(
        ("limits", "http_max_connections_per_address"), int, "HTTP connections per worker and address"
    ),
    "http_header_timeout_s": _Field(("limits", "http_header_timeout_s"), float, "HTTP header read timeout"),
    "http_keepalive_timeout_s": _Field(("limits", "http_keepalive_timeout_s"), float, "HTTP keep-alive"),
    "http_body_timeout_s": _Field(("limits", "http_body_timeout_s"), float, "HTTP write body timeout"),
    "node_key_file": _Field(("node_key_file",), _opt_path, "SNMS v1 seal key (default data_dir/node.key)"),
    "shutdown_deadline_s": _Field(("shutdown_deadline_s",), float, "graceful stop deadline"),
}


def _replace_at(node: Any, path: tuple[str, ...], value: Any) -> Any:
    head, rest = path[0], path[1:]
    child = value if not rest else _replace_at(getattr(node, head), rest, value)
    return dataclasses.replace(node, **{head: child})


def _flatten_toml(doc: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            flat.update({f"{key}_{sub}": inner for sub, inner in value.items()})
        else:
            flat[key] = value
    return flat


def _apply(settings: Settings, values: Mapping[str, Any], source: str) -> Settings:
    for name, raw in values.items():
        spec = FIELDS.get(name)
        if spec is None:
            raise SettingsError(f"unknown setting {name!r} in {source}")
        try:
            value = spec.parse(str(raw)) if not isinstance(raw, bool) else raw
        except ValueError as exc:
            raise SettingsError(f"{name} in {source}: {exc}") from None
        settings = _replace_at(settings, spec.path, value)
    return settings


def load_settings(
    flags: Mapping[str, Any], environ: Mapping[str, str], config_file: Path | None = None
) -> Settings:
    """Build the tree: defaults < ``config_file`` (TOML) < ``IDNODE_*`` in ``environ`` < ``flags``.

    ``flags`` maps flat names to values; None means "not given". A config file may also come from
    ``IDNODE_CONFIG`` when ``config_file`` is None.
    """
    settings = Settings()
    path = config_file or _opt_path(environ.get(ENV_PREFIX + "CONFIG", ""))
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read config file {path}: {exc}") from None
        settings = _apply(settings, _flatten_toml(doc), str(path))
    names = {ENV_PREFIX + name.upper(): name for name in FIELDS}
    env = {name: environ[var] for var, name in names.items() if var in environ}
    settings = _apply(settings, env, "environment")
    return _apply(settings, {k: v for k, v in flags.items() if v is not None and k in FIELDS}, "flags")


def add_setting_flags(parser: Any, names: tuple[str, ...] = tuple(FIELDS)) -> None:
    """Add ``--flag`` options (all default None, so unset flags never override) for the named settings."""
    for name in names:
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default=None, help=FIELDS[name].help)
