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
deterministic, threads are off, and the clock and `random_get` are the job's own (a clock from
the job's creation advancing 1 ms per read; a BLAKE3 stream keyed by the job's ID), so every
executor of a job computes the same bytes with the same fuel. `poll_oneoff` still sleeps in real
time (it changes nothing a module can observe but the wall clock cap).

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


class _Stderr:
    """The first HEAD bytes a module writes to stderr (where a runtime says why it fails, before
    any dump) and the last `keep`."""

    HEAD = 4 << 10

    def __init__(self, keep: int) -> None:
        self.keep, self.head, self.data = keep, bytearray(), bytearray()
        self.dropped = 0

    def __call__(self, chunk: bytes) -> None:
        room = self.HEAD - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.data += chunk
        if len(self.data) > 2 * self.keep:
            self.dropped += len(self.data) - self.keep
            del self.data[: len(self.data) - self.keep]

    def kept(self) -> bytes:
        gap = b"\n[...]\n" if self.dropped else b""
        return bytes(self.head) + gap + bytes(self.data[-self.keep :])


def run(
    module: wasmtime.Module,
    inputs: Sequence[Path],
    on_output: Callable[[bytes], None],
    limits: Limits,
    *,
    args: Sequence[str] = (),
    workdir: Path,
    seed: bytes = b"",
    clock_start_ns: int = 0,
) -> Outcome:
    """Run `module` once over `inputs` (files, each exposed read-only as /in/<i>). `workdir` is
    a private, empty directory this call may fill: the inputs are hard-linked into it (copied
    across file systems) — a symbolic link would point out of the sandbox, which WASI refuses.
    `seed` (the job's ID) and `clock_start_ns` (its creation time) make the run repeatable:
    see `_repeatable`."""
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
    stderr = _Stderr(STDERR_KEPT)
    wasi.stderr_custom = stderr
    store.set_wasi(wasi)
    linker = wasmtime.Linker(_ENGINE)
    linker.define_wasi()
    _repeatable(linker, seed, clock_start_ns)

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
                if exit_code and _says_out_of_memory(bytes(stderr.head)):
                    # a language runtime that exits on a refused growth (Go: status 2)
                    error = (
                        f"hit the memory cap of {limits.memory_bytes // MiB} MiB "
                        f"(the module exited with status {exit_code})"
                    )
            except (wasmtime.Trap, wasmtime.WasmtimeError) as trap:
                error = _trap_sentence(trap, store, instance, limits)
        except wasmtime.WasmtimeError as err:  # at instantiation: memory above the cap, …
            error = f"the module could not start: {_first_line(err)}"
    used = limits.fuel - store.get_fuel()
    if not error and exit_code:
        error = f"the module exited with status {exit_code}"
    return Outcome(not error, exit_code, used, error, stderr.kept())


CLOCK_STEP_NS = 1_000_000  # each clock read advances the module's clock by 1 ms
EFAULT = 21  # WASI errno: a buffer outside the module's memory


def _repeatable(linker: wasmtime.Linker, seed: bytes, start_ns: int) -> None:
    """Replace WASI's two sources of difference between runs with ones every executor of a job
    shares: `random_get` reads a BLAKE3 stream keyed by the job (the same bytes in every run of
    it — random enough for a hash seed, never for a secret) and `clock_time_get` a clock that
    starts at the job's creation and advances 1 ms per read. So r executors of a job compute the
    same output and use the same fuel to the unit, whatever the language runtime does at
    start (Go seeds its maps and paces its collector from these)."""
    from blake3 import blake3

    linker.allow_shadowing = True
    stream = blake3(b"stratos.job.random\0" + seed)
    state = {"pos": 0, "ticks": 0}
    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()

    def write(caller, at: int, data: bytes) -> int:
        memory = caller["memory"]
        if not isinstance(memory, wasmtime.Memory) or at < 0:
            return EFAULT
        if at + len(data) > memory.data_len(caller):
            return EFAULT
        memory.write(caller, data, at)
        return 0

    def random_get(caller, buf: int, length: int) -> int:
        if length < 0 or length > 1 << 20:
            return EFAULT
        data = stream.digest(length=length, seek=state["pos"])
        state["pos"] += length
        return write(caller, buf, data)

    def clock_time_get(caller, clock_id: int, precision: int, out: int) -> int:
        state["ticks"] += 1
        now = start_ns + state["ticks"] * CLOCK_STEP_NS
        return write(caller, out, now.to_bytes(8, "little"))

    linker.define_func(
        WASI_P1, "random_get", wasmtime.FuncType([i32, i32], [i32]), random_get, True
    )
    linker.define_func(
        WASI_P1,
        "clock_time_get",
        wasmtime.FuncType([i32, i64, i32], [i32]),
        clock_time_get,
        True,
    )


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
    if _out_of_memory(store, instance, limits, text.encode()):
        return f"hit the memory cap of {limits.memory_bytes // MiB} MiB ({_first_line(trap)})"
    return f"trapped: {_first_line(trap)}"


def _says_out_of_memory(said: bytes) -> bool:
    low = said.lower()
    return b"out of memory" in low or b"cannot allocate memory" in low


def _out_of_memory(store, instance, limits: Limits, said: bytes) -> bool:
    """wasmtime refuses a growth past the cap without telling; a module failing with its memory
    within an eighth of the cap, or saying it ran out of memory, most likely failed for want of
    more."""
    if _says_out_of_memory(said):
        return True
    memory = instance.exports(store).get("memory")
    if not isinstance(memory, wasmtime.Memory):
        return False
    room = limits.memory_bytes - memory.data_len(store)
    return room < max(64 << 10, limits.memory_bytes // 8)
