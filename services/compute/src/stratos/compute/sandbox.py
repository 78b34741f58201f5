"""The sandbox a job's WebAssembly module runs in (wasmtime, WASI preview 1).

What a module can reach is exactly what the job declared, nothing ambient:
- its inputs, read-only, as the files `/in/0`, `/in/1`, … (and their names in `argv`);
- its output: everything it writes to stdout, handed to `on_output` as it is written (so the
  caller encrypts and stores it as it goes; nothing is kept whole in memory);
- stderr, kept up to `STDERR_KEPT` bytes for the job's log;
- no network (WASI preview 1 has no sockets), no other directory, no environment variables.

Limits, each ending the run with one sentence (`Outcome.error`):
- **fuel** — wasmtime's instruction metering, the job's `fuel`; "ran out of fuel after N";
- **memory** — a cap on linear memory; a module that asks for more is refused the growth, and a
  run that then fails says "hit the memory cap of N MiB";
- **wall clock** — epoch interruption after `wall_s`; "ran past the wall-clock cap of N s".

Determinism (r executors must agree on the output): NaN bits are canonicalised, relaxed SIMD is
deterministic, threads are off. A module that reads the clock or `random_get` may still differ
between executors — then the job ends with "no agreement", which is the honest answer.

The module's bytes are checked before anything runs (`check_module`): WebAssembly, imports from
`wasi_snapshot_preview1` only, a `_start` export and one exported memory.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from stratos.common.errors import InvalidArgument

WASI_P1 = "wasi_snapshot_preview1"
WASM_MAGIC = b"\0asm"
MiB = 1 << 20
STDERR_KEPT = 16 << 10  # the tail of what a module writes to stderr, for the job's log
MAX_MODULE_BYTES = 64 * MiB


@dataclass(frozen=True)
class Limits:
    fuel: int  # wasmtime fuel units (about one per simple instruction)
    memory_bytes: int = 256 * MiB
    wall_s: float = 300.0


@dataclass(frozen=True)
class Outcome:
    ok: bool  # ran to the end and exited 0
    exit_code: int | None  # the module's exit status, None when it did not exit
    fuel_used: int
    error: str  # one sentence when not ok, else ""
    stderr: bytes  # its tail


def _config() -> wasmtime.Config:
    c = wasmtime.Config()
    c.consume_fuel = True
    c.epoch_interruption = True
    c.cranelift_nan_canonicalization = True
    c.wasm_relaxed_simd_deterministic = True
    c.wasm_threads = False
    return c


_ENGINE = wasmtime.Engine(_config())  # thread-safe; compiled code is per module
TICK_S = 0.05  # the engine's epoch advances this often while any module runs


class _Ticker:
    """Advances the engine's epoch every TICK_S while at least one run is in progress (each
    store's deadline is a number of ticks from its start), and stops when none is."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs = 0
        self._stop: threading.Event | None = None

    def __enter__(self) -> None:
        with self._lock:
            self._runs += 1
            if self._stop is None:
                self._stop = threading.Event()
                threading.Thread(target=self._tick, args=(self._stop,), daemon=True).start()

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._runs -= 1
            if self._runs == 0 and self._stop is not None:
                self._stop.set()
                self._stop = None

    @staticmethod
    def _tick(stop: threading.Event) -> None:
        while not stop.wait(TICK_S):
            _ENGINE.increment_epoch()


_TICKER = _Ticker()


def engine() -> wasmtime.Engine:
    return _ENGINE


def check_module(wasm: bytes) -> wasmtime.Module:
    """The compiled module, or InvalidArgument with one sentence saying why it cannot run."""
    if len(wasm) > MAX_MODULE_BYTES:
        raise InvalidArgument(
            f"the module is {len(wasm)} bytes; a job's module may be at most {MAX_MODULE_BYTES}"
        )
    if not wasm.startswith(WASM_MAGIC):
        raise InvalidArgument("the module is not WebAssembly (no \\0asm header)")
    try:
        module = wasmtime.Module(_ENGINE, wasm)
    except wasmtime.WasmtimeError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "invalid"
        raise InvalidArgument(f"the module is not valid WebAssembly: {first}") from None
    foreign = sorted({f"{i.module}.{i.name}" for i in module.imports if i.module != WASI_P1})
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise InvalidArgument(
            f"the module imports {shown}; a job may import only WASI preview 1 ({WASI_P1})"
        )
    exports = {e.name: e.type for e in module.exports}
    if not isinstance(exports.get("_start"), wasmtime.FuncType):
        raise InvalidArgument("the module exports no _start function (build it as a WASI command)")
    return module


