"""Shared helpers for the ledger, mempool and store tests: fixed keys, a small genesis, and a
`Chain` that signs txs and applies blocks the way a validator would."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stratos.common.identity import Identity
from stratos.consensus.ledger.apply import apply_block
from stratos.consensus.ledger.block import make_block
from stratos.consensus.ledger.genesis import Genesis, GenesisValidator
from stratos.consensus.ledger.state import LedgerState, Params
from stratos.consensus.ledger.tx import address_of, build_tx
from stratos.v1 import ledger_pb2 as pb

STOS = 10**9
CHAIN_ID = "test-chain"
PARAMS = Params(
    min_fee=1_000,
    max_tx_bytes=1_024,
    max_block_txs=100,
    max_block_bytes=64 * 1024,
    unbonding_blocks=3,
    min_deposit_resource=1_000 * STOS,
    min_deposit_meta=500 * STOS,
    initial_ozone_limit=10**12,
    slash_fraction_bps=1_000,
)


def key(n: int) -> Identity:
    """A fixed identity, the same in every process."""
    return Identity(Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32))


def addr(ident: Identity) -> str:
    return address_of(ident.public_bytes)


ALICE, BOB, CAROL, VAL = key(1), key(2), key(3), key(9)


def genesis(**balances: int) -> Genesis:
    funded = balances or {"alice": 10_000 * STOS, "bob": 10_000 * STOS}
    who = {"alice": ALICE, "bob": BOB, "carol": CAROL}
    return Genesis(
        chain_id=CHAIN_ID,
        genesis_time_unix_ms=1_700_000_000_000,
        accounts=tuple((addr(who[name]), bal) for name, bal in funded.items()),
        validators=(GenesisValidator(VAL.public_bytes, power=10, deposit=2_000 * STOS),),
        params=PARAMS,
    )


class Chain:
    """A single-node chain for tests: keeps nonces per signer and applies blocks in order."""

    def __init__(self, state: LedgerState | None = None, verify_evidence=None) -> None:
        self.state = state or genesis().initial_state()
        self.verify_evidence = verify_evidence
        self.next_nonce: dict[str, int] = {}

    def tx(self, who: Identity, *, nonce: int | None = None, fee: int = 1_000, **msg) -> bytes:
        a = addr(who)
        if nonce is None:
            nonce = self.next_nonce.get(
                a, self.state.accounts[a].nonce if a in self.state.accounts else 0
            )
            self.next_nonce[a] = nonce + 1
        return build_tx(who, chain_id=CHAIN_ID, nonce=nonce, fee=fee, **msg)

    def block(self, txs: list[bytes]) -> pb.Block:
        return make_block(
            self.state, txs, time_unix_ms=self.state.time_unix_ms + 1_000, proposer=addr(VAL)
        )

    def commit(self, txs: list[bytes]) -> list[pb.TxResult]:
        new, results, _ = apply_block(
            self.state, self.block(txs), verify_evidence=self.verify_evidence
        )
        self.state = new
        self.next_nonce.clear()
        return list(results)


def transfer(to: Identity | str, amount: int) -> dict:
    dest = to if isinstance(to, str) else addr(to)
    return {"transfer": pb.Transfer(to=dest, amount=amount)}
