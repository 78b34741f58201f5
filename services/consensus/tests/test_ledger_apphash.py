"""The app hash and canonical state bytes: stable across processes, hash seeds and insertion
order; the header decodes back to the same state; genesis files are validated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from ledger_support import ALICE, BOB, PARAMS, STOS, Chain, addr, genesis, transfer

from stratos.common.errors import DataLoss, InvalidArgument
from stratos.consensus.ledger.apphash import app_hash, decode_header, encode_header
from stratos.consensus.ledger.genesis import Genesis, GenesisNode
from stratos.consensus.ledger.pricing import OzonePool, after_prepay
from stratos.consensus.ledger.state import LedgerState
from stratos.v1 import ledger_pb2 as pb

_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from ledger_support import ALICE, BOB, STOS, Chain, transfer
from stratos.v1 import ledger_pb2 as pb
c = Chain()
c.commit([c.tx(ALICE, **transfer(BOB, 5 * STOS)),
          c.tx(BOB, register_node=pb.RegisterNode(role=pb.NODE_ROLE_META, deposit=500 * STOS))])
from stratos.consensus.ledger.apphash import app_hash
print(app_hash(c.state).hex())
"""


def _busy_state() -> LedgerState:
    c = Chain()
    c.commit(
        [
            c.tx(ALICE, **transfer(BOB, 5 * STOS)),
            c.tx(BOB, register_node=pb.RegisterNode(role=pb.NODE_ROLE_META, deposit=500 * STOS)),
        ]
    )
    return c.state


def test_the_hash_is_the_same_in_processes_with_different_hash_seeds() -> None:
    here = app_hash(_busy_state()).hex()
    tests_dir = str(Path(__file__).parent)
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", _SCRIPT, tests_dir],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == here


def test_insertion_order_does_not_matter() -> None:
    state = _busy_state()
    shuffled = replace(state, accounts=dict(reversed(list(state.accounts.items()))))
    assert app_hash(shuffled) == app_hash(state)


def test_any_change_changes_the_hash() -> None:
    state = _busy_state()
    c = Chain(state)
    c.commit([])
    assert app_hash(c.state) != app_hash(state)  # height and time are part of the state


def test_the_header_round_trips_with_the_tables_beside_it() -> None:
    state = _busy_state()
    back = decode_header(encode_header(state), state.accounts, state.nodes)
    assert encode_header(back) == encode_header(state)
    assert app_hash(back) == app_hash(state)
    assert back.validators == state.validators and back.pool == state.pool


def test_a_damaged_header_is_data_loss() -> None:
    state = _busy_state()
    raw = encode_header(state)
    with pytest.raises(DataLoss):
        decode_header(raw[:-3], state.accounts, state.nodes)
    with pytest.raises(DataLoss, match="unknown format"):
        decode_header(b"garbage", state.accounts, state.nodes)


def test_genesis_json_round_trips() -> None:
    g = genesis()
    assert Genesis.from_json(g.to_json()) == g
    assert g.initial_state().total_supply() == 20_000 * STOS + 2_000 * STOS


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.pop("chain_id"), "lacks chain_id"),
        (lambda d: d.update(extra=1), "unknown keys: extra"),
        (lambda d: d.update(chain_id="bad chain!"), "chain_id"),
        (lambda d: d["accounts"][0].update(balance="-5"), "accounts\\[0\\].balance"),
        (lambda d: d["accounts"][0].update(balance=5), "decimal STOS string"),
        (lambda d: d["accounts"][0].update(address="zz"), "address"),
        (lambda d: d["accounts"].append(dict(d["accounts"][0])), "twice"),
        (lambda d: d.update(validators=[]), "non-empty"),
        (lambda d: d["validators"][0].update(public_key="ab"), "64 hex digits"),
        (lambda d: d["validators"][0].update(power=0), "power"),
        (lambda d: d["params"].update(max_tx_bytes=10), "max_tx_bytes"),
        (lambda d: d["params"].update(min_fee="0.0000000001"), "more than 9 decimals"),
        (lambda d: d["params"].update(slash_fraction_bps=20_000), "at most 10000"),
        (lambda d: d["params"].update(colour="blue"), "unknown keys: colour"),
        (lambda d: d["params"].update(reward_meta_bps=1), "must add up to 10000"),
        (lambda d: d["params"].update(epoch_blocks=0), "epoch_blocks"),
        (lambda d: d.update(nodes=[{"address": "ab" * 20, "role": "x", "deposit": "1"}]), "role"),
        (
            lambda d: d.update(nodes=[{"address": "ab" * 20, "role": "meta", "deposit": "1"}]),
            "below the minimum of 500 STOS for a meta node",
        ),
        (lambda d: d.update(ozone=[{"address": "zz", "prepaid": "1"}]), "ozone\\[0\\].address"),
    ],
)
def test_bad_genesis_is_refused_with_the_field_named(mutate, match: str) -> None:
    doc = json.loads(genesis().to_json())
    mutate(doc)
    with pytest.raises(InvalidArgument, match=match):
        Genesis.from_json(json.dumps(doc))


def test_genesis_registers_nodes_and_sells_ozone_as_the_txs_would() -> None:
    """Nodes and prepaid ozone at genesis give the state that RegisterNode and PrepayOzone txs in
    the first block would (less their fees)."""
    base = genesis()
    res, meta = "ab" * 20, "cd" * 20
    g = replace(
        base,
        nodes=(
            GenesisNode(res, pb.NODE_ROLE_RESOURCE, 1_000 * STOS),
            GenesisNode(meta, pb.NODE_ROLE_META, 500 * STOS),
        ),
        ozone=((addr(ALICE), 10 * STOS), (addr(BOB), 10 * STOS)),
    )
    assert Genesis.from_json(g.to_json()) == g
    s = g.initial_state()
    assert s.nodes[res].deposit == 1_000 * STOS and s.nodes[meta].role == pb.NODE_ROLE_META
    assert s.pool.deposits == 1_000 * STOS and s.pool.prepaid == 20 * STOS
    first, _ = after_prepay(OzonePool(1_000 * STOS, 0, PARAMS.initial_ozone_limit), 10 * STOS)
    assert s.accounts[addr(ALICE)].ozone == PARAMS.initial_ozone_limit - first.limit
    assert 0 < s.accounts[addr(BOB)].ozone < s.accounts[addr(ALICE)].ozone  # the price rose
    assert s.total_supply() == base.initial_state().total_supply() + 1_520 * STOS


def test_genesis_that_is_not_json() -> None:
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        Genesis.from_json("{nope")
