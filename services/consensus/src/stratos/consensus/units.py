"""STOS amounts as integers.

The ledger never holds a float: every balance, fee and deposit is an integer count of the base
unit, the **nstos** (1 STOS = 10^9 nstos, like gwei to ether). Users type and read decimal STOS
("12.5"); this module converts exactly between the two, refusing anything that would round.
"""

from __future__ import annotations

import re

from stratos.common.errors import InvalidArgument

NSTOS_PER_STOS = 10**9
DECIMALS = 9
MAX_NSTOS = 2**64 - 1  # amounts travel as uint64

# Plain ASCII decimal notation only: no exponent, sign, "inf"/"nan", other scripts' digits or
# thousands separators, so a typo is refused rather than read as something else.
_AMOUNT_RE = re.compile(r"^([0-9]+)(?:\.([0-9]*))?$|^\.([0-9]+)$")


def parse_stos(text: str) -> int:
    """ "12.5" (STOS) → 12_500_000_000 (nstos), exactly; InvalidArgument on anything else."""
    raw = text.strip() if isinstance(text, str) else ""
    match = _AMOUNT_RE.match(raw)
    if not match:
        raise InvalidArgument(
            f"{text!r} is not an amount of STOS; write a non-negative decimal such as 12.5"
        )
    frac = match.group(2) if match.group(1) is not None else match.group(3)
    if frac and len(frac.rstrip("0")) > DECIMALS:
        raise InvalidArgument(
            f"{text!r} has more than {DECIMALS} decimals; the smallest amount is 0.000000001 STOS"
        )
    # Integer arithmetic on the digits: exact at any length, unlike a Decimal context.
    whole = int(match.group(1) or "0")
    nstos = whole * NSTOS_PER_STOS + int((frac or "").rstrip("0").ljust(DECIMALS, "0"))
    if nstos > MAX_NSTOS:
        raise InvalidArgument(f"{text!r} STOS is more than the ledger can hold")
    return nstos


def format_stos(nstos: int) -> str:
    """12_500_000_000 → "12.5": shortest exact decimal, no trailing zeros."""
    if nstos < 0:
        raise InvalidArgument(f"{nstos} nstos is negative; amounts are never negative")
    whole, frac = divmod(nstos, NSTOS_PER_STOS)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:0{DECIMALS}d}".rstrip("0")
