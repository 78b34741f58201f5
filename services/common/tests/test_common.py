"""Behaviour of the shared library: config errors name the variable, the error tree maps to gRPC
codes and back, identities persist with mode 0600, and the NATS helpers work on a real server."""

import os
import stat

import grpc
import pytest
from pydantic import Field

from stratos.common import errors, identity, natsutil
from stratos.common.config import ServiceSettings, load_settings
from stratos.common.procs import async_wait_until
from stratos.common.testing import nats_server


class _Settings(ServiceSettings):
    capacity_bytes: int = Field(1024, ge=1)


def test_bad_config_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("STRATOS_CAPACITY_BYTES", "lots")
    with pytest.raises(errors.ConfigError, match="STRATOS_CAPACITY_BYTES"):
        load_settings(_Settings)


def test_config_defaults_and_overrides(monkeypatch):
    monkeypatch.setenv("STRATOS_CAPACITY_BYTES", "4096")
    assert load_settings(_Settings).capacity_bytes == 4096
    monkeypatch.delenv("STRATOS_CAPACITY_BYTES")
    assert load_settings(_Settings).capacity_bytes == 1024


class _FakeRpcError(grpc.RpcError):
    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


def test_grpc_status_maps_back_to_the_error_tree_with_its_sentence():
    err = errors.from_grpc(_FakeRpcError(grpc.StatusCode.NOT_FOUND, "no file with ID abc"))
    assert isinstance(err, errors.NotFound) and not err.retryable
    assert str(err) == "no file with ID abc"
    down = errors.from_grpc(_FakeRpcError(grpc.StatusCode.UNAVAILABLE, ""), peer="127.0.0.1:1")
    assert isinstance(down, errors.Unavailable) and down.retryable
    assert "127.0.0.1:1" in str(down)


def test_identity_is_created_once_with_mode_0600_and_signs(tmp_path):
    path = tmp_path / "keys" / "node.pem"
    first = identity.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = identity.load_or_create(path)
    assert first.public_bytes == second.public_bytes
    sig = first.sign(b"hello")
    assert identity.verify(first.public_bytes, sig, b"hello")
    assert not identity.verify(first.public_bytes, sig, b"hellO")


def test_corrupt_identity_file_is_a_config_error(tmp_path):
    path = tmp_path / "node.pem"
    path.write_text("not a key")
    with pytest.raises(errors.ConfigError, match="not a valid"):
        identity.load_or_create(path)


@pytest.mark.integration
async def test_kv_bucket_and_heartbeat_stream_are_idempotent_on_a_real_server():
    with nats_server() as n:
        nc = await natsutil.connect(n.url, name="test")
        try:
            js = nc.jetstream()
            for _ in range(2):
                await natsutil.ensure_heartbeat_stream(js, replicas=1)
                kv = await natsutil.ensure_kv(js, natsutil.MANIFEST_BUCKET, replicas=1)
            await kv.put("k", b"v")
            assert (await kv.get("k")).value == b"v"
            await natsutil.publish(nc, "stratos.node.heartbeat.n1", b"a")
            await natsutil.publish(nc, "stratos.node.heartbeat.n1", b"b")
            await nc.flush()

            async def stored():
                info = await js.stream_info(natsutil.HEARTBEAT_STREAM)
                return info.state.last_seq == 2 and info.state.messages == 1

            # only the latest heartbeat per node is kept
            await async_wait_until(stored, timeout_s=5, what="both heartbeats stored")
        finally:
            await nc.close()
