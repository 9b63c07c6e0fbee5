"""`python -m monitor` is the `newsmon` command."""

from monitor.cli.entry import main

raise SystemExit(main())
