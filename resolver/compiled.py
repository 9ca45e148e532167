"""Which of the node's modules run compiled, and the switch that runs them all from their sources.

setup.py compiles the modules on the resolution path with mypyc where the machine has a C compiler and the
Python headers; an extension module beside a source file wins the import. ``IDNODE_PURE_PYTHON=1`` makes
every process of the node (and the test suite) import the sources instead: to compare the two, or to rule
the compiled code out when something misbehaves. Both answer alike; only the speed differs.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

PURE_PYTHON_ENV = "IDNODE_PURE_PYTHON"
PACKAGES = frozenset(("protocol", "storage", "resolver"))


def pure_python_asked(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    return environ.get(PURE_PYTHON_ENV, "") not in ("", "0")


def compiled_modules() -> list[str]:
    """The project's modules imported so far from extension files (setup.py's build), by name; not the
    library they share (``protocol.idnode_compiled__mypyc``)."""
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name.partition(".")[0] in PACKAGES and _is_extension(module) and not name.endswith("__mypyc")
    )


def _is_extension(module: ModuleType) -> bool:
    path = getattr(module, "__file__", None) or ""
    return not path.endswith((".py", ".pyc"))


class _SourcesFirst(MetaPathFinder):
    """Finds a project module's ``.py`` file before the path finder can find its compiled twin."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if path is None or fullname.partition(".")[0] not in PACKAGES:
            return None
        leaf = fullname.rpartition(".")[2]
        for entry in path:
            source = os.path.join(entry, leaf + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None  # a package (its __init__.py is a source anyway) or not ours: the usual finders


def prefer_sources() -> None:
    """From now on, import the project's modules from their sources (those already imported stay)."""
    if not any(isinstance(finder, _SourcesFirst) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourcesFirst())


def apply_environment() -> None:
    if pure_python_asked():
        prefer_sources()


def stale_extensions(root: str) -> list[str]:
    """Extension files under ``root``'s packages older than the newest of their sources: a working tree
    edited since ``make`` compiled it, whose imports would run the old code (tests/conftest.py refuses)."""
    extensions: list[tuple[float, str]] = []
    newest_source = 0.0
    for package in sorted(PACKAGES):
        for folder, _, names in os.walk(os.path.join(root, package)):
            for name in names:
                path = os.path.join(folder, name)
                if name.endswith(".py"):
                    newest_source = max(newest_source, os.path.getmtime(path))
                elif name.endswith(".so"):
                    extensions.append((os.path.getmtime(path), os.path.relpath(path, root)))
    return sorted(path for built, path in extensions if built < newest_source)
