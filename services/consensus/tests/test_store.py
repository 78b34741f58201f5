"""The SQLite store: WAL mode, blocks and state survive a reopen, and the signed vote state is
durable the moment save_signed_state returns — even if the process is SIGKILLed right after."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from ledger_support import ALICE, BOB, STOS, Chain, genesis, transfer

from stratos.common.errors import FailedPrecondition
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
