"""Wallets: the user's named ed25519 keys, STOS amounts, and signed ledger transactions.

The client side of the STOS ledger, kept here because the SDK never imports a service: the rules
below restate the ledger's wire contract (proto/stratos/v1/ledger.proto), which is what both
sides agree on.

- Keys live in STRATOS_HOME/keys/<name>.pem (mode 0600); `default` is the key every other
  command already uses. A wallet's address is the hex of the first 20 bytes of BLAKE3 of its raw
  public key (`stratos.common.identity.address_of`).
- Amounts are integers of the base unit, the **nstos** (1 STOS = 10^9 nstos). Users type and read
  decimal STOS ("12.5"); `parse_stos` / `format_stos` convert exactly and refuse anything that
  would round, so a typo never becomes a different payment.
- A tx is a `Tx{body, public_key, signature}` where `body` is a serialized `TxBody` and the
  signature is ed25519 over b"stratos.tx.v1\\x00" + body; its hash is BLAKE3 of the Tx bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from blake3 import blake3

from stratos.common.errors import AlreadyExists, InvalidArgument, NotFound
from stratos.common.identity import Identity, address_of, load_or_create
from stratos.v1 import ledger_pb2

DEFAULT_WALLET = "default"
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
ADDRESS_RE = re.compile(r"^[0-9a-f]{40}$")

# -- amounts ------------------------------------------------------------------------------------

NSTOS_PER_STOS = 10**9
DECIMALS = 9
MAX_NSTOS = 2**64 - 1  # amounts travel as uint64
DEFAULT_FEE_NSTOS = 1_000  # the chain's default min_fee (0.000001 STOS)

# Plain ASCII decimal notation only: no exponent, sign, "inf"/"nan", other scripts' digits or
# thousands separators, so a typo is refused rather than read as something else.
_AMOUNT_RE = re.compile(r"^([0-9]+)(?:\.([0-9]*))?$|^\.([0-9]+)$", re.ASCII)


def parse_stos(text: str, *, what: str = "amount") -> int:
    """ "12.5" (STOS) → 12_500_000_000 (nstos), exactly; InvalidArgument on anything else."""
    raw = text.strip() if isinstance(text, str) else ""
    match = _AMOUNT_RE.match(raw)
    if not match:
        raise InvalidArgument(
            f"the {what} {text!r} is not an amount of STOS; write a non-negative decimal "
            "such as 12.5"
        )
    frac = match.group(2) if match.group(1) is not None else match.group(3)
    if frac and len(frac.rstrip("0")) > DECIMALS:
        raise InvalidArgument(
            f"the {what} {text!r} has more than {DECIMALS} decimals; "
            "the smallest amount is 0.000000001 STOS"
        )
    # Integer arithmetic on the digits: exact at any length, unlike floats or a Decimal context.
    whole = int(match.group(1) or "0")
    nstos = whole * NSTOS_PER_STOS + int((frac or "").rstrip("0").ljust(DECIMALS, "0"))
    if nstos > MAX_NSTOS:
        raise InvalidArgument(f"the {what} {text!r} STOS is more than the ledger can hold")
    return nstos


def format_stos(nstos: int) -> str:
    """12_500_000_000 → "12.5": the shortest exact decimal, no trailing zeros."""
    if nstos < 0:
        raise InvalidArgument(f"{nstos} nstos is negative; amounts are never negative")
    whole, frac = divmod(nstos, NSTOS_PER_STOS)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:0{DECIMALS}d}".rstrip("0")


# -- addresses and transactions -----------------------------------------------------------------

SIGN_DOMAIN = b"stratos.tx.v1\x00"  # a tx signature is never valid as anything else


def is_address(value: str) -> bool:
    return isinstance(value, str) and bool(ADDRESS_RE.match(value))


def check_address(value: str) -> str:
    """`value` if it is an account address, else one sentence saying what one looks like."""
    if not is_address(value):
        raise InvalidArgument(
            f"{value!r} is not an address; an address is 40 lowercase hex characters "
            "(see 'stratos wallet show')"
        )
    return value


def tx_hash(tx_bytes: bytes) -> str:
    return blake3(tx_bytes).hexdigest()


def sign_tx(identity: Identity, body: ledger_pb2.TxBody) -> bytes:
    """Serialize and sign `body`; returns the Tx bytes ready to submit."""
    body_bytes = body.SerializeToString(deterministic=True)
    return ledger_pb2.Tx(
        body=body_bytes,
        public_key=identity.public_bytes,
        signature=identity.sign(SIGN_DOMAIN + body_bytes),
    ).SerializeToString(deterministic=True)


def transfer_tx(
    identity: Identity, *, chain_id: str, nonce: int, fee: int, to: str, amount: int
) -> bytes:
    """A signed transfer of `amount` nstos to `to`, paying `fee` nstos."""
    check_address(to)
    if not 0 < amount <= MAX_NSTOS:
        raise InvalidArgument("the amount to send must be more than 0 STOS")
    if not 0 <= fee <= MAX_NSTOS:
        raise InvalidArgument("the fee must be a non-negative amount of STOS")
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
