"""Issue 11's NATS attacks against a real nats-server configured as the local mesh's is (TLS
only, the users of `stratos.common.nats_roles`): each is refused and does no harm.

The attacker has what a stranger has (the address) or, worse, a storage node's own
credentials (a compromised or malicious node operator); the index and an admin observer stand
for the honest mesh. Every test also checks the honest path still works, so a refusal that
comes from a broken setup cannot pass for a defence."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import re
import socket
import ssl

import nats
import nats.errors
import nats.js.errors
import pytest

from stratos.common import natsutil
from stratos.common.errors import PermissionDenied
from stratos.common.nats_roles import Role, repair_durable
from stratos.common.nats_tls import client_context
from stratos.common.natsutil import NatsLogin
from stratos.common.procs import async_wait_until
from stratos.common.testing import nats_cluster, nats_server

pytestmark = [pytest.mark.integration, pytest.mark.attack]

MANIFESTS = natsutil.MANIFEST_BUCKET


@pytest.fixture(scope="module")
def server():
    with nats_server(secure=True) as n:
        yield n


@contextlib.asynccontextmanager
async def connected(server, role: Role, name: str = ""):
    """A connection as a user of `role`; what the server refuses it lands in `nc.refusals`."""
    login = server.login(role, name)
    refusals: list[str] = []

    async def on_error(exc):
        refusals.append(str(exc))

    nc = await nats.connect(
        server.url,
        name=f"test-{role.value}-{name}",
        nkeys_seed_str=login.credentials.seed,
        inbox_prefix=login.credentials.inbox_prefix,
        tls=client_context(login.tls_ca_file),
        error_cb=on_error,
        allow_reconnect=False,
    )
    nc.refusals = refusals
    try:
        yield nc
    finally:
        await nc.close()


@pytest.fixture
async def mesh(server):
    """The index with its streams and buckets, one file's manifest committed."""
    async with connected(server, Role.INDEX) as index:
        js = index.jetstream()
        await natsutil.ensure_heartbeat_stream(js, replicas=1)
        await natsutil.ensure_repair_stream(js, replicas=1)
        kvs = {
            b: await natsutil.ensure_kv(js, b, replicas=1)
            for b in (MANIFESTS, natsutil.LOCATIONS_BUCKET, "STRATOS_DRAINS")
        }
        for kv in kvs.values():
            await kv.put("file-1", b"the owner's record")
        yield index, kvs


async def refused(nc) -> str:
    """The server's refusal of what `nc` just sent (waited for; each is returned once)."""
    await nc.flush()
    await async_wait_until(
        lambda: _async(bool(nc.refusals)), timeout_s=5, what="the server's refusal"
    )
    return nc.refusals.pop(0).lower()


async def _async(value):
    return value


async def seen_on(observer, subject: str, act, expect: int = 0) -> list:
    """Messages an admin observer subscribed to `subject` receives while `act()` runs: once
    `expect` of them arrived (within a deadline), or, expecting none, after a round trip to the
    server (a refused publish never reaches it). Expecting some, `act()` is repeated every
    2 s until they arrive: one allowed publish went unseen once in CI under the whole
    integration tier's load, and what these tests show is that it is allowed at all."""
    got = []

    async def collect(msg):
        got.append(msg)

    sub = await observer.subscribe(subject, cb=collect)
    await observer.flush()
    await act()
    await observer.flush()
    for attempt in range(5 if expect else 0):
        try:
            await async_wait_until(
                lambda: _async(len(got) >= expect), timeout_s=2, what=f"{expect} message(s)"
            )
            break
        except TimeoutError:
            if attempt == 4:
                raise
            await act()
            await observer.flush()
    await asyncio.sleep(0)
    await sub.unsubscribe()
    return got


async def test_an_anonymous_connection_is_refused(server):
    login = NatsLogin(tls_ca_file=str(server.security.tls().ca_file))
    with pytest.raises(PermissionDenied, match="refused an anonymous connection"):
        await natsutil.connect(server.url, name="stranger", login=login, connect_deadline_s=10)


async def test_an_unknown_nkey_is_refused_and_named(server, tmp_path):
    from stratos.common.nats_auth import credentials_text, new_user
    from stratos.common.nats_credentials import read_credentials

    forged = tmp_path / "storage.n1.nk"
    forged.write_text(credentials_text(new_user(Role.STORAGE, "n1")))
    login = NatsLogin(read_credentials(forged), str(server.security.tls().ca_file))
    with pytest.raises(PermissionDenied, match=r"refused NATS user storage\.n1 \(key U"):
        await natsutil.connect(server.url, name="forger", login=login, connect_deadline_s=10)


