"""The client's side of erasure coding without a mesh: which nodes a reader asks for a share
(current locations first), in which order shares are read, which manifests a reader trusts,
how `stratos ls` / `stat` show the code, the one sentence for a bad `--ec`, and how a put
replaces a node that fails (fake index and nodes)."""

from __future__ import annotations

import pytest
from devharness import assert_one_sentence, run_cli
from rich.console import Console

from stratos.common.erasure import encode, share_size
from stratos.common.errors import DataLoss, FailedPrecondition, Unavailable
from stratos.common.hashing import chunk_id
from stratos.common.identity import Identity
from stratos.common.testing_tls import channel_credentials
from stratos.sdk import ec_layout, holdings, render, transfer
from stratos.sdk.ec_transfer import EcUpload
from stratos.sdk.file_names import ListedFile
from stratos.sdk.manifest import SegmentSpan, build_manifest, sign_manifest, verify_manifest
from stratos.sdk.ticketbook import TicketBook
from stratos.v1 import index_pb2, types_pb2

FILE_ID = "ab" * 16
OWNER = Identity.generate()


def ec_file(k: int = 2, m: int = 1, size: int = 100, segment_size: int = 64) -> types_pb2.Manifest:
    man = build_manifest(
        file_id=FILE_ID,
        name="f",
        key=bytes(32),
        size=size,
        segment_size=segment_size,
        replicas=1,
        segments=[],
    )
    man.erasure.data_shares, man.erasure.parity_shares = k, m
    for index, offset in enumerate(range(0, size, segment_size)):
        plain = min(segment_size, size - offset)
        shares = encode(bytes(plain + 16), k, m)
        man.segments.append(
            ec_layout.ec_segment(
                index,
                plain,
                [chunk_id(s) for s in shares],
                [f"storage-{i}" for i in range(k + m)],
                len(shares[0]),
            )
        )
    return man


def test_an_ec_segment_record_names_one_node_per_share_and_no_chunk_of_its_own():
    seg = ec_file().segments[0]
    assert seg.chunk_id == "" and not seg.node_ids and seg.stored_size == 80
    assert [(s.index, list(s.node_ids)) for s in seg.shares] == [
        (0, ["storage-0"]),
        (1, ["storage-1"]),
        (2, ["storage-2"]),
    ]
    assert {s.size for s in seg.shares} == {share_size(80, 2)}


def test_current_locations_override_the_manifest_and_live_nodes_come_first():
    resp = index_pb2.GetManifestResponse(
        locations=types_pb2.FileLocations(
            file_id=FILE_ID,
            chunks=[types_pb2.ChunkLocation(chunk_id="c1", node_ids=["new-a", "new-b"])],
        )
    )
    locations = ec_layout.current_locations(resp)
    assert locations == {"c1": ["new-a", "new-b"]}
    assert ec_layout.holders("c1", ["old"], locations, live={"new-b"}) == ["new-b", "new-a"]
    assert ec_layout.holders("c2", ["x", "y", "x"], locations, live={"y"}) == ["y", "x"]


def test_reads_prefer_data_shares_on_live_nodes_then_parity():
    seg = ec_file(k=2, m=2).segments[0]
    live = {"storage-1", "storage-2", "storage-3"}  # storage-0 (share 0) is down
    order = [s.index for s, _ in ec_layout.read_order(seg, 2, {}, live)]
    assert order == [1, 2, 3, 0]
    moved = {seg.shares[0].chunk_id: ["storage-9"]}  # share 0 was repaired onto a live node
    order = [s.index for s, _ in ec_layout.read_order(seg, 2, moved, live | {"storage-9"})]
    assert order == [0, 1, 2, 3]


def test_a_reader_trusts_a_signed_ec_manifest_and_refuses_a_broken_one():
    man = ec_file(size=150)
    assert verify_manifest(sign_manifest(man, OWNER), FILE_ID) == man
    man.segments[1].shares.pop()
    with pytest.raises(DataLoss, match="segment 1 has 2 shares, not 3"):
        verify_manifest(sign_manifest(man, OWNER), FILE_ID)


def test_a_reader_still_trusts_a_replicated_manifest():
    man = build_manifest(
        file_id=FILE_ID,
        name="f",
        key=bytes(32),
        size=0,
        segment_size=64,
        replicas=2,
        segments=[],
    )
    assert verify_manifest(sign_manifest(man, OWNER), FILE_ID) == man
    assert ec_layout.code_of(man) is None


def text_of(renderable) -> str:
    console = Console(width=200, record=True)
    console.print(renderable)
    return console.export_text()


def test_ls_and_stat_show_the_code_where_they_show_replicas():
    code = types_pb2.ErasureCode(data_shares=4, parity_shares=2)
    summary = ListedFile(types_pb2.FileSummary(file_id=FILE_ID, replicas=1, erasure=code), "f")
    assert render.file_summary_dict(summary)["erasure"] == "ec 4+2"
    assert "ec 4+2" in text_of(render.files_table([summary]))
    plain = ListedFile(types_pb2.FileSummary(file_id=FILE_ID, replicas=3), "f")
    assert render.file_summary_dict(plain)["erasure"] is None
    man = ec_file(k=4, m=2)
    assert "ec 4+2 (any 4 of 6 shares" in text_of(render.stat_summary(summary, man))


