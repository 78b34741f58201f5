"""`python -m stratos.operator` runs the operator."""

from stratos.operator.main import main

main()
