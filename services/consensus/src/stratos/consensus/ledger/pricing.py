"""Ozone pricing by the Stratos constant-product rule.

S = total bonded resource-node deposits, P = total STOS prepaid so far, L = ozone left to sell.
The price of one ozone is (S+P)/L; prepaying X buys floor(L·X/(S+P+X)), after which P += X and
L -= bought. Each purchase raises the price, so the limit L is never exhausted while S+P > 0.
Pure integer arithmetic: every validator must compute the same amount to the unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class OzonePool:
    deposits: int  # S, nstos
    prepaid: int  # P, nstos
    limit: int  # L, ozone units remaining


def ozone_for_prepay(pool: OzonePool, amount: int) -> int:
    """Ozone bought by prepaying `amount` nstos: floor(L·X / (S+P+X))."""
    if amount <= 0:
        return 0
    return pool.limit * amount // (pool.deposits + pool.prepaid + amount)


def after_prepay(pool: OzonePool, amount: int) -> tuple[OzonePool, int]:
    """The pool after prepaying `amount`, and the ozone bought."""
    bought = ozone_for_prepay(pool, amount)
    return OzonePool(pool.deposits, pool.prepaid + amount, pool.limit - bought), bought


def ozone_price(pool: OzonePool) -> Fraction | None:
    """nstos per ozone, (S+P)/L, exactly; None once nothing is left to sell."""
    if pool.limit == 0:
        return None
    return Fraction(pool.deposits + pool.prepaid, pool.limit)
