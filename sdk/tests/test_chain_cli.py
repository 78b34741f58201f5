"""Unit tier for the ledger's CLI and launcher: every error a user can cause without a chain, the
genesis the launcher writes (parsed by the consensus service's own reader), the pure planning of
validator processes, and balance / send / chain status / chain block against an in-process
ConsensusService backed by the real ledger state machine (tests may import stratos.consensus)."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from devharness import assert_one_sentence, run_cli

from stratos.common.errors import AlreadyExists, FailedPrecondition, StratosError
from stratos.common.identity import Identity, address_of, load_or_create
from stratos.common.stos import format_stos
from stratos.common.testing_tls import cert_files, channel_credentials, server_credentials
from stratos.consensus.ledger.apphash import app_hash
from stratos.consensus.ledger.apply import apply_block
from stratos.consensus.ledger.block import block_hash, make_block
from stratos.consensus.ledger.epochs import node_message
from stratos.consensus.ledger.genesis import Genesis
from stratos.consensus.ledger.mempool import Mempool
from stratos.consensus.ledger.state import Params
from stratos.consensus.ledger.tx import tx_hash
from stratos.sdk import genesis, localmesh, meshfile, meshplan
from stratos.sdk.home import Home
from stratos.v1 import consensus_pb2, consensus_pb2_grpc, ledger_pb2

ADDR = "ab" * 20
STOS = 10**9


# -- errors without a chain ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["xyz", "AB" * 20, "ab" * 19, "ab" * 21, "0x" + "ab" * 19])
def test_send_to_a_bad_address_is_one_sentence_before_contacting_anything(home, capsys, bad):
    code, out, err = run_cli(capsys, "send", bad, "1")
    assert_one_sentence(code, err, "is not an address")
    assert out == ""


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("+1", "not an amount"),
        ("-1", "not an amount"),
        ("1e3", "not an amount"),
        ("abc", "not an amount"),
        ("1.0000000001", "more than 9 decimals"),
        ("0", "more than 0"),
        ("99999999999999", "more than the ledger can hold"),
    ],
)
def test_send_of_a_bad_amount_is_one_sentence(home, capsys, amount, why):
    code, _, err = run_cli(capsys, "send", "--", ADDR, amount)
    assert_one_sentence(code, err, why)


def test_send_with_a_bad_fee_or_unknown_wallet_is_one_sentence(home, capsys):
    code, _, err = run_cli(capsys, "send", ADDR, "1", "--fee", "cheap")
    assert_one_sentence(code, err, "fee", "not an amount")
    code, _, err = run_cli(capsys, "send", ADDR, "1", "--from", "nobody")
    assert_one_sentence(code, err, "no wallet named 'nobody'", "stratos wallet new nobody")


def test_balance_of_a_bad_address_is_one_sentence(home, capsys):
    code, _, err = run_cli(capsys, "balance", "nope")
    assert_one_sentence(code, err, "'nope' is not an address")


@pytest.mark.parametrize(
    "args", [("balance",), ("send", ADDR, "1"), ("chain", "status"), ("chain", "block", "1")]
)
def test_without_a_mesh_the_ledger_commands_say_how_to_start_validators(home, capsys, args):
    code, _, err = run_cli(capsys, *args)
    assert_one_sentence(code, err, "no mesh is running", "--validators 4")


def _records(home: Home, validators: int) -> list[meshplan.ProcessRecord]:
    ports = iter(range(7000, 8000))
    return meshplan.plan_processes(
        home.run_dir,
        [],
        storage_nodes=1,
        capacity_bytes=1 << 30,
        port=lambda: next(ports),
        python="/py",
        nats_binary=lambda: "/bin/nats-server",
        validators=validators,
    )


def test_a_mesh_without_validators_says_how_to_add_them(home, capsys):
    meshfile.save(home, _records(home, 0))
    code, _, err = run_cli(capsys, "balance")
    assert_one_sentence(code, err, "runs no validators", "--validators 4")


def test_stopped_validators_are_not_running_not_a_dead_address(home, capsys):
    meshfile.save(home, _records(home, 4))
    for args in (("balance",), ("chain", "status")):
        code, _, err = run_cli(capsys, *args)
        assert_one_sentence(code, err, "no validator of the local mesh", "is running")


def test_unreachable_validators_are_one_sentence(home, capsys, monkeypatch):
    for name, value in cert_files().env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STRATOS_CONSENSUS_ADDRESS", "127.0.0.1:1, 127.0.0.1:2")
    code, _, err = run_cli(capsys, "balance", ADDR)
    assert_one_sentence(code, err, "cannot reach any of the 2 validators")
    code, _, err = run_cli(capsys, "chain", "status")
    assert_one_sentence(code, err, "no validator answered")
    monkeypatch.setenv("STRATOS_CONSENSUS_ADDRESS", "127.0.0.1:1")
    code, _, err = run_cli(capsys, "send", ADDR, "1")
    assert_one_sentence(code, err, "cannot reach the validator at 127.0.0.1:1")


def test_chain_block_of_a_negative_height_is_refused(home, capsys):
    code, _, err = run_cli(capsys, "chain", "block", "--", "-1")
    assert_one_sentence(code, err, "HEIGHT must be between 0 and 18446744073709551615, not -1")


def test_wallet_commands(home, capsys):
    code, out, _ = run_cli(capsys, "wallet", "new", "bob")
    assert code == 0 and len(out.strip()) == 40
    bob = out.strip()
    code, _, err = run_cli(capsys, "wallet", "new", "bob")
    assert_one_sentence(code, err, "already exists")
    code, _, err = run_cli(capsys, "wallet", "new", "no/slash")
    assert_one_sentence(code, err, "is not a wallet name")
    code, out, _ = run_cli(capsys, "wallet", "show", "bob", "--json")
    assert code == 0 and json.loads(out)["address"] == bob
    code, out, _ = run_cli(capsys, "wallet", "show", "--json")  # default: created on first use
    default = json.loads(out)["address"]
    assert default == address_of(home.identity().public_bytes)
    code, out, _ = run_cli(capsys, "wallet", "list", "--json")
    assert [w["name"] for w in json.loads(out)] == ["default", "bob"]
    code, out, _ = run_cli(capsys, "wallet", "list")
    assert code == 0 and bob in out and "default" in out
    assert stat.S_IMODE((home.keys_dir / "bob.pem").stat().st_mode) == 0o600


# -- genesis ------------------------------------------------------------------------------------


def test_the_genesis_builder_is_what_the_consensus_service_reads():
    keys = [Identity.generate().public_bytes for _ in range(4)]
    faucet, storage, meta = "cd" * 20, ["a1" * 20, "a2" * 20], "ee" * 20
    doc = genesis.local_genesis(
        keys, faucet, 1_700_000_000_123, resource_nodes=storage, meta_nodes=[meta]
    )
    parsed = Genesis.from_json(genesis.genesis_json(doc))
    assert parsed.chain_id == "stratos-local"
    assert parsed.genesis_time_unix_ms == 1_700_000_000_123
    assert parsed.accounts == ((faucet, 1_000_000 * STOS), (meta, 100 * STOS))
    assert [v.public_key for v in parsed.validators] == keys
    assert all(v.power == 10 and v.deposit == 1_000 * STOS for v in parsed.validators)
    assert parsed.params == replace(Params(), epoch_blocks=20)
    state = parsed.initial_state()
    assert state.accounts[faucet].balance == 1_000_000 * STOS
    assert state.accounts[faucet].ozone > 0  # the local user can pay for traffic at once
    assert sorted(state.validators) == sorted(address_of(k) for k in keys)
    assert {a: n.role for a, n in state.nodes.items()} == {
        storage[0]: ledger_pb2.NODE_ROLE_RESOURCE,
        storage[1]: ledger_pb2.NODE_ROLE_RESOURCE,
        meta: ledger_pb2.NODE_ROLE_META,
    }
    assert state.pool.deposits == 2_000 * STOS  # the resource nodes' deposits back the ozone


def test_genesis_params_pass_through_to_the_consensus_reader():
    doc = genesis.build_genesis(
        chain_id="c-1",
        genesis_time_unix_ms=5,
        accounts=[("ab" * 20, 1), ("cd" * 20, 12_500_000_000)],
        validators=[genesis.GenesisValidator(Identity.generate().public_bytes, 3, 0)],
        params={"min_fee": "0.000002", "unbonding_blocks": 7},
    )
    parsed = Genesis.from_json(genesis.genesis_json(doc))
    assert parsed.accounts == (("ab" * 20, 1), ("cd" * 20, 12_500_000_000))
    assert parsed.params.min_fee == 2_000 and parsed.params.unbonding_blocks == 7


def test_a_genesis_is_written_once_and_never_rewritten(tmp_path):
    path = tmp_path / "run" / "genesis.json"
    keys = [Identity.generate().public_bytes]
    genesis.write_genesis(path, genesis.local_genesis(keys, ADDR, 1))
    first = path.read_text()
    with pytest.raises(AlreadyExists, match="never rewritten"):
        genesis.write_genesis(path, genesis.local_genesis(keys, ADDR, 2))
    assert path.read_text() == first
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind
    genesis.check_genesis(path, keys)
    with pytest.raises(FailedPrecondition, match=r"has 1 validator and.*--validators 1"):
        genesis.check_genesis(path, [*keys, Identity.generate().public_bytes])


def test_the_launcher_prepares_keys_and_genesis_once(home):
    recs = _plan([], validators=4, run_dir=home.run_dir)
    localmesh._prepare_chain(home, 4, recs)
    path = home.genesis_file
    first = path.read_text()
    keys = [load_or_create(meshplan.validator_key_file(home.run_dir, i)) for i in range(1, 5)]
    for i in range(1, 5):
        key_file = meshplan.validator_key_file(home.run_dir, i)
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    parsed = Genesis.from_json(first)
    assert [v.public_key for v in parsed.validators] == [k.public_bytes for k in keys]
    incentive_key = meshplan.incentive_key_file(home.run_dir, "incentive-1")
    incentive = address_of(load_or_create(incentive_key).public_bytes)
    assert parsed.accounts == (
        (address_of(home.identity().public_bytes), 1_000_000 * STOS),
        (incentive, 100 * STOS),
    )
    # the storage nodes and the incentive replica are registered under their own keys
    storage = [
        address_of(load_or_create(meshplan.storage_key_file(home.run_dir, r.name)).public_bytes)
        for r in recs
        if r.kind == "storage"
    ]
    assert {n.address for n in parsed.nodes} == {*storage, incentive}
    localmesh._prepare_chain(home, 4, recs)  # again: nothing changes
    assert path.read_text() == first
    with pytest.raises(FailedPrecondition, match="fixed at genesis"):
        localmesh._prepare_chain(home, 5, recs)
    assert path.read_text() == first


# -- launcher planning (pure) -------------------------------------------------------------------


def _plan(existing, *, validators, storage=3, run_dir=Path("/r"), incentive=1):
    ports = iter(range(5000, 6000))
    return localmesh.plan_processes(
        run_dir,
        existing,
        storage_nodes=storage,
        capacity_bytes=1 << 30,
        port=lambda: next(ports),
        python="/py",
        nats_binary=lambda: "/bin/nats-server",
        validators=validators,
        incentive=incentive,
    )


def test_the_default_local_mesh_runs_four_validators():
    """Four is the least count that keeps committing with one validator down."""
    assert meshplan.DEFAULT_VALIDATORS == 4
    plan = _plan([], validators=meshplan.DEFAULT_VALIDATORS)
    assert [r.kind for r in plan].count("validator") == 4
    assert [r.kind for r in _plan([], validators=0)].count("validator") == 0


def test_plan_starts_validators_with_their_peers_keys_and_genesis():
    recs = _plan([], validators=4)
    names = [r.name for r in recs]
    assert names[-5:] == [*(f"validator-{i}" for i in range(1, 5)), "incentive-1"]
    assert names[:5] == ["nats", "index", "storage-1", "storage-2", "storage-3"]
    nats = recs[0]
    vals = [r for r in recs if r.kind == "validator"]
    addrs = [v.address for v in vals]
    every = [r.address for r in recs] + [nats.monitor_address]
    assert len(set(every)) == len(every)
    for i, v in enumerate(vals, start=1):
        assert v.argv == ["/py", "-m", "stratos.consensus"]
        assert v.data_dir == f"/r/validator-{i}"
        assert v.log == f"/r/logs/validator-{i}.log"
        assert v.env == {
            "STRATOS_NATS_URL": f"nats://{nats.address}",
            "STRATOS_GRPC_ADDRESS": v.address,
            "STRATOS_DATA_DIR": f"/r/validator-{i}",
            "STRATOS_GENESIS_FILE": "/r/genesis.json",
            "STRATOS_VALIDATOR_KEY_FILE": f"/r/validator-{i}/validator.pem",
            "STRATOS_PEERS": ",".join(a for a in addrs if a != v.address),
        }
        peers = v.env["STRATOS_PEERS"].split(",")
        assert len(peers) == 3 and v.address not in peers and set(peers) < set(addrs)


def test_a_single_validator_has_no_peers():
    (v,) = [r for r in _plan([], validators=1) if r.kind == "validator"]
    assert v.env["STRATOS_PEERS"] == ""


def test_plan_keeps_validators_and_never_grows_the_set():
    first = _plan([], validators=4)
    assert _plan(first, validators=0) == first  # the default keeps what exists
    assert _plan(first, validators=4) == first
    assert _plan(first, validators=1) == first  # never removes
    with pytest.raises(FailedPrecondition, match="fixed at genesis"):
        _plan(first, validators=5)
    no_chain = _plan([], validators=0)
    added = _plan(no_chain, validators=4)
    assert added[: len(no_chain)] == no_chain
    assert [r.name for r in added[len(no_chain) :]] == [
        *(f"validator-{i}" for i in range(1, 5)),
        "incentive-1",
    ]


def test_plan_starts_each_incentive_replica_as_its_own_meta_node_and_never_grows_them(home):
    recs = _plan([], validators=1, incentive=3, run_dir=home.run_dir)
    replicas = [r for r in recs if r.kind == "incentive"]
    assert [r.name for r in replicas] == ["incentive-1", "incentive-2", "incentive-3"]
    assert len({r.env["STRATOS_IDENTITY_FILE"] for r in replicas}) == 3
    assert {r.env["STRATOS_NODE_ID"] for r in replicas} == {r.name for r in replicas}
    localmesh._prepare_chain(home, 1, recs)
    parsed = Genesis.from_json(home.genesis_file.read_text())
    metas = {
        address_of(load_or_create(meshplan.incentive_key_file(home.run_dir, r.name)).public_bytes)
        for r in replicas
    }
    assert {n.address for n in parsed.nodes if n.role == ledger_pb2.NODE_ROLE_META} == metas
    assert _plan(recs, validators=1, incentive=1, run_dir=home.run_dir) == recs  # keeps them
    with pytest.raises(FailedPrecondition, match="fixed at genesis"):
        _plan(recs, validators=1, incentive=4, run_dir=home.run_dir)


@pytest.mark.parametrize("n", [0, 8])
def test_an_incentive_count_out_of_range_is_refused(home, capsys, n):
    code, _, err = run_cli(capsys, "dev", "up", "--incentive", str(n))
    assert_one_sentence(code, err, "--incentive")


@pytest.mark.parametrize("n", [2, 3])
def test_two_or_three_validators_are_refused(home, capsys, n):
    code, _, err = run_cli(capsys, "dev", "up", "--validators", str(n))
    assert_one_sentence(code, err, f"{n} validators", "at least 4")
    assert not home.run_dir.exists()  # refused before anything was started


@pytest.mark.parametrize("n", [-1, 65])
def test_validator_counts_out_of_range_are_refused(n):
    with pytest.raises(Exception, match="0, 1 or between 4 and 64"):
        meshplan.check_validator_count(n)


def test_down_stops_validators_first_and_status_shows_their_height(home):
    recs = _plan([], validators=4, run_dir=home.run_dir)
    meshfile.save(home, recs)
    assert [r.name for r in meshfile.load(home)][-5:-1] == [f"validator-{i}" for i in range(1, 5)]
    rows = {r.name: r for r in localmesh.status(home)}
    assert rows["validator-2"].kind == "validator" and rows["validator-2"].height is None
    from stratos.sdk import render

    table = render.mesh_table([r.to_dict() for r in rows.values()])
    assert table.row_count == len(recs)


# -- against an in-process ConsensusService backed by the real ledger ---------------------------


class FakeConsensus(consensus_pb2_grpc.ConsensusServiceServicer):
    """One validator over the real ledger and mempool: it commits every accepted tx in its own
    block at once, unless `hold` is set — then txs wait in the mempool (a chain without quorum)
    until `commit_pending()`."""

    def __init__(self, gen: Genesis, validator: Identity) -> None:
        self.state = gen.initial_state()
        self.mempool = Mempool(self.state)
        self.address = address_of(validator.public_bytes)
        self.blocks: dict[int, consensus_pb2.GetBlockResponse] = {}
        self.lock = threading.Lock()
        self.hold = False
        self.endpoint = ""  # host:port, once served

    def SubmitTx(self, request, context):
        with self.lock:
            try:
                self.mempool.add(request.tx)
            except StratosError as err:
                context.abort(err.grpc_code, err.message)
            if self.hold:
                return consensus_pb2.SubmitTxResponse(tx_hash=tx_hash(request.tx))
            h, results = self._commit()
            return consensus_pb2.SubmitTxResponse(
                tx_hash=tx_hash(request.tx), height=h, result=results[0]
            )

    def commit_pending(self) -> int:
        with self.lock:
            return self._commit()[0]

    def _commit(self):
        block = make_block(
            self.state,
            self.mempool.reap(),
            time_unix_ms=self.state.time_unix_ms + 1_000,
            proposer=self.address,
        )
        self.state, results, app_hash = apply_block(self.state, block)
        self.mempool.update(self.state, block)
        h = block.header.height
        self.blocks[h] = consensus_pb2.GetBlockResponse(
            block=block, block_hash=block_hash(block.header)
        )
        self.blocks[h].results.height = h
        self.blocks[h].results.results.extend(results)
        self.blocks[h].results.app_hash = app_hash
        return h, results

    def GetAccount(self, request, context):
        acc = self.state.accounts.get(request.address)
        resp = consensus_pb2.GetAccountResponse(height=self.state.height)
        resp.account.address = request.address
        if acc:
            resp.account.balance, resp.account.nonce = acc.balance, acc.nonce
            resp.account.ozone = acc.ozone
        node = self.state.nodes.get(request.address)
        if node is not None:
            resp.node.CopyFrom(node_message(request.address, node, self.state.params))
        resp.pending_nonce = self.mempool.next_nonce(request.address)
        return resp

    def GetTx(self, request, context):
        with self.lock:
            from stratos.consensus.node.tx_lookup import TxState

            resp = consensus_pb2.GetTxResponse(
                tx_hash=request.tx_hash,
                state=TxState.TX_STATE_UNKNOWN,
                latest_height=self.state.height,
            )
            if request.tx_hash in self.mempool:
                resp.state, resp.tx = TxState.TX_STATE_PENDING, self.mempool.get(request.tx_hash)
            for h, b in self.blocks.items():
                for i, raw in enumerate(b.block.txs):
                    if tx_hash(raw) == request.tx_hash:
                        resp.state, resp.height, resp.index, resp.tx = (
                            TxState.TX_STATE_COMMITTED,
                            h,
                            i,
                            raw,
                        )
                        resp.result.CopyFrom(b.results.results[i])
            return resp

    def GetBlock(self, request, context):
        h = request.height or self.state.height
        if h not in self.blocks:
            context.abort(grpc.StatusCode.NOT_FOUND, f"there is no block at height {h}")
        return self.blocks[h]

    def Status(self, request, context):
        s = self.state
        return consensus_pb2.StatusResponse(
            chain_id=s.chain_id,
            node_address=self.address,
            height=s.height,
            app_hash=app_hash(s),
            last_block_hash=s.last_block_hash,
            last_block_time_unix_ms=s.time_unix_ms,
            validators=[
                consensus_pb2.ValidatorInfo(address=a, power=p) for a, _, p in s.validator_set()
            ],
            ozone=consensus_pb2.OzonePool(
                deposits=s.pool.deposits, prepaid=s.pool.prepaid, limit=s.pool.limit
            ),
        )


@pytest.fixture
def chain(home, monkeypatch) -> Iterator[FakeConsensus]:
    validator = Identity.generate()
    doc = genesis.local_genesis(
        [validator.public_bytes],
        address_of(home.identity().public_bytes),
        1_700_000_000_000,
        resource_nodes=["a1" * 20, "a2" * 20, "a3" * 20],
    )
    fake = FakeConsensus(Genesis.from_json(genesis.genesis_json(doc)), validator)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    consensus_pb2_grpc.add_ConsensusServiceServicer_to_server(fake, server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials("consensus", "validator"))
    server.start()
    fake.endpoint = f"127.0.0.1:{port}"
    # A dead validator first: the client must fail over to the live one.
    monkeypatch.setenv("STRATOS_CONSENSUS_ADDRESS", f"127.0.0.1:1,127.0.0.1:{port}")
    for name, value in cert_files().env().items():  # a mesh other than the local one
        monkeypatch.setenv(name, value)
    try:
        yield fake
    finally:
        server.stop(None)


def test_balance_send_and_block_through_the_cli(home, capsys, chain):
    code, out, err = run_cli(capsys, "balance", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["balance"] == "1000000" and doc["balance_nstos"] == 10**15 and doc["nonce"] == 0
    assert doc["address"] == address_of(home.identity().public_bytes)

    _, bob, _ = run_cli(capsys, "wallet", "new", "bob")
    bob = bob.strip()
    code, out, err = run_cli(capsys, "send", bob, "12.5")
    assert code == 0, err
    assert "committed at height 1" in out
    tx_line = out.strip().splitlines()[-1]
    assert tx_line.startswith("tx ") and len(tx_line) == 3 + 64

    code, out, _ = run_cli(capsys, "balance", bob, "--json")
    assert json.loads(out)["balance"] == "12.5"
    code, out, _ = run_cli(capsys, "balance", "--json")
    mine = json.loads(out)
    assert mine["balance_nstos"] == 10**15 - 12_500_000_000 - 1_000 and mine["nonce"] == 1

    code, out, err = run_cli(capsys, "send", bob, "0.5", "--fee", "0.00001", "--json")
    assert code == 0, err
    sent = json.loads(out)
    assert sent["height"] == 2 and sent["amount"] == "0.5" and sent["nonce"] == 1

    code, out, _ = run_cli(capsys, "chain", "block", "1", "--json")
    block = json.loads(out)
    assert block["height"] == 1 and len(block["hash"]) == 64
    (tx,) = block["txs"]
    assert tx["kind"] == "transfer" and tx["to"] == bob and tx["amount"] == "12.5"
    assert tx["code"] == 0 and tx["hash"] == tx_line.split()[1]
    code, out, _ = run_cli(capsys, "chain", "block", "1")
    assert code == 0 and "transfer" in out
    code, _, err = run_cli(capsys, "chain", "block", "9")
    assert_one_sentence(code, err, "no block at height 9")


def test_a_refused_transfer_is_the_ledgers_sentence(home, capsys, chain):
    _, bob, _ = run_cli(capsys, "wallet", "new", "bob")
    code, _, err = run_cli(capsys, "send", ADDR, "1", "--from", "bob")  # bob has nothing
    assert_one_sentence(code, err, bob.strip())
    code, _, err = run_cli(capsys, "send", bob.strip(), "2000000")
    assert_one_sentence(code, err, "insufficient")
    assert chain.state.height == 0  # neither reached a block


def test_chain_status_shows_up_and_down_validators(home, capsys, chain):
    run_cli(capsys, "send", "ab" * 20, "1")
    code, out, err = run_cli(capsys, "chain", "status", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["chain_id"] == "stratos-local" and doc["height"] == 1
    assert len(doc["app_hash"]) == 64 and doc["last_block_time_unix_ms"] > 0
    down, up = doc["validators"]
    assert down["health"] == "down" and down["height"] is None and down["endpoint"].endswith(":1")
    assert up["health"] == "healthy" and up["height"] == 1 and up["address"] == chain.address
    assert up["power"] == 10 and len(up["last_block_hash"]) == 64
    code, out, _ = run_cli(capsys, "chain", "status")
    assert code == 0 and "down" in out and "healthy" in out and "stratos-local" in out


def test_ozone_shows_the_price_and_buy_prepays_at_it(home, capsys, chain):
    code, out, err = run_cli(capsys, "ozone", "--json")
    assert code == 0, err
    before = json.loads(out)
    assert before["ozone"] > 0  # the local genesis prepaid some for the default wallet
    pool = chain.state.pool
    assert before["price_per_gib_nstos"] == (pool.deposits + pool.prepaid) * (1 << 30) // pool.limit
    code, out, err = run_cli(capsys, "ozone", "buy", "25")
    assert code == 0, err
    assert "bought" in out and "ozone for 25 STOS; committed at height 1" in out
    after = json.loads(run_cli(capsys, "ozone", "--json")[1])
    bought = int(out.split("bought ", 1)[1].split(" ", 1)[0])
    assert after["ozone"] == before["ozone"] + bought
    assert after["price_per_gib_nstos"] > before["price_per_gib_nstos"]  # the price rose
    code, out, err = run_cli(capsys, "ozone")
    assert code == 0 and "GiB of traffic" in out and "a 1 GiB put with 3 copies" in out
    assert "your last put" not in out  # none yet
    # what the last put moved (noted by `stratos put`), priced at today's ozone price
    me = address_of(home.identity().public_bytes)
    home.note_traffic(me, "put", {"id": "f" * 64, "name": "big.iso", "size": 3 << 20,
                                  "ozone": 9 << 20, "at_unix_ms": 1_700_000_000_000})  # fmt: skip
    home.note_traffic("cd" * 20, "put", {"id": "e" * 64, "name": "theirs", "size": 1, "ozone": 3})
    doc = json.loads(run_cli(capsys, "ozone", "--json")[1])
    assert doc["last_put"]["name"] == "big.iso" and doc["last_put"]["ozone"] == 9 << 20
    assert doc["last_put"]["cost_now"] == format_stos(
        (9 << 20) * after["price_per_gib_nstos"] >> 30
    )
    assert "last_get" not in doc
    code, out, err = run_cli(capsys, "ozone")
    assert "your last put: big.iso (3.0 MiB, 2023-11-14 22:13:20 UTC) moved 9437184 ozone" in out
    assert_one_sentence(*run_cli(capsys, "ozone", "buy", "0")[::2], "more than 0 STOS")
    code, _, err = run_cli(capsys, "ozone", "buy", "5000000")
    assert_one_sentence(code, err, "insufficient funds")


def test_node_register_and_unbond_lock_and_release_a_deposit(home, capsys, chain):
    code, _, err = run_cli(capsys, "node", "register", "--role", "meta", "--deposit", "999")
    assert_one_sentence(code, err, "below the minimum of 1000 STOS for a meta node")
    code, _, err = run_cli(capsys, "node", "register", "--role", "resource", "--deposit", "499")
    assert_one_sentence(code, err, "below the minimum of 500 STOS for a resource node")
    # the issue's own example
    code, out, err = run_cli(capsys, "node", "register", "--role", "resource", "--deposit", "800")
    assert code == 0, err
    assert "registered a resource node with 800 STOS; committed at height" in out
    me = address_of(home.identity().public_bytes)
    assert chain.state.nodes[me].deposit == 800 * STOS
    code, out, err = run_cli(capsys, "balance")
    assert code == 0 and "resource node: 800 STOS deposit, bonded" in out
    node = json.loads(run_cli(capsys, "balance", "--json")[1])["node"]
    assert node["role"] == "resource" and node["debt_nstos"] == 0 and not node["suspended"]
    code, out, err = run_cli(capsys, "node", "unbond", "--json")
    assert code == 0, err
    assert json.loads(out)["result"].startswith("unbonding 800 STOS; released at height")
    code, _, err = run_cli(capsys, "node", "register", "--role", "validator", "--deposit", "1")
    assert_one_sentence(code, err, "--role must be resource or meta")


def test_send_then_tx_shows_where_it_committed(home, capsys, chain):
    _, bob, _ = run_cli(capsys, "wallet", "new", "bob")
    code, out, err = run_cli(capsys, "send", bob.strip(), "1.5", "--json")
    assert code == 0, err
    sent = json.loads(out)
    assert sent["state"] == "committed" and sent["height"] == 1 and sent["nonce"] == 0
    h = sent["tx_hash"]

    code, out, err = run_cli(capsys, "tx", h.upper())  # a hash pasted in upper case is fine
    assert code == 0, err
    assert h in out and "committed at height 1 (index 0 in the block)" in out
    assert "ok: sent 1.5 STOS" in out and "transfer" in out
    code, out, _ = run_cli(capsys, "tx", h, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["state"] == "committed" and (doc["height"], doc["index"]) == (1, 0)
    assert doc["code"] == 0 and doc["unreachable"] == ["127.0.0.1:1"] and doc["pending_on"] == []
    assert doc["tx"]["to"] == bob.strip() and doc["tx"]["amount"] == "1.5"
    code, out, _ = run_cli(capsys, "tx", h, "--wait", "--json")  # committed: no wait
    assert code == 0 and json.loads(out)["height"] == 1


def test_a_send_the_chain_cannot_commit_is_pending_not_an_error(home, capsys, chain):
    """Issue 9, item 15: the user is told the tx is submitted and may still commit (exit 3),
    and the next send takes the next nonce instead of failing with "wrong nonce"."""
    chain.hold = True
    _, bob, _ = run_cli(capsys, "wallet", "new", "bob")
    bob = bob.strip()
    code, out, err = run_cli(capsys, "send", bob, "1", "--timeout", "0")
    assert code == 3, err
    h1 = out.strip().removeprefix("tx ")
    (line,) = err.strip().splitlines()
    assert line.startswith(f"submitted as tx {h1}, not yet committed: it waits for a block")
    assert "it is pending on 127.0.0.1:" in line and f"'stratos tx {h1} --wait'" in line
    assert "error" not in line

    code, out, err = run_cli(capsys, "send", bob, "2", "--timeout", "0.3", "--json")
    assert code == 3, err
    sent = json.loads(out)
    h2 = sent["tx_hash"]
    assert sent["state"] == "pending" and sent["nonce"] == 1 and sent["height"] is None
    assert sent["amount"] == "2" and len(sent["pending_on"]) == 1 and h2 != h1

    code, out, _ = run_cli(capsys, "tx", h2)
    assert code == 3 and "pending in the mempool of 127.0.0.1:" in out
    code, out, _ = run_cli(capsys, "tx", h2, "--wait", "--timeout", "0.5", "--json")
    assert code == 3 and json.loads(out)["state"] == "pending"

    assert chain.commit_pending() == 1
    code, out, err = run_cli(capsys, "tx", h2, "--wait", "--json")
    assert code == 0, err
    assert (json.loads(out)["height"], json.loads(out)["index"]) == (1, 1)
    code, out, _ = run_cli(capsys, "balance", bob, "--json")
    assert json.loads(out)["balance"] == "3"


def test_tx_of_an_unknown_hash_is_one_sentence(home, capsys, chain):
    never = "ab" * 32
    code, out, err = run_cli(capsys, "tx", never)
    assert_one_sentence(code, err, f"no validator knows the tx {never}", "never submitted")
    assert "1 of 2 validators did not answer" in err and out == ""
    code, out, _ = run_cli(capsys, "tx", never, "--wait", "--timeout", "30", "--json")
    assert code == 1 and json.loads(out)["state"] == "unknown"


@pytest.mark.parametrize("bad", ["xyz", "ab" * 31, "ab" * 33, "g" * 64, "0x" + "ab" * 31])
def test_tx_of_a_malformed_hash_is_one_sentence_before_contacting_anything(home, capsys, bad):
    code, out, err = run_cli(capsys, "tx", bad)
    assert_one_sentence(code, err, f"{bad!r} is not a tx hash", "64 hex characters")
    assert out == ""


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "86401"])
def test_a_wait_out_of_range_is_one_sentence(home, capsys, value):
    code, _, err = run_cli(capsys, "send", ADDR, "1", "--timeout", value)
    assert_one_sentence(code, err, "--timeout must be between 0 and 86400, not")
    code, _, err = run_cli(capsys, "tx", "ab" * 32, "--wait", "--timeout", value)
    assert_one_sentence(code, err, "--timeout must be between 0 and 86400, not")


def test_send_and_tx_document_their_exit_codes(capsys):
    for cmd in ("send", "tx"):
        code, out, _ = run_cli(capsys, cmd, "--help")
        assert code == 0
        text = " ".join(out.split())
        assert "Exit codes: 0 committed" in text and "3 " in text and "pending" in text


class HungConsensus(consensus_pb2_grpc.ConsensusServiceServicer):
    """A validator that accepts calls and never answers them (until released)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def GetTx(self, request, context):
        self.release.wait(30)
        context.abort(grpc.StatusCode.UNAVAILABLE, "released")


