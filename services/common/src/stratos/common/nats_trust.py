"""The NATS edge of signed messages: a node signs what it publishes, a consumer lets through only
what its admitted sender signed.

`stratos.common.signed` is the pure check; this module is what services hold: a `Signer` (the
node's name and key: headers for a payload, with the trace context) and a `Gate` (a `Verifier`
over the current admission list that logs what it drops at most once per reason per claimed
sender per minute, so an attacker publishing a flood of forgeries costs a counter, not a log
flood). Which roles may send on which subject is said where each consumer calls `Gate.admit`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stratos.common.logging import get_logger
from stratos.common.signed import SIGNER, Refused, Sender, Verifier, sign
from stratos.common.tracing import inject_headers

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

    from stratos.common.admission import Admission
    from stratos.common.identity import Identity

log = get_logger(__name__)

LOG_EVERY_S = 60.0
_MAX_LOGGED_KEYS = 10_000  # (reason, sender) pairs remembered for the log limit


@dataclass(frozen=True)
class Signer:
    """This node's name in the admission list and its identity key."""

    node_id: str
    identity: Identity

    def headers(
        self, subject: str, payload: bytes, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """`extra` headers, the trace context and this node's signature of `payload`."""
        return inject_headers(
            {**(extra or {}), **sign(self.identity, self.node_id, subject, payload)}
        )

    async def publish(self, nc: NATS, subject: str, payload: bytes) -> None:
        """A plain NATS publish, signed."""
        await nc.publish(subject, payload, headers=self.headers(subject, payload))


class Gate:
    """Lets a consumer believe a message only from its admitted sender (see module docstring)."""

    def __init__(
        self,
        admission: Callable[[], Admission | None],
        *,
        clock_s: Callable[[], float] = time.monotonic,
        verifier: Verifier | None = None,
    ) -> None:
        self.admission = admission
        self.verifier = verifier or Verifier(admission)
        self._clock = clock_s
        self._logged: dict[tuple[str, str], float] = {}

    @property
    def dropped(self):
        """Messages dropped so far, by reason (a Counter)."""
        return self.verifier.dropped

    def admit(
        self,
        subject: str,
        payload: bytes,
        headers: Mapping[str, str] | None,
        *,
        roles: frozenset[int] | set[int],
        sender: str | None = None,
        once: bool = True,
    ) -> Sender | None:
        """The sender when the message may be believed; None (counted, maybe logged) if not."""
        try:
            return self.verifier.check(
                subject, payload, headers, roles=roles, sender=sender, once=once
            )
        except Refused as err:
            claimed = ((headers or {}).get(SIGNER) or "")[:80]
            self._log(err, subject, claimed)
            return None

    def drop(self, reason: str, subject: str, sender: str, sentence: str = "") -> None:
        """Count and (rate-limited) log a message dropped for a reason found past the signature
        check (a signed heartbeat whose body names another key)."""
        self.verifier.dropped[reason] += 1
        self._log(Refused(reason, sentence or reason.replace("_", " ")), subject, sender[:80])

    def _log(self, err: Refused, subject: str, claimed: str) -> None:
        now = self._clock()
        key = (err.reason, claimed)
        last = self._logged.get(key)
        if last is not None and now - last < LOG_EVERY_S:
            return
        if len(self._logged) >= _MAX_LOGGED_KEYS:  # invented senders: forget, log again later
            self._logged = {k: t for k, t in self._logged.items() if now - t < LOG_EVERY_S}
            if len(self._logged) >= _MAX_LOGGED_KEYS:
                return
        self._logged[key] = now
        log.warning(
            "nats_message_dropped",
            reason=err.reason,
            subject=subject[:200],
            sender=claimed,
            error=str(err),
            dropped=self.verifier.dropped[err.reason],
        )
