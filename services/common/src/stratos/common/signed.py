"""Signed NATS messages: who sent it, when, and proof — checked against the admission list.

Whoever can reach NATS could publish a heartbeat for an invented node, a repair job that
deletes chunks, or a result that writes holders off. So every NATS message that changes state
carries three headers — its sender's admitted name, the time it was sent, and an ed25519
signature over a domain tag, the subject, that time and the payload — and its consumer drops it
unless the sender is admitted in a role allowed to send it (and, for subjects that name a node,
is that node), the signature verifies, and the time is neither ahead of the consumer's clock by
more than a small skew nor older than what that sender already sent on that subject.

The payload (a protobuf) is not changed, so a message stays readable by tools; the subject is
signed, so a message cannot be replayed on another node's subject. `Verifier` is pure given its
clock: it counts what it drops by reason (for logs and metrics) and keeps O(senders * subjects)
state, each bounded to the reorder window.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stratos.common.admission import ROLES, Admission
from stratos.common.errors import PermissionDenied
from stratos.common.identity import verify

if TYPE_CHECKING:
    from stratos.common.identity import Identity

DOMAIN = b"stratos.nats.v1\x00"
SIGNER = "Stratos-Signer"
SENT = "Stratos-Sent-Ms"
SIGNATURE = "Stratos-Signature"
SKEW_MS = 5_000  # how far ahead of the consumer's clock a sender's clock may be
REORDER_MS = 2_000  # how far back in one sender's stream a message may arrive (concurrent sends)
_MAX_SEEN_PER_STREAM = 10_000  # signatures remembered within the reorder window, per stream


class Refused(PermissionDenied):
    """A message the consumer drops; `reason` is the counter it is counted under."""

    def __init__(self, reason: str, sentence: str) -> None:
        super().__init__(sentence)
        self.reason = reason


def _signed_bytes(subject: str, sent_ms: int, payload: bytes) -> bytes:
    return b"".join((DOMAIN, subject.encode(), b"\x00", str(sent_ms).encode(), b"\x00", payload))


def sign(
    identity: Identity, node_id: str, subject: str, payload: bytes, now_ms: int | None = None
) -> dict[str, str]:
    """The headers that make `payload` on `subject` a message signed by `node_id`."""
    sent = int(time.time() * 1000) if now_ms is None else now_ms
    sig = identity.sign(_signed_bytes(subject, sent, payload))
    return {SIGNER: node_id, SENT: str(sent), SIGNATURE: base64.b64encode(sig).decode()}


@dataclass(frozen=True)
class Sender:
    """Who sent a message that passed every check."""

    node_id: str
    role: int
    sent_ms: int


@dataclass
class _Stream:
    newest_ms: int = 0
    seen: dict[bytes, int] = field(default_factory=dict)  # signature → sent_ms, in the window


class Verifier:
    """Checks signed messages against the current admission list (`admission()` is asked on
    every check, so a new list takes effect at once)."""

    def __init__(
        self,
        admission: Callable[[], Admission | None],
        *,
        skew_ms: int = SKEW_MS,
        reorder_ms: int = REORDER_MS,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._admission, self._clock = admission, clock_ms
        self.skew_ms, self.reorder_ms = skew_ms, reorder_ms
        self.dropped: Counter[str] = Counter()
        self._streams: dict[tuple[str, str], _Stream] = {}

    def check(
        self,
        subject: str,
        payload: bytes,
        headers: Mapping[str, str] | None,
        *,
        roles: frozenset[int] | set[int],
        sender: str | None = None,
        once: bool = True,
    ) -> Sender:
        """The sender of a message that may be believed; raises `Refused` (and counts it)
        otherwise. `roles`: who may send on this subject; `sender`: the one node that may,
        when the subject names it (a heartbeat, a node's results). `once=False` skips the
        replay and order checks for a message JetStream itself redelivers (a work-queue job
        nak'd for a retry arrives again with the same signature)."""
        try:
            return self._check(subject, payload, headers or {}, roles, sender, once)
        except Refused as err:
            self.dropped[err.reason] += 1
            raise

    def _check(self, subject, payload, headers, roles, sender, once) -> Sender:
        node_id, sent_raw, sig_raw = (headers.get(h) for h in (SIGNER, SENT, SIGNATURE))
        if not node_id or not sent_raw or not sig_raw:
            raise Refused("unsigned", f"a message on {subject} carries no sender signature")
        try:
            sent_ms = int(sent_raw)
            sig = base64.b64decode(sig_raw, validate=True)
        except (ValueError, binascii.Error):
            raise Refused(
                "malformed", f"a message on {subject} has a malformed signature"
            ) from None
        admission = self._admission()
        member = admission.member(node_id) if admission is not None else None
        if member is None:
            raise Refused("not_admitted", f"{node_id[:80]!r} is not admitted to this mesh")
        if member.role not in roles:
            raise Refused(
                "wrong_role",
                f"{node_id} is a {ROLES[member.role]} node, which may not send on {subject}",
            )
        if sender is not None and node_id != sender:
            raise Refused("not_owner", f"{node_id} may not send on {sender}'s subject {subject}")
        if not verify(member.public_key, sig, _signed_bytes(subject, sent_ms, payload)):
            raise Refused("bad_signature", f"the signature of {node_id} on {subject} is wrong")
        now = self._clock()
        if sent_ms > now + self.skew_ms:
            raise Refused(
                "future",
                f"{node_id} sent a message on {subject} dated {sent_ms - now} ms in the future",
            )
        if once:
            self._remember(node_id, subject, sent_ms, sig)
        return Sender(node_id, member.role, sent_ms)

    def _remember(self, node_id: str, subject: str, sent_ms: int, sig: bytes) -> None:
        stream = self._streams.setdefault((node_id, subject), _Stream())
        floor = stream.newest_ms - self.reorder_ms
        if sent_ms < floor:
            raise Refused(
                "stale",
                f"{node_id} sent a message on {subject} older than one it sent before",
            )
        if sig in stream.seen:
            raise Refused("replayed", f"a message of {node_id} on {subject} arrived twice")
        if sent_ms > stream.newest_ms:
            stream.newest_ms = sent_ms
            floor = sent_ms - self.reorder_ms
            stream.seen = {s: t for s, t in stream.seen.items() if t >= floor}
        if len(stream.seen) >= _MAX_SEEN_PER_STREAM:  # a flood within one window
            raise Refused("flood", f"{node_id} sent too many messages on {subject} at once")
        stream.seen[sig] = sent_ms

    def forget(self, node_id: str) -> None:
        """Drop what is kept about a node (it left the admission list)."""
        for key in [k for k in self._streams if k[0] == node_id]:
            del self._streams[key]
