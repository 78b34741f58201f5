"""`make bench-peers` (`python -m bench.peers [--quick] [--without-tahoe]`): start Stratos,
SeaweedFS and Tahoe-LAFS side by side on loopback, run the workloads interleaved, write
bench/results/peers.json and print the table. Everything it started is stopped on the way out,
whether the run ends, fails or is interrupted (SIGINT or SIGTERM)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.peers import environment, mesh, report, seaweedfs, tahoe, workloads
from bench.peers.protocol import Worker
from bench.peers.workloads import QUICK, Sizes, System

REPO = Path(__file__).parents[2]


def _stop_on_sigterm() -> None:
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through every `with`, which stops the daemons

    signal.signal(signal.SIGTERM, stop)


def _machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "load_average_at_start": list(os.getloadavg())}


def _worker(stack: ExitStack, argv: list[str], log: Path) -> Worker:
    worker = Worker(argv, REPO, log)
    stack.callback(worker.close)
    return worker


def run(quick: bool, with_tahoe: bool) -> dict[str, Any]:
    sizes = QUICK if quick else Sizes()
    env = environment.ensure()
    work = Path(tempfile.mkdtemp(prefix="stratos-bench-peers-"))
    machine = _machine()
    info: dict[str, dict[str, Any]] = {}
    systems: list[System] = []
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        print("starting a Stratos local mesh (3 storage nodes)")
        m = stack.enter_context(mesh.running(work / "stratos"))
        argv = [sys.executable, "-m", "bench.peers.worker_stratos", str(m.home.root)]
        systems.append(System(report.STRATOS, _worker(stack, argv, work / "stratos.client.log"),
                              list(m.daemons().values())))  # fmt: skip
        info[report.STRATOS] = {
            "version": m.version,
            "daemons": m.commands(),
            "launcher": m.launcher,
            "client": "the SDK's MeshClient, one for the whole run, in its own process",
            "client_command": argv,
        }

        print("starting SeaweedFS (master, 3 volume servers, filer, S3 gateway; replication 002)")
        sw = stack.enter_context(seaweedfs.running(env, work / "seaweedfs"))
        peer = [str(env.python), "-m", "bench.peers.worker_http"]
        for name, args, client in (
            (report.FILER, ["filer", sw.filer_url], "requests, one session per client thread"),
            (report.S3, ["s3", sw.s3_url, sw.bucket, sw.access_key, sw.secret_key],
             "boto3: upload_file/download_file for 256 MiB, put_object/get_object for 64 KiB"),
        ):  # fmt: skip
            worker = _worker(stack, [*peer, *args], work / f"{name}.client.log")
            systems.append(System(name, worker, sw.daemons.pids()))
            info[name] = {
                "version": f"SeaweedFS {sw.version}",
                "daemons": sw.daemons.commands,
                "client": client,
                # the S3 secret stays out of the file
                "client_command": [*peer, *args[:3]],
            }

        if with_tahoe:
            try:
                print("starting Tahoe-LAFS (introducer, 3 storage nodes, gateway; 1-of-3)")
                th = stack.enter_context(tahoe.running(env, work / "tahoe"))
            except Exception as e:
                # Tahoe is beside the ratios, so the comparison goes on without it
                print(f"Tahoe-LAFS left out: {e}")
                info[report.TAHOE] = {"left_out": str(e)}
            else:
                worker = _worker(stack, [*peer, "tahoe", th.url], work / "tahoe.client.log")
                systems.append(System(report.TAHOE, worker, th.daemons.pids()))
                info[report.TAHOE] = {
                    "version": th.version,
                    "setup": th.setup,
                    "daemons": th.daemons.commands,
                    "client": "requests against the gateway's web API (PUT /uri, GET /uri/CAP)",
                    "client_command": [*peer, "tahoe", th.url],
                }

        start = time.monotonic()
        samples = workloads.run(systems, work, sizes, print)
        machine["load_average_at_end"] = list(os.getloadavg())
        machine["measured_s"] = round(time.monotonic() - start, 1)
    measured = {s.name: info[s.name] for s in systems}
    measured |= {k: v for k, v in info.items() if "left_out" in v}
    return report.document(samples.values, sizes, measured, machine, quick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--without-tahoe", action="store_true", help="leave Tahoe-LAFS out")
    parser.add_argument("--out", type=Path, default=report.RESULTS, help="the result file")
    args = parser.parse_args(argv)
    _stop_on_sigterm()
    doc = run(args.quick, not args.without_tahoe)
    report.write(doc, args.out)
    report.show(doc)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
