"""`python -m stratos.consensus` as an operator runs it: a one-validator chain commits alone,
SIGTERM stops it cleanly and a restart continues the same chain; bad settings are refused at
start with exit code 2 and one sentence naming the variable."""

from __future__ import annotations

import json
import subprocess
import sys

import grpc
import pytest
from node_support import Cluster

from stratos.common.grpcutil import channel
from stratos.common.procs import env_with
from stratos.common.testing_tls import cert_files, channel_credentials
from stratos.v1 import bft_pb2, consensus_pb2, consensus_pb2_grpc

pytestmark = pytest.mark.integration


async def test_a_single_validator_commits_alone_and_restarts_on_the_same_chain(tmp_path) -> None:
    c = Cluster(tmp_path, 1)
    c.start(0)
    try:
        await c.wait_heights(3, timeout_s=30)
        st = await c.status(0)
        assert st.chain_id == "node-test" and st.node_address and len(st.validators) == 1
        first = await c.block_hashes(0)
        stream = c.nodes[0].stub.StreamBlocks(consensus_pb2.StreamBlocksRequest(from_height=1))
        streamed = []
        async for resp in stream:
            streamed.append(resp.block.header.height)
            if len(streamed) == 3:
                break
        stream.cancel()
        assert streamed == [1, 2, 3]

        proc = c.nodes[0].proc
        proc.terminate()
        assert proc.wait(20) == 0
        assert "Traceback" not in c.nodes[0].stderr()
        events = [
            json.loads(line)
            for line in (c.nodes[0].data_dir / "stdout.log").read_text().splitlines()
            if line.startswith("{")
        ]
        assert events[-1]["event"] == "stopped"

        c.start(0)
        await c.wait_heights(max(first) + 2, timeout_s=30)
        again = await c.block_hashes(0)
        assert all(again[h] == first[h] for h in first)
    finally:
        await c.close()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"STRATOS_TIMEOUT_PROPOSE_S": "0"}, "STRATOS_TIMEOUT_PROPOSE_S"),
        ({"STRATOS_PEERS": "127.0.0.1:7001,nonsense"}, "STRATOS_PEERS"),
        ({"STRATOS_GENESIS_FILE": "/nonexistent/genesis.json"}, "STRATOS_GENESIS_FILE"),
        ({"STRATOS_GENESIS_FILE": ""}, "STRATOS_GENESIS_FILE"),
    ],
)
def test_a_bad_setting_exits_2_with_one_sentence_naming_the_variable(
    tmp_path, env, variable
) -> None:
    genesis = tmp_path / "genesis.json"
    Cluster(tmp_path, 1)  # writes a valid genesis
    base = {
        "STRATOS_GENESIS_FILE": str(genesis),
        "STRATOS_DATA_DIR": str(tmp_path / "d"),
        **cert_files("consensus", "validator").env(),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "stratos.consensus"],
        env=env_with(**{**base, **env}),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and variable in lines[0]


def test_a_malformed_genesis_is_refused_with_its_reason(tmp_path) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps({"chain_id": "x", "genesis_time_unix_ms": 0, "accounts": []}))
    proc = subprocess.run(
        [sys.executable, "-m", "stratos.consensus"],
        env=env_with(
            STRATOS_GENESIS_FILE=str(genesis),
            STRATOS_DATA_DIR=str(tmp_path / "d"),
            **cert_files("consensus", "validator").env(),
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: STRATOS_GENESIS_FILE: genesis lacks validators"), (
        proc.stderr
    )


@pytest.mark.attack
@pytest.mark.parametrize(("role", "name"), [("client", "client"), ("storage", "storage-1")])
async def test_only_a_validator_certificate_opens_the_validators_own_service(
    tmp_path, role, name
) -> None:
    """A user's client certificate (which every user of the mesh is given) or a storage node's
    reaches a validator's public ConsensusService but not ValidatorService: Push, RelayTxs and
    SyncBlocks are refused with PERMISSION_DENIED, and the chain goes on."""
    c = Cluster(tmp_path, 1)
    c.start(0)
    try:
        await c.wait_heights(2, timeout_s=30)
        async with channel(c.nodes[0].address, channel_credentials(role, name)) as ch:
            stub = consensus_pb2_grpc.ValidatorServiceStub(ch)
            calls = {
                "Push": stub.Push(iter([bft_pb2.ConsensusMessage()]), timeout=10),
                "RelayTxs": stub.RelayTxs(consensus_pb2.RelayTxsRequest(), timeout=10),
                "SyncBlocks": _drain(
                    stub.SyncBlocks(consensus_pb2.SyncBlocksRequest(from_height=1), timeout=10)
                ),
            }
            for method, call in calls.items():
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call
                assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, method
                assert f"ValidatorService.{method} is for validators" in err.value.details()
                assert f"a {role} certificate" in err.value.details()
            # the public API answers the same caller
            st = await consensus_pb2_grpc.ConsensusServiceStub(ch).Status(
                consensus_pb2.StatusRequest(), timeout=10
            )
        height = st.height
        await c.wait_heights(height + 2, timeout_s=30)
    finally:
        await c.close()


async def _drain(stream) -> list:
    return [m async for m in stream]
