"""Ozone leases: how index replicas spend a payer's ozone without spending it twice (pure).

The chain holds each wallet's ozone and debits it only when an epoch settles, minutes after the
traffic. Between the two, every index replica signing tickets for that wallet must see what the
others already promised, so the promise is written down: the `STRATOS_OZONE` bucket holds, per
payer, the *leases* replicas took — (replica, amount, until when it counts) — and a replica
adds one only with compare-and-set against the revision it read, so two replicas can never
lease the same ozone.

A lease is taken for more than one ticket needs (a slice of what is free, at least
`LEASE_MIN`), so a burst of small files costs one bucket write, not one per file; the replica
spends it locally for `USE_MS`, then takes a new one. A lease counts against the payer until
every ticket it paid for has expired, its receipts have arrived (`GRACE_MS` later) and their
epoch has settled (`SETTLE_MS`): by then the chain's own balance shows the spending.

When its window to spend a lease is over, the replica gives back what it did not spend
(`release`): it rewrites its lease to the part its tickets took. So a payer's ozone is held only
for tickets signed, not for whole slices, and a wallet moving a few small files does not find
most of its ozone leased an hour later.

What a ticket reserves is what its transfer uses: the bytes times the copies written for a put,
the bytes for a get. A ticket's byte budget allows one retry on top; that slack is not reserved,
so a payer can overspend by at most one retry's bytes, and settlement then charges what it holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

LEASE_MIN = 1 << 30  # ozone a lease takes at least (when that much is free): 1 GiB of traffic
LEASE_SHARE = 8  # a lease takes at most 1/8 of what is free, so other replicas find some
USE_MS = 5 * 60 * 1000  # a replica signs tickets under a lease for this long
TICKET_MS = 10 * 60 * 1000  # the longest client ticket (ticketing.CLIENT_TTL_MS)
GRACE_MS = 30 * 60 * 1000  # receipts may follow their ticket's expiry (common.receipts)
SETTLE_MS = 15 * 60 * 1000  # an epoch's report reaches the chain within this, normally
HOLD_MS = USE_MS + TICKET_MS + GRACE_MS + SETTLE_MS


@dataclass(frozen=True)
class Lease:
    holder: str  # the index replica that took it
    amount: int  # ozone
    until_ms: int  # it counts against the payer until then


def encode(leases: list[Lease]) -> bytes:
    return json.dumps([[x.holder, x.amount, x.until_ms] for x in leases]).encode()


def decode(raw: bytes | None) -> list[Lease]:
    """The leases a bucket value holds; an unreadable value counts as none (the next write
    replaces it) — it can only come from a writer that is not an index replica."""
    if not raw:
        return []
    try:
        return [Lease(str(h), int(a), int(u)) for h, a, u in json.loads(raw)]
    except (ValueError, TypeError):
        return []


def live(leases: list[Lease], now_ms: int) -> list[Lease]:
    return [x for x in leases if x.until_ms > now_ms and x.amount > 0]


def reserved(leases: list[Lease], now_ms: int) -> int:
    return sum(x.amount for x in live(leases, now_ms))


@dataclass(frozen=True)
class Grant:
    leases: list[Lease]  # what the bucket should hold now
    amount: int  # ozone granted to the replica (0: refused)
    held: int  # the payer's ozone on the chain
    reserved: int  # of it, already leased


def grant(held: int, leases: list[Lease], *, holder: str, need: int, now_ms: int) -> Grant:
    """A new lease of at least `need` for `holder`, when that much of `held` is not leased."""
    current = live(leases, now_ms)
    taken = sum(x.amount for x in current)
    free = held - taken
    if need <= 0 or free < need:
        return Grant(current, 0, held, taken)
    amount = max(need, min(free // LEASE_SHARE, max(LEASE_MIN, need)))
    amount = min(amount, free)
    return Grant([*current, Lease(holder, amount, now_ms + HOLD_MS)], amount, held, taken)


def release(leases: list[Lease], *, holder: str, until_ms: int, unspent: int) -> list[Lease]:
    """`leases` with `unspent` ozone of `holder`'s lease that counts until `until_ms` given
    back (the part of it no ticket took); a lease left with nothing is dropped. (Leases of one
    holder counting until the same moment are one lease to it, so any of them gives back.)"""
    out = []
    for x in leases:
        if unspent > 0 and x.holder == holder and x.until_ms == until_ms:
            back = min(x.amount, unspent)
            x, unspent = Lease(holder, x.amount - back, until_ms), unspent - back
        if x.amount > 0:
            out.append(x)
    return out
