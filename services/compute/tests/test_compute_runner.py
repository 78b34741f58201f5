"""One executor's run of a job (stratos.compute.runner): the module must be the one the job
names and the limits within the worker's; the run is attested and signed, and r honest
executors' attestations agree while a corrupted output is outvoted."""

from __future__ import annotations

import os

import pytest
import wasmtime
from blake3 import blake3

from stratos.common.attestations import agree, open_attestation
from stratos.common.errors import FailedPrecondition, InvalidArgument
from stratos.common.identity import Identity
from stratos.compute.runner import run_job
from stratos.v1 import compute_pb2

# copies /in/0 to stdout (the sandbox test's cat, shortened)
CAT = wasmtime.wat2wasm(
    """(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "0")
  (func (export "_start")
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 0)
      (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 200)))
    (loop $more
      (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 4096))
      (drop (call $read (i32.load (i32.const 200)) (i32.const 0) (i32.const 1) (i32.const 8)))
      (if (i32.load (i32.const 8)) (then
        (i32.store (i32.const 4) (i32.load (i32.const 8)))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
        (br $more))))))"""
)
EXECUTORS = {f"s{i}": Identity.generate() for i in range(3)}


def job(**over) -> compute_pb2.ComputeJob:
    fields = {
        "job_id": os.urandom(16),
        "module_hash": blake3(CAT).digest(),
        "inputs": [compute_pb2.JobInput(file_id="f" * 32)],
        "replicas": 3,
        "executors": list(EXECUTORS),
        "fuel": 10**8,
        **over,
    }
    return compute_pb2.ComputeJob(**fields)


def run_as(name, j, tmp_path, data: bytes):
    src = tmp_path / f"input-{name}"
    src.write_bytes(data)
    out = bytearray()
    workdir = tmp_path / f"work-{name}"
    workdir.mkdir()

    ran = run_job(j, EXECUTORS[name], name, CAT, [src], ["ab" * 32], out.extend, workdir=workdir)
    return ran, bytes(out)


def test_an_honest_run_is_attested_and_three_agree(tmp_path) -> None:
    data = os.urandom(50_000)
    j = job()
    runs = [run_as(name, j, tmp_path, data) for name in EXECUTORS]
    for (ran, out), name in zip(runs, EXECUTORS, strict=True):
        assert out == data
        a = open_attestation(ran.signed, EXECUTORS[name].public_bytes)
        assert a.ok and a.output_hash == blake3(data).digest() and a.output_size == len(data)
        assert a.executor == name and list(a.input_chunks) == ["ab" * 32] and a.fuel_used > 0
    assert len({ran.attestation.fuel_used for ran, _ in runs}) == 1  # to the unit
    verdict = agree(j, [ran.attestation for ran, _ in runs])
    assert verdict.agreed and verdict.dissenting == ()


def test_an_executor_whose_input_differs_is_outvoted(tmp_path) -> None:
    j = job()
    data = os.urandom(10_000)
    honest = [run_as(n, j, tmp_path, data)[0].attestation for n in ("s0", "s2")]
    liar = run_as("s1", j, tmp_path, data[:-1] + b"!")[0].attestation
    verdict = agree(j, [honest[0], liar, honest[1]])
    assert verdict.agreed and verdict.dissenting == ("s1",)


def test_another_module_than_the_job_names_is_refused(tmp_path) -> None:
    with pytest.raises(InvalidArgument, match="do not hash to the job's module_hash"):
        run_as("s0", job(module_hash=bytes(32)), tmp_path, b"x")


@pytest.mark.parametrize(
    ("over", "sentence"),
    [
        ({"fuel": 10**13}, "asks for 10000000000000 fuel; this worker allows"),
        ({"memory_bytes": 2 << 30}, "memory; this worker allows"),
        ({"wall_s": 10_000}, "wall-clock seconds; this worker allows 3600"),
    ],
)
def test_a_job_asking_more_than_the_worker_allows_is_refused(tmp_path, over, sentence) -> None:
    with pytest.raises(FailedPrecondition, match=sentence):
        run_as("s0", job(**over), tmp_path, b"x")


def test_a_failed_run_is_attested_with_its_sentence(tmp_path) -> None:
    ran, _ = run_as("s0", job(fuel=50), tmp_path, os.urandom(100_000))
    assert not ran.attestation.ok and ran.attestation.error == "ran out of fuel after 50"
    assert ran.attestation.output_hash == b""
