"""`stratos put --ttl DURATION`: the duration is parsed with one clear sentence for a bad value,
the client sets `expires_unix_ms`, `ls`/`stat` show it, and against a real mesh the expired
file vanishes from listings and its chunks from the storage nodes' disks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from devharness import assert_one_sentence, run_cli
from rich.console import Console
from test_client import running_mesh

from stratos.common.errors import InvalidArgument, NotFound
from stratos.common.identity import Identity
from stratos.common.procs import wait_until
from stratos.common.testing_tls import channel_credentials
from stratos.sdk import render
from stratos.sdk.client import MeshClient
from stratos.sdk.file_names import ListedFile
from stratos.v1 import types_pb2

FILE_ID = "ab" * 16


def text_of(renderable) -> str:
    console = Console(width=200, record=True)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("1h", 3600), ("7d", 7 * 86400), ("2w", 14 * 86400), (" 5 m", 300)],
)
def test_durations_are_whole_numbers_with_a_unit(text: str, seconds: int) -> None:
    assert render.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "1.5h", "h", "-1h", "1y", "10 minutes", "0s", "999999w"])
def test_a_bad_duration_is_one_sentence(text: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        render.parse_duration(text, what="--ttl")
    assert str(err.value).startswith(f"--ttl {text!r} ")
    assert "\n" not in str(err.value)


def test_put_with_a_bad_ttl_is_one_error_line_before_anything_else(home, capsys, tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(b"x")
    code, _out, err = run_cli(capsys, "put", str(src), "--ttl", "soon")
    assert_one_sentence(code, err, "--ttl 'soon' is not a duration", "30s, 10m, 1h or 7d")


async def test_the_client_refuses_a_ttl_that_is_not_positive(tmp_path: Path) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(b"x")
    async with MeshClient(
        ["127.0.0.1:1"], Identity.generate(), credentials=channel_credentials()
    ) as client:
        with pytest.raises(InvalidArgument, match="more than 0 s"):
            await client.put(src, ttl_s=0)


def test_ls_shows_an_expiry_column_only_when_some_file_expires() -> None:
    never = ListedFile(types_pb2.FileSummary(file_id=FILE_ID, created_unix_ms=1_700_000_000_000))
    assert "expires" not in text_of(render.files_table([never]))
    soon = ListedFile(
        types_pb2.FileSummary(
            file_id="cd" * 16,
            created_unix_ms=1_700_000_000_000,
            expires_unix_ms=1_700_003_600_000,
        ),
        "b",
    )
    text = text_of(render.files_table([never, soon]))
    assert "expires (UTC)" in text
    assert "2023-11-14 23:13" in text and "never" in text


def test_stat_shows_the_expiry() -> None:
    summary = ListedFile(
        types_pb2.FileSummary(
            file_id=FILE_ID, created_unix_ms=1, expires_unix_ms=1_700_003_600_000
        ),
        "a",
    )
    text = text_of(render.stat_summary(summary, types_pb2.Manifest(segment_size=4096)))
    assert "expires" in text and "2023-11-14 23:13:20 UTC" in text
    assert render.file_summary_dict(summary)["expires_unix_ms"] == 1_700_003_600_000


@pytest.mark.integration
async def test_a_file_put_with_a_ttl_expires_and_its_chunks_are_collected(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("STRATOS_EXPIRY_INTERVAL_S", "0.5")
    with running_mesh(3) as mesh:
        src = tmp_path / "short-lived.bin"
        src.write_bytes(os.urandom(150_000))
        async with MeshClient(
            [mesh.index_address], Identity.generate(), credentials=channel_credentials()
        ) as client:
            before = time.time_ns() // 1_000_000
            put = await client.put(src, replicas=2, segment_size=64 * 1024, ttl_s=4)
            keep = await client.put(src, replicas=2, segment_size=64 * 1024)
            assert before + 4000 <= put.expires_unix_ms <= time.time_ns() // 1_000_000 + 4000
            assert keep.expires_unix_ms == 0
            st = await client.stat(put.file_id)
            assert st.summary.expires_unix_ms == put.expires_unix_ms
            chunks = [s.chunk_id for s in st.manifest.segments]
            assert len(chunks) == 3
            listed = {f.file_id: f for f in await client.list_files()}
            assert listed[put.file_id].summary.expires_unix_ms == put.expires_unix_ms

            def on_disk() -> set[str]:
                return {
                    cid
                    for node in mesh.nodes.values()
                    for cid in chunks
                    if (node.data_dir / "chunks" / cid[:2] / cid).is_file()
                }

            assert on_disk() == set(chunks)
            wait_until(lambda: not on_disk(), timeout_s=30, what="the expired file's chunks gone")
            assert [f.file_id for f in await client.list_files()] == [keep.file_id]
            with pytest.raises(NotFound):
                await client.stat(put.file_id)