def test_stat_counts_live_shares_per_segment():
    man = ec_file(k=2, m=1)
    nodes = {
        "storage-0": types_pb2.NodeStatus(state=types_pb2.NODE_STATE_LIVE),
        "storage-1": types_pb2.NodeStatus(state=types_pb2.NODE_STATE_LOST),
        "storage-2": types_pb2.NodeStatus(state=types_pb2.NODE_STATE_LIVE),
    }
    segments = holdings.segment_views(man, None, nodes)
    text = text_of(render.segments_table(segments))
    assert "2/3" in text and "1:storage-1 LOST" in text and "3 shares" in text
    d = render.stat_dict(
        ListedFile(types_pb2.FileSummary(file_id=FILE_ID, replicas=1)), man, segments
    )
    assert d["segments"][0]["shares"][1] == {
        "index": 1,
        "chunk_id": man.segments[0].shares[1].chunk_id,
        "size": man.segments[0].shares[1].size,
        "nodes": {"storage-1": "LOST"},
    }


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--ec", "4"], "'4' is not an erasure code"),
        (["--ec", "4+0"], "at least 1 parity share"),
        (["--ec", "30+5"], "at most 32 shares"),
        (["--ec", "4+2", "--replicas", "2"], "--ec and --replicas cannot be used together"),
        (["--ec", "4+2", "-r", "1"], "--ec and --replicas cannot be used together; choose one"),
    ],
)
def test_a_bad_ec_option_is_one_sentence_before_contacting_anything(
    home, capsys, tmp_path, args, fragment
):
    src = tmp_path / "f"
    src.write_bytes(b"data")
    code, _out, err = run_cli(capsys, "put", str(src), *args)
    assert_one_sentence(code, err, fragment)


class FakeMesh:
    """PlaceChunks and PutChunk stand-ins: a fixed ranking, and nodes that refuse writes."""

    def __init__(self, ranking: list[str], broken: set[str]) -> None:
        self.ranking, self.broken = ranking, broken
        self.stored: dict[str, list[str]] = {}
        self.placements: list[tuple[int, list[str]]] = []

    async def place(self, chunks, size, count, exclude):
        skip = set(exclude)
        self.placements.append((count, sorted(skip)))
        nodes = [n for n in self.ranking if n not in skip][: count + 2]
        if len(nodes) < count:
            raise FailedPrecondition(f"only {len(nodes)} nodes; {count} replicas need {count}")
        targets = [index_pb2.NodeAddress(node_id=n, address=n) for n in nodes]
        return targets, TicketBook(Identity.generate())  # no tickets: a mesh without them

    async def put_chunk(self, channels, address, chunk, data, *, node_id, bearer):
        if address in self.broken:
            raise Unavailable(f"cannot reach {address}")
        self.stored.setdefault(address, []).append(chunk)


def upload_with(fake: FakeMesh, monkeypatch, k: int = 2, m: int = 1) -> EcUpload:
    monkeypatch.setattr(transfer, "put_chunk", fake.put_chunk)
    return EcUpload(
        channels=transfer.Channels(channel_credentials()),
        place=fake.place,
        read=lambda span: ("", bytes(range(span.length % 256)) * 3),
        k=k,
        m=m,
    )


async def test_a_failing_node_is_replaced_by_a_fallback_never_by_a_share_holder(monkeypatch):
    fake = FakeMesh(["a", "b", "c", "d", "e"], broken={"b"})
    up = upload_with(fake, monkeypatch)
    await up.segment(SegmentSpan(0, 0, 100))
    [seg] = up.records
    assert [list(s.node_ids) for s in seg.shares] == [["a"], ["d"], ["c"]]
    assert fake.placements == [(3, [])] and "b" in up.failed


async def test_when_fallbacks_run_out_the_index_is_asked_again_without_holders(monkeypatch):
    fake = FakeMesh(["a", "b", "c", "d", "e", "f"], broken={"b", "d", "e"})
    up = upload_with(fake, monkeypatch)
    await up.segment(SegmentSpan(0, 0, 100))
    assert [list(s.node_ids) for s in up.records[0].shares] == [["a"], ["f"], ["c"]]
    assert fake.placements == [(3, []), (1, ["a", "b", "c", "d", "e"])]


async def test_too_few_working_nodes_is_one_sentence_naming_the_last_failure(monkeypatch):
    fake = FakeMesh(["a", "b", "c", "d"], broken={"b", "d"})
    up = upload_with(fake, monkeypatch)
    with pytest.raises(Unavailable) as info:
        await up.segment(SegmentSpan(4, 0, 100))
    assert info.value.message.startswith("could only store 2 of the 3 shares of segment 4")


async def test_an_index_refusal_names_the_code(monkeypatch):
    fake = FakeMesh(["a", "b"], broken=set())
    up = upload_with(fake, monkeypatch, k=2, m=2)
    with pytest.raises(FailedPrecondition, match="the 4 shares of erasure code 2\\+2 cannot be"):
        await up.segment(SegmentSpan(0, 0, 10))
    assert fake.stored == {}


def test_a_compute_worker_reads_from_its_own_node_first_when_it_is_live():
    from stratos.sdk.ec_layout import holders, read_order
    from stratos.v1 import types_pb2

    written = ["s1", "s2", "s3"]
    assert holders("c", written, {}, {"s1", "s2", "s3"}, prefer="s3") == ["s3", "s1", "s2"]
    # a preferred node that is not live is not asked first
    assert holders("c", written, {}, {"s1", "s2"}, prefer="s3") == ["s1", "s2", "s3"]
    assert holders("c", written, {}, {"s1", "s2", "s3"}) == written  # no preference, as before
    seg = types_pb2.Segment(
        shares=[
            types_pb2.Share(index=i, chunk_id=f"c{i}", node_ids=[f"s{i}"]) for i in range(6)
        ]
    )
    live = {f"s{i}" for i in range(6)}
    order = [s.index for s, _ in read_order(seg, 4, {}, live, prefer="s5")]
    assert order[0] == 5 and order[1:] == [0, 1, 2, 3, 4]  # its own parity share first
