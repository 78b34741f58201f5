"""Where a get writes, decided and carried out without a mesh: only a regular file (or nothing)
is ever replaced; devices, FIFOs and standard output are written through, in order, and only
with verified bytes; a symbolic link is followed and stays a link; a name the user did not
choose replaces nothing unless forced."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from stratos.common.errors import FailedPrecondition, InvalidArgument, StratosError
from stratos.sdk import sinks
from stratos.sdk.sinks import FileSink, StreamSink, choose_target

FILE_ID = "0123456789abcdef" * 2


def full_device(tmp_path: Path) -> Path:
    """A private /dev/full (the real one must never be at risk in a test of this bug)."""
    path = tmp_path / "full"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pytest.fail("a private /dev/full is made with mknod, which needs root: run as root")
    return path


def pieces(*parts: bytes):
    return [lambda p=p: p for p in parts]


async def write_all(sink, parts, order=None) -> None:
    offsets = [sum(len(p()) for p in parts[:i]) for i in range(len(parts))]
    order = order or range(len(parts))
    await asyncio.gather(*(sink.write(i, offsets[i], parts[i], len(parts[i]())) for i in order))


# -- choosing ---------------------------------------------------------------------------------


def test_a_new_path_and_a_regular_file_are_written_as_files(tmp_path: Path) -> None:
    new = choose_target(tmp_path / "new.bin", "x", FILE_ID, force=False)
    assert (new.stream, new.write_path, new.replace) == (False, tmp_path / "new.bin", True)
    (tmp_path / "old.bin").write_bytes(b"old")
    old = choose_target(tmp_path / "old.bin", "x", FILE_ID, force=False)
    assert (old.stream, old.replace) == (False, True)  # a path the user chose, as cp would


def test_devices_fifos_and_stdout_are_streams(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    assert choose_target(tmp_path / "fifo", "x", FILE_ID, force=False).stream
    assert choose_target(Path("/dev/null"), "x", FILE_ID, force=False).stream
    assert choose_target("-", "x", FILE_ID, force=False).stream


def test_a_symlink_is_followed_to_its_target(tmp_path: Path) -> None:
    (tmp_path / "real.bin").write_bytes(b"old")
    (tmp_path / "link").symlink_to("real.bin")
    t = choose_target(tmp_path / "link", "x", FILE_ID, force=False)
    assert (t.path, t.write_path, t.stream) == (tmp_path / "link", tmp_path / "real.bin", False)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "to-fifo").symlink_to("fifo")
    assert choose_target(tmp_path / "to-fifo", "x", FILE_ID, force=False).stream


def test_a_dangling_symlink_is_refused_as_cp_does(tmp_path: Path) -> None:
    (tmp_path / "dangling").symlink_to("nowhere/else")
    with pytest.raises(InvalidArgument, match="symbolic link to nothing"):
        choose_target(tmp_path / "dangling", "x", FILE_ID, force=False)


def test_a_folder_gets_the_sanitised_name_and_it_replaces_nothing_unforced(tmp_path: Path) -> None:
    t = choose_target(tmp_path, "../../evil\nname", FILE_ID, force=False)
    assert t.write_path == tmp_path / "_.._evil_name" and not t.replace
    (tmp_path / "_.._evil_name").write_bytes(b"mine")
    with pytest.raises(FailedPrecondition, match="already exists; pass --force"):
        choose_target(tmp_path, "../../evil\nname", FILE_ID, force=False)
    assert choose_target(tmp_path, "../../evil\nname", FILE_ID, force=True).replace


def test_the_default_is_the_sanitised_name_here_or_the_file_id(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert choose_target(None, "report.pdf", FILE_ID, force=False).write_path == Path("report.pdf")
    assert choose_target(None, "..", FILE_ID, force=False).write_path == Path(FILE_ID)
    Path("report.pdf").write_bytes(b"mine")
    with pytest.raises(FailedPrecondition, match=r"^report.pdf already exists"):
        choose_target(None, "report.pdf", FILE_ID, force=False)


def test_sockets_block_devices_and_folders_in_folders_are_refused(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    with pytest.raises(InvalidArgument, match="it is a socket"):
        choose_target(tmp_path / "sock", "x", FILE_ID, force=False)
    sock.close()
    (tmp_path / "x").mkdir()
    with pytest.raises(InvalidArgument, match="it is a directory"):
        choose_target(tmp_path, "x", FILE_ID, force=True)
    with pytest.raises(InvalidArgument, match=r"folder .* does not exist"):
        sinks.check_output(tmp_path / "missing" / "out")


# -- writing ----------------------------------------------------------------------------------


async def test_a_file_appears_only_when_complete_and_replaces_only_a_regular_file(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.bin"
    out.write_bytes(b"old")
    sink = FileSink(choose_target(out, "x", FILE_ID, force=False))
    sink.reserve(6)
    await write_all(sink, pieces(b"abc", b"def"), order=[1, 0])
    assert out.read_bytes() == b"old"  # nothing visible yet
    sink.finish(6, FILE_ID)
    assert out.read_bytes() == b"abcdef"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # no .part left


async def test_a_fifo_put_in_place_meanwhile_is_never_renamed_over(tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    sink = FileSink(choose_target(out, "x", FILE_ID, force=False))
    await write_all(sink, pieces(b"abc"))
    os.mkfifo(out)
    with pytest.raises(StratosError, match="not a regular file appeared there"):
        sink.finish(3, FILE_ID)
    sink.abort()
    assert stat.S_ISFIFO(os.lstat(out).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


async def test_the_part_file_never_follows_a_planted_link(tmp_path: Path, monkeypatch) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    monkeypatch.setattr(sinks.secrets, "token_hex", lambda n: "fixed")
    (tmp_path / ".out.bin.fixed.part").symlink_to(victim)
    with pytest.raises(InvalidArgument, match="cannot write"):
        FileSink(choose_target(tmp_path / "out.bin", "x", FILE_ID, force=False))
    assert victim.read_bytes() == b"precious"


async def test_a_symlinked_file_is_written_and_the_link_stays_a_link(tmp_path: Path) -> None:
    (tmp_path / "real.bin").write_bytes(b"old")
    (tmp_path / "link").symlink_to("real.bin")
    sink = FileSink(choose_target(tmp_path / "link", "x", FILE_ID, force=False))
    await write_all(sink, pieces(b"new!"))
    sink.finish(4, FILE_ID)
    assert (tmp_path / "link").is_symlink() and os.readlink(tmp_path / "link") == "real.bin"
    assert (tmp_path / "real.bin").read_bytes() == b"new!"


async def test_a_full_device_is_one_sentence_and_stays_a_device(tmp_path: Path) -> None:
    dev = full_device(tmp_path)
    sink = await StreamSink.open(choose_target(dev, "x", FILE_ID, force=False))
    with pytest.raises(StratosError) as info:
        await write_all(sink, pieces(b"abc"))
    sink.abort()
    assert info.value.message == f"cannot write {dev}: no space left on device"
    assert stat.S_ISCHR(os.lstat(dev).st_mode)


async def test_a_stream_gets_segments_in_file_order_whatever_order_they_arrive(
    tmp_path: Path,
) -> None:
    os.mkfifo(tmp_path / "fifo")
    got = bytearray()

    def reader() -> None:
        with open(tmp_path / "fifo", "rb") as f:
            got.extend(f.read())

    thread = threading.Thread(target=reader)
    thread.start()  # the sink waits for the reader, as cat would
    sink = await StreamSink.open(choose_target(tmp_path / "fifo", "x", FILE_ID, force=False))
    await write_all(sink, pieces(b"one-", b"two-", b"three"), order=[2, 0, 1])
    sink.finish(13, FILE_ID)
    thread.join(10)
    assert bytes(got) == b"one-two-three"
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)


async def test_a_segment_that_fails_to_verify_is_never_written_to_a_stream(tmp_path: Path) -> None:
    """Earlier segments reach the reader; the bad one and everything after it do not."""
    out = tmp_path / "plain"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT, 0o600)
    sink = StreamSink(fd, "test", owned=True)

    def bad() -> bytes:
        raise StratosError("segment 1 does not decrypt")

    later = asyncio.create_task(sink.write(2, 10, lambda: b"after", 5))  # arrived early: waits
    await sink.write(0, 0, lambda: b"good-", 5)
    with pytest.raises(StratosError, match="does not decrypt"):
        await sink.write(1, 5, bad, 5)
    await asyncio.sleep(0)  # let it run: it must still be waiting for segment 1
    assert not later.done() and sink.next_index == 1
    later.cancel()  # as the client's task group does when a segment fails
    sink.abort()
    assert out.read_bytes() == b"good-"


async def test_a_small_segment_is_written_on_the_loop_and_a_large_one_in_a_worker(tmp_path):
    """A thread hop costs more than decrypting and writing a small segment (`offload`)."""
    import threading

    from stratos.sdk import offload

    sink = FileSink(choose_target(tmp_path / "out", "out", "f" * 32, force=False))
    threads: list[int] = []

    def produce(data: bytes):
        def run() -> bytes:
            threads.append(threading.get_ident())
            return data

        return run

    small, large = b"s" * 10, b"L" * (offload.INLINE_BYTES + 1)
    sink.reserve(len(small) + len(large))
    await sink.write(0, 0, produce(small), len(small))
    await sink.write(1, len(small), produce(large), len(large))
    assert threads[0] == threading.get_ident() != threads[1]
    sink.finish(len(small) + len(large), "f" * 32)
    assert (tmp_path / "out").read_bytes() == small + large
