"""The index against a real nats-server, called over gRPC on loopback the way the SDK calls it."""

from __future__ import annotations

import asyncio

import grpc
import index_support
import pytest
from index_support import (
    GIB,
    SEGMENT,
    beating,
    build_manifest,
    delete_request,
    heartbeat,
    new_file_id,
    publish_heartbeat,
    running_index,
    sign,
    signed_heartbeat,
)

from stratos.common import natsutil
from stratos.common.identity import Identity
from stratos.common.procs import async_wait_until
from stratos.index.manifests import now_ms
from stratos.v1 import events_pb2, index_pb2, types_pb2

LIST = index_pb2.ListNodesRequest()

pytestmark = pytest.mark.integration


async def node_ids(stub, state=types_pb2.NODE_STATE_LIVE) -> set[str]:
    resp = await stub.ListNodes(index_pb2.ListNodesRequest())
    return {n.info.node_id for n in resp.nodes if n.state == state}


async def wait_for_nodes(stub, expected: set[str], timeout_s: float = 10) -> None:
    async def seen() -> bool:
        return expected <= await node_ids(stub)

    await async_wait_until(seen, timeout_s=timeout_s, interval_s=0.05, what=f"nodes {expected}")


async def rpc_error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def test_heartbeats_make_nodes_appear_with_their_state(nats) -> None:
    async with (
        running_index(nats.url) as idx,
        beating(idx.nc, heartbeat("n1", zone="a", chunk_count=7)),
    ):
        await publish_heartbeat(idx.nc, heartbeat("old", sent_unix_ms=now_ms() - 60_000))
        await wait_for_nodes(idx.stub, {"n1"})
        resp = await idx.stub.ListNodes(index_pb2.ListNodesRequest())
        by_id = {n.info.node_id: n for n in resp.nodes}
        assert by_id["n1"].info.zone == "a" and by_id["n1"].chunk_count == 7
        await async_wait_until(
            lambda: node_ids(idx.stub, types_pb2.NODE_STATE_LOST), what="the lost node"
        )


async def test_plan_write_and_place_chunks(nats) -> None:
    async with (
        running_index(nats.url, segment_size_bytes=1 << 20) as idx,
        beating(idx.nc, *(heartbeat(f"n{i}", zone=zone) for i, zone in enumerate("ab"))),
    ):
        await wait_for_nodes(idx.stub, {"n0", "n1"})

        err = await rpc_error(idx.stub.PlanWrite(index_pb2.PlanWriteRequest(replicas=3, size=10)))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert err.details() == "only 2 storage nodes are live; 3 replicas need at least 3"

        # A third node that is full: live, but never a target for a chunk it cannot hold.
        async with beating(idx.nc, heartbeat("full", zone="c", capacity=GIB, used=GIB)):
            await wait_for_nodes(idx.stub, {"full"})
            plan = await idx.stub.PlanWrite(index_pb2.PlanWriteRequest(replicas=2, size=10))
            assert (plan.live_nodes, plan.segment_size) == (3, 1 << 20)

            chunks = [index_pb2.ChunkToPlace(chunk_id=f"{i:064x}", size=1000) for i in range(50)]
            resp = await idx.stub.PlaceChunks(
                index_pb2.PlaceChunksRequest(chunks=chunks, replicas=2, extra=1)
            )
            assert [p.chunk_id for p in resp.placements] == [c.chunk_id for c in chunks]
            for p in resp.placements:
                assert {t.node_id for t in p.targets} == {"n0", "n1"}
                assert all(t.address.startswith("127.0.0.1:") for t in p.targets)

            err = await rpc_error(
                idx.stub.PlaceChunks(
                    index_pb2.PlaceChunksRequest(
                        chunks=chunks[:1], replicas=2, exclude_node_ids=["n0"]
                    )
                )
            )
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "of 3 live storage nodes" in err.details()

            # A small file plans and places in one call: the plan's refusal, word for word.
            small = index_pb2.PlaceChunksRequest(chunks=chunks[:1], replicas=3, file_size=10)
            err = await rpc_error(idx.stub.PlaceChunks(small))
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert err.details() == (
                "only 2 of 3 live storage nodes have room for a 26-byte chunk; "
                "3 replicas need at least 3"
            )
            small.replicas = 2
            placed = await idx.stub.PlaceChunks(small)
            targets = placed.placements[0].targets
            assert {t.node_id for t in targets} == {"n0", "n1"}
            assert {t.state for t in targets} == {types_pb2.NODE_STATE_LIVE}