def test_a_plaintext_client_is_refused(server):
    """A client that skips TLS gets no further than the INFO line: no PONG, no session."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        info = json.loads(s.recv(65536).decode().split(" ", 1)[1])
        assert info["tls_required"] is True
        s.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := s.recv(4096):
                answer += chunk
    assert b"PONG" not in answer


def test_the_server_certificate_is_checked_against_the_mesh_ca(server):
    """The honest client's side: a server not holding a certificate from the mesh's CA is not
    trusted (here: checked against the system store, which does not know the mesh's CA)."""
    ctx = ssl.create_default_context()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.recv(65536)  # INFO, sent before the handshake
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")


async def test_a_node_cannot_beat_for_another_node(server, mesh):
    async with (
        connected(server, Role.STORAGE, "n1") as node,
        connected(server, Role.ADMIN) as observer,
    ):
        ghost = natsutil.HEARTBEAT_SUBJECT.format(node_id="n2")
        got = await seen_on(
            observer, natsutil.HEARTBEAT_WILDCARD, lambda: node.publish(ghost, b"x")
        )
        assert "permissions violation for publish" in await refused(node)
        assert got == []
        own = natsutil.HEARTBEAT_SUBJECT.format(node_id="n1")
        got = await seen_on(
            observer, natsutil.HEARTBEAT_WILDCARD, lambda: _publish_flushed(node, own), expect=1
        )
        assert {m.subject for m in got} == {own}  # its own heartbeat goes through
        info = await mesh[0].jetstream().stream_info(natsutil.HEARTBEAT_STREAM, subjects_filter=">")
        assert ghost not in (info.state.subjects or {})


async def _publish_flushed(nc, subject: str) -> None:
    await nc.publish(subject, b"x")
    await nc.flush()


async def test_a_node_cannot_queue_repair_jobs(server, mesh):
    """A RepairJob(DELETE) aimed at another node (or at itself) never reaches the queue."""
    js = mesh[0].jetstream()
    async with connected(server, Role.STORAGE, "n1") as node:
        for target in ("n2", "n1"):
            await node.publish(natsutil.REPAIR_JOB_SUBJECT.format(node_id=target), b"DELETE all")
            assert "permissions violation" in await refused(node)
    info = await js.stream_info(natsutil.REPAIR_STREAM, subjects_filter=">")
    assert not info.state.subjects


async def test_a_node_cannot_report_results_as_another_node(server, mesh):
    async with (
        connected(server, Role.STORAGE, "n1") as node,
        connected(server, Role.INDEX) as index,
    ):
        other = natsutil.REPAIR_RESULT_SUBJECT.format(node_id="n2")
        got = await seen_on(
            index, natsutil.REPAIR_RESULT_WILDCARD, lambda: node.publish(other, b"ok")
        )
        assert "permissions violation" in await refused(node)
        assert got == []
        own = natsutil.REPAIR_RESULT_SUBJECT.format(node_id="n1")
        got = await seen_on(
            index, natsutil.REPAIR_RESULT_WILDCARD, lambda: _publish_flushed(node, own), expect=1
        )
        assert {m.subject for m in got} == {own}


@pytest.mark.parametrize("bucket", [MANIFESTS, natsutil.LOCATIONS_BUCKET, "STRATOS_DRAINS"])
async def test_a_node_cannot_put_or_delete_in_the_index_buckets(server, mesh, bucket):
    kv = mesh[1][bucket]
    async with connected(server, Role.STORAGE, "n1") as node:
        await node.publish(f"$KV.{bucket}.file-1", b"the attacker's record")
        assert "permissions violation" in await refused(node)
        await node.publish(f"$KV.{bucket}.file-1", b"", headers={"KV-Operation": "PURGE"})
        assert "permissions violation" in await refused(node)
        with pytest.raises(nats.errors.Error):  # the KV API itself is out of reach
            await asyncio.wait_for(node.jetstream().key_value(bucket), 10)
    assert (await kv.get("file-1")).value == b"the owner's record"


async def test_a_node_cannot_list_streams_or_read_manifests(server, mesh):
    async with connected(server, Role.STORAGE, "n1") as node:
        for api in ("STREAM.NAMES", f"DIRECT.GET.KV_{MANIFESTS}.$KV.{MANIFESTS}.file-1"):
            with pytest.raises(nats.errors.Error):
                await node.request(f"$JS.API.{api}", b"", timeout=2)
            assert "permissions violation for publish" in await refused(node)
        # nor by listening to the index's replies: every inbox but its own is closed to it
        got: list = []

        async def overheard(msg):
            got.append(msg)

        for inbox in ("_INBOX.>", "_INBOX.index.>"):
            await node.subscribe(inbox, cb=overheard)
            assert "permissions violation for subscription" in await refused(node)
        assert (await mesh[1][MANIFESTS].get("file-1")).value == b"the owner's record"
        await node.flush()
        assert got == []


async def test_a_node_reads_only_its_own_repair_jobs(server, mesh):
    """Its own durable consumer works; one filtered to another node's jobs is refused, and
    that node's job stays queued."""
    from nats.js.api import AckPolicy, ConsumerConfig

    index_js = mesh[0].jetstream()
    job = natsutil.REPAIR_JOB_SUBJECT.format(node_id="n2")
    await index_js.publish(job, b"copy chunk c to n2", headers={"Nats-Msg-Id": "job-n2"})
    async with connected(server, Role.STORAGE, "n1") as node:
        js = node.jetstream()
        own = repair_durable("n1")
        await js.add_consumer(
            natsutil.REPAIR_STREAM,
            ConsumerConfig(
                name=own,
                durable_name=own,
                filter_subject=natsutil.REPAIR_JOB_SUBJECT.format(node_id="n1"),
                ack_policy=AckPolicy.EXPLICIT,
            ),
            timeout=10,
        )
        for name in (own, repair_durable("n2")):
            with pytest.raises((nats.errors.Error, nats.js.errors.Error)):
                await js.add_consumer(
                    natsutil.REPAIR_STREAM,
                    ConsumerConfig(name=name, durable_name=name, filter_subject=job),
                    timeout=2,
                )
    info = await index_js.stream_info(natsutil.REPAIR_STREAM, subjects_filter=">")
    assert (info.state.subjects or {}).get(job) == 1
    await index_js.purge_stream(natsutil.REPAIR_STREAM)


def _non_loopback_addresses() -> list[str]:
    found = set()
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 9))  # no packet is sent: this only picks the outbound address
        found.add(s.getsockname()[0])
    with contextlib.suppress(OSError):
        found.update(socket.gethostbyname_ex(socket.gethostname())[2])
    return sorted(a for a in found if not ipaddress.ip_address(a).is_loopback)


