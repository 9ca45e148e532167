"""What a container gives the node (resolver/cgroup.py): the default worker count (CPU affinity capped by the
cgroup's CPU quota) and the default cache budget (a share of its memory limit), read from cgroup trees laid
out as the kernel shows them (v2 with a namespace or a nested path, v1)."""

from __future__ import annotations

import os
from pathlib import Path

from resolver.cgroup import cpu_quota, memory_limit, usable_cpus
from resolver.settings import DEFAULT_CACHE_BYTES, CacheSettings, Settings


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_cgroup_v2_inside_a_container(tmp_path: Path) -> None:
    """A pod's container with its own cgroup namespace: its cgroup is the mount's root."""
    root = tree(tmp_path / "fs", {"cgroup.controllers": "cpu memory", "cpu.max": "50000 100000\n"})
    proc = tree(tmp_path, {"self-cgroup": "0::/\n"}) / "self-cgroup"
    assert cpu_quota(root, proc) == 0.5
    assert usable_cpus(root, proc) == 1  # half a core still runs one worker


def test_cgroup_v2_the_smallest_quota_on_the_path_binds(tmp_path: Path) -> None:
    root = tree(tmp_path / "fs", {
        "cgroup.controllers": "cpu",
        "kubepods/cpu.max": "max 100000",
        "kubepods/pod1/cpu.max": "150000 100000",
        "kubepods/pod1/app/cpu.max": "max 100000",
    })
    proc = tree(tmp_path, {"self-cgroup": "0::/kubepods/pod1/app\n"}) / "self-cgroup"
    assert cpu_quota(root, proc) == 1.5
    assert usable_cpus(root, proc) == min(len(os.sched_getaffinity(0)), 2)  # rounded up


def test_cgroup_v1_cfs_quota(tmp_path: Path) -> None:
    """Docker on cgroup v1: the container sees its own cgroup at the controller's mount point."""
    root = tree(tmp_path / "fs", {
        "cpu,cpuacct/cpu.cfs_quota_us": "100000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
    })
    proc = tree(tmp_path, {"self-cgroup": "5:cpu,cpuacct:/docker/0123abcd\n4:memory:/docker/0123abcd\n"})
    assert cpu_quota(root, proc / "self-cgroup") == 1.0
    assert usable_cpus(root, proc / "self-cgroup") == 1


def test_no_quota_leaves_the_affinity(tmp_path: Path) -> None:
    v2 = tree(tmp_path / "v2", {"cgroup.controllers": "cpu", "cpu.max": "max 100000"})
    v1 = tree(tmp_path / "v1", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"})
    proc = tree(tmp_path, {"self-cgroup": "1:cpu:/\n0::/\n"}) / "self-cgroup"
    garbled = tree(tmp_path / "bad", {"cgroup.controllers": "cpu", "cpu.max": "lots 0"})
    for root in (v2, v1, garbled, tmp_path / "absent"):
        assert cpu_quota(root, proc) is None, root
        assert usable_cpus(root, proc) == len(os.sched_getaffinity(0))
    assert cpu_quota(v2, tmp_path / "no-such-file") is None


def test_this_machine_and_the_default_worker_count() -> None:
    assert 1 <= usable_cpus() <= (os.cpu_count() or 1)
    assert Settings().worker_count() == usable_cpus()
    assert Settings(workers=3).worker_count() == 3


def test_memory_limits_v2_and_v1(tmp_path: Path) -> None:
    v2 = tree(tmp_path / "v2", {
        "cgroup.controllers": "memory", "pod/memory.max": "2147483648\n", "pod/app/memory.max": "max\n",
    })
    assert memory_limit(v2, tree(tmp_path, {"c2": "0::/pod/app\n"}) / "c2") == 2 * 2**30
    v1 = tree(tmp_path / "v1", {"memory/memory.limit_in_bytes": "1073741824\n"})
    assert memory_limit(v1, tree(tmp_path, {"c1": "4:memory:/docker/ab\n"}) / "c1") == 2**30
    none = tree(tmp_path / "none", {"memory/memory.limit_in_bytes": "9223372036854771712\n"})
    assert memory_limit(none, tmp_path / "c1") is None  # v1's "no limit"


def test_the_automatic_cache_budget_is_a_share_of_the_memory_limit() -> None:
    """``cache_max_bytes = 0``: 1 GiB per worker, or half the container's memory limit over the workers."""
    limit = memory_limit()
    auto = Settings(workers=2)
    expected = DEFAULT_CACHE_BYTES if limit is None else min(DEFAULT_CACHE_BYTES, limit // 2 // 2)
    assert auto.cache_bytes_per_worker() == expected
    explicit = Settings(cache=CacheSettings(max_bytes=5 * 2**20))
    assert explicit.cache_bytes_per_worker() == 5 * 2**20  # an operator's figure is taken as it is
