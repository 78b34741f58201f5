"""`python -m stratos.index` against a NATS that admits only its users (TLS, NKeys): it runs
as the index user, creates the mesh's streams and buckets, and stops with one sentence when
its credentials are missing, malformed or not the server's."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stratos.common import natsutil
from stratos.common.grpcutil import check_health
from stratos.common.nats_auth import credentials_text, new_user
from stratos.common.nats_roles import Role
from stratos.common.procs import async_wait_until, env_with, free_port
from stratos.common.testing import nats_server
from stratos.common.testing_tls import cert_files, channel_credentials

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secure_nats():
    with nats_server(secure=True) as n:
        yield n


def _run_index(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stratos.index"],
        env=env_with(
            STRATOS_NATS_CONNECT_TIMEOUT_S="10", **cert_files("index", "index").env(), **env
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_index_runs_as_its_nats_user_and_creates_the_mesh_streams(secure_nats):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stratos.index"],
        env=env_with(
            STRATOS_NATS_URL=secure_nats.url,
            STRATOS_GRPC_ADDRESS=f"127.0.0.1:{port}",
            **secure_nats.env(Role.INDEX),
            **cert_files("index", "index").env(),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        async def healthy() -> bool:
            assert proc.poll() is None, f"the index exited: {proc.stderr.read()}"
            return await check_health(f"127.0.0.1:{port}", channel_credentials(), timeout_s=1)

        await async_wait_until(healthy, timeout_s=60, interval_s=0.2, what="a healthy index")
        nc = await natsutil.connect(secure_nats.url, name="admin", login=secure_nats.login())
        try:
            names = set()
            js = nc.jetstream()
            for stream in (natsutil.HEARTBEAT_STREAM, natsutil.REPAIR_STREAM):
                names.add((await js.stream_info(stream)).config.name)
            for bucket in (natsutil.MANIFEST_BUCKET, natsutil.LOCATIONS_BUCKET):
                names.add((await js.stream_info(f"KV_{bucket}")).config.name)
        finally:
            await nc.close()
        assert len(names) == 4
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stderr.close()


def test_credentials_the_server_does_not_know_stop_the_index_naming_the_user(
    secure_nats, tmp_path: Path
):
    forged = tmp_path / "index.nk"
    forged.write_text(credentials_text(new_user(Role.INDEX)))
    forged.chmod(0o600)
    done = _run_index(
        {
            "STRATOS_NATS_URL": secure_nats.url,
            "STRATOS_NATS_NKEY_FILE": str(forged),
            "STRATOS_NATS_TLS_CA_FILE": str(secure_nats.security.tls().ca_file),
        }
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "refused NATS user index (key U" in lines[0] and str(forged) in lines[0]


@pytest.mark.parametrize("content", [None, "# stratos nats user index\nSUNOTASEED\n"])
def test_missing_or_malformed_credentials_stop_the_index_at_start(tmp_path: Path, content):
    path = tmp_path / "index.nk"
    if content is not None:
        path.write_text(content)
    done = _run_index(
        {"STRATOS_NATS_URL": "nats://127.0.0.1:1", "STRATOS_NATS_NKEY_FILE": str(path)}
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: invalid configuration: STRATOS_NATS_NKEY_FILE: ")
    assert "Traceback" not in done.stderr
