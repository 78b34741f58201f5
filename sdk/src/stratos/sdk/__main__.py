"""`python -m stratos.sdk` runs the `stratos` CLI (where the console script is not on PATH)."""

from stratos.sdk.cli import main

if __name__ == "__main__":
    main()
