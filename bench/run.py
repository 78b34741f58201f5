"""`make bench`: every figure with its bound measured in the same run (the machine is noisy, so
only ratios against same-run bounds mean anything). Writes bench/results/latest.json.

The storage part runs on a local mesh without validators, so they do not disturb its figures
(bench/paid.py then measures the same put and get on a mesh with a ledger, in turns with it);
the healing part (bench/healing.py) then runs its own 5-node mesh, and the consensus part its
own 4-validator cluster (bench/consensus.py), the incentive part in this process
(bench/incentive.py), the compute part its own 6-node mesh (bench/compute.py), and the
operator part a local Kubernetes control plane with kwok nodes (bench/operator.py), each after
the previous one is down; last, every
attack test runs and is counted (bench/security.py)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bench import (
    cli,
    compute,
    consensus,
    disk,
    grpc_loopback,
    healing,
    incentive,
    paid,
    results,
    scale,
    security,
    small_files,
    storage,
    tls_cost,
)
from bench import operator as operator_bench
from bench.results import Figure
from stratos.common.memory import keep_buffers_in_heap
from stratos.sdk import localmesh
from stratos.sdk.home import Home

MiB = 1 << 20


def storage_figures(
    home: Home,
    work: Path,
    disk_mb_s: float,
    grpc_mb_s: float,
    grpc_tuned_mb_s: float,
    disk_syncs_s: float,
) -> list[Figure]:
    """The storage figures, on a local mesh of 3 storage nodes and no validators, and the CLI's
    start-up times against that mesh."""
    figures: list[Figure] = []
    localmesh.up(home, storage_nodes=3, capacity_bytes=64 << 30, validators=0)
    try:
        speed = storage.put_get_throughput(home, work)
        figures.append(
            Figure.against(
                "storage.put_256MiB_r3", speed.put, "MB/s", disk_mb_s / 3, "ratio >= 0.5"
            )
        )
        figures.append(
            Figure.against("storage.get_256MiB", speed.get, "MB/s", grpc_mb_s, "ratio >= 0.4")
        )
        # no bound here: `make bench-peers` holds the total against SeaweedFS's in one run
        figures.append(
            Figure(
                "storage.get_256MiB_client_cpu_s_per_gib",
                round(speed.get_client_cpu_s_per_gib, 3),
                "CPU-s/GiB",
                None,
                None,
            )
        )
        figures.append(
            Figure(
                "storage.get_256MiB_cpu_s_per_gib",
                round(speed.get_cpu_s_per_gib, 3),
                "CPU-s/GiB",
                None,
                None,
            )
        )
        figures.append(
            Figure(
                "storage.get_256MiB_storage_nodes_cpu_s_per_gib",
                round(speed.get_storage_cpu_s_per_gib, 3),
                "CPU-s/GiB",
                None,
                None,
            )
        )
        # the same put and get with gRPC in plaintext, on a mesh beside this one, in turns
        figures += tls_cost.measure(home, work)
        # and paid for: ozone checked before tickets, a receipt after every chunk (issue 13)
        figures += paid.measure(home, work, disk_mb_s, grpc_mb_s)
        # not the figures, reported so that neither the allocator's gain nor the disk's
        # limit is taken for the read path's: the same get against loopback gRPC with our
        # allocator settings, and a get onto the disk against the disk's write bandwidth
        figures.append(
            Figure.against(
                "storage.get_256MiB_vs_tuned_grpc", speed.get, "MB/s", grpc_tuned_mb_s, ""
            )
        )
        figures.append(
            Figure.against("storage.get_256MiB_to_disk", speed.get_to_disk, "MB/s", disk_mb_s, "")
        )
        # no target of their own: 64 KiB puts and gets with one and eight clients, in turns, each
        # against how many small writes a second the disk can fsync at all (the targets
        # are ratios against SeaweedFS's filer: `make bench-peers`)
        small = small_files.small_file_rates(home, work)
        for name, value, unit in (
            ("storage.put_64KiB_ops_s", small.put_1, "puts/s"),
            ("storage.put_64KiB_ops_s_8_clients", small.put_8, "puts/s"),
            ("storage.get_64KiB_ops_s", small.get_1, "gets/s"),
            ("storage.get_64KiB_ops_s_8_clients", small.get_8, "gets/s"),
        ):
            figures.append(Figure.against(name, value, unit, disk_syncs_s, ""))
        rss = storage.cli_put_peak_rss_mb(home, work)
        figures.append(Figure.against("storage.cli_peak_rss_1GiB_put", rss, "MB", 200, "<= 200"))
        node_rss = storage.storage_nodes_peak_rss_mb(home)
        figures.append(Figure.against("storage.node_peak_rss", node_rss, "MB", 150, "<= 150"))
        figures += cli.measure(home)  # `stratos ls` lists the files stored above
    finally:
        localmesh.down(home)
    return figures


def main() -> None:
    keep_buffers_in_heap()  # like the CLI's own process, so the SDK figures are like for like
    work = Path(tempfile.mkdtemp(prefix="stratos-bench-"))
    figures: list[Figure] = []
    home = Home(work / "home")
    try:
        disk_mb_s = disk.fsync_write_bandwidth(work / "disk")
        disk_syncs_s = disk.fsync_small_write_rate(work / "disk")
        grpc_mb_s = grpc_loopback.streaming_throughput()
        grpc_tuned_mb_s = grpc_loopback.streaming_throughput(tuned=True)
        print(
            f"bounds: disk fsync write {disk_mb_s:.0f} MB/s, loopback gRPC {grpc_mb_s:.0f} MB/s "
            f"(with Stratos' allocator settings {grpc_tuned_mb_s:.0f} MB/s), "
            f"fsync'd 64 KiB writes {disk_syncs_s:.0f}/s"
        )
        figures += storage_figures(home, work, disk_mb_s, grpc_mb_s, grpc_tuned_mb_s, disk_syncs_s)
        figures += healing.measure(work, disk_mb_s)
        figures += consensus.measure(work / "consensus")
        figures += incentive.measure()
        figures += compute.measure(work / "compute")
        figures += scale.measure(work / "scale")
        figures += operator_bench.measure(work / "operator")
        figures += security.measure()
        figures.append(Figure("bound.disk_fsync_write", round(disk_mb_s, 1), "MB/s", None, None))
        figures.append(
            Figure("bound.disk_fsync_64KiB_writes", round(disk_syncs_s, 1), "writes/s", None, None)
        )
        figures.append(
            Figure("bound.grpc_loopback_stream", round(grpc_mb_s, 1), "MB/s", None, None)
        )
        figures.append(
            Figure(
                "bound.grpc_loopback_stream_tuned", round(grpc_tuned_mb_s, 1), "MB/s", None, None
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results.write(figures)
    results.show(figures)
    print(f"wrote {results.RESULTS}")


if __name__ == "__main__":
    main()
