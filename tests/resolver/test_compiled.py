"""The compiled modules (setup.py's mypyc build) and the switch back to the sources (resolver/compiled.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from resolver import compiled
from tests.conftest import REPO_ROOT


def _listed_modules() -> list[str]:
    spec = importlib.util.spec_from_file_location("idnode_setup", REPO_ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)  # not "__main__": defines the list, builds nothing
    return [path.removesuffix(".py").replace("/", ".") for path in setup.COMPILED_MODULES]


def _imported_files(modules: list[str], env: dict[str, str]) -> dict[str, str]:
    """Each module's file, as a fresh interpreter imports it with ``env``."""
    code = (
        "import importlib, json, sys, resolver\n"
        "names = sys.argv[1:]\n"
        "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *modules], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
        check=True, timeout=60,
    )
    files: dict[str, str] = json.loads(out.stdout)
    return files


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != compiled.PURE_PYTHON_ENV}
    return {**env, **extra}


def test_every_listed_module_is_compiled_where_the_tree_was_built() -> None:
    modules = _listed_modules()
    files = _imported_files(modules, _env())
    built = [name for name, path in files.items() if not path.endswith(".py")]
    if not built:
        pytest.skip("no compiled modules in this tree: no C compiler or Python headers (pure Python)")
    # A module setup.py lists but that imports from its source would be a silently slower node.
    assert sorted(built) == sorted(modules)


def test_pure_python_switch_imports_every_module_from_its_source() -> None:
    modules = _listed_modules()
    files = _imported_files(modules, _env(**{compiled.PURE_PYTHON_ENV: "1"}))
    assert all(path.endswith(".py") for path in files.values()), files
    assert {Path(path).resolve() for path in files.values()} == {
        (REPO_ROOT / (name.replace(".", "/") + ".py")).resolve() for name in modules
    }


def test_pure_python_switch_is_off_for_empty_and_zero() -> None:
    assert not compiled.pure_python_asked({})
    assert not compiled.pure_python_asked({compiled.PURE_PYTHON_ENV: ""})
    assert not compiled.pure_python_asked({compiled.PURE_PYTHON_ENV: "0"})
    assert compiled.pure_python_asked({compiled.PURE_PYTHON_ENV: "1"})


def test_stale_extensions_are_those_older_than_the_newest_source(tmp_path: Path) -> None:
    package = tmp_path / "storage"
    package.mkdir()
    (package / "records.py").write_text("")
    (package / "records.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    (package / "keys.py").write_text("")
    os.utime(package / "records.py", (1_000, 1_000))
    os.utime(package / "records.cpython-311-x86_64-linux-gnu.so", (2_000, 2_000))
    os.utime(package / "keys.py", (1_500, 1_500))
    assert compiled.stale_extensions(str(tmp_path)) == []
    os.utime(package / "keys.py", (3_000, 3_000))  # any source of the packages: compiled code inlines them
    assert compiled.stale_extensions(str(tmp_path)) == ["storage/records.cpython-311-x86_64-linux-gnu.so"]
