"""NATS and JetStream helpers: connect with bounded retry, idempotent streams and KV buckets,
and publishing with the trace context in the headers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from urllib.parse import urlsplit

import nats
import nats.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import (
    BadRequestError,
    BucketNotFoundError,
    NotFoundError,
    ServiceUnavailableError,
)

from stratos.common import asyncio_noise
from stratos.common.errors import PermissionDenied, Unavailable
from stratos.common.logging import get_logger
from stratos.common.nats_client import TlsOnlyClient
from stratos.common.nats_credentials import NatsLogin
from stratos.common.nats_subjects import (  # re-exported: callers name them natsutil.X
    AUDIT_RESULT_SUBJECT as AUDIT_RESULT_SUBJECT,
)
from stratos.common.nats_subjects import (
    FILE_COMMITTED_SUBJECT as FILE_COMMITTED_SUBJECT,
)
from stratos.common.nats_subjects import (
    FILE_DELETED_SUBJECT as FILE_DELETED_SUBJECT,
)
from stratos.common.nats_subjects import (
    HEARTBEAT_STREAM as HEARTBEAT_STREAM,
)
from stratos.common.nats_subjects import (
    HEARTBEAT_SUBJECT as HEARTBEAT_SUBJECT,
)
from stratos.common.nats_subjects import (
    HEARTBEAT_WILDCARD as HEARTBEAT_WILDCARD,
)
from stratos.common.nats_subjects import (
    LOCATIONS_BUCKET as LOCATIONS_BUCKET,
)
from stratos.common.nats_subjects import (
    MANIFEST_BUCKET as MANIFEST_BUCKET,
)
from stratos.common.nats_subjects import (
    REPAIR_JOB_SUBJECT as REPAIR_JOB_SUBJECT,
)
from stratos.common.nats_subjects import (
    REPAIR_JOB_WILDCARD as REPAIR_JOB_WILDCARD,
)
from stratos.common.nats_subjects import (
    REPAIR_RESULT_SUBJECT as REPAIR_RESULT_SUBJECT,
)
from stratos.common.nats_subjects import (
    REPAIR_RESULT_WILDCARD as REPAIR_RESULT_WILDCARD,
)
from stratos.common.nats_subjects import (
    REPAIR_STREAM as REPAIR_STREAM,
)
from stratos.common.nats_tls import client_context
from stratos.common.tracing import inject_headers

log = get_logger(__name__)


asyncio_noise.install()

REPAIR_DEDUP_WINDOW_S = 120.0  # a job published twice within this window is stored once
REPLICAS_SETTLE_S = 30.0  # how long a stream whose replica count changed may take to elect
JETSTREAM_READY_S = 30.0  # how long a cluster that is electing or catching up may take to answer


def server_endpoints(url: str) -> list[tuple[str, int]]:
    """(host, port) of every server in a comma-separated NATS URL list."""
    endpoints = []
    for part in url.split(","):
        part = part.strip()
        if not part:
            continue
        if "://" not in part:
            part = "nats://" + part
        try:
            u = urlsplit(part)
            port = u.port or 4222
        except ValueError:
            continue
        if u.hostname:
            endpoints.append((u.hostname, port))
    return endpoints


async def any_reachable(endpoints: list[tuple[str, int]], timeout_s: float = 1.0) -> bool:
    """True when at least one server accepts a TCP connection."""
    for host, port in endpoints:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        except (OSError, TimeoutError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


class _Refused(Exception):
    """The server turned the connection down for good (credentials or certificate)."""


def _refusal(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, nats.errors.AuthorizationError) or "authorization violation" in text


def refusal_sentence(url: str, login: NatsLogin | None) -> str:
    creds = login.credentials if login else None
    if creds is None:
        return (
            f"NATS at {url} refused an anonymous connection: give this process its NATS user "
            "(STRATOS_NATS_NKEY_FILE)"
        )
    return (
        f"NATS at {url} refused NATS user {creds.label} (key {creds.public_key[:12]}…, from "
        f"{creds.source}): the server does not admit that key"
    )


async def connect(
    url: str, *, name: str, connect_deadline_s: float = 30.0, login: NatsLogin | None = None
) -> NATS:
    """Connect as `login`'s user over TLS when the server asks for it, retrying the first
    connection until the deadline; reconnect forever after. A server that refuses the
    credentials raises PermissionDenied at once, naming the user.

    nats-py with unlimited reconnects never gives up on the *first* connection either, so wait
    until a server accepts TCP and bound the connect itself by the remaining time."""
    servers = [s.strip() for s in url.split(",") if s.strip()]
    endpoints = server_endpoints(url)
    deadline = time.monotonic() + connect_deadline_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if endpoints and not await any_reachable(endpoints):
            last = ConnectionRefusedError(f"no server at {url} accepts connections")
            await asyncio.sleep(0.25)
            continue
        try:
            return await asyncio.wait_for(
                _connect(servers, name, login or NatsLogin()), deadline - time.monotonic()
            )
        except _Refused:
            raise PermissionDenied(refusal_sentence(url, login)) from None
        except Exception as exc:  # nats raises several unrelated types on connect
            last = exc
            await asyncio.sleep(0.5)
    raise Unavailable(f"cannot connect to NATS at {url}: {last}")


async def _connect(servers: list[str], name: str, login: NatsLogin) -> NATS:
    refused = asyncio.get_running_loop().create_future()

    async def on_error(exc: Exception) -> None:
        if _refusal(exc) and not refused.done():
            refused.set_result(exc)
        await _on_error(exc)

    options: dict = {}
    if login.credentials is not None:
        options["nkeys_seed_str"] = login.credentials.seed
        options["inbox_prefix"] = login.credentials.inbox_prefix
    nc = TlsOnlyClient()
    connecting = asyncio.ensure_future(
        nc.connect(
            servers=servers,
            name=name,
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            tls=client_context(login.tls_ca_file),
            error_cb=on_error,
            disconnected_cb=_on_disconnect,
            reconnected_cb=_on_reconnect,
            **options,
        )
    )
    try:
        await asyncio.wait({connecting, refused}, return_when=asyncio.FIRST_COMPLETED)
        if connecting.done():
            connecting.result()
            if not refused.done():
                return nc
    except BaseException:
        # a connect that failed or ran out of time (`connect` tries again with a new client)
        connecting.cancel()
        _close_socket(nc)
        raise
    # refused: the first connection is not worth retrying with the same key
    connecting.cancel()
    with contextlib.suppress(BaseException):
        await connecting
    with contextlib.suppress(Exception):
        await nc.close()
    _close_socket(nc)
    raise _Refused()


def _close_socket(nc: NATS) -> None:
    """Close the socket of a client given up on. nats-py may already count it closed (refused),
    or be halfway through its handshake (timed out), and leave the socket open: an
    unclosed-transport warning later, wherever the garbage collector runs."""
    transport = getattr(nc, "_transport", None)
    if transport is None:
        return
    with contextlib.suppress(Exception):
        transport.close()
    bare = getattr(transport, "_bare_io_writer", None)  # the plain socket under TLS
    if bare is not None:
        with contextlib.suppress(Exception):
            bare.close()


async def _on_error(exc: Exception) -> None:
    log.warning("nats_error", error=str(exc))


async def _on_disconnect() -> None:
    log.warning("nats_disconnected")


async def _on_reconnect() -> None:
    log.info("nats_reconnected")


# A JetStream API request can time out or find no leader while a cluster elects one (NATS pods
# rolling, a server catching up after a restart, a busy machine); that passes within seconds.
_TRANSIENT = (nats.errors.TimeoutError, nats.errors.NoRespondersError, ServiceUnavailableError)


async def _until_jetstream_answers(what: str, attempt, ready_s: float = JETSTREAM_READY_S):
    """Run `attempt()` (idempotent) again while JetStream's answer is only "not now", for at
    most `ready_s`; the last transient error is raised after that."""
    deadline = time.monotonic() + ready_s
    while True:
        try:
            return await attempt()
        except _TRANSIENT as exc:
            if time.monotonic() >= deadline:
                raise
            log.warning("jetstream_not_answering", what=what, error=str(exc) or type(exc).__name__)
            await asyncio.sleep(0.5)


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to this config (replicas included: a
    stream created on one server is scaled to the cluster's replica count on the next start).
    Retried while a cluster cannot answer yet (see `_until_jetstream_answers`)."""
    await _until_jetstream_answers(config.name, lambda: _ensure_stream_once(js, config))


