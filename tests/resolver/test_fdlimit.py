"""The open-file limit is raised to what the connection caps need, within the hard limit, and a limit that
stays below is a warning. Real child processes with lowered limits (setrlimit is per process)."""

from __future__ import annotations

import resource
import subprocess
import sys

from resolver.fdlimit import descriptors_needed
from resolver.settings import LimitSettings, Settings

CHILD = """
import logging, resource, sys
from resolver.fdlimit import raise_open_file_limit
logging.basicConfig(level=logging.WARNING, format="%(message)s")
needed = None if sys.argv[1] == "none" else int(sys.argv[1])
raise_open_file_limit(needed)
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def run_with_limits(soft: int, hard: int, needed: str) -> tuple[int, str]:
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    done = subprocess.run([sys.executable, "-c", CHILD, needed], preexec_fn=lower,
                          capture_output=True, text=True, timeout=60, check=True)
    return int(done.stdout.strip()), done.stderr


def test_the_soft_limit_is_raised_to_what_the_caps_need() -> None:
    soft, stderr = run_with_limits(256, 4096, "1500")
    assert soft == 1500 and stderr == ""


def test_a_hard_limit_below_the_need_is_used_whole_and_warned_of() -> None:
    soft, stderr = run_with_limits(256, 512, "1500")
    assert soft == 512
    assert "open-file limit 512 is below the 1500 descriptors a worker needs" in stderr


def test_with_a_cap_off_the_hard_limit_is_taken() -> None:
    soft, stderr = run_with_limits(256, 3000, "none")
    assert soft == 3000 and stderr == ""


def test_the_need_counts_both_caps_and_every_http_listener() -> None:
    base = Settings()
    assert descriptors_needed(base) == 1024 + 1024 + base.storage.max_connections + 256
    assert descriptors_needed(Settings(limits=LimitSettings(tcp_max_connections=0))) is None
