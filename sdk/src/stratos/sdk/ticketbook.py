"""The tickets one put or get holds, by chunk, and the proofs its transfers carry.

The index hands tickets out with placements (PUT) and with the manifest (GET); a storage node
serves a transfer only with the ticket covering its chunk and this client's signature over that
very request (`stratos.common.tickets`). A read of a big file can outlive its tickets, so a
book that can `renew` asks the index again shortly before they expire. When the index issued
none (a mesh whose index has no identity yet), transfers go without, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from stratos.common import tickets
from stratos.common.identity import Identity
from stratos.common.tickets import Bearer
from stratos.v1 import ticket_pb2

RENEW_BEFORE_MS = 60_000  # ask again when a ticket has less than this left


class TicketBook:
    def __init__(
        self,
        identity: Identity,
        granted: Iterable[ticket_pb2.SignedTicket] = (),
        *,
        renew: Callable[[], Awaitable[Iterable[ticket_pb2.SignedTicket]]] | None = None,
        clock_ms: Callable[[], int] = tickets.now_ms,
    ) -> None:
        self.identity, self._renew, self._clock = identity, renew, clock_ms
        self._by_chunk: dict[str, tuple[Bearer, int]] = {}
        self._lock = asyncio.Lock()
        self.add(granted)

    def add(self, granted: Iterable[ticket_pb2.SignedTicket]) -> None:
        for signed in granted:
            t = tickets.parse(signed)
            bearer = Bearer(self.identity, signed)
            for cid in t.chunk_ids:
                self._by_chunk[cid] = (bearer, t.expires_unix_ms)

    def now(self, chunk_id: str) -> Bearer | None:
        """The bearer for `chunk_id` as the book holds it (no renewal)."""
        held = self._by_chunk.get(chunk_id)
        return held[0] if held else None

    async def bearer(self, chunk_id: str) -> Bearer | None:
        """The bearer for `chunk_id`, renewed first when it is about to expire."""
        held = self._by_chunk.get(chunk_id)
        if held is None or self._renew is None or held[1] - self._clock() > RENEW_BEFORE_MS:
            return held[0] if held else None
        async with self._lock:  # one renewal for every transfer that finds it due
            if self._by_chunk[chunk_id][1] - self._clock() <= RENEW_BEFORE_MS:
                self.add(await self._renew())
        return self._by_chunk[chunk_id][0]
