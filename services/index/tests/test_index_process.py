"""`python -m stratos.index` as an operator runs it: healthy on its port, clean exit on SIGTERM,
and a bad setting refused at start with one sentence naming the variable."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from stratos.common.grpcutil import check_health
from stratos.common.procs import async_wait_until, env_with, free_port, wait_until
from stratos.common.testing_tls import cert_files, channel_credentials

pytestmark = pytest.mark.integration


async def test_the_index_process_serves_and_stops_cleanly_on_sigterm(nats, tmp_path) -> None:
    port = free_port()
    out = (tmp_path / "stdout").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "stratos.index"],
        env=env_with(
            STRATOS_NATS_URL=nats.url,
            STRATOS_GRPC_ADDRESS=f"127.0.0.1:{port}",
            **cert_files("index", "index").env(),
        ),
        stdout=out,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        async def healthy() -> bool:
            assert proc.poll() is None, f"the index exited: {proc.stderr.read()}"
            return await check_health(f"127.0.0.1:{port}", channel_credentials(), timeout_s=1)

        await async_wait_until(healthy, timeout_s=30, interval_s=0.2, what="a healthy index")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert "Traceback" not in proc.stderr.read()
        out.seek(0)
        events = [json.loads(line) for line in out if line.startswith("{")]
        listening = [e for e in events if e["event"] == "grpc_listening"]
        assert listening and listening[0]["port"] == port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stderr.close()
        out.close()


def test_a_bad_setting_exits_2_with_one_sentence_naming_the_variable() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "stratos.index"],
        env=env_with(
            **cert_files("index", "index").env(),
            STRATOS_LOST_AFTER_S="2",
            STRATOS_NATS_URL="nats://127.0.0.1:1",
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "STRATOS_LOST_AFTER_S" in lines[0]
    assert "Traceback" not in proc.stderr


def test_unreachable_nats_exits_2_after_the_connect_deadline() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "stratos.index"],
        env=env_with(
            **cert_files("index", "index").env(),
            STRATOS_NATS_URL=f"nats://127.0.0.1:{free_port()}",
            STRATOS_NATS_CONNECT_TIMEOUT_S="1",
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot connect to NATS at nats://127.0.0.1:")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_sigterm_while_waiting_for_nats_exits_0(tmp_path) -> None:
    out = tmp_path / "stdout"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stratos.index"],
            env=env_with(
                **cert_files("index", "index").env(),
                STRATOS_NATS_URL=f"nats://127.0.0.1:{free_port()}",
            ),
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        wait_until(lambda: "nats_connecting" in out.read_text(), timeout_s=20, what="connecting")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stderr.close()
