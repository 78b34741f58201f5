"""What `stratos get` writes, and what the CLI prints, as a user on an 80-column terminal sees
it: a device, a FIFO, a symbolic link and standard output are written through and stay what
they were; a name chosen by whoever stored the file is printed escaped and saved sanitised;
IDs, names and capabilities are never cut."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from e2e.conftest import BIN, Mesh, random_file, start_mesh

MiB = 1 << 20
HOSTILE = "evil\nname\x1b[31mred [red]x"
CAP_RE = re.compile(r"stratos://[0-9a-f]{32}#[A-Za-z0-9_-]{43}")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory) -> Mesh:
    m = start_mesh(tmp_path_factory.mktemp("get-output") / "home", 3, COLUMNS="80")
    try:
        yield m
    finally:
        m.stratos("dev", "down", timeout=60)


@pytest.fixture(scope="module")
def stored(mesh: Mesh, tmp_path_factory) -> tuple[Path, dict]:
    src = random_file(tmp_path_factory.mktemp("src") / "data.bin", 2 * MiB + 77, seed=7)
    return src, mesh.json("put", str(src), "--segment-size", "64KiB")


def run(mesh: Mesh, *args: str, cwd: Path | None = None, timeout: float = 120):
    """The CLI with bytes in and out (stdout may carry the file itself)."""
    return subprocess.run(
        [str(BIN / "stratos"), *args],
        env=mesh.env,
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
    )


def one_error(proc, sentence: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.decode().strip() == f"error: {sentence}"


def full_device(tmp_path: Path) -> Path:
    """A private /dev/full: before the fix a get replaced the device it was given, and a test
    of that must never put the machine's own /dev/full at risk."""
    path = tmp_path / "full"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pytest.fail("a private /dev/full is made with mknod, which needs root: run as root")
    return path


def test_a_full_device_gets_one_sentence_and_stays_a_device(mesh, stored, tmp_path) -> None:
    _, put = stored
    dev = full_device(tmp_path)
    got = run(mesh, "get", put["cap"], "-o", str(dev))
    one_error(got, f"cannot write {dev}: no space left on device")
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["full"]  # no part file left beside it


def test_a_fifo_is_written_through_to_the_process_reading_it(mesh, stored, tmp_path) -> None:
    src, put = stored
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    out = tmp_path / "read.bin"
    with out.open("wb") as sink:
        reader = subprocess.Popen(["cat", str(fifo)], stdout=sink)
        try:
            got = run(mesh, "get", put["cap"], "-o", str(fifo))
            assert got.returncode == 0, got.stderr
            assert reader.wait(timeout=60) == 0
        finally:
            reader.kill()
    assert out.read_bytes() == src.read_bytes()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_is_followed_and_stays_a_link(mesh, stored, tmp_path) -> None:
    src, put = stored
    real = tmp_path / "real.bin"
    real.write_bytes(b"old contents")
    link = tmp_path / "link.bin"
    link.symlink_to(real.name)
    got = run(mesh, "get", put["cap"], "-o", str(link))
    assert got.returncode == 0, got.stderr
    assert link.is_symlink() and os.readlink(link) == real.name
    assert real.read_bytes() == src.read_bytes()


def test_dash_streams_the_file_alone_to_stdout(mesh, stored, tmp_path) -> None:
    src, put = stored
    got = run(mesh, "get", put["id"], "-o", "-", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert got.stdout == src.read_bytes()  # nothing else on stdout
    assert got.stderr.decode().startswith("fetched data.bin (2.0 MiB) to standard output")
    one_error(
        run(mesh, "get", put["id"], "-o", "-", "--json", cwd=tmp_path),
        "-o - writes the file to standard output, so --json cannot; use one",
    )


def test_a_reader_that_stops_early_is_one_sentence(mesh, stored, tmp_path) -> None:
    _, put = stored
    get = subprocess.Popen(
        [str(BIN / "stratos"), "get", put["id"], "-o", "-"],
        env=mesh.env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    head = subprocess.run(["head", "-c", "10"], stdin=get.stdout, capture_output=True)
    get.stdout.close()  # only head holds the pipe now; it has exited
    assert len(head.stdout) == 10
    assert get.wait(timeout=60) == 1
    err = get.stderr.read().decode().strip()
    get.stderr.close()
    assert err == "error: cannot write standard output: the reader closed the pipe"


def test_a_hostile_name_is_printed_escaped_and_saved_sanitised(mesh, tmp_path) -> None:
    src = random_file(tmp_path / "x.bin", 1000, seed=3)
    put = run(mesh, "put", str(src), "--name", HOSTILE)
    assert put.returncode == 0, put.stderr
    stored_line, cap = put.stdout.decode().splitlines()
    assert "\x1b" not in stored_line and "\\nname\\x1b[31mred [red]x" in stored_line
    file_id = CAP_RE.fullmatch(cap).group(0)[10:42]

    for args in (["ls"], ["stat", file_id]):
        shown = run(mesh, *args).stdout.decode()
        assert "\x1b" not in shown and "[31mred" in shown
        assert "\\x1b" in "".join(line.strip() for line in shown.splitlines())

    here = tmp_path / "here"
    here.mkdir()
    got = run(mesh, "get", file_id, cwd=here)  # no -o: the sanitised name, here
    assert got.returncode == 0, got.stderr
    saved = here / "evil_name_[31mred [red]x"
    assert [p.name for p in here.iterdir()] == [saved.name]
    assert saved.read_bytes() == src.read_bytes()
    assert "\x1b" not in got.stdout.decode() and "\x1b" not in got.stderr.decode()

    saved.write_bytes(b"mine")
    one_error(
        run(mesh, "get", file_id, cwd=here),
        f"{saved.name} already exists; pass --force to replace it, or -o to write somewhere else",
    )
    assert saved.read_bytes() == b"mine"
    assert run(mesh, "get", file_id, "--force", cwd=here).returncode == 0
    assert saved.read_bytes() == src.read_bytes()


def test_at_80_columns_ids_names_and_the_capability_are_never_cut(mesh, tmp_path) -> None:
    name = "quarterly-report-with-a-name-long-enough-to-need-folding-at-80-columns-v2.pdf"
    src = random_file(tmp_path / "r.pdf", 3000, seed=4)
    put = mesh.stratos("put", str(src), "--name", name, check=True)
    stored_line, cap = put.stdout.splitlines()
    assert CAP_RE.fullmatch(cap)  # a line of its own, whole
    file_id = cap[10:42]
    assert stored_line.endswith(f"as {file_id}") and name in stored_line  # never wrapped by us

    for args, shortened in ((["ls"], 0), (["stat", file_id], 2)):
        text = mesh.stratos(*args, check=True).stdout
        lines = text.splitlines()
        assert all(len(line) <= 80 for line in lines), text
        assert any(file_id in line for line in lines), text  # the ID whole on one line
        assert name in "".join(text.split()), text  # the name folded, every character there
        assert text.count("…") == shortened, text  # stat shortens the chunk and owner on purpose
