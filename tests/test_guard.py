"""Guard: ``protocol`` stays sans-IO. Importing it in a fresh interpreter loads no I/O framework."""

import subprocess
import sys

FORBIDDEN = ("asyncio", "socket", "redis", "aiohttp", "uvloop", "msgpack", "storage", "resolver")


def test_protocol_imports_no_io() -> None:
    code = (
        "import sys, pkgutil, importlib, protocol\n"
        "for m in pkgutil.walk_packages(protocol.__path__, 'protocol.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"protocol imported {out.stdout.strip()}"
