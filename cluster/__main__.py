"""`python -m cluster up|down|status|purge`: the local control plane behind `make cluster-up`
and `make cluster-down`. `up` prints the KUBECONFIG path on its last line."""

from __future__ import annotations

import argparse
import sys

from cluster.controlplane import ClusterError, default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "status", "purge"))
    parser.add_argument("--volumes", type=int, default=30, help="PersistentVolumes to provide")
    parser.add_argument("--nodes-per-zone", type=int, default=1, help="fake Nodes in each zone")
    parser.add_argument("--wait", type=float, default=120, help="seconds to wait for health")
    args = parser.parse_args(argv)
    try:
        cp = default(build=args.command == "up")
        if args.command == "up":
            kubeconfig = cp.up(
                nodes_per_zone=args.nodes_per_zone, volumes=args.volumes, wait_s=args.wait
            )
            print(f"control plane up; logs in {cp.logs}", file=sys.stderr)
            print(f"export KUBECONFIG={kubeconfig}", file=sys.stderr)
            print(kubeconfig)
        elif args.command == "down":
            stopped = cp.down()
            print("stopped " + (", ".join(stopped) if stopped else "nothing (not running)"))
        elif args.command == "purge":
            cp.purge()
            print(f"stopped and removed {cp.state_dir}")
        else:
            print("running" if cp.running() else "not running")
            if cp.running():
                print(cp.kubeconfig)
            return 0 if cp.running() else 1
    except ClusterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
