"""The compiled modules (setup.py's mypyc build) and the switch back to the sources (resolver/compiled.py)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from resolver import compiled
from tests.conftest import REPO_ROOT


def _listed_paths() -> list[str]:
    spec = importlib.util.spec_from_file_location("idnode_setup", REPO_ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)  # not "__main__": defines the list, builds nothing
    paths: list[str] = setup.COMPILED_MODULES
    return paths


def _listed_modules() -> list[str]:
    return [path.removesuffix(".py").replace("/", ".") for path in _listed_paths()]


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


def _globals_read_by_functions(source: str) -> dict[str, int]:
    """Module-level names bound by a plain assignment (not ``Final``, not a class's or type alias's CamelCase
    name, not a TypeVar, not rebound through ``global``) that a function reads: name -> line."""
    tree = ast.parse(source)
    bound: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            if isinstance(node.value, ast.Call) and ast.unparse(node.value.func) == "TypeVar":
                continue
            names = [t for target in node.targets for t in ast.walk(target) if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            if "Final" in ast.unparse(node.annotation) or "TypeAlias" in ast.unparse(node.annotation):
                continue
            names = [node.target] if isinstance(node.target, ast.Name) else []
        else:
            continue
        for name in names:
            if not name.id.lstrip("_")[:1].isupper() or name.id.lstrip("_").isupper():
                bound[name.id] = node.lineno
    for rebinding in ast.walk(tree):
        if isinstance(rebinding, ast.Global):  # state a function rebinds: it cannot be Final
            for rebound in rebinding.names:
                bound.pop(rebound, None)
    return {
        node.id: bound[node.id]
        for function in ast.walk(tree) if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(function)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in bound
    }


def _fixed_final_tuples(source: str) -> dict[str, int]:
    """Module-level ``Final`` names bound to a tuple display without a ``tuple[T, ...]`` annotation."""
    return {
        node.target.id: node.lineno
        for node in ast.parse(source).body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        and isinstance(node.value, ast.Tuple) and "..." not in ast.unparse(node.annotation)
    }


def _in_compiled_sources(find: Callable[[str], dict[str, int]]) -> list[str]:
    """``path:line name`` of what ``find`` reports in each module setup.py compiles."""
    return sorted(
        f"{path}:{line} {name}"
        for path in _listed_paths()
        for name, line in find((REPO_ROOT / path).read_text()).items()
    )


def test_compiled_final_tuples_are_typed_variable_length() -> None:
    # Compiled, a fixed-length Final tuple is an unboxed C struct, boxed into a new tuple at every read;
    # worse, for floats this mypyc tests the "not set" sentinel backwards, and the first read raised
    # NameError in every worker (resolver/metrics.py's buckets).
    assert _in_compiled_sources(_fixed_final_tuples) == []


def test_compiled_modules_read_only_final_module_names() -> None:
    # Compiled, a module-level name read in a function is a C static when it is Final, and a lookup in the
    # module's dict on every read when it is not (~0.1 us on this machine; a miss reads dozens).
    assert _in_compiled_sources(_globals_read_by_functions) == []
