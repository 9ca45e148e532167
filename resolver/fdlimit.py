"""The open-file limit a worker needs for its connection caps, raised before the workers start.

Each worker may hold ``tcp_max_connections`` Handle TCP and ``http_max_connections`` HTTP connections per
listener, besides its Redis pool, fast read link and change feed. Debian's default soft limit is 1,024: a
worker would hit EMFILE long before its caps, and then could not reconnect to Redis either, so a connection
flood would fail every transport instead of being refused at the cap. The soft limit may be raised up to the
hard one without privileges (as ``LimitNOFILE`` in deploy/systemd does); the workers inherit it.
"""

from __future__ import annotations

import logging
import resource

from resolver.settings import Settings

log = logging.getLogger(__name__)
_SLACK = 256  # Redis pool, fast read link, change feed, listening sockets, logs, metrics files


def descriptors_needed(settings: Settings) -> int | None:
    """Descriptors one worker may need at its caps; None when a cap is off (0: unbounded)."""
    limits = settings.limits
    if not limits.tcp_max_connections or not limits.http_max_connections:
        return None
    http_listeners = 2 if settings.listen.admin is not None else 1
    return (limits.tcp_max_connections + http_listeners * limits.http_max_connections
            + settings.storage.max_connections + _SLACK)


def raise_open_file_limit(needed: int | None) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``needed`` (None: the hard limit); warn when it stays below.
    Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinite = resource.RLIM_INFINITY
    target = hard if needed is None else (needed if hard == infinite else min(needed, hard))
    if soft != infinite and target != infinite and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
    if needed is not None and soft != infinite and soft < needed:
        log.warning("open-file limit %d is below the %d descriptors a worker needs at its connection caps "
                    "(tcp_max_connections, http_max_connections): raise it (ulimit -n, LimitNOFILE) or lower "
                    "the caps", soft, needed)
    return soft
