"""What a set of NetworkPolicies allows, by the API's documented semantics, so tests can ask
"may A open a connection to B on this port?" instead of reading selectors.

- A pod is isolated for a direction when some policy in its namespace selects it and lists that
  direction in `policyTypes`; an isolated pod accepts (ingress) or opens (egress) only what one
  of those policies allows; policies add up, they never subtract.
- A rule without `from`/`to` matches every peer; a rule without `ports` every port.
- A peer with `podSelector` only: pods of the policy's namespace; with `namespaceSelector`: pods
  of matching namespaces; `ipBlock`: addresses, which here are the endpoints that are no pod.
- A connection passes when the source's egress and the destination's ingress both allow it.
Traffic from a pod's own node (probes) is always allowed and not modelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """A pod (`namespace` set) or an address outside every pod (`namespace` None)."""

    name: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash(self.name)


def _matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    selector = selector or {}
    if set(selector) - {"matchLabels"}:
        raise NotImplementedError(f"selector fields {sorted(selector)}")
    return (selector.get("matchLabels") or {}).items() <= labels.items()


def _peer_matches(peer: Mapping[str, Any], policy_ns: str, ep: Endpoint) -> bool:
    if "ipBlock" in peer:
        return ep.namespace is None
    if ep.namespace is None:
        return False
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": ep.namespace, **ep.namespace_labels}
        if not _matches(peer["namespaceSelector"], ns_labels):
            return False
    elif ep.namespace != policy_ns:
        return False
    return _matches(peer.get("podSelector"), ep.labels)


def _port_matches(rule: Mapping[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(
        p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports
    )


def _allows(
    policies: Iterable[Mapping[str, Any]],
    pod: Endpoint,
    direction: str,
    peer: Endpoint,
    port: int,
    protocol: str,
) -> bool:
    if pod.namespace is None:
        return True  # no pod, no policy
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and direction in p["spec"].get("policyTypes", [])
        and _matches(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True
    for p in selecting:
        for rule in p["spec"].get(key) or []:
            peers = rule.get(peers_key)
            peer_ok = peers is None or any(
                _peer_matches(x, p["metadata"]["namespace"], peer) for x in peers
            )
            if peer_ok and _port_matches(rule, port, protocol):
                return True
    return False


def allowed(
    policies: Iterable[Mapping[str, Any]],
    source: Endpoint,
    dest: Endpoint,
    port: int,
    protocol: str = "TCP",
) -> bool:
    policies = list(policies)
    return _allows(policies, source, "Egress", dest, port, protocol) and _allows(
        policies, dest, "Ingress", source, port, protocol
    )