async def test_commit_get_list_delete_round_trip(nats) -> None:
    owner, stranger = Identity.generate(), Identity.generate()
    async with running_index(nats.url) as idx, beating(idx.nc, heartbeat("n1"), heartbeat("n2")):
        await wait_for_nodes(idx.stub, {"n1", "n2"})
        events = await idx.nc.subscribe("stratos.file.*")

        fid = new_file_id()
        signed = sign(owner, build_manifest(fid, name="photo.jpg", size=2 * SEGMENT + 9))
        resp = await idx.stub.CommitManifest(index_pb2.CommitManifestRequest(signed=signed))
        assert (resp.summary.file_id, resp.summary.segments) == (fid, 3)
        assert resp.summary.metadata == types_pb2.Manifest.FromString(signed.manifest).metadata
        assert resp.summary.owner_public_key == owner.public_bytes
        event = events_pb2.FileEvent.FromString((await events.next_msg(timeout=5)).data)
        assert event.file_id == fid and event.summary.size == 2 * SEGMENT + 9

        # Committing the same bytes again is harmless.
        again = await idx.stub.CommitManifest(index_pb2.CommitManifestRequest(signed=signed))
        assert again.summary == resp.summary
        await events.next_msg(timeout=5)

        got = await idx.stub.GetManifest(index_pb2.GetManifestRequest(file_id=fid))
        assert got.signed == signed
        assert {n.node_id for n in got.nodes} == {"n1", "n2"}
        # with each node's state, so a reader needs no ListNodes to try live holders first
        assert {n.state for n in got.nodes} == {types_pb2.NODE_STATE_LIVE}

        listed = await idx.stub.ListFiles(index_pb2.ListFilesRequest())
        assert [f.file_id for f in listed.files] == [fid]

        # Another owner cannot take the file ID over, nor delete the file.
        theirs = sign(stranger, build_manifest(fid, name="mine-now.jpg"))
        err = await rpc_error(
            idx.stub.CommitManifest(index_pb2.CommitManifestRequest(signed=theirs))
        )
        assert err.code() == grpc.StatusCode.ALREADY_EXISTS
        err = await rpc_error(idx.stub.DeleteFile(delete_request(stranger, fid)))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
        assert err.details() == f"only the owner can delete file {fid}"
        stale = delete_request(owner, fid, unix_ms=now_ms() - 10 * 60_000)
        err = await rpc_error(idx.stub.DeleteFile(stale))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED

        deleted = await idx.stub.DeleteFile(delete_request(owner, fid))
        assert deleted.deleted
        event = await events.next_msg(timeout=5)
        assert event.subject == natsutil.FILE_DELETED_SUBJECT
        err = await rpc_error(idx.stub.GetManifest(index_pb2.GetManifestRequest(file_id=fid)))
        assert err.code() == grpc.StatusCode.NOT_FOUND
        assert err.details() == f"no file with ID {fid}"
        assert (await idx.stub.ListFiles(index_pb2.ListFilesRequest())).files == []

        # The owner may store the same file ID again after deleting it.
        await idx.stub.CommitManifest(index_pb2.CommitManifestRequest(signed=signed))
        await events.unsubscribe()


async def test_bad_input_is_refused_with_one_sentence(nats) -> None:
    owner = Identity.generate()
    async with running_index(nats.url) as idx:
        signed = sign(owner, build_manifest(new_file_id()))
        signed.signature = bytes(64)
        err = await rpc_error(
            idx.stub.CommitManifest(index_pb2.CommitManifestRequest(signed=signed))
        )
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "signature" in err.details()

        err = await rpc_error(idx.stub.GetManifest(index_pb2.GetManifestRequest(file_id="x/y")))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details() == "'x/y' is not a file ID (expected 32 hex characters)"

        err = await rpc_error(idx.stub.GetManifest(index_pb2.GetManifestRequest(file_id="0" * 32)))
        assert err.code() == grpc.StatusCode.NOT_FOUND

        err = await rpc_error(idx.stub.DeleteFile(delete_request(owner, "0" * 32)))
        assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_list_files_pages_in_file_id_order(nats) -> None:
    owner = Identity.generate()
    async with running_index(nats.url) as idx:
        fids = sorted(new_file_id() for _ in range(5))
        await asyncio.gather(
            *(
                idx.stub.CommitManifest(
                    index_pb2.CommitManifestRequest(signed=sign(owner, build_manifest(f)))
                )
                for f in fids
            )
        )
        seen, token = [], ""
        for _ in range(5):
            page = await idx.stub.ListFiles(index_pb2.ListFilesRequest(limit=2, page_token=token))
            seen += [f.file_id for f in page.files]
            token = page.next_page_token
            if not token:
                break
        assert seen == fids


