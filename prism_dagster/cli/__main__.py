"""`python -m prism_dagster.cli`."""

from prism_dagster.cli.main import main

raise SystemExit(main())
