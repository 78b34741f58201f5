"""Entry point of the operator process (the kopf handlers land here)."""

from __future__ import annotations

import sys


def main() -> None:
    print("error: the StratosCluster operator is not built yet (issue 5)", file=sys.stderr)
    sys.exit(1)
