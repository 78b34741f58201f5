"""The index's `serve()` is one stack of components: when one cannot start, the ones started
before it are closed, in reverse order, and the operator reads one sentence and exit code 2 —
never a traceback, never a half-started index left running."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats.errors
import pytest
from nats.js.api import StreamConfig

from stratos.common import natsutil
from stratos.common.errors import Unavailable
from stratos.common.lifecycle import Component, run_service
from stratos.common.procs import async_wait_until, env_with, free_port
from stratos.common.testing_tls import cert_files, credentials
from stratos.index import main as index_main

JETSTREAM_SENTENCE = "cannot hold the repair stream and buckets (is JetStream enabled?)"


class FakePart(Component):
    """Stands in for one of the index's components and records its start and stop; with
    `fails`, its start takes a subscription and then fails as a NATS call does."""

    def __init__(self, name: str, events: list[str], fails: Exception | None = None) -> None:
        self.name, self.events, self.fails = name, events, fails
        self.subscribed = False

    async def start(self) -> None:
        self.subscribed = True
        if self.fails is not None:
            raise self.fails
        self.events.append(f"started {self.name}")

    async def stop(self) -> None:
        self.events.append(f"stopped {self.name}" + (" (unsubscribed)" if self.subscribed else ""))
        self.subscribed = False


class FakeNats:
    def jetstream(self) -> object:
        return object()


class FakeStore:
    @classmethod
    async def open(cls, _js: object, *, replicas: int) -> FakeStore:
        return cls()


@pytest.fixture
def quiet_index(monkeypatch):
    """The index's logging and tracing set-up stays out of the test process (it binds stdout)."""
    monkeypatch.setattr(index_main, "configure_logging", lambda *_: None)
    monkeypatch.setattr(index_main, "setup_tracing", lambda *_: None)


@pytest.fixture
def keep_umask():
    """run_service sets the process umask, as a service must; the test process gets its own back."""
    was = os.umask(0o022)
    os.umask(was)
    yield
    os.umask(was)


def test_when_the_repair_loop_cannot_start_the_parts_before_it_are_closed_and_one_sentence_exits_2(
    monkeypatch, capsys, quiet_index, keep_umask
) -> None:
    """NATS, the heartbeat feed, the drain registry and the catalog start; the repair loop's
    start fails halfway with a NATS error: it releases its own subscription, then the catalog,
    the drains, the feed and the connection are closed in that order, and the user reads one
    sentence."""
    events: list[str] = []

    @asynccontextmanager
    async def nats_connection(_settings) -> AsyncIterator[FakeNats]:
        events.append("connected")
        try:
            yield FakeNats()
        finally:
            events.append("drained NATS")

    class Drains:
        @staticmethod
        @asynccontextmanager
        async def refreshing(_js: object, *, replicas: int) -> AsyncIterator[Drains]:
            events.append("started drains")
            try:
                yield Drains()
            finally:
                events.append("stopped drains")

        def draining(self) -> frozenset[str]:
            return frozenset()

    monkeypatch.setenv("STRATOS_NATS_URL", "nats://127.0.0.1:4999")
    for name, value in cert_files("index", "index").env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(index_main, "nats_connection", nats_connection)
    monkeypatch.setattr(index_main, "ManifestStore", FakeStore)
    monkeypatch.setattr(
        index_main, "HeartbeatFeed", lambda *_, **__: FakePart("heartbeat feed", events)
    )
    monkeypatch.setattr(index_main, "DrainRegistry", Drains)
    monkeypatch.setattr(index_main, "Catalog", lambda *_, **__: FakePart("catalog", events))
    monkeypatch.setattr(
        index_main,
        "RepairLoop",
        lambda *_, **__: FakePart("repair loop", events, fails=nats.errors.TimeoutError()),
    )

    assert run_service(index_main.serve) == 2

    assert events == [
        "connected",
        "started heartbeat feed",
        "started drains",
        "started catalog",
        "stopped repair loop (unsubscribed)",
        "stopped catalog (unsubscribed)",
        "stopped drains",
        "stopped heartbeat feed (unsubscribed)",
        "drained NATS",
    ]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: NATS at nats://127.0.0.1:4999 {JETSTREAM_SENTENCE}: ")


async def _refuse_the_repair_stream(nats_url: str) -> None:
    """Another stream takes the repair subjects, so NATS refuses to create the index's."""
    nc = await natsutil.connect(nats_url, name="squatter", connect_deadline_s=10)
    try:
        await nc.jetstream().add_stream(
            StreamConfig(name="SQUATTER", subjects=[natsutil.REPAIR_JOB_WILDCARD])
        )
    finally:
        await nc.close()


@pytest.mark.integration
async def test_an_index_that_cannot_start_its_repair_loop_leaves_nothing_running(
    nats, monkeypatch, quiet_index
) -> None:
    """The real components against a real NATS: the repair loop (after the connection, the
    heartbeat feed and the drain registry) cannot create its stream; serve() raises the one
    sentence, and no task of the index runs on and its NATS connection is gone."""
    await _refuse_the_repair_stream(nats.url)
    monkeypatch.setenv("STRATOS_NATS_URL", nats.url)
    monkeypatch.setenv("STRATOS_GRPC_ADDRESS", f"127.0.0.1:{free_port()}")
    before = asyncio.all_tasks()

    with pytest.raises(Unavailable, match=r"cannot hold the repair stream and buckets \(is Jet"):
        await index_main.serve(asyncio.Event(), credentials("index", "index"))

    async def nothing_left() -> bool:
        return not (asyncio.all_tasks() - before) and nats.monitor("connz")["num_connections"] == 0

    await async_wait_until(nothing_left, timeout_s=10, what="no task and no NATS connection left")


@pytest.mark.integration
async def test_the_index_process_that_cannot_start_its_repair_loop_exits_2_with_one_sentence(
    nats,
) -> None:
    await _refuse_the_repair_stream(nats.url)
    proc = subprocess.run(
        [sys.executable, "-m", "stratos.index"],
        env=env_with(
            **cert_files("index", "index").env(),
            STRATOS_NATS_URL=nats.url,
            STRATOS_GRPC_ADDRESS=f"127.0.0.1:{free_port()}",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: NATS at {nats.url} {JETSTREAM_SENTENCE}: ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
