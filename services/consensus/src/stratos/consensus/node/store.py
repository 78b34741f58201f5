"""A validator's durable storage: SQLite in WAL mode with synchronous=FULL.

- Blocks by height, with the engine's commit bytes (opaque here) and the tx results.
- The state of the *latest* committed height, written in the same SQLite transaction as its
  block, so a restart never replays and a crash leaves the previous block's state whole: one
  row per account and per node (`ledger_rows`; a block writes only the rows it changed) and one
  row with the rest (`ledger`: height, app hash, the canonical header bytes). At start the state
  is rebuilt from the rows and must hash to the app hash stored with it. Older states are not
  kept; replaying the stored blocks from genesis reproduces any of them (each header carries
  the app hash).
- A tx index: hash → (height, position) of the block that holds it, written in the block's own
  transaction, so `committed_tx` answers "was it committed, where, with what result" after any
  restart. A tx included twice (a faulty proposer may re-include one that changed nothing)
  keeps the inclusion that took effect.
- The layout's version in `PRAGMA user_version`: a store written by an older layout (one
  whole-state snapshot, and an app hash defined another way) is refused with one sentence.
- The validator's last signed vote and lock (opaque bytes from the engine, with their
  height/round/step). `save_signed_state` returns only once the row is fsync'd, so the engine
  writes it *before* a vote leaves the process: after a crash it can never sign a conflicting one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from stratos.common.errors import DataLoss, FailedPrecondition
from stratos.common.files import create_private_dirs, tighten
from stratos.consensus.ledger.apphash import app_hash, decode_header, encode_header
from stratos.consensus.ledger.block import block_hash
from stratos.consensus.ledger.genesis import Genesis
from stratos.consensus.ledger.state import ACCOUNTS, NODES, LedgerState
from stratos.consensus.ledger.table import Codec, HashedTable
from stratos.consensus.ledger.tx import UNCHARGED, tx_hash
from stratos.v1 import ledger_pb2 as pb

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY, hash BLOB NOT NULL, block BLOB NOT NULL,
    commit_bytes BLOB NOT NULL, results BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS txs (
    hash TEXT PRIMARY KEY, height INTEGER NOT NULL, idx INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY CHECK (id = 1), height INTEGER NOT NULL, app_hash BLOB NOT NULL,
    header BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_rows (
    tbl TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (tbl, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signed_state (
    id INTEGER PRIMARY KEY CHECK (id = 1), height INTEGER NOT NULL, round INTEGER NOT NULL,
    step INTEGER NOT NULL, vote BLOB NOT NULL, lock BLOB NOT NULL);
"""
FORMAT = 2  # PRAGMA user_version of this layout; 0 (unset) was the whole-snapshot layout
_TABLES: dict[str, Codec] = {"accounts": ACCOUNTS, "nodes": NODES}  # LedgerState field → codec


@dataclass(frozen=True)
class SignedState:
    """What the validator last signed: (height, round, step) plus the engine's own bytes."""

    height: int
    round: int
    step: int
    vote: bytes = b""
    lock: bytes = b""

    @property
    def hrs(self) -> tuple[int, int, int]:
        return (self.height, self.round, self.step)


@dataclass(frozen=True)
class CommittedTx:
    """Where a committed tx is: its block's height, its position there, its result, its bytes."""

    height: int
    index: int
    result: pb.TxResult
    raw: bytes


