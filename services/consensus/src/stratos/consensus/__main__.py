"""`python -m stratos.consensus` runs a validator node."""

from stratos.consensus.net.main import main

raise SystemExit(main())
