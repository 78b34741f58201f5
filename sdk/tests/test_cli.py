"""Unit tier for the `stratos` CLI: size parsing, rendering, the launcher's pure planning, and
every error a user can cause without a mesh answered as one sentence with no traceback."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from devharness import assert_one_sentence, run_cli
from rich.console import Console

from stratos.common.errors import InvalidArgument, NotFound
from stratos.sdk import holdings, localmesh, meshfile, render
from stratos.sdk.cli import files
from stratos.sdk.file_names import ListedFile
from stratos.v1 import types_pb2

FILE_ID = "ab" * 16


def rendered(renderable) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


# -- sizes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4MiB", 4 << 20),
        ("512KiB", 512 << 10),
        ("10GB", 10 * 10**9),
        ("10GiB", 10 << 30),
        ("1234", 1234),
        ("7 b", 7),
        ("1.5MiB", 3 << 19),
        ("2mib", 2 << 20),
    ],
)
def test_sizes_accept_bytes_and_si_or_binary_units(text, expected):
    assert render.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "4XB", "-1", "0", "4 MiB extra", "0.1"])
def test_a_bad_size_is_one_sentence_naming_the_value(text):
    with pytest.raises(InvalidArgument) as exc:
        render.parse_size(text, what="segment size")
    assert "segment size" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_human_size_uses_binary_units():
    assert render.human_size(0) == "0 B"
    assert render.human_size(1023) == "1023 B"
    assert render.human_size(12 << 20) == "12.0 MiB"
    assert render.human_size(None) == "?"


# -- rendering ----------------------------------------------------------------------------------


def _summary(name: str = "video.mp4", **kw) -> ListedFile:
    base = dict(
        file_id=FILE_ID,
        size=9 << 20,
        replicas=3,
        segments=2,
        created_unix_ms=1_700_000_000_000,
        owner_public_key=b"\x01" * 32,
    )
    return ListedFile(types_pb2.FileSummary(**{**base, **kw}), name)


def _manifest() -> types_pb2.Manifest:
    return types_pb2.Manifest(
        file_id=FILE_ID,
        segment_size=4 << 20,
        replicas=3,
        segments=[
            types_pb2.Segment(
                index=0, chunk_id="c0" * 32, plain_size=4 << 20, node_ids=["storage-1", "gone"]
            ),
            types_pb2.Segment(index=1, chunk_id="c1" * 32, plain_size=1, node_ids=["storage-2"]),
        ],
    )


def _nodes() -> dict[str, types_pb2.NodeStatus]:
    return {
        "storage-1": types_pb2.NodeStatus(
            info=types_pb2.NodeInfo(node_id="storage-1"), state=types_pb2.NODE_STATE_LIVE
        ),
        "storage-2": types_pb2.NodeStatus(
            info=types_pb2.NodeInfo(node_id="storage-2"), state=types_pb2.NODE_STATE_SUSPECT
        ),
    }


def test_files_table_shows_id_name_human_size_replicas_and_creation_time():
    text = rendered(render.files_table([_summary()]))
    assert FILE_ID in text and "video.mp4" in text and "9.0 MiB" in text
    assert "2023-11-14 22:13" in text


def test_segments_table_shows_each_node_state_and_live_copies():
    text = rendered(render.segments_table(holdings.segment_views(_manifest(), None, _nodes())))
    assert "storage-1 LIVE" in text
    assert "gone UNKNOWN" in text
    assert "storage-2 SUSPECT" in text
    assert "1/3" in text and "0/3" in text


def test_stat_json_lists_every_segment_with_its_nodes():
    d = render.stat_dict(
        _summary(), _manifest(), holdings.segment_views(_manifest(), None, _nodes())
    )
    assert d["id"] == FILE_ID and d["size"] == 9 << 20 and d["segment_size"] == 4 << 20
    assert [s["nodes"] for s in d["segments"]] == [
        {"storage-1": "LIVE", "gone": "UNKNOWN"},
        {"storage-2": "SUSPECT"},
    ]
    json.dumps(d)  # serialisable


def test_mesh_table_shows_question_marks_when_the_index_cannot_be_asked():
    rows = [
        localmesh.StatusRow("index", "index", None, "127.0.0.1:1", False, False).to_dict(),
        localmesh.StatusRow("storage-1", "storage", 42, "127.0.0.1:2", True, True).to_dict(),
        localmesh.StatusRow(
            "storage-2", "storage", 43, "127.0.0.1:3", True, True, "LIVE", 1 << 30, 10 << 30, 7
        ).to_dict(),
    ]
    text = rendered(render.mesh_table(rows))
    assert "stopped" in text and "healthy" in text
    storage_1 = next(line for line in text.splitlines() if "storage-1" in line)
    assert storage_1.count("?") == 3  # state, usage and chunks unknown
    assert "1.0 GiB / 10.0 GiB 10%" in text and "7" in text


def test_mesh_table_shows_a_draining_node_and_its_repair_jobs():
    row = localmesh.StatusRow(
        "storage-3", "storage", 44, "127.0.0.1:4", True, True, "LIVE", 1 << 30, 10 << 30, 5
    )
    row.draining, row.repair_jobs = True, 3
    text = rendered(render.mesh_table([row.to_dict()]))
    line = next(line for line in text.splitlines() if "storage-3" in line)
    assert "LIVE draining +3 jobs" in " ".join(line.split())


def test_next_steps_panel_names_the_file_and_the_commands():
    text = rendered(render.next_steps_panel(FILE_ID))
    for cmd in (
        f"stratos get {FILE_ID}",
        f"stratos stat {FILE_ID}",
        "dev kill storage-2",
    ):
        assert cmd in text


# -- launcher planning (pure) -------------------------------------------------------------------


def _plan(existing, n, run_dir=Path("/r")):
    ports = iter(range(5000, 6000))
    return localmesh.plan_processes(
        run_dir,
        existing,
        storage_nodes=n,
        capacity_bytes=1 << 30,
        port=lambda: next(ports),
        python="/py",
        nats_binary=lambda: "/bin/nats-server",
    )


def test_plan_starts_nats_index_and_storage_nodes_spread_over_three_zones():
    recs = _plan([], 4)
    assert [r.name for r in recs] == ["nats", "index", *[f"storage-{i}" for i in range(1, 5)]]
    nats, index, s1, *_rest, s4 = recs
    assert nats.argv == ["/bin/nats-server", "-c", "/r/nats/nats.conf"]
    assert index.env == {
        "STRATOS_NATS_URL": f"nats://{nats.address}",
        "STRATOS_GRPC_ADDRESS": index.address,
    }
    assert s1.env["STRATOS_NODE_ID"] == "storage-1" and s1.env["STRATOS_DATA_DIR"] == "/r/storage-1"
    assert s1.env["STRATOS_ZONE"] == "zone-1" and s4.env["STRATOS_ZONE"] == "zone-1"
    assert recs[3].env["STRATOS_ZONE"] == "zone-2"
    assert s1.log == "/r/logs/storage-1.log"
    addresses = [r.address for r in recs] + [nats.monitor_address]
    assert len(set(addresses)) == len(addresses)


def test_plan_keeps_existing_processes_and_their_ports_and_never_removes_nodes():
    first = _plan([], 3)
    again = _plan(first, 2)
    assert again == first
    more = _plan(first, 5)
    assert more[:5] == first
    assert [r.name for r in more[5:]] == ["storage-4", "storage-5"]
    assert more[5].env["STRATOS_NATS_URL"] == f"nats://{first[0].address}"


def test_storage_fields_are_unknown_without_the_index():
    unknown = localmesh.storage_fields("storage-1", None)
    assert unknown["state"] is None and unknown["draining"] is None
    node = types_pb2.NodeStatus(
        info=types_pb2.NodeInfo(node_id="storage-1", used_bytes=5, capacity_bytes=9),
        state=types_pb2.NODE_STATE_LOST,
        chunk_count=2,
    )
    assert localmesh.storage_fields("storage-1", {"storage-1": node}) == {
        "state": "LOST",
        "used_bytes": 5,
        "capacity_bytes": 9,
        "chunks": 2,
        "draining": False,
    }


def test_dev_status_takes_draining_from_the_index_node_list():
    """ListNodes answers from the drains at once; the health summary only after the index's
    first repair round, so a drain must not vanish from `dev status` while it is missing."""
    node = types_pb2.NodeStatus(
        info=types_pb2.NodeInfo(node_id="storage-3"), state=types_pb2.NODE_STATE_LIVE, draining=True
    )
    fields = localmesh.storage_fields("storage-3", {"storage-3": node})
    assert fields["draining"] is True
    row = localmesh.StatusRow("storage-3", "storage", 1, "127.0.0.1:1", True, True)
    for k, v in fields.items():
        setattr(row, k, v)
    assert "LIVE draining" in rendered(render.mesh_table([row.to_dict()]))


def test_tail_reads_the_last_lines(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100_000)))
    assert localmesh.tail(log, 3) == ["line 99997", "line 99998", "line 99999"]
    assert localmesh.tail(tmp_path / "missing.log", 3) == []


# -- errors a user can cause without a mesh -----------------------------------------------------


def test_put_of_a_missing_file_is_one_sentence(home, capsys, tmp_path):
    code, _out, err = run_cli(capsys, "put", str(tmp_path / "nonexistent"))
    assert_one_sentence(code, err, "nonexistent", "does not exist")


def test_put_of_a_directory_is_one_sentence(home, capsys, tmp_path):
    code, _out, err = run_cli(capsys, "put", str(tmp_path))
    assert_one_sentence(code, err, "directory")


def test_put_with_a_bad_segment_size_is_one_sentence(home, capsys, tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(b"x")
    code, _out, err = run_cli(capsys, "put", str(src), "--segment-size", "lots")
    assert_one_sentence(code, err, "'lots' is not a size")


def sparse(path: Path, size: int) -> Path:
    path.write_bytes(b"")
    os.truncate(path, size)  # no blocks: a large file that costs nothing
    return path


@pytest.mark.parametrize(
    ("given", "shown"), [("1", "1 byte"), ("4KiB", "4 KiB"), ("128MiB", "128 MiB")]
)
def test_a_segment_size_out_of_bounds_is_refused_before_any_byte_moves(
    home, capsys, tmp_path, given, shown
):
    """`--segment-size 1` on a 50 MiB file ran for minutes with no output; now it is one
    sentence naming the bounds, with no mesh needed to say it."""
    src = sparse(tmp_path / "a.bin", 50 << 20)
    code, _out, err = run_cli(capsys, "put", str(src), "--segment-size", given)
    assert_one_sentence(
        code, err, f"the segment size must be between 64 KiB and 64 MiB, not {shown}"
    )


def test_more_segments_than_a_manifest_names_is_refused_naming_the_limit(home, capsys, tmp_path):
    src = sparse(tmp_path / "big.bin", 100 << 30)
    code, _out, err = run_cli(capsys, "put", str(src), "--segment-size", "64KiB")
    assert_one_sentence(
        code,
        err,
        "a 100 GiB file in 64 KiB segments needs 1638400 segments, but a manifest names at "
        "most 14816 segments with 3 copies (it is stored as one message of at most 4 MiB); "
        "use a segment size of at least 8 MiB",
    )
    huge = sparse(tmp_path / "huge.bin", 2 << 40)
    code, _out, err = run_cli(capsys, "put", str(huge), "--ec", "4+2", "--segment-size", "64MiB")
    assert_one_sentence(
        code, err, "a 2 TiB file is too large for one manifest", "with erasure code 4+2"
    )


def test_get_of_a_malformed_capability_fails_before_contacting_anything(home, capsys, tmp_path):
    code, _out, err = run_cli(capsys, "get", "not-a-cap", "-o", str(tmp_path / "x"))
    assert_one_sentence(code, err, "not a valid capability")
    assert not (tmp_path / "x").exists()


def test_get_of_an_id_missing_from_the_keyring_asks_for_the_capability(home, capsys, tmp_path):
    code, _out, err = run_cli(capsys, "get", FILE_ID, "-o", str(tmp_path / "x"))
    assert_one_sentence(code, err, f"no capability for {FILE_ID} in this keyring")


def test_stat_of_something_that_is_not_an_id(home, capsys):
    code, _out, err = run_cli(capsys, "stat", "zz")
    assert_one_sentence(code, err, "not a file ID")


@pytest.mark.parametrize("args", [["ls"], ["stat", FILE_ID], ["rm", FILE_ID], ["dev", "status"]])
def test_commands_without_a_mesh_say_how_to_start_one(home, capsys, args):
    code, _out, err = run_cli(capsys, *args)
    assert_one_sentence(code, err, "no mesh is running", "stratos dev up")


def test_a_stopped_local_mesh_counts_as_not_running(home, capsys):
    meshfile.save(home, _plan([], 1, home.run_dir))  # recorded, but no process alive
    code, _out, err = run_cli(capsys, "ls")
    assert_one_sentence(code, err, "no mesh is running", "stratos dev up")


def test_dev_kill_of_an_unknown_name_lists_the_valid_names(home, capsys):
    meshfile.save(home, _plan([], 2, home.run_dir))
    code, _out, err = run_cli(capsys, "dev", "kill", "storage-9")
    assert_one_sentence(code, err, "storage-9", "nats, index, storage-1, storage-2")


def test_unexpected_exceptions_are_one_line_without_traceback(home, capsys, monkeypatch):
    def boom(_home):
        raise RuntimeError("kaput")

    monkeypatch.setattr(localmesh, "status", boom)
    code, _out, err = run_cli(capsys, "dev", "status")
    assert_one_sentence(code, err, "internal error: RuntimeError: kaput", "STRATOS_DEBUG=1")


def test_bad_usage_is_a_usage_error_with_exit_2(home, capsys):
    code, _out, err = run_cli(capsys, "put")
    assert code == 2
    assert "Usage" in err and "Traceback" not in err
    code, _out, err = run_cli(capsys, "frobnicate")
    assert code == 2


def test_help_works_and_the_module_runs(home):
    proc = subprocess.run(
        [sys.executable, "-m", "stratos.sdk", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    for cmd in ("put", "get", "ls", "stat", "rm", "dev"):
        assert cmd in proc.stdout


def test_ls_help_says_it_lists_your_files_and_whom_names_show_to(home, capsys):
    code, out, _err = run_cli(capsys, "ls", "--help")
    text = " ".join(out.split())
    assert code == 0
    assert "List your files" in text and "--all lists every owner's" in text
    assert "the index, and anyone who runs 'stratos ls --all'" in text
    assert "sees IDs, sizes, dates and owner keys" in text and '"(encrypted)"' in text


def test_the_console_script_prints_one_error_line(home, tmp_path):
    script = Path(sys.executable).parent / "stratos"
    assert script.exists(), "the stratos console script is missing: run 'make install'"
    proc = subprocess.run(
        [str(script), "put", str(tmp_path / "nonexistent")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "STRATOS_HOME": str(home.root)},
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_keyring_errors_are_stratos_errors(home):
    with pytest.raises(NotFound):
        files.capability_of(home, FILE_ID)
    home.remember(FILE_ID, "stratos://cap")
    assert files.capability_of(home, FILE_ID) == "stratos://cap"


def test_ctrl_c_exits_130_without_traceback(home, capsys, monkeypatch):
    def interrupted(_home):
        raise KeyboardInterrupt

    monkeypatch.setattr(localmesh, "status", interrupted)
    code, _out, err = run_cli(capsys, "dev", "status")
    assert code == 130 and "Traceback" not in err


def test_stratos_debug_shows_the_traceback(home, capsys, monkeypatch):
    monkeypatch.setenv("STRATOS_DEBUG", "1")
    code, _out, err = run_cli(capsys, "stat", "zz")
    assert code == 1 and "Traceback" in err and err.strip().endswith("or a stratos:// capability")


def test_a_reused_pid_is_not_taken_for_the_recorded_process():
    import psutil

    me = psutil.Process()
    rec = _plan([], 1)[0]
    rec.pid, rec.create_time = me.pid, me.create_time()
    assert localmesh.is_running(rec)
    rec.create_time -= 3600  # same pid, but a process that started an hour earlier
    assert not localmesh.is_running(rec)
