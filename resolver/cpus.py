"""How many cores this process may really use: the default number of workers (and of import parsers).

``os.cpu_count()`` counts the machine's cores, and in a container that is the host's: a pod given 2 CPUs on a
64-core host would start 64 workers, each with its own cache budget, all time-sliced by the pod's CPU quota
(throttled for the rest of each 100 ms period once the quota is spent: stalls no request should see) and far
past its memory limit. So the count is the CPUs the process may run on (``sched_getaffinity``: cpusets,
``taskset``), capped by its cgroup's CPU quota rounded up, as Go's automaxprocs and the JVM do. The quota is
read from cgroup v2 (``cpu.max`` of the process's cgroup and each of its ancestors: the smallest binds) or v1
(``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``); anything unreadable counts as no quota.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
_V1_CPU_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def usable_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """The cores this process may use: its CPU affinity, capped by its cgroup's CPU quota (at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = cpu_quota(root, proc_cgroup)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def cpu_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The CPU quota of this process's cgroup in cores (1.5: one and a half), or None when none is set."""
    try:
        lines = proc_cgroup.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    paths: dict[str, str] = {}  # controller list ("" for cgroup v2) -> the process's cgroup path
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            paths[parts[1]] = parts[2].lstrip("/")
    quotas = []
    if "" in paths and (root / "cgroup.controllers").exists():  # cgroup v2 mounted at the root
        quotas += [_v2_quota(d) for d in _self_and_ancestors(root, paths[""])]
    for name in _V1_CPU_DIRS:
        mount = root / name
        if mount.is_dir():
            # A container sees its own cgroup at the mount point; the host, the process's path under it.
            v1_path = next((path for names, path in paths.items() if "cpu" in names.split(",")), "")
            quotas += [_v1_quota(d) for d in (mount / v1_path, mount)]
            break
    found = [q for q in quotas if q is not None]
    return min(found) if found else None


def _self_and_ancestors(root: Path, path: str) -> list[Path]:
    here = root / path if path else root
    dirs = [here, *here.parents]
    return [d for d in dirs if d == root or root in d.parents]


def _v2_quota(directory: Path) -> float | None:
    """``cpu.max`` holds "QUOTA PERIOD" in microseconds, QUOTA "max" for none."""
    try:
        quota, period = (directory / "cpu.max").read_text(encoding="utf-8").split()[:2]
        if quota == "max":
            return None
        cores = int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None
    return cores if cores > 0 else None


def _v1_quota(directory: Path) -> float | None:
    """``cpu.cfs_quota_us`` is -1 for none."""
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text(encoding="utf-8"))
        period = int((directory / "cpu.cfs_period_us").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None
