"""A user's first session: put a file, list it, read it back, remove it — and every bad input
answered with one sentence, a non-zero exit and no traceback."""

from __future__ import annotations

import pytest

from e2e.conftest import random_file, same_bytes

MiB = 1 << 20


def assert_one_sentence_error(proc, *fragments: str) -> None:
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert err.startswith("error:"), err
    assert len(err.splitlines()) == 1, err
    for frag in fragments:
        assert frag in err, err


@pytest.fixture
def mesh(mesh_factory):
    return mesh_factory(3)


def test_put_ls_get_stat_rm_round_trip(mesh, tmp_path):
    src = random_file(tmp_path / "video.mp4", 9 * MiB + 123, seed=1)
    put = mesh.json("put", str(src))
    assert put["cap"].startswith(f"stratos://{put['id']}#")

    listed = {f["id"]: f for f in mesh.json("ls")}
    assert listed[put["id"]]["name"] == "video.mp4"
    assert listed[put["id"]]["size"] == src.stat().st_size

    out = tmp_path / "out.mp4"
    mesh.stratos("get", put["cap"], "-o", str(out), check=True)
    assert same_bytes(src, out)

    stat = mesh.json("stat", put["id"])
    assert stat["size"] == src.stat().st_size
    assert len(stat["segments"]) == 3  # 4 MiB segments
    assert all(len(seg["nodes"]) == 3 for seg in stat["segments"])

    # the keyring lets the owner read by bare ID
    out2 = tmp_path / "out2.mp4"
    mesh.stratos("get", put["id"], "-o", str(out2), check=True)
    assert same_bytes(src, out2)

    mesh.stratos("rm", put["id"], check=True)
    assert put["id"] not in {f["id"] for f in mesh.json("ls")}
    assert_one_sentence_error(mesh.stratos("get", put["cap"], "-o", str(tmp_path / "x")), "no file")


def test_empty_file_and_replicas_flag(mesh, tmp_path):
    src = tmp_path / "empty.txt"
    src.write_bytes(b"")
    put = mesh.json("put", str(src), "--replicas", "2")
    out = tmp_path / "empty.out"
    mesh.stratos("get", put["cap"], "-o", str(out), check=True)
    assert out.read_bytes() == b""
    assert mesh.json("stat", put["id"])["replicas"] == 2


def test_bad_inputs_get_one_clear_sentence(mesh, tmp_path):
    assert_one_sentence_error(mesh.stratos("put", str(tmp_path / "missing.bin")), "missing.bin")
    assert_one_sentence_error(mesh.stratos("put", str(tmp_path)), "directory")
    unreadable = tmp_path / "secret.bin"
    unreadable.write_bytes(b"x")
    unreadable.chmod(0)
    import os

    if os.geteuid() != 0:  # root reads anything
        assert_one_sentence_error(mesh.stratos("put", str(unreadable)), "secret.bin")
    assert_one_sentence_error(
        mesh.stratos("get", "stratos://nothex#abc", "-o", str(tmp_path / "o")),
        "not a valid capability",
    )
    unknown = "stratos://" + "ab" * 16 + "#" + "A" * 43
    assert_one_sentence_error(
        mesh.stratos("get", unknown, "-o", str(tmp_path / "o")), "no file with ID"
    )
    assert not (tmp_path / "o").exists()
    assert_one_sentence_error(mesh.stratos("stat", "zz"), "not a file ID")
    assert_one_sentence_error(mesh.stratos("put", str(tmp_path), "--replicas", "0"))
