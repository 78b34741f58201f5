"""A transfer that is submitted while the chain cannot commit, driven through the real `stratos`
CLI against four real validator processes (issue 9, item 15).

With 2 of 4 validators down no block commits. `stratos send` must then say the truth — the tx
was submitted and is pending, not failed — with its hash and exit code 3; `stratos tx` shows it
pending; the next `send` takes the next nonce even when it asks first a validator whose mempool
has not seen the first tx (the relay between the two is cut here to make that race certain);
once a validator returns both commit in order and the balances are right; a hash no validator
knows is "unknown", in one sentence."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from node_support import ALICE, BOB, FEE, STOS, Cluster, addr, write_key

from stratos.common.testing_tls import cert_files
from stratos.v1 import consensus_pb2

pytestmark = pytest.mark.integration

EXIT_PENDING = 3  # documented in `stratos send --help` and `stratos tx --help`
# Four validators importing at once on a loaded 2-core machine take tens of seconds to serve:
# deadlines for (re)starts are generous, and polled, so they cost nothing when the machine idles.
START_S = 120


class Cli:
    """The `stratos` command as a user runs it, with ALICE's key as the default wallet."""

    def __init__(self, home: Path) -> None:
        self.home = home
        write_key(home / "keys" / "default.pem", ALICE)

    async def run(self, validators: list[str], *args: str) -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            "STRATOS_HOME": str(self.home),
            "STRATOS_CONSENSUS_ADDRESS": ",".join(validators),
            **cert_files().env(),  # the mesh's client certificate, as its operator hands it out
        }
        env.pop("STRATOS_DEBUG", None)
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "stratos.sdk", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=START_S + 60,
        )


@pytest.fixture
async def cluster(tmp_path):
    (tmp_path / "chain").mkdir()
    c = Cluster(tmp_path / "chain", 4, faulty=True)
    c.start_all()
    try:
        yield c
        await c.assert_same_chain()
    finally:
        await c.close()


def pending_sentence(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == EXIT_PENDING, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "error:" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    return line


async def test_a_send_without_quorum_is_pending_then_commits_and_the_next_nonce_follows(
    cluster: Cluster, tmp_path: Path
) -> None:
    cli = Cli(tmp_path / "home")
    v = [n.address for n in cluster.nodes]
    bob = addr(BOB)
    await cluster.wait_heights(1, timeout_s=START_S)

    # Two of four down: no quorum. The relay from validator 2 to validator 3 is cut.
    cluster.kill(0)
    cluster.kill(1)
    await cluster.block({2: [v[3]]})
    stalled = max((await cluster.heights([2, 3])).values())

    first = await cli.run(v, "send", bob, "1", "--timeout", "2")
    line = pending_sentence(first)
    h1 = first.stdout.strip().removeprefix("tx ")
    assert len(h1) == 64 and line.startswith(f"submitted as tx {h1}, not yet committed after 2 s")
    # (Validators 2 and 3 may still finish the height they were deciding at the kill.)
    assert "no block has committed since" in line or "blocks committed up to height" in line
    assert f"it is pending on {v[2]} and may still commit" in line
    assert f"'stratos tx {h1} --wait'" in line

    shown = await cli.run(v, "tx", h1, "--json")
    assert shown.returncode == EXIT_PENDING, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["state"] == "pending" and doc["pending_on"] == [v[2]]
    assert sorted(doc["unreachable"]) == sorted(v[:2])
    assert doc["tx"]["nonce"] == 0 and doc["tx"]["to"] == bob and doc["tx"]["amount"] == "1"
    table = await cli.run(v, "tx", h1)
    assert table.returncode == EXIT_PENDING and "pending in the mempool of" in table.stdout

    # The second send asks validator 3 first, whose mempool never saw the first tx.
    second = await cli.run([v[3], v[2], v[0], v[1]], "send", bob, "2", "--timeout", "0", "--json")
    assert second.returncode == EXIT_PENDING, second.stderr
    sent = json.loads(second.stdout)
    h2 = sent["tx_hash"]
    assert sent["state"] == "pending" and sent["nonce"] == 1 and sent["height"] is None
    assert sent["pending_on"] == [v[2]] and h2 != h1
    assert max((await cluster.heights([2, 3])).values()) <= stalled + 1  # still no quorum

    # A validator returns and the relay heals: both commit, in nonce order.
    cluster.nodes[2].blocked_file.write_text("")
    cluster.start(0)
    waited = await cli.run(v, "tx", h2, "--wait", "--timeout", str(START_S), "--json")
    assert waited.returncode == 0, (waited.stdout, waited.stderr)
    c2 = json.loads(waited.stdout)
    done = await cli.run(v, "tx", h1, "--json")
    assert done.returncode == 0, done.stderr
    c1 = json.loads(done.stdout)
    assert c1["state"] == c2["state"] == "committed" and c1["code"] == c2["code"] == 0
    assert (c1["height"], c1["index"]) < (c2["height"], c2["index"])
    assert c2["height"] > stalled and c1["tx"]["hash"] == h1
    table = await cli.run(v, "tx", h2)
    assert table.returncode == 0 and f"committed at height {c2['height']}" in table.stdout

    await cluster.wait_heights(c2["height"], nodes=[0, 2, 3], timeout_s=START_S)
    for i in (0, 2, 3):
        assert await cluster.balance(i, bob) == 3 * STOS
        assert await cluster.balance(i, addr(ALICE)) == 1_000 * STOS - 3 * STOS - 2 * FEE
    mine = json.loads((await cli.run(v, "balance", "--json")).stdout)
    assert mine["nonce"] == 2 and mine["pending_nonce"] == 2

    # A third send commits at once, with the next nonce.
    third = await cli.run(v, "send", bob, "0.5", "--json")
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout)["nonce"] == 2

    # A hash no validator ever saw: one sentence, exit 1, at once even with --wait.
    never = "ab" * 32
    for args in (("tx", never), ("tx", never, "--wait", "--timeout", "60")):
        proc = await cli.run(v, *args)
        assert proc.returncode == 1 and proc.stdout == "", proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith(f"error: no validator knows the tx {never}: it was never submitted")
        assert line.endswith("; 1 of 4 validators did not answer")
    proc = await cli.run(v, "tx", never, "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout)["state"] == "unknown"
    # The API says the same of a malformed hash, for clients other than the CLI.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await cluster.nodes[2].stub.GetTx(consensus_pb2.GetTxRequest(tx_hash="XYZ"), timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "'XYZ' is not a tx hash (64 lowercase hex characters)"
