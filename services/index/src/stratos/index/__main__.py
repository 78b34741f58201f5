"""`python -m stratos.index` runs the index service."""

from stratos.index.main import main

raise SystemExit(main())
