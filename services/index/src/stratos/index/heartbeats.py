"""Feeds the node registry from storage heartbeats kept in the STRATOS_HEARTBEATS stream.

An ordered JetStream consumer delivering LAST_PER_SUBJECT hands a fresh index every node's
latest heartbeat at once, then each new one as it arrives. Ordered consumers are ephemeral and
re-create themselves (from the next stream sequence) when their idle heartbeats stop, which is
what carries the feed across a NATS restart. A NATS that comes back *without* its store (the
stream is gone, or started over at a lower sequence) is not something the ordered consumer can
recover from, so a slow watch re-creates the stream and subscribes afresh in that case.

A heartbeat is believed only when the node its subject names signed it with the key the
admission list gives that name, and only with that key in its body: an invented node (a ghost)
or another key under an existing name (a takeover) is dropped and counted. The time the
registry judges liveness by is the signed one, which the gate keeps out of the future.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from google.protobuf.message import DecodeError
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from stratos.common.lifecycle import Component, cancel_and_wait
from stratos.common.logging import get_logger
from stratos.common.nats_trust import Gate
from stratos.common.natsutil import HEARTBEAT_STREAM, HEARTBEAT_WILDCARD, ensure_heartbeat_stream
from stratos.index.registry import Registry
from stratos.v1 import auth_pb2, events_pb2

log = get_logger(__name__)

HEARTBEAT_PREFIX = HEARTBEAT_WILDCARD.removesuffix(">")
HEARTBEAT_SENDERS = frozenset({auth_pb2.MESH_ROLE_STORAGE})
# Short idle heartbeats so a consumer lost in a NATS restart is noticed (after two missed
# beats) and re-created within a couple of seconds of the server coming back.
CONSUMER_IDLE_HEARTBEAT_S = 1.0
STREAM_WATCH_INTERVAL_S = 5.0


class HeartbeatFeed(Component):
    def __init__(
        self,
        nc: NATS,
        registry: Registry,
        watch_interval_s: float = STREAM_WATCH_INTERVAL_S,
        *,
        replicas: int,
        gate: Gate,
    ) -> None:
        self._nc = nc
        self._gate = gate
        self._replicas = replicas
        self._js = nc.jetstream()
        self._registry = registry
        self._watch_interval_s = watch_interval_s
        self._sub = None
        self._watch: asyncio.Task | None = None
        self._seen_seq = 0
        self._target_seq = 0
        self._progress = asyncio.Event()
        self.ready = False

    async def start(self, catch_up_timeout_s: float = 3.0) -> bool:
        """Subscribe, then wait (bounded) until every heartbeat stored at start has been read.
        Returns whether it caught up in time; the index serves either way and says so in the
        log, and `ready` turns true as soon as the feed does catch up."""
        await self._subscribe()
        caught_up = await self._wait_caught_up(catch_up_timeout_s)
        self._watch = asyncio.create_task(self._watch_stream())
        if caught_up:
            log.info("heartbeats_caught_up", stream_seq=self._target_seq, nodes=len(self._registry))
        else:
            log.warning(
                "heartbeats_not_caught_up", seen_seq=self._seen_seq, target=self._target_seq
            )
        return caught_up

    async def _subscribe(self) -> None:
        await ensure_heartbeat_stream(self._js, replicas=self._replicas)
        self._target_seq = (await self._js.stream_info(HEARTBEAT_STREAM)).state.last_seq
        self._seen_seq = 0
        self.ready = self._target_seq == 0
        self._sub = await self._js.subscribe(
            HEARTBEAT_WILDCARD,
            stream=HEARTBEAT_STREAM,
            cb=self._on_msg,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            idle_heartbeat=CONSUMER_IDLE_HEARTBEAT_S,
        )

    async def _wait_caught_up(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.ready:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
        return True

    async def _on_msg(self, msg: Msg) -> None:
        try:
            self._seen_seq = max(self._seen_seq, msg.metadata.sequence.stream)
            if self._seen_seq >= self._target_seq:
                self.ready = True
            self._progress.set()
            hb = events_pb2.Heartbeat.FromString(msg.data)
        except (DecodeError, ValueError) as exc:
            log.warning("heartbeat_unreadable", subject=msg.subject, error=str(exc))
            return
        # The subject token is the node's name; a body claiming another node is not trusted.
        if msg.subject.removeprefix(HEARTBEAT_PREFIX) != hb.node.node_id:
            log.warning("heartbeat_subject_mismatch", subject=msg.subject, node=hb.node.node_id)
            return
        node_id = hb.node.node_id
        sender = self._gate.admit(
            msg.subject, msg.data, msg.headers, roles=HEARTBEAT_SENDERS, sender=node_id
        )
        if sender is None:
            return
        if bytes(hb.node.public_key) != self._gate.admission().key_of(node_id):
            self._gate.drop("key_mismatch", msg.subject, node_id)
            return
        hb.sent_unix_ms = sender.sent_ms
        if self._registry.observe(hb):
            log.debug("heartbeat", node=hb.node.node_id, sent_unix_ms=hb.sent_unix_ms)

    async def _watch_stream(self) -> None:
        while True:
            await asyncio.sleep(self._watch_interval_s)
            try:
                state = (await self._js.stream_info(HEARTBEAT_STREAM)).state
                if state.last_seq >= self._seen_seq:
                    continue
                log.warning("heartbeat_stream_reset", last_seq=state.last_seq, seen=self._seen_seq)
            except NotFoundError:
                log.warning("heartbeat_stream_missing")
            except Exception as exc:  # NATS unreachable: the client reconnects; look again later
                log.debug("heartbeat_stream_check_failed", error=str(exc))
                continue
            try:
                await self._unsubscribe()
                await self._subscribe()
            except Exception as exc:
                log.warning("heartbeat_resubscribe_failed", error=str(exc))

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):  # already gone with the connection or stream
                await sub.unsubscribe()

    async def stop(self) -> None:
        """Stop watching and unsubscribe; safe after a start that failed halfway."""
        await cancel_and_wait(self._watch)
        self._watch = None
        await self._unsubscribe()
