"""What the write and admin routes share on a worker's app: store, accounts, limits, rate limiters, clock.

Built once at app start-up from the store and the node settings (``build_context``); tests build the app the
same way with a real store, so there is one code path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from protocol.handle import IdentifierLimits
from resolver.audit import RefusalAudit
from resolver.auth.accounts import Accounts
from resolver.auth.principal import Principal
from resolver.auth.sealed import SecretBox, load_or_create_key, read_key
from resolver.auth.tenants import Tenants
from resolver.http.jsonbody import BODY_TIMEOUT_S
from resolver.ratelimit import RateLimit, RateLimiter
from resolver.settings import Settings, SettingsError
from storage.api import HandleStore

NODE_KEY_FILE = "node.key"  # in the data dir; seals the SNMS v1 login secrets (resolver/auth/sealed.py)
MAX_BATCH_ITEMS = 2_000  # http-apis.md §2.3: at most 2,000 items per batch call


@dataclass(frozen=True, slots=True)
class WriteContext:
    store: HandleStore
    accounts: Accounts
    tenants: Tenants
    identifier_limits: IdentifierLimits
    max_body_bytes: int
    writes: RateLimiter
    logins: RateLimiter
    resolutions: RateLimiter
    audit: RefusalAudit
    clock: Callable[[], float] = field(default=time.time)
    body_timeout_s: float = BODY_TIMEOUT_S
    # Per worker: sha256(Basic payload) -> (principal, valid until), see resolver/http/authn.py.
    basic_cache: dict[bytes, tuple[Principal, float]] = field(default_factory=dict)


CONTEXT = web.AppKey("write_context", WriteContext)


@dataclass(frozen=True, slots=True)
class Caller:
    """The outcome of authenticating one request; ``principal`` None means anonymous."""

    principal: Principal | None


# Set once per request by resolver/http/authn.py.
PRINCIPAL = web.RequestKey("principal", Caller)


def node_key(settings: Settings) -> bytes:
    """``node_key_file`` when set (a mounted Secret every replica shares: it must exist), else
    ``<data_dir>/node.key``, created on first use (one node, or replicas sharing the data dir)."""
    if settings.node_key_file is not None:
        try:
            return read_key(settings.node_key_file)
        except ValueError as exc:
            raise SettingsError(f"node_key_file: {exc}") from None
    return load_or_create_key(settings.data_dir / NODE_KEY_FILE)


def node_rate(rate_per_s: float, burst: int, workers: int) -> RateLimit:
    """The per-worker share of a node-wide limit: each of N workers keeps its own buckets, so each gets
    rate/N and burst/N (at least 1 token), and a client spread over all workers gets the configured rate."""
    workers = max(1, workers)
    return RateLimit(rate_per_s / workers, max(1.0, burst / workers))


def build_context(store: HandleStore, settings: Settings) -> WriteContext:
    box = SecretBox(node_key(settings))
    accounts = Accounts(store, box, settings.token_ttl_s)
    rate, workers = settings.rate, settings.worker_count()
    # Logins cost a slow hash each: a client gets 5 a second (burst 20) node-wide whatever the write rate is.
    return WriteContext(
        store=store,
        accounts=accounts,
        tenants=Tenants(store, accounts),
        identifier_limits=settings.limits.identifier,
        max_body_bytes=settings.limits.max_body_bytes,
        writes=RateLimiter(node_rate(rate.writes_per_s, rate.burst, workers)),
        logins=RateLimiter(node_rate(5.0, 20, workers)),
        resolutions=RateLimiter(node_rate(rate.resolutions_per_s, rate.burst, workers)),
        audit=RefusalAudit(store),
        body_timeout_s=settings.limits.http_body_timeout_s,
    )


def context(request: web.Request) -> WriteContext:
    return request.app[CONTEXT]


def principal_of(request: web.Request) -> Principal | None:
    caller = request.get(PRINCIPAL)
    return None if caller is None else caller.principal


async def audit_refusal(request: web.Request, operation: str, target: str, status: int, message: str) -> None:
    """A refused or failed write of this request into the audit stream (per-client bounded)."""
    principal = principal_of(request)
    actor = principal.actor if principal is not None else ""
    client = actor or (request.remote or "-")
    await context(request).audit.record(client, actor, operation, target, status, message)
