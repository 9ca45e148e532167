"""`resolver tenant`: manage tenants (enterprises), their prefixes and credentials.

``resolver tenant add NAME --prefix P [--password S] --json`` creates the tenant, homes the prefix and prints
its credentials (username, password, token, handle identity). ``resolver tenant keygen --out FILE`` writes a
new node key for ``node_key_file`` (shared by every replica, e.g. as a Kubernetes Secret).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from protocol.errors import ProtocolError
from protocol.jsonfmt import values_from_json
from resolver.auth import secrets as sec
from resolver.auth.principal import TENANT, Principal
from resolver.auth.sealed import create_key
from resolver.auth.tenants import TenantError, admin_identity
from resolver.commands._admin_session import OPERATOR_ACTOR, add_flags, run_async
from resolver.http.write_ctx import WriteContext


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "tenant", help="manage tenants (enterprises) and prefixes"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text, run, needs_prefix in (
        ("add", "create a tenant, home its prefix, print its credentials", _add, True),
        ("home", "home another prefix for the tenant", _home, True),
        ("unhome", "stop serving a prefix of the tenant", _unhome, True),
        ("delegate", "delegate a prefix to the tenant's enterprise node (--values FILE)", _delegate, True),
        ("password", "set a new password (printed)", _password, False),
        ("show", "show one tenant", _show, False),
        ("remove", "unhome all prefixes and delete the tenant's credentials", _remove, False),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("name")
        if needs_prefix:
            action.add_argument("--prefix", required=True)
        if name in ("add", "password"):
            action.add_argument("--password", default=None, help="default: a random one")
        if name == "delegate":
            action.add_argument(
                "--values",
                type=Path,
                required=True,
                help="JSON file: Handle REST values (HS_SITE / HS_SERV) of the enterprise node",
            )
        add_flags(action)
        action.set_defaults(run=run)
    listing = actions.add_parser("list", help="list tenants")
    add_flags(listing)
    listing.set_defaults(run=_list)
    keygen = actions.add_parser(
        "keygen", help="write a new node key (SNMS v1 login seal) to a file, for node_key_file / a k8s Secret"
    )
    keygen.add_argument("--out", type=Path, required=True, help="file to create (mode 0600; never replaced)")
    keygen.set_defaults(run=_keygen)


async def _existing(ctx: WriteContext, name: str) -> dict[str, Any]:
    doc = await ctx.tenants.get(name)
    if doc is None:
        raise TenantError(f"no tenant {name!r}")
    return doc


def _add(args: argparse.Namespace) -> int:
    async def body(ctx: WriteContext) -> Any:
        creds = await ctx.tenants.create(
            args.name, args.prefix, args.password, ctx.clock(), actor=OPERATOR_ACTOR
        )
        return creds.to_json()

    return run_async("tenant add", body, args)


def _home(args: argparse.Namespace) -> int:
    async def body(ctx: WriteContext) -> Any:
        prefix = await ctx.tenants.home(args.name, args.prefix, actor=OPERATOR_ACTOR)
        return {"tenant": args.name, "prefix": prefix, "status": "homed"}

    return run_async("tenant home", body, args)


def _unhome(args: argparse.Namespace) -> int:
    async def body(ctx: WriteContext) -> Any:
        prefix = await ctx.tenants.unhome(args.name, args.prefix, actor=OPERATOR_ACTOR)
        return {"tenant": args.name, "prefix": prefix, "status": "unhomed"}

    return run_async("tenant unhome", body, args)


def _delegate(args: argparse.Namespace) -> int:
    async def body(ctx: WriteContext) -> Any:
        try:
            values = tuple(values_from_json(json.loads(args.values.read_text(encoding="utf-8"))))
        except (ProtocolError, json.JSONDecodeError) as exc:
            raise TenantError(f"{args.values}: {exc}") from None
        prefix = await ctx.tenants.delegate(args.name, args.prefix, values, actor=OPERATOR_ACTOR)
        return {"tenant": args.name, "prefix": prefix, "status": "delegated"}

    return run_async("tenant delegate", body, args)


def _password(args: argparse.Namespace) -> int:
    async def body(ctx: WriteContext) -> Any:
        doc = await _existing(ctx, args.name)
        prefixes = list(doc.get("prefixes", []))
        identity = admin_identity(prefixes[0]) if prefixes else ""
        password = args.password or sec.new_secret()
        principal = Principal(TENANT, args.name, args.name)
        await ctx.accounts.add_credential(principal, password, identity, actor=OPERATOR_ACTOR)
        return {"username": args.name, "password": password, "identity": identity}

    return run_async("tenant password", body, args)


def _show(args: argparse.Namespace) -> int:
    async def body(ctx: WriteContext) -> Any:
        return await _existing(ctx, args.name)

    return run_async("tenant show", body, args)


def _remove(args: argparse.Namespace) -> int:
    async def body(ctx: WriteContext) -> Any:
        await ctx.tenants.remove(args.name, actor=OPERATOR_ACTOR)
        return {"removed": args.name}

    return run_async("tenant remove", body, args)


def _list(args: argparse.Namespace) -> int:
    async def body(ctx: WriteContext) -> Any:
        return await ctx.tenants.all()

    return run_async("tenant list", body, args)


def _keygen(args: argparse.Namespace) -> int:
    """Every node (replica) that checks SNMS v1 logins needs the same key: generate it once, share it."""
    try:
        create_key(args.out)
    except OSError as exc:
        print(f"resolver tenant keygen: cannot create {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(json.dumps({"node_key_file": str(args.out)}))
    return 0