class _Tail:
    def __init__(self, keep: int) -> None:
        self.keep, self.data = keep, bytearray()

    def __call__(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > 2 * self.keep:
            del self.data[: len(self.data) - self.keep]


def run(
    module: wasmtime.Module,
    inputs: Sequence[Path],
    on_output: Callable[[bytes], None],
    limits: Limits,
    *,
    args: Sequence[str] = (),
    workdir: Path,
) -> Outcome:
    """Run `module` once over `inputs` (files, each exposed read-only as /in/<i>). `workdir` is
    a private, empty directory this call may fill: the inputs are hard-linked into it (copied
    across file systems) — a symbolic link would point out of the sandbox, which WASI refuses."""
    indir = workdir / "in"
    indir.mkdir(mode=0o700)
    for i, path in enumerate(inputs):
        try:
            os.link(path, indir / str(i))
        except OSError:
            shutil.copyfile(path, indir / str(i))
    store = wasmtime.Store(_ENGINE)
    store.set_fuel(limits.fuel)
    store.set_limits(memory_size=limits.memory_bytes)
    store.set_epoch_deadline(max(1, round(limits.wall_s / TICK_S)))
    wasi = wasmtime.WasiConfig()
    wasi.argv = ["job", *(f"/in/{i}" for i in range(len(inputs))), *args]
    wasi.preopen_dir(str(indir), "/in", fs_mutable=False)
    wasi.stdout_custom = on_output
    stderr = _Tail(STDERR_KEPT)
    wasi.stderr_custom = stderr
    store.set_wasi(wasi)
    linker = wasmtime.Linker(_ENGINE)
    linker.define_wasi()

    error, exit_code = "", None
    with _TICKER:
        try:
            instance = linker.instantiate(store, module)
            start = instance.exports(store)["_start"]
            try:
                start(store)
                exit_code = 0
            except wasmtime.ExitTrap as ex:
                exit_code = ex.code
            except (wasmtime.Trap, wasmtime.WasmtimeError) as trap:
                error = _trap_sentence(trap, store, instance, limits)
        except wasmtime.WasmtimeError as err:  # at instantiation: memory above the cap, …
            error = f"the module could not start: {_first_line(err)}"
    used = limits.fuel - store.get_fuel()
    if not error and exit_code:
        error = f"the module exited with status {exit_code}"
    return Outcome(not error, exit_code, used, error, bytes(stderr.data[-STDERR_KEPT:]))


def _first_line(err: BaseException) -> str:
    """The sentence of a wasmtime error: its cause (the last line: "wasm trap: …" after a
    backtrace), without the backtrace."""
    lines = [x.strip() for x in str(err).strip().splitlines() if x.strip()]
    if not lines:
        return type(err).__name__
    return lines[-1].removeprefix("wasm trap: ")


def _trap_sentence(trap: BaseException, store, instance, limits: Limits) -> str:
    text = str(trap)
    code = getattr(trap, "trap_code", None)
    if code == wasmtime.TrapCode.OUT_OF_FUEL or "all fuel consumed" in text:
        return f"ran out of fuel after {limits.fuel}"
    if code == wasmtime.TrapCode.INTERRUPT or "interrupt" in text:
        return f"ran past the wall-clock cap of {limits.wall_s:g} s"
    memory = instance.exports(store).get("memory")
    if isinstance(memory, wasmtime.Memory):
        # wasmtime refuses a growth past the cap without telling; a module trapping with its
        # memory within an eighth of the cap (or saying so) most likely trapped for want of more
        room = limits.memory_bytes - memory.data_len(store)
        if room < max(64 << 10, limits.memory_bytes // 8) or "out of memory" in text.lower():
            return f"hit the memory cap of {limits.memory_bytes // MiB} MiB ({_first_line(trap)})"
    return f"trapped: {_first_line(trap)}"
