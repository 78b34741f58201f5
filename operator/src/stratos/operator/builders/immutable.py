"""Fields the API server refuses to change on an existing object, and how the operator lives
with them.

A StatefulSet's volumeClaimTemplates are immutable: a grown `spec.storage.size` cannot go into
the template of an existing StatefulSet (the apply would be refused and nothing else applied).
So the existing template is kept, and each existing claim is grown instead (the storage class
must allow volume expansion); new ordinals get the old template size and are grown on the next
pass. Shrinking is refused earlier, by the CRD's CEL rule.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from stratos.operator.builders.spec import parse_quantity


def keep_claim_templates(
    desired: Mapping[str, Any], existing: Mapping[str, Any] | None
) -> dict[str, Any]:
    """`desired` StatefulSet with the `existing` one's volumeClaimTemplates (if it exists)."""
    out = copy.deepcopy(dict(desired))
    if existing and existing.get("spec", {}).get("volumeClaimTemplates") is not None:
        out["spec"]["volumeClaimTemplates"] = copy.deepcopy(
            existing["spec"]["volumeClaimTemplates"]
        )
    return out


def claims_to_expand(claims: list[Mapping[str, Any]], size: str) -> list[str]:
    """Names of the claims whose requested storage is below `size` (grow them, never shrink)."""
    want = parse_quantity(size, "size")
    out = []
    for claim in claims:
        have = claim.get("spec", {}).get("resources", {}).get("requests", {}).get("storage")
        if have is None or parse_quantity(str(have), "claim size") < want:
            out.append(claim["metadata"]["name"])
    return sorted(out)
