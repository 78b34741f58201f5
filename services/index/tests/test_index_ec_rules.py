"""Erasure-coded manifests at the index: what it accepts (k + m shares per segment, one size that
holds the segment, every share on its own node, replicas 1) and the sentence for each refusal;
and the placement an erasure-coded writer relies on (one ranking, k + m distinct nodes)."""

from __future__ import annotations

import pytest
from index_support import SEGMENT, build_manifest, new_file_id, sign

from stratos.common.erasure import share_size
from stratos.common.errors import FailedPrecondition, InvalidArgument
from stratos.common.hashing import chunk_id
from stratos.common.identity import Identity
from stratos.index.manifest_rules import validate_manifest, verify_signed
from stratos.index.planning import place_chunks
from stratos.index.registry import Candidate
from stratos.v1 import types_pb2

OWNER = Identity.generate()
MIB = 1 << 20


def ec_manifest(k: int = 4, m: int = 2, size: int = 3 * SEGMENT - 100) -> types_pb2.Manifest:
    """A valid k+m manifest: every segment's shares on nodes n0 … n(k+m-1)."""
    man = build_manifest(new_file_id(), size=size, replicas=1)
    man.erasure.data_shares, man.erasure.parity_shares = k, m
    for seg in man.segments:
        seg.chunk_id = ""
        del seg.node_ids[:]
        for i in range(k + m):
            seg.shares.add(
                index=i,
                chunk_id=chunk_id(f"{man.file_id}/{seg.index}/{i}".encode()),
                size=share_size(seg.stored_size, k),
                node_ids=[f"n{i}"],
            )
    return man


def test_a_signed_erasure_coded_manifest_is_accepted() -> None:
    man = ec_manifest()
    assert verify_signed(sign(OWNER, man)) == man


def test_an_empty_erasure_coded_file_is_accepted() -> None:
    validate_manifest(ec_manifest(size=0))


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda m: setattr(m.erasure, "parity_shares", 0), "erasure code 4\\+0 is invalid"),
        (lambda m: setattr(m.erasure, "data_shares", 31), "erasure code 31\\+2 is invalid"),
        (lambda m: setattr(m, "replicas", 3), "must set replicas to 1"),
        (lambda m: m.segments[0].shares.pop(), "has 5 shares; the 4\\+2 code needs 6"),
        (lambda m: setattr(m.segments[0].shares[2], "index", 3), "numbered 0..5 in order"),
        (lambda m: setattr(m.segments[1].shares[0], "chunk_id", "xyz"), "share 0 of segment 1"),
        (lambda m: setattr(m.segments[0].shares[4], "size", 1), "make 16388-byte shares"),
        (lambda m: m.segments[0].shares[5].ClearField("node_ids"), "names no storage node"),
        (lambda m: m.segments[0].shares[5].node_ids.append("n0"), "two of its shares on 'n0'"),
        (lambda m: m.segments[0].shares[1].node_ids.__setitem__(0, "n0"), "two of its shares"),
        (lambda m: setattr(m.segments[2], "chunk_id", "ab" * 32), "leave chunk_id"),
        (lambda m: m.segments[2].node_ids.append("n9"), "leave chunk_id and node_ids empty"),
        (lambda m: setattr(m.segments[0], "stored_size", 5000), "plain_size \\+ 16"),
    ],
)
def test_a_malformed_erasure_coded_manifest_is_refused_with_one_sentence(breakage, message) -> None:
    man = ec_manifest()
    breakage(man)
    with pytest.raises(InvalidArgument, match=message) as info:
        validate_manifest(man)
    assert "\n" not in info.value.message


def test_shares_in_a_replicated_manifest_are_refused() -> None:
    man = build_manifest(new_file_id(), size=100)
    man.segments[0].shares.add(index=0, chunk_id="ab" * 32, size=58, node_ids=["n1"])
    with pytest.raises(InvalidArgument, match="sets no erasure code"):
        validate_manifest(man)


def nodes(n: int, zones: int) -> list[Candidate]:
    return [Candidate(f"n{i}", f"h:{i}", f"z{i % zones}", 100 * MIB) for i in range(n)]


def test_placing_the_first_share_for_k_plus_m_gives_distinct_nodes_over_every_zone() -> None:
    """What an erasure-coded writer does: one placement of k + m targets, share i on target i."""
    share = chunk_id(b"first share")
    [(cid, targets)] = place_chunks([(share, 1000)], nodes(8, 3), 6, 16, extra=2)
    assert cid == share and len(targets) == 8
    ids = [t.node_id for t in targets]
    assert len(set(ids)) == 8  # six targets then two fallbacks, all different
    assert {t.zone for t in targets[:3]} == {"z0", "z1", "z2"}  # zones spread first


def test_too_few_nodes_for_k_plus_m_shares_is_refused() -> None:
    with pytest.raises(FailedPrecondition, match="6 replicas need at least 6"):
        place_chunks([(chunk_id(b"s"), 10)], nodes(5, 3), 6, 16)
