"""The catalog against a real nats-server: what another replica writes is there after `sync()`,
and it keeps following the buckets across a NATS restart, with its store or without it."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from index_support import build_manifest, new_file_id, sign

from stratos.common import natsutil
from stratos.common.identity import Identity
from stratos.common.procs import async_wait_until
from stratos.index.catalog import Catalog
from stratos.index.manifests import ManifestStore, now_ms
from stratos.v1 import types_pb2

pytestmark = pytest.mark.integration


@asynccontextmanager
async def catalog_on(url: str):
    nc = await natsutil.connect(url, name="test-catalog", connect_deadline_s=10)
    catalog = Catalog(nc.jetstream(), replicas=1)
    try:
        await catalog.start()
        yield catalog
    finally:
        await catalog.stop()
        await nc.close()


async def store_on(url: str):
    nc = await natsutil.connect(url, name="test-writer", connect_deadline_s=10)
    return nc, await ManifestStore.open(nc.jetstream(), replicas=1)


async def test_what_another_replica_commits_or_deletes_is_there_after_sync(nats) -> None:
    owner = Identity.generate()
    nc, store = await store_on(nats.url)
    try:
        first = new_file_id()
        await store.commit(sign(owner, build_manifest(first)))
        async with catalog_on(nats.url) as catalog:
            assert catalog.ready and set(catalog.state.manifests) == {first}
            second = new_file_id()
            await store.commit(sign(owner, build_manifest(second)))
            state = await catalog.sync()  # no waiting on luck: the write is in, or sync waits
            assert set(state.manifests) == {first, second}
            assert state.page("", 10, owner.public_bytes) == sorted([first, second])
            await store.delete(first, *_delete_proof(owner, first))
            state = await catalog.sync()
            assert set(state.manifests) == {second}
    finally:
        await nc.close()


def _delete_proof(owner: Identity, file_id: str) -> tuple[int, bytes, bytes]:
    from stratos.index.manifest_rules import delete_message

    ts = now_ms()
    return ts, owner.public_bytes, owner.sign(delete_message(file_id, ts))


async def test_it_follows_the_buckets_across_a_nats_restart_with_and_without_its_store(
    nats, tmp_path
) -> None:
    owner = Identity.generate()
    kept = new_file_id()
    nc, store = await store_on(nats.url)
    await store.commit(sign(owner, build_manifest(kept)))
    await nc.close()
    async with catalog_on(nats.url) as catalog:
        assert set(catalog.state.manifests) == {kept}
        nats.kill()
        nats.restart()  # same store: the ordered consumers pick up where they were
        later = new_file_id()
        nc, store = await store_on(nats.url)
        try:
            await store.commit(sign(owner, build_manifest(later)))
            await async_wait_until(
                lambda: _has(catalog, {kept, later}), timeout_s=30, what="the catalog to follow"
            )
        finally:
            await nc.close()

        nats.kill()
        nats.store_dir = tmp_path / "empty"  # NATS comes back without its store
        nats.store_dir.mkdir()
        nats.restart()
        fresh = new_file_id()

        async def commit_fresh() -> bool:
            nc, store = await store_on(nats.url)
            try:
                await store.commit(sign(owner, build_manifest(fresh)))
                return True
            finally:
                await nc.close()

        await commit_fresh()
        await async_wait_until(
            lambda: _has(catalog, {fresh}), timeout_s=60, what="the catalog to start afresh"
        )


async def _has(catalog: Catalog, wanted: set[str]) -> bool:
    try:
        state = await catalog.sync(timeout_s=2)
    except Exception:  # still reconnecting
        return False
    return set(state.manifests) == wanted and all(
        isinstance(state.manifests[f], types_pb2.Manifest) for f in wanted
    )