async def _ensure_stream_once(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        was = (await js.stream_info(config.name)).config.num_replicas
    except NotFoundError:
        try:
            await js.add_stream(config)
            await _settled(js, config.name, config.num_replicas or 1)
            return
        except BadRequestError:
            was = config.num_replicas  # another replica created it at the same moment
    await js.update_stream(config)
    if was != config.num_replicas:
        log.info("stream_replicas_changing", stream=config.name, was=was, now=config.num_replicas)
        await _settled(js, config.name, config.num_replicas or 1)


async def ensure_heartbeat_stream(js: JetStreamContext, *, replicas: int) -> None:
    """Keeps the latest heartbeat per node, so a (re)started index knows every node at once.

    Soft state (each node replaces its entry every few seconds), but it is synced and
    replicated like the rest: JetStream syncs per server, not per stream, and an index that
    starts while the only server holding this stream is down would see an empty mesh."""
    await ensure_stream(
        js,
        StreamConfig(
            name=HEARTBEAT_STREAM,
            subjects=[HEARTBEAT_WILDCARD],
            max_msgs_per_subject=1,
            storage=StorageType.FILE,
            num_replicas=replicas,
        ),
    )


async def ensure_repair_stream(js: JetStreamContext, *, replicas: int) -> None:
    """The repair work queue: a job stays until the node it targets acknowledges it, and is
    redelivered if that node dies first; the same job_id (Nats-Msg-Id) published twice by two
    index replicas is stored once."""
    await ensure_stream(
        js,
        StreamConfig(
            name=REPAIR_STREAM,
            subjects=[REPAIR_JOB_WILDCARD],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=REPAIR_DEDUP_WINDOW_S,
            num_replicas=replicas,
        ),
    )


async def ensure_kv(js: JetStreamContext, bucket: str, *, replicas: int, history: int = 1):
    """The KV bucket, created on first use in file storage with `replicas` copies; an existing
    bucket with another replica count is brought to it (a mesh that grew from one NATS server
    to a cluster gets its buckets replicated, not left on one server). Retried while a cluster
    cannot answer yet."""
    return await _until_jetstream_answers(
        bucket, lambda: _ensure_kv_once(js, bucket, replicas=replicas, history=history)
    )


def direct_reads(replicas: int) -> bool:
    """Whether a bucket of `replicas` copies answers reads with JetStream's direct get: the
    stored message as it is, where the ordinary get wraps it in JSON with its data and headers
    in base64 (which nats-py then parses with `email.parser`) — about half an index CPU-ms of
    every 64 KiB get went to two such reads. A replicated stream serves direct gets from its
    followers too, which may trail the leader: there reads stay with the leader, so a read
    never returns what an acknowledged write or delete has replaced."""
    return replicas == 1


async def _ensure_kv_once(js: JetStreamContext, bucket: str, *, replicas: int, history: int):
    try:
        kv = await js.key_value(bucket)
    except BucketNotFoundError:
        try:
            kv = await js.create_key_value(
                KeyValueConfig(
                    bucket=bucket,
                    history=history,
                    storage=StorageType.FILE,
                    replicas=replicas,
                    direct=direct_reads(replicas),
                )
            )
            await _settled(js, kv._stream, replicas)
            return kv
        except BadRequestError:
            kv = await js.key_value(bucket)  # another replica created it at the same moment
    config = (await js.stream_info(kv._stream)).config
    direct = direct_reads(replicas)
    if config.num_replicas != replicas or bool(config.allow_direct) != direct:
        log.info(
            "kv_config_changing",
            bucket=bucket,
            replicas_was=config.num_replicas,
            replicas=replicas,
            direct_reads=direct,
        )
        await js.update_stream(
            dataclasses.replace(config, num_replicas=replicas, allow_direct=direct)
        )
        await _settled(js, kv._stream, replicas)
        kv = await js.key_value(bucket)  # reads the way the stream now answers them
    return kv


async def _settled(
    js: JetStreamContext, stream: str, replicas: int, timeout_s: float = REPLICAS_SETTLE_S
) -> None:
    """Wait (bounded) until a replicated stream just created or re-sized has a leader and every
    follower is current: until then writes to it time out (for about 5 s on loopback)."""
    if replicas == 1:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            cluster = (await js.stream_info(stream)).cluster
        except (nats.errors.Error, TimeoutError):  # no leader to answer yet
            cluster = None
        followers = [r for r in (cluster.replicas or []) if r.current] if cluster else []
        if cluster and cluster.leader and len(followers) == replicas - 1:
            log.info("stream_replicas_settled", stream=stream, replicas=replicas)
            return
        await asyncio.sleep(0.25)
    log.warning("stream_replicas_not_settled", stream=stream, replicas=replicas, waited_s=timeout_s)


async def kv_keys(kv) -> list[str]:
    """Every key of a KV bucket that has a value or a delete marker, from the server's subject
    index of the bucket's stream. nats-py's `KeyValue.keys()` races its own watch consumer (it
    can signal "no more" before the messages already pushed to it are counted) and under load
    returns some keys or none; an index that misses a manifest would hide a file from listings,
    or let garbage collection take its chunks."""
    info = await kv._js.stream_info(kv._stream, subjects_filter=f"{kv._pre}>")
    return sorted(s[len(kv._pre) :] for s in (info.state.subjects or {}))


async def publish(nc: NATS, subject: str, payload: bytes) -> None:
    """Publish with the current trace context in the `traceparent` header."""
    await nc.publish(subject, payload, headers=inject_headers())