class Store:
    """One SQLite file per validator. Thread-safe; every write is one durable transaction."""

    def __init__(self, path: Path) -> None:
        create_private_dirs(path.parent)
        # Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the mode
        # of the database file. A store an older version left readable is made private.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            tighten(part, 0o600)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: each commit fsyncs the WAL, so a returned write survives a crash or power loss.
        self._db.execute("PRAGMA synchronous=FULL")
        self._check_format()
        # The committed state and, per table, the version its rows hold: a block whose tables
        # derive from those versions writes only its changed rows.
        self._state: LedgerState | None = None
        self._held: dict[str, object] = {}

    def _check_format(self) -> None:
        tables = self._db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if tables.fetchone()[0] and version != FORMAT:
            self._db.close()
            raise FailedPrecondition(
                f"{self.path} holds a chain written by another version of the ledger (store "
                f"format {version}, this one reads {FORMAT}, and the app hash differs): start "
                "this validator with an empty data directory on a new chain"
            )
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version = {FORMAT}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def journal_mode(self) -> str:
        return self._db.execute("PRAGMA journal_mode").fetchone()[0]

    def _write(
        self, statements: list[tuple[str, tuple | list[tuple]]], *, at_height: int | None = None
    ) -> None:
        """Run `statements` (a list of args: once per item) as one durable transaction (its
        COMMIT returns once the WAL is fsync'd); with `at_height`, only if the stored
        state is at that height (checked inside the transaction, so writers cannot race)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if at_height is not None:
                    row = self._db.execute("SELECT height FROM ledger WHERE id = 1").fetchone()
                    have = -1 if row is None else row[0]
                    if have != at_height:
                        raise FailedPrecondition(
                            f"cannot store block {at_height + 1}: the store is at height {have}"
                        )
                for sql, args in statements:
                    if isinstance(args, list):
                        self._db.executemany(sql, args)
                    else:
                        self._db.execute(sql, args)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, args: tuple = ()) -> tuple | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    # State and blocks ----------------------------------------------------------------------
    def latest_height(self) -> int:
        """The committed height (0 at genesis); -1 when nothing was ever saved."""
        row = self._one("SELECT height FROM ledger WHERE id = 1")
        return -1 if row is None else row[0]

    def load_state(self) -> LedgerState | None:
        """The latest committed state, rebuilt from its rows (once; then kept) and checked
        against the app hash it was saved with."""
        if self._state is not None:
            return self._state
        with self._lock:
            self._db.execute("BEGIN")  # one snapshot of the header and the rows
            try:
                row = self._db.execute(
                    "SELECT height, app_hash, header FROM ledger WHERE id = 1"
                ).fetchone()
                tables = {
                    name: self._db.execute(
                        "SELECT key, value FROM ledger_rows WHERE tbl = ?", (name,)
                    ).fetchall()
                    for name in _TABLES
                }
            finally:
                self._db.execute("COMMIT")
        if row is None:
            return None
        built = {
            name: HashedTable.from_encoded(
                codec, ((k, codec.decode(v), v) for k, v in tables[name])
            )
            for name, codec in _TABLES.items()
        }
        state = decode_header(row[2], built["accounts"], built["nodes"])
        if state.height != row[0] or app_hash(state) != row[1]:
            raise DataLoss(f"the stored state at height {row[0]} does not match its app hash")
        self._keep(state)
        return state

    def _keep(self, state: LedgerState) -> None:
        self._state = state
        self._held = {name: getattr(state, name).token for name in _TABLES}

    def chain_id(self) -> str | None:
        """The chain this store holds (None while empty), read without loading the state."""
        row = self._one("SELECT header FROM ledger WHERE id = 1")
        if row is None:
            return None
        empty = {name: HashedTable.empty(codec) for name, codec in _TABLES.items()}
        return decode_header(row[0], empty["accounts"], empty["nodes"]).chain_id

    def save_genesis(self, genesis: Genesis | LedgerState) -> None:
        """Record the genesis state once; a store already holding a chain must hold this one
        (checked by chain id, without building the genesis state: that costs O(accounts))."""
        existing = self.chain_id()
        if existing is not None:
            if existing != genesis.chain_id:
                raise FailedPrecondition(
                    f"{self.path} holds chain {existing!r}, not {genesis.chain_id!r}"
                )
            return
        state = genesis if isinstance(genesis, LedgerState) else genesis.initial_state()
        self._write(self._state_rows(state))
        self._keep(state)

    def _state_rows(self, state: LedgerState) -> list[tuple[str, tuple | list[tuple]]]:
        """The writes that make the stored state `state`: its header, and the rows of each
        table that differ from the version stored (all of them when it does not derive from
        it)."""
        rows: list[tuple[str, tuple | list[tuple]]] = [
            (
                "INSERT OR REPLACE INTO ledger (id, height, app_hash, header) VALUES (1, ?, ?, ?)",
                (state.height, app_hash(state), encode_header(state)),
            )
        ]
        upsert = "INSERT OR REPLACE INTO ledger_rows (tbl, key, value) VALUES (?, ?, ?)"
        for name in _TABLES:
            table: HashedTable = getattr(state, name)
            held = self._held.get(name)
            if table.token is held:
                continue
            if held is not None and table.parent_token is held and table.changes is not None:
                encode = table.codec.encode
                changes = table.changes.items()
                rows.append((upsert, [(name, k, encode(v)) for k, v in changes if v is not None]))
                rows.append(
                    (
                        "DELETE FROM ledger_rows WHERE tbl = ? AND key = ?",
                        [(name, k) for k, v in changes if v is None],
                    )
                )
            else:
                rows.append(("DELETE FROM ledger_rows WHERE tbl = ?", (name,)))
                rows.append((upsert, [(name, k, v) for k, v in table.encoded()]))
        return rows

    def commit_block(
        self, block: pb.Block, commit: bytes, results: list[pb.TxResult], state: LedgerState
    ) -> None:
        """Durably record `block` (its commit and results) and `state`, the state after it."""
        height = block.header.height
        if state.height != height:
            raise ValueError(f"the state is at height {state.height}, the block at {height}")
        res = pb.BlockResults(height=height, results=results, app_hash=app_hash(state))
        rows = [
            (
                "INSERT INTO blocks (height, hash, block, commit_bytes, results) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    height,
                    block_hash(block.header),
                    block.SerializeToString(deterministic=True),
                    commit,
                    res.SerializeToString(deterministic=True),
                ),
            ),
            *self._state_rows(state),
        ]
        # An inclusion that took effect replaces one that changed nothing; the reverse never.
        rows += [
            (
                f"INSERT OR {'IGNORE' if result.code in UNCHARGED else 'REPLACE'} "
                "INTO txs (hash, height, idx) VALUES (?, ?, ?)",
                (tx_hash(raw), height, i),
            )
            for i, (raw, result) in enumerate(zip(block.txs, results, strict=True))
        ]
        self._write(rows, at_height=height - 1)
        self._keep(state)

    def get_block(self, height: int) -> pb.Block | None:
        row = self._one("SELECT block FROM blocks WHERE height = ?", (height,))
        return None if row is None else pb.Block.FromString(row[0])

    def get_block_hash(self, height: int) -> bytes | None:
        row = self._one("SELECT hash FROM blocks WHERE height = ?", (height,))
        return None if row is None else row[0]

    def get_commit(self, height: int) -> bytes | None:
        row = self._one("SELECT commit_bytes FROM blocks WHERE height = ?", (height,))
        return None if row is None else row[0]

    def get_results(self, height: int) -> pb.BlockResults | None:
        row = self._one("SELECT results FROM blocks WHERE height = ?", (height,))
        return None if row is None else pb.BlockResults.FromString(row[0])

    def find_tx(self, hash_hex: str) -> tuple[int, int] | None:
        """(height, index in block) of a committed tx."""
        row = self._one("SELECT height, idx FROM txs WHERE hash = ?", (hash_hex,))
        return None if row is None else (row[0], row[1])

    def committed_tx(self, hash_hex: str) -> CommittedTx | None:
        """The committed tx with this hash, with its result (one read: the index and the block
        are written together)."""
        row = self._one(
            "SELECT t.height, t.idx, b.block, b.results FROM txs t "
            "JOIN blocks b ON b.height = t.height WHERE t.hash = ?",
            (hash_hex,),
        )
        if row is None:
            return None
        height, idx = row[0], row[1]
        block, results = pb.Block.FromString(row[2]), pb.BlockResults.FromString(row[3])
        return CommittedTx(height, idx, results.results[idx], block.txs[idx])

    # Signed votes --------------------------------------------------------------------------
    def save_signed_state(self, signed: SignedState) -> None:
        """Durably record what the validator is about to sign. Refuses to move backwards in
        (height, round, step): recording an older step is how a restarted node equivocates."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT height, round, step FROM signed_state WHERE id = 1"
                ).fetchone()
                if row is not None and signed.hrs < tuple(row):
                    raise FailedPrecondition(
                        f"refusing to record a signature at height/round/step {signed.hrs}: "
                        f"{tuple(row)} was already signed"
                    )
                self._db.execute(
                    "INSERT OR REPLACE INTO signed_state (id, height, round, step, vote, lock) "
                    "VALUES (1, ?, ?, ?, ?, ?)",
                    (signed.height, signed.round, signed.step, signed.vote, signed.lock),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def load_signed_state(self) -> SignedState | None:
        row = self._one("SELECT height, round, step, vote, lock FROM signed_state WHERE id = 1")
        return None if row is None else SignedState(*row)
