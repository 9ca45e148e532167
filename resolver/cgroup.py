"""What a container really gives the node: its cores (the default worker count) and its memory (the default
cache budget), read from the process's cgroup as Go's automaxprocs and the JVM do.

``os.cpu_count()`` counts the machine's cores, and in a container that is the host's: a pod given 2 CPUs on a
64-core host would start 64 workers, each with its own cache budget, all time-sliced by the pod's CPU quota
(throttled for the rest of each 100 ms period once the quota is spent: stalls no request should see) and far
past its memory limit. So the count is the CPUs the process may run on (``sched_getaffinity``: cpusets,
``taskset``), capped by its cgroup's CPU quota rounded up; and the memory limit caps the default cache budget.

Limits are read from cgroup v2 (``cpu.max``, ``memory.max`` of the process's cgroup and each of its ancestors:
the smallest binds) or v1 (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, ``memory.limit_in_bytes``, at the
controller's mount as a container sees it, or under the process's path there as the host does). Anything
unreadable counts as no limit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
_V1_UNLIMITED_BYTES = 1 << 62  # v1 writes "no limit" as the largest page multiple below 2**63


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
    return _smallest(root, proc_cgroup, "cpu", ("cpu", "cpu,cpuacct", "cpuacct,cpu"), _v2_cpu, _v1_cpu)


def memory_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int | None:
    """The memory limit of this process's cgroup in bytes, or None when none is set."""
    found = _smallest(root, proc_cgroup, "memory", ("memory",), _v2_memory, _v1_memory)
    return None if found is None else int(found)


Reader = Callable[[Path], float | None]


def _smallest(
    root: Path, proc_cgroup: Path, controller: str, v1_mounts: tuple[str, ...], v2: Reader, v1: Reader
) -> float | None:
    try:
        lines = proc_cgroup.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    paths: dict[str, str] = {}  # controller list ("" for cgroup v2) -> the process's cgroup path
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            paths[parts[1]] = parts[2].lstrip("/")
    found: list[float | None] = []
    if "" in paths and (root / "cgroup.controllers").exists():  # cgroup v2 mounted at the root
        found += [v2(d) for d in _self_and_ancestors(root, paths[""])]
    for name in v1_mounts:
        mount = root / name
        if mount.is_dir():
            v1_path = next((path for names, path in paths.items() if controller in names.split(",")), "")
            found += [v1(d) for d in (mount / v1_path, mount)]
            break
    limits = [value for value in found if value is not None]
    return min(limits) if limits else None


def _self_and_ancestors(root: Path, path: str) -> list[Path]:
    here = root / path if path else root
    return [d for d in (here, *here.parents) if d == root or root in d.parents]


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _v2_cpu(directory: Path) -> float | None:
    """``cpu.max`` holds "QUOTA PERIOD" in microseconds, QUOTA "max" for none."""
    fields = (_read(directory / "cpu.max") or "").split()
    if len(fields) != 2 or not fields[0].isdigit() or not fields[1].isdigit() or int(fields[1]) == 0:
        return None
    cores = int(fields[0]) / int(fields[1])
    return cores if cores > 0 else None


def _v1_cpu(directory: Path) -> float | None:
    """``cpu.cfs_quota_us`` is -1 for none."""
    quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
    if quota is None or period is None or not quota.isdigit() or not period.isdigit() or int(period) == 0:
        return None
    return int(quota) / int(period) if int(quota) > 0 else None


def _v2_memory(directory: Path) -> float | None:
    """``memory.max`` holds bytes, or "max" for none."""
    text = _read(directory / "memory.max")
    return float(text) if text is not None and text.isdigit() and int(text) > 0 else None


def _v1_memory(directory: Path) -> float | None:
    text = _read(directory / "memory.limit_in_bytes")
    if text is None or not text.isdigit() or not 0 < int(text) < _V1_UNLIMITED_BYTES:
        return None
    return float(text)
