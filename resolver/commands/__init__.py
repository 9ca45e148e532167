"""Sub-commands of `resolver`; each module has `register(subparsers)` that sets `run` on its parser."""

from resolver.commands import (
    audit,
    demo,
    export,
    import_,
    prefix,
    resolve,
    serve,
    status,
    tenant,
    token,
)

COMMANDS = [
    serve,
    demo,
    resolve,
    prefix,
    import_,
    export,
    tenant,
    token,
    audit,
    status,
]
