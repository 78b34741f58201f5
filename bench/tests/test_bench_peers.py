"""The pure parts of `make bench-peers` (bench/peers): the ratios it reports against SeaweedFS,
the shape of bench/results/peers.json, the interleaving, and the client protocol against a real
client process. The comparison itself is a benchmark, run by `make bench-peers`, not a test."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench.peers import report, workloads
from bench.peers.protocol import Worker
from bench.peers.report import FILER, S3, STRATOS, TAHOE
from bench.peers.workloads import QUICK, Samples, Sizes, System

REPO = Path(__file__).parents[2]


def _samples() -> Samples:
    samples = Samples()
    rows = {
        workloads.PUT_LARGE: {STRATOS: [30, 40, 35], FILER: [50, 40, 45], S3: [36, 36, 36]},
        workloads.GET_LARGE: {STRATOS: [80, 70, 75], FILER: [100, 90, 95], S3: [140, 150, 145]},
        workloads.PUT_SMALL: {STRATOS: [40, 40, 40], FILER: [260, 270, 250], S3: [150, 150, 150]},
        workloads.GET_SMALL_1: {STRATOS: [400, 400, 400], FILER: [700, 800, 750], S3: [1, 1, 1]},
        workloads.GET_SMALL_8: {STRATOS: [600, 600, 600], FILER: [1000, 1000, 1000], S3: [2, 2, 2]},
        workloads.CPU_GET_LARGE: {STRATOS: [10, 9, 11], FILER: [2, 2, 2], S3: [5, 6, 7]},
    }
    for workload, by_system in rows.items():
        for system, values in by_system.items():
            for v in values:
                samples.add(workload, system, v)
    return samples


def test_each_ratio_is_stratos_median_over_the_peer_median_the_issue_names():
    figures = {f.name: f for f in report.figures(report.medians(_samples().values))}
    put = figures["peers.put_256MiB_vs_filer"]
    assert (put.value, put.bound, put.ratio) == (35, 45, round(35 / 45, 3))
    assert figures["peers.get_256MiB_to_disk_vs_filer"].ratio == round(75 / 95, 3)
    assert figures["peers.put_64KiB_ops_s_vs_filer"].ratio == round(40 / 260, 3)
    assert figures["peers.get_64KiB_ops_s_1_client_vs_filer"].ratio == round(400 / 750, 3)
    assert figures["peers.get_64KiB_ops_s_8_clients_vs_filer"].ratio == 0.6
    cpu = figures["peers.get_256MiB_cpu_s_per_GiB_vs_s3"]  # against S3, not the filer
    assert (cpu.value, cpu.bound, cpu.ratio) == (10, 6, round(10 / 6, 3))
    assert len(figures) == 6


def test_a_ratio_meets_its_target_in_the_direction_the_issue_asks():
    figures = {f.name: f for f in report.figures(report.medians(_samples().values))}
    assert not report.meets(figures["peers.put_256MiB_vs_filer"])  # 0.78 < 1.0
    assert report.meets(figures["peers.get_64KiB_ops_s_1_client_vs_filer"])  # 0.53 >= 0.5
    assert not report.meets(figures["peers.get_256MiB_cpu_s_per_GiB_vs_s3"])  # 1.67 > 1.5
    fast = report.figures({workloads.CPU_GET_LARGE: {STRATOS: 6.0, S3: 6.0}})
    assert report.meets(fast[0])


def test_a_figure_whose_peer_was_not_measured_is_left_out_not_guessed():
    only_filer = report.medians({workloads.PUT_LARGE: {STRATOS: [1.0], FILER: [2.0]}})
    assert [f.name for f in report.figures(only_filer)] == ["peers.put_256MiB_vs_filer"]
    assert report.figures({workloads.PUT_LARGE: {STRATOS: 1.0, FILER: 0.0}}) == []


def test_the_result_file_holds_every_sample_median_ratio_version_and_command(tmp_path):
    systems = {
        STRATOS: {"version": "stratos-sdk 0.1", "daemons": {"index": ["python", "-m", "x"]}},
        FILER: {"version": "SeaweedFS 4.48", "daemons": {"master": ["weed", "master"]}},
        S3: {"version": "SeaweedFS 4.48", "daemons": {"s3": ["weed", "s3"]}},
        TAHOE: {"left_out": "tahoe-lafs did not install"},
    }
    doc = report.document(_samples().values, Sizes(), systems, {"cores": 2}, quick=False)
    out = tmp_path / "peers.json"
    report.write(doc, out)
    read = json.loads(out.read_text())
    assert read["systems"] == systems and read["quick"] is False
    assert set(read["workloads"]) == set(workloads.WORKLOADS)
    put = read["workloads"][workloads.PUT_LARGE]
    assert put["label"] == "put 256 MiB, MB/s"
    assert put["samples"][STRATOS] == [30, 40, 35] and put["median"][STRATOS] == 35
    assert [f["name"] for f in read["figures"]] == [t[0] for t in report.TARGETS]
    assert {"value", "bound", "ratio", "target", "met", "unit"} <= set(read["figures"][0])
    assert read["sizes"]["repetitions"] == 3


def test_the_table_names_each_measured_system_and_quick_sizes_in_its_labels():
    doc = report.document(_samples().values, QUICK, {STRATOS: {}, FILER: {}, S3: {}}, {}, True)
    table = report.table(doc)
    headers = [c.header for c in table.columns]
    assert headers[:4] == ["workload", "Stratos", "SeaweedFS filer", "SeaweedFS S3"]
    assert "Tahoe-LAFS" not in headers
    assert next(iter(table.columns[0].cells)) == "put 4 MiB, MB/s"


def test_every_system_goes_first_in_some_repetition():
    systems = [System(n, None, []) for n in ("a", "b", "c")]  # type: ignore[arg-type]
    firsts = [workloads.rotated(systems, rep)[0].name for rep in range(3)]
    assert sorted(firsts) == ["a", "b", "c"]
    assert [s.name for s in workloads.rotated(systems, 1)] == ["b", "c", "a"]


CLIENT = """
from bench.peers.protocol import serve
def fail():
    raise ValueError("no such key")
serve({"echo": lambda value: value, "fail": fail})
"""


def test_a_client_process_answers_results_and_its_errors_as_one_sentence(tmp_path):
    worker = Worker([sys.executable, "-c", CLIENT], REPO, tmp_path / "client.log")
    try:
        answer = worker.call("echo", value=["k1", 2])
        assert answer.result == ["k1", 2] and answer.wall_s >= 0 and answer.cpu_s >= 0
        with pytest.raises(RuntimeError, match="fail: ValueError: no such key"):
            worker.call("fail")
        assert worker.call("echo", value="still serving").result == "still serving"
    finally:
        worker.close()