def test_a_hung_validator_does_not_hold_up_a_committed_answer(home, capsys, chain):
    import asyncio
    import time

    from stratos.sdk.chain import ChainClient

    _, bob, _ = run_cli(capsys, "wallet", "new", "bob")
    _, out, _ = run_cli(capsys, "send", bob.strip(), "1", "--json")
    h = json.loads(out)["tx_hash"]
    hung = HungConsensus()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    consensus_pb2_grpc.add_ConsensusServiceServicer_to_server(hung, server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials("consensus", "hung"))
    server.start()

    async def ask():
        async with ChainClient(
            [f"127.0.0.1:{port}", chain.endpoint], credentials=channel_credentials()
        ) as client:
            return await client.tx(h, wait_s=1)

    try:
        began = time.monotonic()
        status = asyncio.run(ask())
        assert time.monotonic() - began < 3  # not the hung one's 5 s call deadline
        assert status.state == "committed" and status.unreachable == (f"127.0.0.1:{port}",)
    finally:
        hung.release.set()
        server.stop(None)


def test_a_send_that_loses_sight_of_its_admitted_tx_says_so(home, capsys, chain, monkeypatch):
    """Validators that stop answering after admitting the tx must not turn it into an error
    that reads as "nothing happened"."""
    from stratos.common.errors import Unavailable
    from stratos.sdk.chain import ChainClient

    async def gone(self, *args, **kwargs):
        raise Unavailable("cannot reach any of the 2 validators; are they running?")

    chain.hold = True
    monkeypatch.setattr(ChainClient, "wait_tx", gone)
    code, out, err = run_cli(capsys, "send", ADDR, "1")
    assert code == 3, err
    h = out.strip().removeprefix("tx ")
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    (line,) = lines
    assert line == (
        f"submitted as tx {h}, but could not follow it: cannot reach any of the 2 validators; "
        f"are they running? — it may still commit; check 'stratos tx {h}' before sending again"
    )
    assert h in chain.mempool
    code, out, _ = run_cli(capsys, "send", ADDR, "1", "--json")
    assert code == 3 and json.loads(out)["state"] == "unknown" and json.loads(out)["nonce"] == 1
