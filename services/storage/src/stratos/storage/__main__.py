"""`python -m stratos.storage` runs a storage node, the same as `stratos-storage`."""

from stratos.storage.main import main

raise SystemExit(main())
