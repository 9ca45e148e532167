"""`python -m loadtest`: the same as the `loadtest` command."""

from loadtest.cli import main

raise SystemExit(main())
