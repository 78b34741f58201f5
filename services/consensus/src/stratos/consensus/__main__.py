"""`python -m stratos.consensus` runs a validator node."""

from stratos.consensus.main import main

raise SystemExit(main())
