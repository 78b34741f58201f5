"""The catalog's indexes, kept one change at a time, always equal what a from-scratch reading
of every file gives: random histories of commits, replacements, deletes and location changes
over files that share chunks, checked after every step."""

from __future__ import annotations

import random

import pytest
from plan_support import cid

from stratos.common.identity import Identity
from stratos.index.catalog_state import CatalogState
from stratos.index.drain_rules import node_loads
from stratos.index.pieces import holders, union_holders
from stratos.v1 import types_pb2

NODES = [f"n{i}" for i in range(6)]
CHUNKS = [cid(f"c{i}") for i in range(12)]  # few chunks, so files share them often
SIZE = {c: 40 + i for i, c in enumerate(CHUNKS)}  # a chunk ID is its bytes: one size
OWNERS = [Identity.generate().public_bytes for _ in range(3)]


def fid(i: int) -> str:
    return f"{i:032x}"


def signed(file_id: str, rng: random.Random, owner: bytes, expires: int = 0) -> bytes:
    segments = []
    for index in range(rng.randint(1, 3)):
        if rng.random() < 0.3:  # a coded segment, 2+1
            shares = [
                types_pb2.Share(index=i, chunk_id=(c := rng.choice(CHUNKS)), size=SIZE[c])
                for i in range(3)
            ]
            for share, n in zip(shares, rng.sample(NODES, 3), strict=True):
                share.node_ids.append(n)
            segments.append(
                types_pb2.Segment(index=index, plain_size=90, stored_size=150, shares=shares)
            )
        else:
            segments.append(
                types_pb2.Segment(
                    index=index,
                    plain_size=90,
                    stored_size=SIZE[c := rng.choice(CHUNKS)],
                    chunk_id=c,
                    node_ids=rng.sample(NODES, 2),
                )
            )
    m = types_pb2.Manifest(
        file_id=file_id, size=90, replicas=2, segments=segments, expires_unix_ms=expires
    )
    return types_pb2.SignedManifest(
        manifest=m.SerializeToString(), owner_public_key=owner
    ).SerializeToString()


def moved(state: CatalogState, file_id: str, rng: random.Random) -> bytes:
    m = state.manifests[file_id]
    chunks = sorted(holders(m, None))
    return types_pb2.FileLocations(
        file_id=file_id,
        chunks=[
            types_pb2.ChunkLocation(chunk_id=c, node_ids=rng.sample(NODES, rng.randint(0, 3)))
            for c in rng.sample(chunks, rng.randint(1, len(chunks)))
        ],
    ).SerializeToString()


def check(state: CatalogState) -> None:
    views = state.views(state.manifests)
    union = union_holders((v.manifest, v.locations) for v in views)
    for c in CHUNKS:
        assert state.holders_of(c) == frozenset(union.get(c, ()))
        assert state.is_named(c) == (c in union)
    assert state.loads() == dict(sorted(node_loads(views).items()))
    for n in NODES:
        on = {
            v.manifest.file_id
            for v in views
            for c in holders(v.manifest, v.locations)
            if n in union.get(c, ())
        }
        assert state.files_on(n) == on
    everyone = sorted(state.manifests)
    assert state.page("", 1000) == everyone
    for owner in OWNERS:
        assert state.page("", 1000, owner) == [f for f in everyone if state.owners[f] == owner]
    assert state.stray_locations() == sorted(state.locations.keys() - state.manifests.keys())


@pytest.mark.parametrize("seed", range(8))
def test_indexes_kept_one_change_at_a_time_equal_a_reading_from_scratch(seed: int) -> None:
    rng = random.Random(seed)
    state = CatalogState()
    heard: list[str] = []
    state.listen(heard.append)
    for step in range(150):
        f = fid(rng.randrange(15))
        roll = rng.random()
        if roll < 0.45:
            state.put_manifest(f, signed(f, rng, rng.choice(OWNERS)))
        elif roll < 0.6:
            state.put_manifest(f, None)
        elif roll < 0.9 and f in state.manifests:
            state.put_locations(f, moved(state, f, rng))
        else:
            state.put_locations(f, None)
        assert heard[-1] == f, step  # every change is told, with the file it is about
        check(state)


def test_closure_reaches_every_file_joined_by_shared_chunks_and_no_other() -> None:
    state = CatalogState()
    rng = random.Random(3)
    owner = OWNERS[0]

    def put(file_id: str, chunk: str) -> None:
        m = types_pb2.Manifest(
            file_id=file_id,
            replicas=1,
            segments=[
                types_pb2.Segment(index=0, stored_size=10, chunk_id=chunk, node_ids=["n0"]),
                types_pb2.Segment(index=1, stored_size=10, chunk_id=cid(file_id), node_ids=["n1"]),
            ],
        )
        s = types_pb2.SignedManifest(manifest=m.SerializeToString(), owner_public_key=owner)
        state.put_manifest(file_id, s.SerializeToString())

    put(fid(1), cid("a"))
    put(fid(2), cid("a"))  # shares a with 1
    put(fid(3), cid(fid(2)))  # shares 2's own chunk: joined to 1 through 2
    put(fid(4), cid("b"))
    del rng
    assert state.closure([fid(1)]) == {fid(1), fid(2), fid(3)}
    assert state.closure([fid(4)]) == {fid(4)}
    assert state.closure([fid(9)]) == {fid(9)}  # unknown: itself, which views() then drops
    assert state.views(state.closure([fid(9)])) == []


def test_due_names_each_expired_file_until_it_is_removed_and_forgets_replaced_expiries() -> None:
    state = CatalogState()
    rng = random.Random(1)
    state.put_manifest(fid(1), signed(fid(1), rng, OWNERS[0], expires=1_000))
    state.put_manifest(fid(2), signed(fid(2), rng, OWNERS[0], expires=5_000))
    state.put_manifest(fid(3), signed(fid(3), rng, OWNERS[0]))
    assert state.due(999) == []
    assert state.due(1_000) == [fid(1)]
    assert state.due(1_000) == [fid(1)]  # still due: the sweep may not have removed it yet
    state.put_manifest(fid(1), signed(fid(1), rng, OWNERS[0], expires=9_000))  # extended
    assert state.due(6_000) == [fid(2)]
    state.put_manifest(fid(2), None)
    assert state.due(10_000) == [fid(1)]


def test_an_unreadable_manifest_is_named_once_and_keeps_its_locations() -> None:
    state = CatalogState()
    rng = random.Random(2)
    state.put_manifest(fid(1), signed(fid(1), rng, OWNERS[0]))
    state.put_locations(fid(1), moved(state, fid(1), rng))
    assert state.put_manifest(fid(1), b"\xff\x00 not a manifest") is False
    assert fid(1) in state.unreadable and fid(1) not in state.manifests
    assert state.stray_locations() == []  # damaged, not deleted: its locations stay
    state.put_manifest(fid(1), None)
    assert state.stray_locations() == [fid(1)]


def test_random_chunks_are_distinct_chunks_of_the_node() -> None:
    state = CatalogState()
    rng = random.Random(4)
    for i in range(10):
        state.put_manifest(fid(i), signed(fid(i), rng, OWNERS[0]))
    for n in NODES:
        on = {c for c in CHUNKS if n in state.holders_of(c)}
        got = state.random_chunks(n, 3, rng)
        assert got <= on and len(got) == min(3, len(on))
    assert state.random_chunks("nobody", 3, rng) == set()
