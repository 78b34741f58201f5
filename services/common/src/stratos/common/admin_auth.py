"""Admin actions: a request that only the mesh's admin may make carries the admin key's signature.

Starting or cancelling a drain moves every chunk off a node, and removing a node writes its
copies off; whoever can reach the index's port must not be able to do either. So such a request
carries an `AdminSignature`: ed25519 by the admin key (the one `STRATOS_ADMIN_KEY` pins, the key
that signs the admission list) over a domain tag, the RPC's name, the time of signing and the
request itself. The name is signed so a signature for one action cannot be used for another; the
time bounds a replay to `MAX_AGE_MS`, and `AdminCheck` accepts each signature once within that
window. Pure given its clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from stratos.common.errors import PermissionDenied
from stratos.common.identity import verify
from stratos.v1 import auth_pb2

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from stratos.common.identity import Identity

DOMAIN = b"stratos.admin.v1\x00"
MAX_AGE_MS = 120_000  # how long a signed request stays valid (the CLI sends it at once)
SKEW_MS = 5_000  # how far ahead of the index's clock the admin's may be
_FIELD = "admin"


def _signed_bytes(method: str, signed_ms: int, request: Message) -> bytes:
    bare = type(request)()
    bare.CopyFrom(request)
    bare.ClearField(_FIELD)
    body = bare.SerializeToString(deterministic=True)
    return b"".join((DOMAIN, method.encode(), b"\x00", str(signed_ms).encode(), b"\x00", body))


def sign_request(
    admin: Identity, method: str, request: Message, now_ms: int | None = None
) -> auth_pb2.AdminSignature:
    """The signature to put in `request.admin` for the RPC `method` (e.g. "DrainNode")."""
    signed_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return auth_pb2.AdminSignature(
        signed_unix_ms=signed_ms, signature=admin.sign(_signed_bytes(method, signed_ms, request))
    )


class AdminCheck:
    """Refuses (PermissionDenied, one sentence) an admin request the admin key did not sign
    for this method within the last MAX_AGE_MS, or one already accepted."""

    def __init__(
        self,
        admin_key: bytes,
        *,
        max_age_ms: int = MAX_AGE_MS,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.admin_key, self.max_age_ms, self._clock = admin_key, max_age_ms, clock_ms
        self._used: dict[bytes, int] = {}  # signature → signed_ms, within the window
        self.refused = 0

    def check(self, method: str, request: Message) -> None:
        try:
            self._check(method, request)
        except PermissionDenied:
            self.refused += 1
            raise

    def _check(self, method: str, request: Message) -> None:
        what = f"{method} is an admin action"
        if not request.HasField(_FIELD) or not request.admin.signature:
            raise PermissionDenied(f"{what}: sign it with the mesh's admin key")
        sig, signed_ms = request.admin.signature, request.admin.signed_unix_ms
        if not verify(self.admin_key, sig, _signed_bytes(method, signed_ms, request)):
            raise PermissionDenied(f"{what}, and this request is not signed by the admin key")
        now = self._clock()
        if signed_ms > now + SKEW_MS or signed_ms < now - self.max_age_ms:
            raise PermissionDenied(
                f"{what}, and this request was signed {abs(now - signed_ms) // 1000} s away from "
                "the index's clock; sign it again (are both clocks right?)"
            )
        self._used = {s: t for s, t in self._used.items() if t >= now - self.max_age_ms}
        if sig in self._used:
            raise PermissionDenied(f"{what}, and this signed request was already used")
        self._used[sig] = signed_ms
