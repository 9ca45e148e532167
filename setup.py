"""Compiles the modules on the resolution path with mypyc, when this machine can; the project is pure
Python when it cannot, and answers the same either way (only slower).

The metadata is in pyproject.toml; this file only adds the compiled extensions. ``make`` builds them in
place for the working tree (``python setup.py build_ext --inplace``) and again whenever one of their sources
changes. mypyc type-checks against the dependencies, so a wheel is built compiled only where mypy and the
dependencies are installed (``pip wheel --no-build-isolation .``, as deploy/Dockerfile does); a plain
``pip install .`` builds in an isolated environment without them and stays pure Python.
``IDNODE_PURE_PYTHON=1`` skips them.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

# The code a cache hit and a cache miss run, on every transport (issue 4). Each must be one mypyc compiles to
# the same behaviour: no subclass of a built-in type but Exception and NamedTuple, no async generator, no
# object.__new__ on its classes (their own __new__ works both ways), and parameters typed as what they
# really receive (compiled, an ``int`` parameter turns True into 1 and refuses 1.0; protocol/jsonwrite.py).
# Module-level names its functions read are Final: a C static, where any other is a module-dict lookup on
# every read (tests/resolver/test_compiled.py checks).
# ``make test`` runs the whole suite on the compiled modules and on their sources.
COMPILED_MODULES = [
    "protocol/doorkeeper.py",
    "protocol/fastpath.py",
    "protocol/framing.py",
    "protocol/handle.py",
    "protocol/jsonwrite.py",
    "protocol/messages.py",
    "protocol/valuedata.py",
    "protocol/values.py",
    "resolver/cache.py",
    "resolver/handler.py",
    "resolver/http/fastlane.py",
    "resolver/http/lane_conn.py",
    "resolver/http/lane_rest.py",
    "resolver/http/lane_targets.py",
    "resolver/http/lane_wire.py",
    "resolver/loader.py",
    "resolver/lru.py",
    "resolver/metrics.py",
    "resolver/registry.py",
    "resolver/service.py",
    "resolver/tcp.py",
    "resolver/udp.py",
    "storage/fastread.py",
    "storage/keys.py",
    "storage/record_json.py",
    "storage/records.py",
    "storage/stamped.py",
]


def _compiled_extensions() -> list[object]:
    if os.environ.get("IDNODE_PURE_PYTHON", "") not in ("", "0"):  # as resolver/compiled.py reads it
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("setup.py: mypyc is not installed: pure Python", file=sys.stderr)
        return []
    return list(mypycify(COMPILED_MODULES, opt_level="3", group_name="protocol.idnode_compiled"))


class OptionalBuildExt(build_ext):
    """A machine without a C compiler or the Python headers gets the pure-Python package, not a failure."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure means: stay pure Python
            print(f"setup.py: compiling failed ({exc}): pure Python", file=sys.stderr)


if __name__ == "__main__":  # as pip's build backend and `python setup.py` run it; tests read the list only
    setup(ext_modules=_compiled_extensions(), cmdclass={"build_ext": OptionalBuildExt})
