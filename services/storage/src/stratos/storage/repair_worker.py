"""The JetStream edge of repair: a durable pull consumer on this node's job subject.

Jobs arrive on `stratos.repair.job.<node_id>` in the STRATOS_REPAIR work-queue stream. The
consumer `repair-<node_id>` is durable, so jobs wait for a node that is down and resume after a
restart. Up to `concurrency` jobs run at once. A job is acknowledged only once its result is
durable (the chunk fsync'd); then a RepairResult goes to `stratos.repair.result.<node_id>`. A
job that failed for now is nak'd with a back-off delay, at most `max_deliver` times; the last
attempt, a failure for good and a malformed job are acknowledged and reported with ok=false. A
job that is still running tells JetStream so every ack_wait/3, so a long transfer is not
redelivered; one whose node dies is redelivered after ack_wait and redone idempotently.

A message with the `Stratos-Jobs` header holds a RepairJobBatch (the index sends a lost node's
thousands of jobs that way): its jobs run one after another, each reported as it ends, and the
message is acknowledged when all are done. A job of a batch is attempted once — a failure, even
one that may pass, is reported, and the index plans that chunk again (elsewhere while it may).

Only an admitted meta (index) node may give this node work: a job not signed by one (anyone who
can publish on NATS could publish `RepairJob(kind=DELETE)`) is dropped, counted and terminated —
never executed, never redelivered. Results are signed by this node.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from stratos.common.lifecycle import cancel_and_wait
from stratos.common.logging import get_logger
from stratos.common.nats_roles import repair_durable
from stratos.common.nats_subjects import REPAIR_BATCH_HEADER
from stratos.common.nats_trust import Gate, Signer
from stratos.common.natsutil import REPAIR_JOB_SUBJECT, REPAIR_RESULT_SUBJECT, REPAIR_STREAM
from stratos.common.tracing import extract_context, tracer
from stratos.storage.repair_exec import RepairExecutor
from stratos.storage.repair_jobs import Action, Outcome, build_result, decide, kind_name
from stratos.v1 import auth_pb2, repair_pb2

log = get_logger(__name__)
_tracer = tracer(__name__)

JOB_SENDERS = frozenset({auth_pb2.MESH_ROLE_META})
RESUBSCRIBE_DELAY_S = 1.0
ACK_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 2
    ack_wait_s: float = 30.0
    max_deliver: int = 6
    retry_base_delay_s: float = 2.0  # first nak delay; doubles per attempt, at most 60 s
    fetch_wait_s: float = 1.0  # how long one pull waits for a job (also the stop latency)
    stop_grace_s: float = 5.0  # running jobs get this long to finish on stop, then are nak'd


def durable_name(node_id: str) -> str:
    return repair_durable(node_id)


def consumer_config(node_id: str, settings: WorkerSettings) -> ConsumerConfig:
    return ConsumerConfig(
        # named, so nats-py creates it on CONSUMER.CREATE.<stream>.<name>.<filter>, where the
        # server holds the filter to the subject its NATS user may publish to (nats_roles)
        name=durable_name(node_id),
        durable_name=durable_name(node_id),
        filter_subject=REPAIR_JOB_SUBJECT.format(node_id=node_id),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_s,
        max_deliver=settings.max_deliver,
    )


class RepairWorker:
    def __init__(
        self,
        executor: RepairExecutor,
        node_id: str,
        settings: WorkerSettings | None = None,
        *,
        signer: Signer,
        gate: Gate,
    ) -> None:
        self.executor = executor
        self.node_id = node_id
        self.settings = settings or WorkerSettings()
        self.signer, self.gate = signer, gate
        self._tasks: set[asyncio.Task[None]] = set()
        self._nc: NATS | None = None

    async def run(self, nc: NATS, stop: asyncio.Event) -> None:
        """Execute this node's jobs until `stop` is set; then let running jobs finish briefly."""
        self._nc = nc
        js = nc.jetstream()
        sub = None
        failing = False
        try:
            while not stop.is_set():
                if sub is None:
                    sub = await self._subscribe(js, stop)
                    if sub is None:
                        break
                if len(self._tasks) >= self.settings.concurrency:
                    await asyncio.wait(
                        self._tasks,
                        timeout=self.settings.fetch_wait_s,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    continue
                try:
                    # One at a time: a bigger batch holds the first job back until the batch
                    # fills or the wait ends; a free slot asks again at once.
                    msgs = await sub.fetch(1, timeout=self.settings.fetch_wait_s)
                except (NatsTimeoutError, TimeoutError):
                    continue
                except Exception as exc:  # disconnected, consumer gone: set it up again
                    if not failing:
                        log.warning("repair_fetch_failed", error=str(exc) or type(exc).__name__)
                    failing = True
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    sub = None
                    await _sleep_unless(stop, RESUBSCRIBE_DELAY_S)
                    continue
                failing = False
                for msg in msgs:
                    task = asyncio.create_task(self._handle(msg))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            await self._finish_running()
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def _subscribe(
        self, js: JetStreamContext, stop: asyncio.Event
    ) -> JetStreamContext.PullSubscription | None:
        """Durable consumer (created or brought to this config) and a pull binding; retried
        until it works or the node stops. The stream is the index's to create: a storage node's
        NATS user may only make its own consumer on it (`stratos.common.nats_roles`)."""
        failing = False
        while not stop.is_set():
            try:
                await js.add_consumer(REPAIR_STREAM, consumer_config(self.node_id, self.settings))
                sub = await js.pull_subscribe_bind(
                    durable=durable_name(self.node_id), stream=REPAIR_STREAM
                )
            except Exception as exc:  # JetStream still starting or NATS down
                if not failing:
                    log.warning("repair_consumer_unavailable", error=str(exc) or type(exc).__name__)
                failing = True
                await _sleep_unless(stop, RESUBSCRIBE_DELAY_S)
                continue
            log.info("repair_consumer_ready", durable=durable_name(self.node_id))
            return sub
        return None

    async def _finish_running(self) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=self.settings.stop_grace_s)
        with contextlib.suppress(Exception):  # each job reports its own failure
            await cancel_and_wait(*pending)

    async def _handle(self, msg: Msg) -> None:
        # A redelivery (nak'd for a retry) carries the same signature as the first delivery.
        first = (msg.metadata.num_delivered or 1) == 1
        if (
            self.gate.admit(msg.subject, msg.data, msg.headers, roles=JOB_SENDERS, once=first)
            is None
        ):
            await _quietly(msg.term())  # dropped for good: a forged job is never redelivered
            return
        if (msg.headers or {}).get(REPAIR_BATCH_HEADER):
            await self._handle_batch(msg)
            return
        try:
            job = repair_pb2.RepairJob.FromString(msg.data)
        except DecodeError:
            log.error("repair_job_unreadable", subject=msg.subject, size=len(msg.data))
            await _quietly(msg.ack_sync(timeout=ACK_TIMEOUT_S))  # retrying cannot help
            return
        attempt = msg.metadata.num_delivered or 1
        with _job_span(msg, job) as span:
            span.set_attribute("stratos.attempt", attempt)
            try:
                outcome = await self._execute(msg, job)
            except asyncio.CancelledError:
                # Stopping: hand the job back now rather than after ack_wait.
                await _quietly(msg.nak())
                raise
            span.set_attribute("stratos.ok", outcome.ok)
            span.set_attribute("stratos.bytes", outcome.bytes)
            await self._settle(msg, job, outcome, attempt)

    async def _handle_batch(self, msg: Msg) -> None:
        try:
            jobs = repair_pb2.RepairJobBatch.FromString(msg.data).jobs
        except DecodeError:
            log.error("repair_batch_unreadable", subject=msg.subject, size=len(msg.data))
            await _quietly(msg.ack_sync(timeout=ACK_TIMEOUT_S))  # retrying cannot help
            return
        try:
            async with self._keeping_alive(msg):
                for job in jobs:
                    if job.target_node_id != self.node_id:
                        log.warning(
                            "repair_job_not_ours", job_id=job.job_id, target=job.target_node_id
                        )
                        continue
                    with _job_span(msg, job) as span:
                        outcome = await self._attempt(job, retryable=False)
                        span.set_attribute("stratos.ok", outcome.ok)
                    await self._report(job, outcome, outcome.error, attempt=1)
        except asyncio.CancelledError:
            await _quietly(msg.nak())  # stopping: the batch is run again, idempotently
            raise
        try:
            await msg.ack_sync(timeout=ACK_TIMEOUT_S)
        except Exception as exc:  # redelivered; its jobs find their work done
            log.warning("repair_batch_ack_failed", error=str(exc) or type(exc).__name__)

    async def _attempt(self, job: repair_pb2.RepairJob, *, retryable: bool) -> Outcome:
        """One run of `job`; a bug must not kill the worker (a single job is then retried,
        bounded; a batch's is reported failed)."""
        try:
            return await self.executor.execute(job)
        except Exception as exc:
            log.exception("repair_job_crashed", job_id=job.job_id)
            return Outcome(False, error=f"internal error: {exc}", retryable=retryable)

    async def _execute(self, msg: Msg, job: repair_pb2.RepairJob) -> Outcome:
        async with self._keeping_alive(msg):
            return await self._attempt(job, retryable=True)

    @contextlib.asynccontextmanager
    async def _keeping_alive(self, msg: Msg) -> AsyncIterator[None]:
        """Tell JetStream the message is still worked on, every ack_wait/3, for the block."""
        keepalive = asyncio.create_task(self._keep_alive(msg))
        try:
            yield
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive

    async def _keep_alive(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.settings.ack_wait_s / 3)
            await _quietly(msg.in_progress())

    async def _settle(
        self, msg: Msg, job: repair_pb2.RepairJob, outcome: Outcome, attempt: int
    ) -> None:
        disposition = decide(
            outcome,
            attempt,
            self.settings.max_deliver,
            base_delay_s=self.settings.retry_base_delay_s,
        )
        fields = {"job_id": job.job_id, "kind": kind_name(job.kind), "chunk_id": job.chunk_id}
        if disposition.action is Action.NAK:
            log.warning(
                "repair_retry",
                **fields,
                attempt=attempt,
                delay_s=disposition.delay_s,
                error=outcome.error,
            )
            await _quietly(msg.nak(delay=disposition.delay_s))
            return
        try:
            await msg.ack_sync(timeout=ACK_TIMEOUT_S)
        except Exception as exc:
            # Not acknowledged: JetStream redelivers it and the idempotent redo reports then.
            log.warning("repair_ack_failed", **fields, error=str(exc) or type(exc).__name__)
            return
        await self._report(job, outcome, disposition.error, attempt)

    async def _report(
        self, job: repair_pb2.RepairJob, outcome: Outcome, error: str, attempt: int
    ) -> None:
        fields = {"job_id": job.job_id, "kind": kind_name(job.kind), "chunk_id": job.chunk_id}
        result = build_result(job, self.node_id, outcome, error)
        if result.ok:
            log.info("repair_done", **fields, bytes=result.bytes, attempt=attempt)
        else:
            log.warning("repair_failed", **fields, error=result.error, attempt=attempt)
        assert self._nc is not None
        try:
            subject = REPAIR_RESULT_SUBJECT.format(node_id=self.node_id)
            await self.signer.publish(self._nc, subject, result.SerializeToString())
        except Exception as exc:
            log.warning("repair_result_unpublished", **fields, error=str(exc))


@contextlib.contextmanager
def _job_span(msg: Msg, job: repair_pb2.RepairJob) -> Iterator:
    """The span of one job's run, in the trace its message carries."""
    with _tracer.start_as_current_span(
        "repair_chunk", context=extract_context(msg.headers)
    ) as span:
        span.set_attribute("stratos.job_id", job.job_id)
        span.set_attribute("stratos.chunk_id", job.chunk_id)
        span.set_attribute("stratos.repair_kind", kind_name(job.kind))
        yield span


async def _quietly(aw) -> None:
    try:
        await aw
    except Exception as exc:  # the connection is gone: JetStream redelivers after ack_wait
        log.debug("repair_ack_op_failed", error=str(exc) or type(exc).__name__)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
