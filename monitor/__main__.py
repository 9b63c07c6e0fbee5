"""`python -m monitor` is the `newsmon` command."""

from monitor.cli.main import main

raise SystemExit(main())
