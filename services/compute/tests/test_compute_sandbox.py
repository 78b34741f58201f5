"""The job sandbox (stratos.compute.sandbox) with real wasmtime: a module sees its declared
inputs read-only and writes its output to stdout; fuel, memory and wall-clock caps each end a
run with one sentence; a module reaching for anything undeclared gets an error inside the
sandbox and nothing outside changes; modules that cannot run are refused before they do."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import wasmtime

from stratos.common.errors import InvalidArgument
from stratos.compute.sandbox import Limits, check_module, run

WASI = '(import "wasi_snapshot_preview1" "{name}" (func ${name} {sig}))'
FD_WRITE = WASI.format(name="fd_write", sig="(param i32 i32 i32 i32) (result i32)")
FD_READ = WASI.format(name="fd_read", sig="(param i32 i32 i32 i32) (result i32)")
PROC_EXIT = WASI.format(name="proc_exit", sig="(param i32)")
PATH_OPEN = WASI.format(
    name="path_open", sig="(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)"
)


def module(body: str, *imports: str) -> wasmtime.Module:
    text = f'(module {" ".join(imports)} (memory (export "memory") 1) {body})'
    return check_module(wasmtime.wat2wasm(text))


HELLO = module(
    """(data (i32.const 16) "hello\\n")
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 6))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))""",
    FD_WRITE,
)

# open `path` (at 100) under the preopened /in (fd 3) with `oflags`; exit with the errno if it
# fails, else copy the file to stdout
OPEN_AND_CAT = """(data (i32.const 100) "{path}")
    (func (export "_start") (local $err i32)
      (local.set $err (call $path_open (i32.const 3) (i32.const 0) (i32.const 100)
        (i32.const {length}) (i32.const {oflags}) (i64.const {rights}) (i64.const {rights})
        (i32.const 0) (i32.const 200)))
      (if (local.get $err) (then (call $proc_exit (local.get $err))))
      (loop $more
        (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 4096))
        (drop (call $fd_read (i32.load (i32.const 200)) (i32.const 0) (i32.const 1)
          (i32.const 8)))
        (if (i32.load (i32.const 8)) (then
          (i32.store (i32.const 4) (i32.load (i32.const 8)))
          (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
          (br $more)))))"""


def opener(path: str, oflags: int = 0, rights: int = 2) -> wasmtime.Module:
    """rights 2 = fd_read; oflags 1 = O_CREAT."""
    body = OPEN_AND_CAT.format(path=path, length=len(path), oflags=oflags, rights=rights)
    return module(body, PATH_OPEN, FD_READ, FD_WRITE, PROC_EXIT)


def go(mod, tmp_path: Path, inputs=(), limits=Limits(fuel=10_000_000), name="w"):
    out = bytearray()
    workdir = tmp_path / name
    workdir.mkdir()
    return run(mod, list(inputs), out.extend, limits, workdir=workdir), bytes(out)


def test_a_module_writes_its_output_to_stdout_and_its_fuel_is_counted(tmp_path) -> None:
    outcome, out = go(HELLO, tmp_path)
    assert outcome.ok and outcome.exit_code == 0 and outcome.error == ""
    assert out == b"hello\n"
    assert 0 < outcome.fuel_used < 1_000


def test_a_declared_input_is_read_in_full(tmp_path) -> None:
    data = os.urandom(100_000)
    (tmp_path / "input").write_bytes(data)
    outcome, out = go(opener("0"), tmp_path, [tmp_path / "input"])
    assert outcome.ok, outcome.error
    assert out == data


@pytest.mark.parametrize(
    ("path", "oflags", "rights"),
    [
        ("../../../../etc/passwd", 0, 2),  # out of the preopen
        ("/etc/passwd", 0, 2),  # absolute
        ("1", 0, 2),  # an input that was not declared
        ("new", 1, 2 | 64),  # create a file among the inputs (O_CREAT, fd_write)
        ("0", 0, 64),  # open an input for writing
    ],
)
def test_reaching_beyond_the_declared_inputs_fails_inside_and_changes_nothing(
    tmp_path, path, oflags, rights
) -> None:
    (tmp_path / "input").write_bytes(b"mine")
    before = sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    outcome, out = go(opener(path, oflags, rights), tmp_path, [tmp_path / "input"])
    assert not outcome.ok and outcome.exit_code not in (None, 0)
    assert outcome.error.startswith("the module exited with status ")
    assert out == b""
    after = sorted(
        (p.relative_to(tmp_path), p.stat().st_mtime_ns)
        for p in tmp_path.rglob("*")
        if "w" not in p.relative_to(tmp_path).parts  # the sandbox's own workdir
    )
    assert after == before
    assert (tmp_path / "input").read_bytes() == b"mine"


def test_an_infinite_loop_runs_out_of_fuel(tmp_path) -> None:
    loop = module('(func (export "_start") (loop $l (br $l)))')
    outcome, _ = go(loop, tmp_path, limits=Limits(fuel=5_000_000))
    assert outcome.error == "ran out of fuel after 5000000"
    assert outcome.fuel_used == 5_000_000 and outcome.exit_code is None


def test_a_memory_bomb_hits_the_cap(tmp_path) -> None:
    bomb = module(
        """(func (export "_start")
          (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
          unreachable)"""
    )
    outcome, _ = go(bomb, tmp_path, limits=Limits(fuel=10**8, memory_bytes=32 << 20))
    assert outcome.error.startswith("hit the memory cap of 32 MiB"), outcome.error


def test_a_trap_says_what_trapped(tmp_path) -> None:
    outcome, _ = go(module('(func (export "_start") unreachable)'), tmp_path)
    assert outcome.error.startswith("trapped: ") and "unreachable" in outcome.error


def test_a_slow_module_stops_at_the_wall_clock_cap(tmp_path) -> None:
    loop = module('(func (export "_start") (loop $l (br $l)))')
    started = time.monotonic()
    outcome, _ = go(loop, tmp_path, limits=Limits(fuel=10**15, wall_s=0.5))
    assert outcome.error == "ran past the wall-clock cap of 0.5 s"
    assert time.monotonic() - started < 10


def test_an_exit_status_is_reported(tmp_path) -> None:
    exits = module('(func (export "_start") (call $proc_exit (i32.const 3)))', PROC_EXIT)
    outcome, _ = go(exits, tmp_path)
    assert (outcome.ok, outcome.exit_code) == (False, 3)
    assert outcome.error == "the module exited with status 3"


@pytest.mark.parametrize(
    ("wasm", "sentence"),
    [
        (b"#!/bin/sh\necho hi\n", "not WebAssembly"),
        (b"\0asm\x01\0\0\0\x99", "not valid WebAssembly"),
        (
            wasmtime.wat2wasm(
                '(module (import "env" "socket" (func)) (memory (export "memory") 1)'
                ' (func (export "_start")))'
            ),
            "imports env.socket; a job may import only WASI preview 1",
        ),
        (wasmtime.wat2wasm('(module (memory (export "memory") 1))'), "exports no _start"),
    ],
)
def test_a_module_that_cannot_run_is_refused_with_one_sentence(wasm, sentence) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_module(wasm)
    assert sentence in refused.value.message
    assert "\n" not in refused.value.message


RANDOM_GET = WASI.format(name="random_get", sig="(param i32 i32) (result i32)")
CLOCK_GET = WASI.format(name="clock_time_get", sig="(param i32 i64 i32) (result i32)")
# writes 32 bytes of random_get, then two clock reads (8 bytes each), to stdout
RANDOM_AND_CLOCK = module(
    """(func (export "_start")
      (drop (call $random_get (i32.const 64) (i32.const 32)))
      (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 96)))
      (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 104)))
      (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 48))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))""",
    RANDOM_GET,
    CLOCK_GET,
    FD_WRITE,
)


def test_every_run_of_a_job_sees_the_same_random_stream_and_clock(tmp_path) -> None:
    def once(seed: bytes, name: str) -> bytes:
        out = bytearray()
        (tmp_path / name).mkdir()
        outcome = run(
            RANDOM_AND_CLOCK, [], out.extend, Limits(fuel=10**6), workdir=tmp_path / name,
            seed=seed, clock_start_ns=5_000_000_000,
        )  # fmt: skip
        assert outcome.ok, outcome.error
        return bytes(out)

    first, again, other = once(b"job-1", "a"), once(b"job-1", "b"), once(b"job-2", "c")
    assert first == again  # executors of one job agree
    assert first[:32] != other[:32] and len(set(first[:32])) > 8  # another job, another stream
    clock = [int.from_bytes(first[32 + 8 * i : 40 + 8 * i], "little") for i in range(2)]
    assert clock == [5_001_000_000, 5_002_000_000]  # from the job's creation, 1 ms a read


def test_a_random_get_beyond_memory_is_refused_inside(tmp_path) -> None:
    huge = module(
        """(func (export "_start")
          (call $proc_exit (call $random_get (i32.const 65000) (i32.const 4096))))""",
        RANDOM_GET,
        PROC_EXIT,
    )
    outcome, _ = go(huge, tmp_path)
    assert outcome.exit_code == 21  # EFAULT, and the host is fine