async def test_list_files_of_one_owner_pages_past_other_owners_files(nats) -> None:
    alice, bob = Identity.generate(), Identity.generate()
    async with running_index(nats.url) as idx:
        owned = {new_file_id(): owner for owner in (alice, bob) for _ in range(4)}
        await asyncio.gather(
            *(
                idx.stub.CommitManifest(
                    index_pb2.CommitManifestRequest(signed=sign(owner, build_manifest(f)))
                )
                for f, owner in owned.items()
            )
        )

        async def listing(owner: bytes) -> list[tuple[str, bytes]]:
            seen, token = [], ""
            for _ in range(10):
                page = await idx.stub.ListFiles(
                    index_pb2.ListFilesRequest(limit=3, page_token=token, owner_public_key=owner)
                )
                assert len(page.files) <= 3
                seen += [(f.file_id, f.owner_public_key) for f in page.files]
                token = page.next_page_token
                if not token:
                    return seen
            raise AssertionError("the listing did not end")

        for owner in (alice, bob):
            mine = sorted(f for f, o in owned.items() if o is owner)
            assert await listing(owner.public_bytes) == [(f, owner.public_bytes) for f in mine]
        assert [f for f, _ in await listing(b"")] == sorted(owned)  # everyone's
        assert await listing(Identity.generate().public_bytes) == []

        err = await rpc_error(
            idx.stub.ListFiles(index_pb2.ListFilesRequest(owner_public_key=b"short"))
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details() == "the owner public key must be 32 bytes (raw ed25519), got 5"


async def test_list_nodes_says_which_nodes_are_being_drained(nats) -> None:
    async with running_index(nats.url, with_drains=True) as idx:
        for n in ("n1", "n2"):
            await publish_heartbeat(idx.nc, heartbeat(n))
        await wait_for_nodes(idx.stub, {"n1", "n2"})
        await idx.drains.put(
            index_pb2.DrainStatus(node_id="n1", state=index_pb2.DRAIN_STATE_DRAINING)
        )
        resp = await idx.stub.ListNodes(index_pb2.ListNodesRequest())
        assert {n.info.node_id: n.draining for n in resp.nodes} == {"n1": True, "n2": False}
        assert {n.info.node_id: n.state for n in resp.nodes} == {
            "n1": types_pb2.NODE_STATE_LIVE,
            "n2": types_pb2.NODE_STATE_LIVE,
        }


async def test_two_index_replicas_serve_the_same_mesh_at_once(nats) -> None:
    owner = Identity.generate()
    async with (
        running_index(nats.url) as a,
        running_index(nats.url) as b,
        beating(a.nc, heartbeat("n1"), heartbeat("n2")),
    ):
        await wait_for_nodes(a.stub, {"n1", "n2"})
        await wait_for_nodes(b.stub, {"n1", "n2"})

        fid = new_file_id()
        signed = sign(owner, build_manifest(fid))
        await a.stub.CommitManifest(index_pb2.CommitManifestRequest(signed=signed))
        got = await b.stub.GetManifest(index_pb2.GetManifestRequest(file_id=fid))
        assert got.signed == signed
        assert [
            f.file_id for f in (await b.stub.ListFiles(index_pb2.ListFilesRequest())).files
        ] == [fid]
        # Both replicas compute the same placement.
        req = index_pb2.PlaceChunksRequest(
            chunks=[index_pb2.ChunkToPlace(chunk_id="cd" * 32, size=1)], replicas=1, extra=1
        )
        assert await a.stub.PlaceChunks(req) == await b.stub.PlaceChunks(req)
        await b.stub.DeleteFile(delete_request(owner, fid))
        err = await rpc_error(a.stub.GetManifest(index_pb2.GetManifestRequest(file_id=fid)))
        assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_a_restarted_index_knows_every_file_and_node_at_once(nats) -> None:
    owner = Identity.generate()
    fids = sorted(new_file_id() for _ in range(3))
    async with running_index(nats.url) as first:
        for node in ("n1", "n2", "n3"):
            await publish_heartbeat(first.nc, heartbeat(node))
        for fid in fids:
            signed = sign(owner, build_manifest(fid))
            await first.stub.CommitManifest(index_pb2.CommitManifestRequest(signed=signed))

    async with running_index(nats.url) as second:
        # No waiting: the index is ready only once it has read the stored heartbeats (known,
        # whatever their state: on a busy machine they may be more than 6 s old, SUSPECT).
        known = await second.stub.ListNodes(index_pb2.ListNodesRequest())
        assert {n.info.node_id for n in known.nodes} == {"n1", "n2", "n3"}
        assert second.feed.ready
        listed = await second.stub.ListFiles(index_pb2.ListFilesRequest())
        assert [f.file_id for f in listed.files] == fids
        got = await second.stub.GetManifest(index_pb2.GetManifestRequest(file_id=fids[0]))
        assert {n.node_id for n in got.nodes} == {"n1", "n2"}
        # with each node's state, so a reader needs no ListNodes to try live holders first
        assert {n.state for n in got.nodes} == {types_pb2.NODE_STATE_LIVE}


async def test_the_index_keeps_working_across_a_nats_restart(nats) -> None:
    owner = Identity.generate()
    node = await natsutil.connect(nats.url, name="test-node", connect_deadline_s=10)
    try:
        async with running_index(nats.url) as idx:
            await publish_heartbeat(node, heartbeat("before"))
            await wait_for_nodes(idx.stub, {"before"})

            nats.kill()
            nats.restart()

            async def heartbeat_after_restart_seen() -> bool:
                # The node's publish fails while its connection is still re-establishing.
                try:
                    await publish_heartbeat(node, heartbeat("after"))
                except Exception:
                    return False
                return "after" in await node_ids(idx.stub)

            await async_wait_until(
                heartbeat_after_restart_seen,
                timeout_s=20,
                interval_s=0.25,
                what="a heartbeat sent after the NATS restart",
            )

            async def commit() -> bool:
                try:
                    signed = sign(owner, build_manifest(new_file_id()))
                    await idx.stub.CommitManifest(index_pb2.CommitManifestRequest(signed=signed))
                except grpc.aio.AioRpcError as err:
                    assert err.code() == grpc.StatusCode.UNAVAILABLE, err.details()
                    return False
                return True

            await async_wait_until(commit, timeout_s=10, what="a commit after the NATS restart")
    finally:
        await node.close()


async def test_the_feed_recovers_when_nats_comes_back_without_the_heartbeat_stream(nats) -> None:
    """E.g. a NATS restarted without its store: the index re-creates the stream and listens."""
    node = await natsutil.connect(nats.url, name="test-node", connect_deadline_s=10)
    try:
        async with running_index(nats.url, stream_watch_s=0.2) as idx:
            await publish_heartbeat(node, heartbeat("before"))
            await wait_for_nodes(idx.stub, {"before"})
            await node.jetstream().delete_stream(natsutil.HEARTBEAT_STREAM)

            async def seen_after() -> bool:
                # Plain publish, as a node does: nothing stores it until the stream is back.
                subject, data, headers = signed_heartbeat(heartbeat("after"))
                await node.publish(subject, data, headers=headers)
                return "after" in await node_ids(idx.stub)

            await async_wait_until(seen_after, timeout_s=10, what="a heartbeat after the reset")
            assert idx.feed.ready
    finally:
        await node.close()


async def test_a_manifest_with_a_plaintext_name_is_refused_and_its_owner_can_reseal_it(
    nats,
) -> None:
    """New commits must seal the name; a file stored before names were sealed keeps listing,
    and its owner can replace it with a sealed manifest under the same ID."""
    owner = Identity.generate()
    async with running_index(nats.url) as idx, beating(idx.nc, heartbeat("n1"), heartbeat("n2")):
        await wait_for_nodes(idx.stub, {"n1", "n2"})
        fid = new_file_id()
        old = build_manifest(fid)
        old.ClearField("metadata")
        old.legacy_name = "plain.txt"
        err = await rpc_error(
            idx.stub.CommitManifest(index_pb2.CommitManifestRequest(signed=sign(owner, old)))
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "file name in plaintext" in err.details()

        # as an older index stored it
        kv = await idx.nc.jetstream().key_value(natsutil.MANIFEST_BUCKET)
        await kv.put(fid, sign(owner, old).SerializeToString())
        (listed,) = (await idx.stub.ListFiles(index_pb2.ListFilesRequest())).files
        assert listed.file_id == fid and not listed.HasField("metadata")
        assert b"plain.txt" not in listed.SerializeToString()

        resealed = sign(owner, build_manifest(fid, name="plain.txt"))
        await idx.stub.CommitManifest(index_pb2.CommitManifestRequest(signed=resealed))
        (listed,) = (await idx.stub.ListFiles(index_pb2.ListFilesRequest())).files
        assert listed.HasField("metadata")
        assert b"plain.txt" not in (await kv.get(fid)).value


async def test_an_admitted_node_cannot_speak_for_another_nor_change_its_own_key(nats) -> None:
    """A storage node's signature holds only for its own name, and its heartbeat must carry the
    key it is admitted with: a compromised s1 cannot take s2's name nor swap keys."""
    m = index_support.mesh()
    async with running_index(nats.url) as idx, beating(idx.nc, heartbeat("s1"), heartbeat("s2")):
        await wait_for_nodes(idx.stub, {"s1", "s2"})
        before = {n.info.node_id: n.info for n in (await idx.stub.ListNodes(LIST)).nodes}
        stranger = Identity.generate()
        for node_id, key in (
            ("s2", m.identities["s1"].public_bytes),
            ("s1", stranger.public_bytes),
        ):
            hb = heartbeat(node_id, capacity=1 << 60)
            hb.node.public_key = key
            subject = natsutil.HEARTBEAT_SUBJECT.format(node_id=node_id)
            data = hb.SerializeToString()
            # s1 signs both: one for s2's subject, one for its own with another key in the body
            await idx.nc.jetstream().publish(
                subject, data, headers=m.signer("s1").headers(subject, data)
            )

        async def dropped() -> bool:
            d = idx.feed._gate.dropped
            return d["not_owner"] >= 1 and d["key_mismatch"] >= 1

        await async_wait_until(dropped, timeout_s=10, what="both heartbeats dropped")
        after = {n.info.node_id: n.info for n in (await idx.stub.ListNodes(LIST)).nodes}
        assert after["s1"].capacity_bytes == before["s1"].capacity_bytes < 1 << 60
        assert after["s2"].public_key == m.identities["s2"].public_bytes


async def test_junk_in_the_manifests_bucket_fails_that_file_alone(nats) -> None:
    """Only the index writes the manifests bucket; bytes that are not a manifest there (damage,
    or a write around the index) make that one file DATA_LOSS with a sentence, and every other
    file still lists and reads."""
    owner = Identity.generate()
    async with running_index(nats.url) as idx, beating(idx.nc, heartbeat("n1"), heartbeat("n2")):
        await wait_for_nodes(idx.stub, {"n1", "n2"})
        good = new_file_id()
        await idx.stub.CommitManifest(
            index_pb2.CommitManifestRequest(signed=sign(owner, build_manifest(good)))
        )
        junk = new_file_id()
        kv = await idx.nc.jetstream().key_value(natsutil.MANIFEST_BUCKET)
        await kv.put(junk, b"\xff\xff not a manifest")

        listed = (await idx.stub.ListFiles(index_pb2.ListFilesRequest())).files
        assert [f.file_id for f in listed] == [good]
        err = await rpc_error(idx.stub.GetManifest(index_pb2.GetManifestRequest(file_id=junk)))
        assert err.code() == grpc.StatusCode.DATA_LOSS
        assert junk in err.details() and "does not parse" in err.details()
        ok = await idx.stub.GetManifest(index_pb2.GetManifestRequest(file_id=good))
        assert ok.signed.owner_public_key == owner.public_bytes
