"""Wallets: the user's named ed25519 keys, STOS amounts, and signed ledger transactions.

The client side of the STOS ledger, kept here because the SDK never imports a service: the rules
below restate the ledger's wire contract (proto/stratos/v1/ledger.proto), which is what both
sides agree on.

- Keys live in STRATOS_HOME/keys/<name>.pem (mode 0600); `default` is the key every other
  command already uses. A wallet's address is the hex of the first 20 bytes of BLAKE3 of its raw
  public key (`stratos.common.identity.address_of`).
- Amounts, addresses and tx signing follow the ledger's wire rules in `stratos.common.stos`,
  shared with the consensus service so the two sides cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from stratos.common.errors import AlreadyExists, InvalidArgument, NotFound
from stratos.common.identity import Identity, address_of, load_or_create
from stratos.common.stos import MAX_NSTOS, is_address, sign_tx

DEFAULT_WALLET = "default"
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

DEFAULT_FEE_NSTOS = 1_000  # the chain's default min_fee (0.000001 STOS)


# -- addresses and transactions -----------------------------------------------------------------


def check_address(value: str) -> str:
    """`value` if it is an account address, else one sentence saying what one looks like."""
    if not is_address(value):
        raise InvalidArgument(
            f"{value!r} is not an address; an address is 40 lowercase hex characters "
            "(see 'stratos wallet show')"
        )
    return value


def transfer_tx(
    identity: Identity, *, chain_id: str, nonce: int, fee: int, to: str, amount: int
) -> bytes:
    """A signed transfer of `amount` nstos to `to`, paying `fee` nstos."""
    check_address(to)
    if not 0 < amount <= MAX_NSTOS:
        raise InvalidArgument("the amount to send must be more than 0 STOS")
    if not 0 <= fee <= MAX_NSTOS:
        raise InvalidArgument("the fee must be a non-negative amount of STOS")
    from stratos.v1 import ledger_pb2  # here, not at the top: protobuf slows every command's start

    body = ledger_pb2.TxBody(
        chain_id=chain_id,
        nonce=nonce,
        fee=fee,
        transfer=ledger_pb2.Transfer(to=to, amount=amount),
    )
    return sign_tx(identity, body)


# -- named keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalletInfo:
    name: str
    address: str
    public_key: str  # hex

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "address": self.address, "public_key": self.public_key}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidArgument(
            f"{name!r} is not a wallet name; use 1-32 letters, digits, '_' or '-'"
        )
    return name


def info_of(name: str, identity: Identity) -> WalletInfo:
    pub = identity.public_bytes
    return WalletInfo(name=name, address=address_of(pub), public_key=pub.hex())


@dataclass(frozen=True)
class Wallets:
    """The named keys under `keys_dir` (STRATOS_HOME/keys)."""

    keys_dir: Path

    def path(self, name: str) -> Path:
        return self.keys_dir / f"{check_name(name)}.pem"

    def new(self, name: str = DEFAULT_WALLET) -> WalletInfo:
        """Create the key `name` (0600); an existing name is refused, never overwritten."""
        path = self.path(name)
        if path.exists():
            raise AlreadyExists(
                f"a wallet named {name!r} already exists ({path}); pick another name"
            )
        return info_of(name, load_or_create(path))

    def list(self) -> list[WalletInfo]:
        """Every wallet, sorted by name (`default` first)."""
        if not self.keys_dir.is_dir():
            return []
        names = sorted(
            (p.stem for p in self.keys_dir.glob("*.pem") if NAME_RE.match(p.stem)),
            key=lambda n: (n != DEFAULT_WALLET, n),
        )
        return [info_of(n, load_or_create(self.keys_dir / f"{n}.pem")) for n in names]

    def identity(self, name: str = DEFAULT_WALLET) -> Identity:
        """The key `name`; `default` is created on first use, like every other command does."""
        path = self.path(name)
        if name != DEFAULT_WALLET and not path.exists():
            known = ", ".join(w.name for w in self.list()) or "none"
            raise NotFound(
                f"there is no wallet named {name!r} (wallets: {known}); "
                f"create it with 'stratos wallet new {name}'"
            )
        return load_or_create(path)

    def show(self, name: str = DEFAULT_WALLET) -> WalletInfo:
        return info_of(name, self.identity(name))
