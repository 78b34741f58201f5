"""The SQLite store: WAL mode, blocks and state survive a reopen, and the signed vote state is
durable the moment save_signed_state returns — even if the process is SIGKILLed right after.
The state is kept as per-account and per-node rows: a block writes only the rows it changed,
the rows rebuild the same state and app hash, and a crash before a block's COMMIT leaves the
previous block's state whole."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from ledger_support import ALICE, BOB, CAROL, STOS, Chain, addr, genesis, transfer

from stratos.common.errors import DataLoss, FailedPrecondition
from stratos.consensus.ledger.apphash import app_hash
from stratos.consensus.ledger.apply import apply_block
from stratos.consensus.ledger.block import block_hash
from stratos.consensus.ledger.tx import TxCode, tx_hash
from stratos.consensus.node.store import SignedState, Store
from stratos.v1 import ledger_pb2 as pb


def test_wal_mode_is_on(tmp_path: Path) -> None:
    with Store(tmp_path / "chain.db") as store:
        assert store.journal_mode() == "wal"
        assert store._one("PRAGMA synchronous")[0] == 2  # FULL


def test_the_store_and_its_wal_are_private_even_if_an_older_version_left_them_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chain.sqlite"
    with Store(path):
        pass
    wal, shm = path.with_name("chain.sqlite-wal"), path.with_name("chain.sqlite-shm")
    for part in (path, wal, shm):
        part.touch()
        part.chmod(0o644)
    with Store(path) as store:
        store.get_block(1)  # a read, with the WAL in use
        assert {p.name: p.stat().st_mode & 0o777 for p in (path, wal, shm)} == {
            "chain.sqlite": 0o600,
            "chain.sqlite-wal": 0o600,
            "chain.sqlite-shm": 0o600,
        }
    fresh = tmp_path / "new" / "chain.sqlite"
    with Store(fresh):
        pass
    assert fresh.stat().st_mode & 0o777 == 0o600 and fresh.parent.stat().st_mode & 0o777 == 0o700


def test_blocks_and_state_round_trip_across_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    c = Chain()
    with Store(path) as store:
        assert store.latest_height() == -1
        assert store.load_state() is None
        store.save_genesis(c.state)
        assert store.latest_height() == 0
        blocks = []
        for _ in range(3):
            raw = c.tx(ALICE, **transfer(BOB, STOS))
            block = c.block([raw])
            new, results, _ = apply_block(c.state, block)
            store.commit_block(block, b"commit-%d" % block.header.height, results, new)
            c.state = new
            c.next_nonce.clear()
            blocks.append(block)
    with Store(path) as store:
        assert store.latest_height() == 3
        state = store.load_state()
        assert app_hash(state) == app_hash(c.state)
        assert state.accounts == c.state.accounts
        assert store.get_block(2) == blocks[1]
        assert store.get_block_hash(2) == block_hash(blocks[1].header)
        assert store.get_commit(3) == b"commit-3"
        results = store.get_results(3)
        assert results.app_hash == app_hash(c.state) and results.results[0].code == 0
        assert store.find_tx(tx_hash(blocks[0].txs[0])) == (1, 0)
        assert store.get_block(4) is None and store.find_tx("00" * 32) is None


def test_a_gap_or_another_chain_is_refused(tmp_path: Path) -> None:
    c = Chain()
    with Store(tmp_path / "chain.db") as store:
        store.save_genesis(c.state)
        c.commit([])
        c.commit([])
        block2 = pb.Block(header=pb.BlockHeader(height=2))
        with pytest.raises(FailedPrecondition, match="store is at height 0"):
            store.commit_block(block2, b"", [], c.state)
        other = replace(genesis().initial_state(), chain_id="x")
        with pytest.raises(FailedPrecondition, match="holds chain 'test-chain'"):
            store.save_genesis(other)


def test_signed_state_never_moves_backwards(tmp_path: Path) -> None:
    with Store(tmp_path / "chain.db") as store:
        assert store.load_signed_state() is None
        store.save_signed_state(SignedState(5, 1, 2, b"vote", b"lock"))
        store.save_signed_state(SignedState(5, 1, 2, b"vote", b"lock2"))  # same step: allowed
        with pytest.raises(FailedPrecondition, match="already signed"):
            store.save_signed_state(SignedState(5, 0, 3, b"older", b""))
        assert store.load_signed_state() == SignedState(5, 1, 2, b"vote", b"lock2")


_SAVER = """
import sys, time
from pathlib import Path
from stratos.consensus.node.store import SignedState, Store
store = Store(Path(sys.argv[1]))
store.save_signed_state(SignedState(7, 3, 2, b"precommit-bytes", b"lock-bytes"))
print("saved", flush=True)
time.sleep(60)
"""


def test_signed_state_survives_sigkill_right_after_save(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _SAVER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "saved"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with Store(path) as store:
        assert store.load_signed_state() == SignedState(7, 3, 2, b"precommit-bytes", b"lock-bytes")


def test_the_tx_index_answers_height_position_and_result_after_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    c = Chain()
    with Store(path) as store:
        store.save_genesis(c.state)
        a0 = c.tx(ALICE, **transfer(BOB, STOS))
        b0 = c.tx(BOB, **transfer(ALICE, 2 * STOS))
        block = c.block([a0, b0])
        new, results, _ = apply_block(c.state, block)
        store.commit_block(block, b"c1", results, new)
    with Store(path) as store:
        found = store.committed_tx(tx_hash(b0))
        assert (found.height, found.index, found.raw) == (1, 1, b0)
        assert found.result.code == 0 and found.result.log.startswith("sent 2 STOS")
        assert store.committed_tx(tx_hash(a0)).index == 0
        assert store.committed_tx("00" * 32) is None


def test_the_tx_index_keeps_the_inclusion_that_took_effect(tmp_path: Path) -> None:
    """A faulty proposer may include a tx too early (it fails before its fee: nothing happens)
    and it applies in a later block; or include an applied tx again (it fails the same way).
    Either way the index points at the block where it took effect."""
    c = Chain()
    n0 = c.tx(ALICE, nonce=0, **transfer(BOB, STOS))
    n1 = c.tx(ALICE, nonce=1, **transfer(BOB, STOS))
    with Store(tmp_path / "chain.db") as store:
        store.save_genesis(c.state)
        for txs in ([n1, n0], [n1], [n0]):
            block = c.block(txs)
            new, results, _ = apply_block(c.state, block)
            store.commit_block(block, b"", results, new)
            c.state = new
        assert [r.code for r in store.get_results(1).results] == [TxCode.BAD_NONCE, 0]
        assert [r.code for r in store.get_results(3).results] == [TxCode.BAD_NONCE]
        first, second = store.committed_tx(tx_hash(n0)), store.committed_tx(tx_hash(n1))
        assert (first.height, first.index, first.result.code) == (1, 1, 0)
        assert (second.height, second.index, second.result.code) == (2, 0, 0)


def _commit(store: Store, c: Chain, txs: list[bytes]) -> pb.Block:
    block = c.block(txs)
    new, results, _ = apply_block(c.state, block)
    store.commit_block(block, b"", results, new)
    c.state = new
    c.next_nonce.clear()
    return block


def test_the_rows_rebuild_the_identical_state_and_app_hash(tmp_path: Path) -> None:
    """New accounts, a node registered then released (its row deleted), across reopens."""
    path = tmp_path / "chain.db"
    c = Chain()
    with Store(path) as store:
        store.save_genesis(c.state)
        _commit(store, c, [c.tx(ALICE, **transfer(CAROL, STOS))])
        deposit = pb.RegisterNode(role=pb.NODE_ROLE_META, deposit=500 * STOS)
        _commit(store, c, [c.tx(BOB, register_node=deposit)])
    with Store(path) as store:
        assert app_hash(store.load_state()) == app_hash(c.state)
        _commit(store, c, [c.tx(BOB, unbond=pb.Unbond())])
        for _ in range(4):  # past the unbonding delay: the node's row goes
            _commit(store, c, [])
        assert addr(BOB) not in c.state.nodes
    with Store(path) as store:
        back = store.load_state()
        assert back.height == c.state.height and app_hash(back) == app_hash(c.state)
        assert back.accounts == c.state.accounts and back.nodes == c.state.nodes == {}
        assert back.validators == c.state.validators and back.pool == c.state.pool


def test_a_block_writes_only_the_rows_it_changed(tmp_path: Path) -> None:
    many = {f"{i:040x}": STOS for i in range(2_000)}
    g = genesis()
    g = replace(g, accounts=g.accounts + tuple(many.items()))
    with Store(tmp_path / "chain.db") as store:
        store.save_genesis(g)
        c = Chain(store.load_state())  # as a node starts
        before = store._db.total_changes
        _commit(store, c, [c.tx(ALICE, **transfer(BOB, STOS))])
        # the header, two account rows, the block and its tx index: not 2,000 accounts
        assert store._db.total_changes - before <= 6


_CRASHER = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from ledger_support import ALICE, BOB, CAROL, STOS, Chain, transfer
from stratos.consensus.ledger.apply import apply_block
from stratos.consensus.node.store import Store

store = Store(Path(sys.argv[1]))
c = Chain()
store.save_genesis(c.state)
for who in (ALICE, BOB):
    block = c.block([c.tx(who, **transfer(CAROL, STOS))])
    new, results, _ = apply_block(c.state, block)
    if who is BOB:  # the second block dies after its rows are written, before COMMIT
        real = store._db

        class Dying:
            def execute(self, sql, *args):
                if sql == "COMMIT":
                    os.kill(os.getpid(), signal.SIGKILL)
                return real.execute(sql, *args)

            def executemany(self, sql, args):
                return real.executemany(sql, args)

        store._db = Dying()
    store.commit_block(block, b"", results, new)
    c.state, c.next_nonce = new, {}
    print(c.state.height, flush=True)
"""


