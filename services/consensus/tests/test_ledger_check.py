"""check_tx refuses every bad tx with its code and one clear sentence, and changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_support import ALICE, BOB, CAROL, CHAIN_ID, PARAMS, STOS, Chain, addr, transfer

from stratos.consensus.ledger.apphash import app_hash
from stratos.consensus.ledger.apply import check_tx
from stratos.consensus.ledger.tx import SIGN_DOMAIN, TxCode, build_tx
from stratos.v1 import ledger_pb2 as pb


def refused(raw: bytes, code: TxCode, match: str, chain: Chain | None = None) -> None:
    state = (chain or Chain()).state
    before = app_hash(state)
    result = check_tx(state, raw)
    assert result.code == code, result.log
    assert match in result.log
    assert app_hash(state) == before


def test_a_valid_transfer_passes() -> None:
    c = Chain()
    result = check_tx(c.state, c.tx(ALICE, **transfer(BOB, STOS)))
    assert result.code == TxCode.OK
    assert "sent 1 STOS" in result.log


def test_bad_signature() -> None:
    good = pb.Tx.FromString(Chain().tx(ALICE, **transfer(BOB, STOS)))
    forged = pb.Tx(
        body=good.body, public_key=good.public_key, signature=BOB.sign(SIGN_DOMAIN + good.body)
    )
    refused(forged.SerializeToString(), TxCode.BAD_SIGNATURE, "signature does not match")


def test_a_signature_without_the_domain_prefix_is_bad() -> None:
    good = pb.Tx.FromString(Chain().tx(ALICE, **transfer(BOB, STOS)))
    bare = pb.Tx(body=good.body, public_key=good.public_key, signature=ALICE.sign(good.body))
    refused(bare.SerializeToString(), TxCode.BAD_SIGNATURE, "signature does not match")


def test_wrong_chain_id() -> None:
    raw = build_tx(ALICE, chain_id="other-chain", nonce=0, fee=1_000, **transfer(BOB, 1))
    refused(raw, TxCode.WRONG_CHAIN, f"for chain 'other-chain'; this chain is {CHAIN_ID!r}")


def test_wrong_nonce_says_expected_and_got() -> None:
    c = Chain()
    refused(c.tx(ALICE, nonce=5, **transfer(BOB, 1)), TxCode.BAD_NONCE, "expected 0, got 5", c)


def test_insufficient_funds_says_balance_and_needed() -> None:
    c = Chain()
    raw = c.tx(ALICE, **transfer(BOB, 10_000 * STOS))  # the fee tips it over
    refused(raw, TxCode.INSUFFICIENT_FUNDS, "balance is 10000 STOS, needed 10000.000001 STOS", c)


def test_malformed_bytes() -> None:
    refused(b"\xff\xff\xff not a tx", TxCode.MALFORMED, "malformed")


@pytest.mark.parametrize(
    ("msg", "why"),
    [
        ({"transfer": pb.Transfer(to="not-an-address", amount=1)}, "not an address"),
        ({"transfer": pb.Transfer(to="ab" * 20, amount=0)}, "amount is 0"),
        ({"register_node": pb.RegisterNode(role=pb.NODE_ROLE_UNSPECIFIED, deposit=1)}, "role"),
        ({"prepay_ozone": pb.PrepayOzone(amount=0)}, "prepaid amount is 0"),
        ({"slash": pb.Slash()}, "no evidence"),
    ],
)
def test_malformed_messages(msg: dict, why: str) -> None:
    refused(Chain().tx(ALICE, **msg), TxCode.MALFORMED, why)


def test_a_tx_without_a_message_is_malformed() -> None:
    body = pb.TxBody(chain_id=CHAIN_ID, nonce=0, fee=1_000).SerializeToString()
    raw = pb.Tx(body=body, public_key=ALICE.public_bytes, signature=ALICE.sign(SIGN_DOMAIN + body))
    refused(raw.SerializeToString(), TxCode.MALFORMED, "carries no message")


def test_a_short_public_key_is_malformed() -> None:
    refused(
        pb.Tx(body=b"", public_key=b"x", signature=b"y" * 64).SerializeToString(),
        TxCode.MALFORMED,
        "public key",
    )


def test_oversized() -> None:
    raw = Chain().tx(ALICE, slash=pb.Slash(evidence=b"e" * 1_100))
    assert len(raw) > PARAMS.max_tx_bytes
    refused(raw, TxCode.OVERSIZED, f"the limit is {PARAMS.max_tx_bytes} bytes")


def test_unknown_account() -> None:
    refused(
        Chain().tx(CAROL, **transfer(BOB, 1)),
        TxCode.UNKNOWN_ACCOUNT,
        f"account {addr(CAROL)} is unknown",
    )


def test_fee_below_minimum() -> None:
    refused(
        Chain().tx(ALICE, fee=999, **transfer(BOB, 1)),
        TxCode.FEE_TOO_LOW,
        "below the minimum 0.000001 STOS",
    )


def test_deposit_below_the_role_minimum() -> None:
    msg = {"register_node": pb.RegisterNode(role=pb.NODE_ROLE_META, deposit=499 * STOS)}
    refused(
        Chain().tx(ALICE, **msg), TxCode.REJECTED, "below the minimum of 500 STOS for a meta node"
    )


def test_slash_without_a_verifier_is_not_available() -> None:
    refused(
        Chain().tx(ALICE, slash=pb.Slash(evidence=b"e")),
        TxCode.NOT_ENABLED,
        "cannot verify evidence",
    )


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_are_refused_never_raised(raw: bytes) -> None:
    result = check_tx(Chain().state, raw)
    assert result.code in (TxCode.MALFORMED, TxCode.OVERSIZED)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=120))
def test_a_signed_body_of_junk_is_malformed(body: bytes) -> None:
    raw = pb.Tx(body=body, public_key=ALICE.public_bytes, signature=ALICE.sign(SIGN_DOMAIN + body))
    assert check_tx(Chain().state, raw.SerializeToString()).code != TxCode.OK
