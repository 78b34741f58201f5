"""`python -m stratos.incentive` runs one incentive replica."""

from stratos.incentive.main import main

raise SystemExit(main())
