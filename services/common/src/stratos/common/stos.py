"""The STOS ledger's wire rules that both the ledger and its clients follow: amounts, addresses
and transaction signing. They live here because the SDK may not import the consensus service,
and the two sides must never drift apart.

- Amounts are integers of the base unit, the **nstos** (1 STOS = 10^9 nstos, like gwei to ether).
  Users type and read decimal STOS ("12.5"); `parse_stos` / `format_stos` convert exactly and
  refuse anything that would round, so a typo never becomes a different payment.
- An address is the hex of the first 20 bytes of BLAKE3 of a raw ed25519 public key
  (`stratos.common.identity.address_of`).
- A tx is `Tx{body, public_key, signature}` (proto/stratos/v1/ledger.proto): `body` a serialized
  `TxBody`, the signature ed25519 over b"stratos.tx.v1\\x00" + body; its hash is BLAKE3 of the
  Tx bytes, written as 64 lowercase hex characters.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from blake3 import blake3

from stratos.common.errors import InvalidArgument

if TYPE_CHECKING:  # both are imported by the callers that sign; the CLI's start-up skips them
    from stratos.common.identity import Identity
    from stratos.v1 import ledger_pb2

NSTOS_PER_STOS = 10**9
DECIMALS = 9
MAX_NSTOS = 2**64 - 1  # amounts travel as uint64

# Plain ASCII decimal notation only: no exponent, sign, "inf"/"nan", other scripts' digits or
# thousands separators, so a typo is refused rather than read as something else.
_AMOUNT_RE = re.compile(r"^([0-9]+)(?:\.([0-9]*))?$|^\.([0-9]+)$", re.ASCII)
ADDRESS_RE = re.compile(r"^[0-9a-f]{40}$")
TX_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
SIGN_DOMAIN = b"stratos.tx.v1\x00"  # a tx signature is never valid as anything else


def parse_stos(text: str, *, what: str | None = None) -> int:
    """ "12.5" (STOS) → 12_500_000_000 (nstos), exactly; InvalidArgument on anything else.
    `what` names the value in the error ("the fee '1.x' is not …")."""
    subject = f"the {what} {text!r}" if what else f"{text!r}"
    raw = text.strip() if isinstance(text, str) else ""
    match = _AMOUNT_RE.match(raw)
    if not match:
        raise InvalidArgument(
            f"{subject} is not an amount of STOS; write a non-negative decimal such as 12.5"
        )
    frac = match.group(2) if match.group(1) is not None else match.group(3)
    if frac and len(frac.rstrip("0")) > DECIMALS:
        raise InvalidArgument(
            f"{subject} has more than {DECIMALS} decimals; the smallest amount is 0.000000001 STOS"
        )
    # Integer arithmetic on the digits: exact at any length, unlike floats or a Decimal context.
    whole = int(match.group(1) or "0")
    nstos = whole * NSTOS_PER_STOS + int((frac or "").rstrip("0").ljust(DECIMALS, "0"))
    if nstos > MAX_NSTOS:
        raise InvalidArgument(f"{subject} STOS is more than the ledger can hold")
    return nstos


def format_stos(nstos: int) -> str:
    """12_500_000_000 → "12.5": the shortest exact decimal, no trailing zeros."""
    if nstos < 0:
        raise InvalidArgument(f"{nstos} nstos is negative; amounts are never negative")
    whole, frac = divmod(nstos, NSTOS_PER_STOS)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:0{DECIMALS}d}".rstrip("0")


def is_address(value: str) -> bool:
    return isinstance(value, str) and bool(ADDRESS_RE.match(value))


def is_tx_hash(value: str) -> bool:
    """64 lowercase hex characters: what `tx_hash` returns."""
    return isinstance(value, str) and bool(TX_HASH_RE.match(value))


def tx_hash(tx_bytes: bytes) -> str:
    return blake3(tx_bytes).hexdigest()


def sign_tx(identity: Identity, body: ledger_pb2.TxBody) -> bytes:
    """Serialize and sign `body`; returns the Tx bytes ready to submit."""
    from stratos.v1 import ledger_pb2

    body_bytes = body.SerializeToString(deterministic=True)
    return ledger_pb2.Tx(
        body=body_bytes,
        public_key=identity.public_bytes,
        signature=identity.sign(SIGN_DOMAIN + body_bytes),
    ).SerializeToString(deterministic=True)