def test_monitoring_is_not_reachable_off_loopback(server):
    # 127.0.0.2 is answered by a wildcard listener, never by one bound to 127.0.0.1: so this
    # holds on a machine with no other address too
    addresses = [*_non_loopback_addresses(), "127.0.0.2"]
    assert server.monitor("varz")["server_id"]  # reachable where it should be
    for address in addresses:
        with pytest.raises(OSError):
            socket.create_connection((address, server.monitor_port), timeout=2).close()


async def test_cluster_routes_speak_tls_with_verified_peers():
    """A secure cluster forms over TLS routes that verify each other's certificate, and serves a
    replicated bucket to the index; a stranger without the mesh's certificate gets no route."""
    with nats_cluster(3, secure=True) as servers:
        cluster = servers[0].monitor("varz")["cluster"]
        assert cluster["tls_required"] is True and cluster["tls_verify"] is True
        assert servers[0].monitor("routez")["num_routes"] >= 2
        route_port = int(re.search(r'listen: "127.0.0.1:(\d+)"', servers[0].extra_config)[1])
        # a stranger's route: plaintext gets nothing; TLS without the mesh's certificate is cut
        ctx = ssl.create_default_context(cafile=str(servers[0].security.tls().ca_file))
        ctx.check_hostname = False
        answer = b""
        with (
            socket.create_connection(("127.0.0.1", route_port), timeout=10) as raw,
            contextlib.suppress(OSError),
            ctx.wrap_socket(raw) as tls,
        ):
            answer = tls.recv(65536)
        assert b"INFO" not in answer
        files = servers[0].security.tls()  # control: the mesh's own certificate is let in
        ctx.load_cert_chain(files.cert_file, files.key_file)
        with (
            socket.create_connection(("127.0.0.1", route_port), timeout=10) as raw,
            ctx.wrap_socket(raw) as tls,
        ):
            assert tls.recv(65536).startswith(b"INFO")
        url = ",".join(s.url for s in servers)
        login = servers[0].login(Role.INDEX)
        nc = await natsutil.connect(url, name="index", login=login)
        try:
            kv = await natsutil.ensure_kv(nc.jetstream(), MANIFESTS, replicas=3)
            await kv.put("file-1", b"replicated")
            assert (await kv.get("file-1")).value == b"replicated"
        finally:
            await nc.close()
