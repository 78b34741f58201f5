"""A power cut of the NATS host loses no acknowledged put.

NATS keeps its JetStream store on crashfs (hack/crashfs): a FUSE filesystem that holds every
byte written to a file in memory until the file is fsync'd, and drops it all when it is stopped
— what a disk holds after the power goes, where a kill -9 of nats-server loses nothing (the page
cache survives it). Files are put through the real CLI and mesh; then nats-server is SIGKILLed,
the power is cut, the filesystem is mounted again over the same disk and NATS restarted; every
file whose put had succeeded must read back byte for byte.

Needs root and /dev/fuse (it mounts with mount(2)) and Go (crashfs is built from its module
once, see hack/crashfs/build.sh); without them it fails with a sentence saying so, never skips.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from e2e.conftest import random_file, same_bytes, start_mesh
from stratos.common.procs import wait_until

KiB = 1 << 10
REPO = Path(__file__).resolve().parents[1]


def crashfs_binary() -> str:
    if not Path("/dev/fuse").exists() or os.geteuid() != 0:
        pytest.fail(
            "the power-cut test mounts a FUSE filesystem: it needs /dev/fuse and root "
            f"(/dev/fuse {'exists' if Path('/dev/fuse').exists() else 'is missing'}, "
            f"uid {os.geteuid()})"
        )
    built = subprocess.run(
        ["bash", str(REPO / "hack" / "crashfs" / "build.sh")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if built.returncode != 0:
        pytest.fail(f"cannot build crashfs: {built.stderr.strip()}")
    return built.stdout.strip().splitlines()[-1]


class CrashFS:
    """crashfs over `disk`, mounted on `mountpoint`; `cut()` is the power cut."""

    def __init__(self, binary: str, disk: Path, mountpoint: Path) -> None:
        self.binary, self.disk, self.mountpoint = binary, disk, mountpoint
        self.proc: subprocess.Popen | None = None
        disk.mkdir(parents=True, exist_ok=True)
        mountpoint.mkdir(parents=True, exist_ok=True)

    def mount(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, str(self.disk), str(self.mountpoint)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_until(
            lambda: os.path.ismount(self.mountpoint) or self.proc.poll() is not None,
            timeout_s=15,
            what=f"crashfs on {self.mountpoint}",
        )
        if self.proc.poll() is not None:
            pytest.fail(f"crashfs did not mount: {self.proc.stdout.read().strip()}")

    def cut(self) -> str:
        """Drop every unsynced byte and unmount; returns what crashfs said it dropped."""
        if self.proc is None:
            return ""
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            said, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            said, _ = proc.communicate(timeout=10)
        if os.path.ismount(self.mountpoint):  # still busy: detach it
            subprocess.run(["umount", "-l", str(self.mountpoint)], check=False)
        return said.strip().splitlines()[-1] if said.strip() else ""


def assert_drops_unsynced_writes(fs: CrashFS) -> None:
    """The filesystem must lose what was not fsync'd, or this test would prove nothing."""
    synced, unsynced = fs.mountpoint / "canary-synced", fs.mountpoint / "canary-unsynced"
    with synced.open("wb") as f:
        f.write(b"s" * 10_000)
        f.flush()
        os.fsync(f.fileno())
    unsynced.write_bytes(b"u" * 10_000)
    fs.cut()
    fs.mount()
    assert synced.read_bytes() == b"s" * 10_000, "crashfs lost a synced write"
    assert unsynced.read_bytes() == b"", "crashfs kept an unsynced write through a power cut"
    synced.unlink()
    unsynced.unlink()


def test_every_acknowledged_put_survives_a_power_cut_of_the_nats_host(tmp_path):
    home = tmp_path / "home"
    fs = CrashFS(crashfs_binary(), tmp_path / "disk", home / "run" / "nats")
    fs.mount()
    mesh = None
    try:
        assert_drops_unsynced_writes(fs)
        mesh = start_mesh(home, 3)
        acked = {}
        for i in range(6):
            src = random_file(tmp_path / f"f{i}.bin", 64 * KiB + i, seed=i)
            put = mesh.json("put", str(src))  # exit 0: the put was acknowledged
            acked[put["id"]] = (src, put["cap"])

        mesh.stratos("dev", "kill", "nats", check=True)
        cut = fs.cut()  # "power cut after N syncs: dropped M unsynced pages ..."
        fs.mount()
        mesh.stratos("dev", "start", "nats", check=True)
        # the index reconnects by itself: a file may need a few tries until it has, all
        # within one deadline, so a lost file fails the test in seconds, not minutes
        deadline = time.monotonic() + 45
        lost = {}
        for fid, (src, cap) in acked.items():
            out = tmp_path / f"{fid}.out"
            while True:
                got = mesh.stratos("get", cap, "-o", str(out))
                if got.returncode == 0 and same_bytes(src, out):
                    break
                if time.monotonic() > deadline:
                    lost[fid] = got.stderr.strip() or "different bytes"
                    break
                time.sleep(0.5)
        assert not lost, f"{len(lost)} of {len(acked)} acknowledged files lost ({cut}): {lost}"
    finally:
        if mesh is not None:
            mesh.stratos("dev", "down", timeout=60)
        fs.cut()
