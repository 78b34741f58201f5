"""The operator's only door to the API server: get, server-side apply, merge-patch, delete and
list, over the official client (run in a worker thread: it is synchronous).

Paths come from `resource_path`, a pure table of the kinds the operator touches — the same list
the chart's RBAC grants, and no discovery round-trips. API errors become the Stratos error tree:
4xx that retrying cannot fix are permanent (a missing object or namespace is `NotFound`), the
rest retryable — a 409 conflict too (a stale `metadata.resourceVersion` in a write).

What the port promises is checked against both the in-memory fake of the unit tests and a real
kube-apiserver by one suite: `operator/tests/kube_contract.py`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stratos.common.errors import InvalidArgument, NotFound, StratosError, Unavailable

FIELD_MANAGER = "stratos-operator"

# (apiVersion, kind) → plural; every kind here is namespaced.
PLURALS: dict[tuple[str, str], str] = {
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Secret"): "secrets",
    ("v1", "Service"): "services",
    ("v1", "PersistentVolumeClaim"): "persistentvolumeclaims",
    ("apps/v1", "StatefulSet"): "statefulsets",
    ("apps/v1", "Deployment"): "deployments",
    ("policy/v1", "PodDisruptionBudget"): "poddisruptionbudgets",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicies",
}


def resource_path(api_version: str, kind: str, namespace: str, name: str = "") -> str:
    plural = PLURALS.get((api_version, kind))
    if plural is None:
        raise InvalidArgument(f"the operator does not manage {kind} ({api_version})")
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


class Kube(Protocol):
    """The API server as the operator uses it. Every write moves `metadata.resourceVersion`;
    one that changes nothing is no write; a `resourceVersion` in a write's body is a
    precondition (stale → retryable conflict)."""

    async def get(
        self, api_version: str, kind: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        """The object, or None when it (or its namespace) does not exist."""
        ...

    async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply as `FIELD_MANAGER`, forced: creates or updates, drops the fields it
        applied before and no longer applies, keeps the fields other writers set."""
        ...

    async def patch(
        self, api_version: str, kind: str, namespace: str, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A JSON merge patch (`None` deletes) of an existing object; `NotFound` otherwise."""
        ...

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """True when there was something to delete."""
        ...

    async def list(
        self, api_version: str, kind: str, namespace: str, selector: str
    ) -> list[dict[str, Any]]:
        """The objects of one namespace matching a label selector ("" = all); as in a list
        response, the items carry no `apiVersion`/`kind`."""
        ...


def _error(exc: ApiException, what: str) -> StratosError:
    """The API server's own sentence (a CEL rule's message, a conflict) when it sent one."""
    try:
        detail = json.loads(exc.body or "{}").get("message") or exc.reason
    except (ValueError, AttributeError):
        detail = exc.reason
    reason = f"{what}: {exc.status} {detail}"
    if exc.status == 404:
        return NotFound(reason)
    if exc.status in (400, 403, 422):
        return InvalidArgument(reason)
    return Unavailable(reason)  # 409 conflicts, 429, 5xx: the next pass may succeed


class ApiKube:
    """`Kube` over a configured `kubernetes.client.ApiClient`."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        request = self.api.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*request)
        response.read()
        data = self.api.response_deserialize(response, {"2XX": "object"}).data
        return data if isinstance(data, dict) else {}

    async def _run(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kw)
        except ApiException as exc:
            raise _error(exc, what) from None

    async def get(self, api_version, kind, namespace, name):
        try:
            return await asyncio.to_thread(
                self._call, "GET", resource_path(api_version, kind, namespace, name)
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _error(exc, f"get {kind} {name}") from None

    async def apply(self, manifest):
        meta = manifest["metadata"]
        path = resource_path(
            manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"]
        )
        return await self._run(
            f"apply {manifest['kind']} {meta['name']}",
            self._call,
            "PATCH",
            path,
            body=dict(manifest),
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            content_type="application/apply-patch+yaml",
        )

    async def patch(self, api_version, kind, namespace, name, body):
        return await self._run(
            f"patch {kind} {name}",
            self._call,
            "PATCH",
            resource_path(api_version, kind, namespace, name),
            body=dict(body),
            query=[("fieldManager", FIELD_MANAGER)],
            content_type="application/merge-patch+json",
        )

    async def delete(self, api_version, kind, namespace, name):
        try:
            await asyncio.to_thread(
                self._call, "DELETE", resource_path(api_version, kind, namespace, name)
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise _error(exc, f"delete {kind} {name}") from None
        return True

    async def list(self, api_version, kind, namespace, selector):
        out = await self._run(
            f"list {kind}",
            self._call,
            "GET",
            resource_path(api_version, kind, namespace),
            query=[("labelSelector", selector)],
        )
        return list(out.get("items") or [])