def test_a_crash_between_the_row_writes_and_the_commit_leaves_the_previous_block_whole(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chain.db"
    proc = subprocess.run(
        [sys.executable, "-c", _CRASHER, str(path), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout.split() == ["1"]
    c = Chain()  # the same chain, replayed in this process: block 1 only
    c.commit([c.tx(ALICE, **transfer(CAROL, STOS))])
    with Store(path) as store:
        state = store.load_state()
        assert state.height == 1 and app_hash(state) == app_hash(c.state)
        assert state.accounts[addr(BOB)].nonce == 0  # the lost block's rows are not there
        assert store.get_block(2) is None
        _commit(store, c, [c.tx(BOB, **transfer(CAROL, STOS))])  # and the chain goes on
    with Store(path) as store:
        assert app_hash(store.load_state()) == app_hash(c.state)


def test_a_store_of_the_old_whole_snapshot_format_is_refused_with_a_sentence(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chain.sqlite"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE state (id INTEGER PRIMARY KEY CHECK (id = 1), height INTEGER NOT NULL, "
        "app_hash BLOB NOT NULL, snapshot BLOB NOT NULL)"
    )
    db.commit()
    db.close()
    with pytest.raises(FailedPrecondition, match=r"another version of the ledger.*empty data"):
        Store(path)


def test_a_damaged_row_is_data_loss(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    c = Chain()
    with Store(path) as store:
        store.save_genesis(c.state)
        store._db.execute(
            "UPDATE ledger_rows SET value = ? WHERE key = ?", (bytes(24), addr(ALICE))
        )
    with Store(path) as store, pytest.raises(DataLoss, match="does not match its app hash"):
        store.load_state()
