"""`resolver token create`: a bearer token for a tenant (``--tenant T``) or for the operator (``--operator``).

Tokens are opaque (32 random bytes, urlsafe Base64); only their SHA-256 is stored, with a TTL
(``--token-ttl-s``, one day by default as in the SNMS API). Operator tokens open the admin API.
"""

from __future__ import annotations

import argparse
from typing import Any

from resolver.commands._admin_session import OPERATOR_ACTOR, add_flags, run_async
from resolver.http.write_ctx import WriteContext


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("token", help="create API tokens")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a bearer token")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--tenant", help="a token for this tenant")
    who.add_argument("--operator", action="store_true", help="an operator token for the admin API")
    create.add_argument("--name", default="admin", help="operator name recorded in the audit trail")
    add_flags(create)
    create.set_defaults(run=_create)


def _create(args: argparse.Namespace) -> int:
    async def body(ctx: WriteContext) -> Any:
        now = ctx.clock()
        if args.operator:
            token = await ctx.tenants.new_operator_token(args.name, now, actor=OPERATOR_ACTOR)
            owner = {"operator": args.name}
        else:
            token = await ctx.tenants.new_token(args.tenant, now, actor=OPERATOR_ACTOR)
            owner = {"tenant": args.tenant}
        return {**owner, "token": token, "expires_in_s": ctx.accounts.token_ttl_s}

    return run_async("token create", body, args)
