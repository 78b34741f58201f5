"""Unit tier for wallets: named keys (0600, names, duplicates), exact STOS amounts, and signed
transfers that the ledger itself accepts (tests may import stratos.consensus; the SDK may not)."""

from __future__ import annotations

import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratos.common.errors import AlreadyExists, InvalidArgument, NotFound
from stratos.common.identity import Identity, address_of
from stratos.common.stos import MAX_NSTOS, NSTOS_PER_STOS, format_stos, parse_stos, tx_hash
from stratos.consensus.ledger.apply import check_tx
from stratos.consensus.ledger.genesis import Genesis, GenesisValidator
from stratos.consensus.ledger.tx import TxCode, decode_tx
from stratos.consensus.ledger.tx import tx_hash as ledger_tx_hash
from stratos.sdk.wallet import Wallets, check_address, transfer_tx
from stratos.v1 import ledger_pb2

# -- named keys ---------------------------------------------------------------------------------


@pytest.fixture
def wallets(tmp_path) -> Wallets:
    return Wallets(tmp_path / "keys")


def test_new_creates_a_0600_key_and_show_and_list_agree(wallets):
    bob = wallets.new("bob")
    path = wallets.keys_dir / "bob.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bob.address) == 40 and bob.address == address_of(bytes.fromhex(bob.public_key))
    assert wallets.show("bob") == bob
    default = wallets.new()
    assert default.name == "default"
    assert [w.name for w in wallets.list()] == ["default", "bob"]
    assert wallets.show("bob").to_dict()["address"] == bob.address


def test_the_default_wallet_is_the_existing_default_key(tmp_path):
    from stratos.sdk.home import Home

    home = Home(tmp_path)
    ident = home.identity()  # what put/get have always used
    assert Wallets(home.keys_dir).show().address == address_of(ident.public_bytes)


def test_an_existing_name_is_refused_and_the_key_is_kept(wallets):
    first = wallets.new("alice")
    with pytest.raises(AlreadyExists, match="already exists"):
        wallets.new("alice")
    assert wallets.show("alice") == first


@pytest.mark.parametrize("name", ["", "a/b", "../x", "x" * 33, "with space", "é", "a.b"])
def test_a_bad_name_is_refused(wallets, name):
    with pytest.raises(InvalidArgument, match="is not a wallet name"):
        wallets.new(name)
    assert not wallets.keys_dir.exists() or not list(wallets.keys_dir.iterdir())


def test_an_unknown_wallet_names_the_known_ones(wallets):
    wallets.new("alice")
    with pytest.raises(NotFound, match=r"'bob'.*alice"):
        wallets.show("bob")
    assert wallets.list()[0].name == "alice"  # show did not create bob
    assert len(wallets.list()) == 1


def test_list_of_no_wallets_is_empty(wallets):
    assert wallets.list() == []


# -- amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "nstos"),
    [
        ("0", 0),
        ("1", NSTOS_PER_STOS),
        ("12.5", 12_500_000_000),
        (".5", 500_000_000),
        ("5.", 5 * NSTOS_PER_STOS),
        ("0.000000001", 1),
        ("1.100000000000", 1_100_000_000),
        (" 7 ", 7 * NSTOS_PER_STOS),
        ("1000000", 10**15),
        ("18446744073.709551615", MAX_NSTOS),
    ],
)
def test_amounts_parse_exactly(text, nstos):
    assert parse_stos(text) == nstos


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-1",
        "+1",
        "1e3",
        "inf",
        "nan",
        "1,5",
        "1_000",
        "0x10",
        "١٢",  # Arabic-Indic digits
        "1.0000000001",
        "18446744073.709551616",
        ".",
        "1..2",
        "twelve",
    ],
)
def test_junk_amounts_are_one_sentence(text):
    with pytest.raises(InvalidArgument) as exc:
        parse_stos(text)
    assert "\n" not in str(exc.value) and repr(text) in str(exc.value)


def test_format_is_the_shortest_exact_decimal():
    assert format_stos(0) == "0"
    assert format_stos(12_500_000_000) == "12.5"
    assert format_stos(1) == "0.000000001"
    assert format_stos(10**15) == "1000000"
    with pytest.raises(InvalidArgument):
        format_stos(-1)


@given(st.integers(min_value=0, max_value=MAX_NSTOS))
def test_format_then_parse_round_trips(nstos):
    """The SDK and the ledger share one implementation (stratos.common.stos)."""
    text = format_stos(nstos)
    assert parse_stos(text) == nstos


# -- transactions -------------------------------------------------------------------------------


def _genesis(sender: Identity, balance: int) -> Genesis:
    validator = Identity.generate()
    return Genesis(
        chain_id="test-chain",
        genesis_time_unix_ms=1_700_000_000_000,
        accounts=((address_of(sender.public_bytes), balance),),
        validators=(GenesisValidator(validator.public_bytes, power=10),),
    )


def test_a_signed_transfer_passes_the_ledgers_check():
    alice, bob = Identity.generate(), Identity.generate()
    state = _genesis(alice, 100 * NSTOS_PER_STOS).initial_state()
    raw = transfer_tx(
        alice,
        chain_id="test-chain",
        nonce=0,
        fee=1_000,
        to=address_of(bob.public_bytes),
        amount=parse_stos("12.5"),
    )
    result = check_tx(state, raw)
    assert result.code == TxCode.OK, result.log
    decoded = decode_tx(raw, max_tx_bytes=4096)
    assert decoded.verify_sig()
    assert decoded.sender == address_of(alice.public_bytes)
    assert decoded.body.transfer.amount == 12_500_000_000
    assert tx_hash(raw) == ledger_tx_hash(raw) == decoded.hash


def test_the_ledger_refuses_a_wrong_nonce_chain_or_tampered_body():
    alice, bob = Identity.generate(), Identity.generate()
    state = _genesis(alice, 100 * NSTOS_PER_STOS).initial_state()
    to = address_of(bob.public_bytes)

    def tx(**kw):
        args = {"chain_id": "test-chain", "nonce": 0, "fee": 1_000, "to": to, "amount": 1}
        return transfer_tx(alice, **{**args, **kw})

    assert check_tx(state, tx(nonce=1)).code == TxCode.BAD_NONCE
    assert check_tx(state, tx(chain_id="other")).code == TxCode.WRONG_CHAIN
    assert check_tx(state, tx(amount=101 * NSTOS_PER_STOS)).code == TxCode.INSUFFICIENT_FUNDS
    signed = ledger_pb2.Tx.FromString(tx())
    body = ledger_pb2.TxBody.FromString(signed.body)
    body.transfer.amount = 2
    signed.body = body.SerializeToString(deterministic=True)
    assert check_tx(state, signed.SerializeToString()).code == TxCode.BAD_SIGNATURE


def test_a_transfer_is_refused_before_signing_when_its_fields_are_bad():
    alice = Identity.generate()
    with pytest.raises(InvalidArgument, match="not an address"):
        transfer_tx(alice, chain_id="c", nonce=0, fee=1, to="ABC", amount=1)
    with pytest.raises(InvalidArgument, match="more than 0"):
        transfer_tx(alice, chain_id="c", nonce=0, fee=1, to="a" * 40, amount=0)
    with pytest.raises(InvalidArgument, match="not an address"):
        check_address("A" * 40)  # uppercase is not an address
