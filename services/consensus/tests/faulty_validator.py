"""Test-only entry point: the real validator process (`stratos.consensus.net.main.serve`, same
settings, same node, same shutdown) with faults wrapped around its peer links, so the process
tests can fault real processes without any test hook in `src/`.

    python services/consensus/tests/faulty_validator.py \\
        [--blocked-peers-file FILE] [--equivocate all|prevote|precommit]

`--blocked-peers-file`: the peers listed in FILE are unreachable (`partition.Partitioned`; the
file is re-read while the node runs, and each change is logged as `test_blocked_peers`).
`--equivocate`: this validator is Byzantine on those votes (`byzantine.Equivocating`: half of
its peers get a conflicting twin of each vote first, then the real one).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from byzantine import MODES, Equivocating
from partition import BlockedPeersFile, Partitioned

from stratos.common.identity import Identity
from stratos.common.lifecycle import run_service
from stratos.consensus.ledger.state import LedgerState
from stratos.consensus.net.main import serve
from stratos.consensus.net.peers import Peers
from stratos.consensus.node.ports import Network


def faulty_network(
    args: argparse.Namespace, peers: Peers, identity: Identity, state: LedgerState
) -> Network:
    network: Network = peers
    if args.blocked_peers_file is not None:
        network = Partitioned(network, BlockedPeersFile(args.blocked_peers_file))
    if args.equivocate:  # outermost: its per-peer sends still go through the cut
        network = Equivocating(
            network, identity, state.chain_id, votes=MODES[args.equivocate], then_real=True
        )
    return network


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocked-peers-file", type=Path)
    parser.add_argument("--equivocate", choices=sorted(MODES))
    args = parser.parse_args(argv)
    return run_service(functools.partial(serve, network=functools.partial(faulty_network, args)))


if __name__ == "__main__":
    sys.exit(main())
