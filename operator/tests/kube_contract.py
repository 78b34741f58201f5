"""One behaviour suite for the operator's `Kube` port, run against the in-memory fake (unit tier,
`test_operator_kube.py`) and a real kube-apiserver (cluster tier,
`cluster/tests/test_operator_kube.py`), as Tahoe-LAFS runs one `IStorageServer` suite against
its fake and its real server: whatever the reconcile tests learn from the fake, the API server
does too.

A binding subclasses `KubeContract` and provides two fixtures: `kube` (the port) and
`namespaces` (two fresh namespaces that exist). Objects without controllers (ConfigMaps) carry
the resourceVersion checks: on a real cluster, controllers write workloads' status at any time.
"""

from __future__ import annotations

from typing import Any

import pytest

from stratos.common.errors import InvalidArgument, NotFound, Unavailable

ABSENT_NAMESPACE = "stratos-contract-absent"


def config_map(ns: str, name: str, data: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, **meta},
        "data": data,
    }


def stateful_set(
    ns: str, *, size: str = "1Gi", min_ready_s: int = 0, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """No replicas: no pods, and on a real cluster no claim takes one of its volumes."""
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "store", "namespace": ns, "labels": labels or {}},
        "spec": {
            "replicas": 0,
            "minReadySeconds": min_ready_s,
            "serviceName": "store",
            "selector": {"matchLabels": {"app": "store"}},
            "template": {
                "metadata": {"labels": {"app": "store"}},
                "spec": {"containers": [{"name": "store", "image": "stratos/storage:test"}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": size}},
                    },
                }
            ],
        },
    }


def network_policy(ns: str, name: str, port: int, labels: dict[str, str]) -> dict[str, Any]:
    """Every field the API server would otherwise default is given (protocol, policyTypes)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "podSelector": {"matchLabels": {"app": "store"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": port}]}],
        },
    }


def version(obj: dict[str, Any]) -> str:
    return obj["metadata"]["resourceVersion"]


def names(items: list[dict[str, Any]]) -> set[str]:
    return {item["metadata"]["name"] for item in items}


class KubeContract:
    """The behaviour the operator relies on; `kube` and `namespaces` come from the binding."""

    async def test_get_answers_none_for_a_missing_object_or_namespace(self, kube, namespaces):
        ns, _ = namespaces
        assert await kube.get("v1", "ConfigMap", ns, "nothing") is None
        assert await kube.get("v1", "ConfigMap", ABSENT_NAMESPACE, "nothing") is None

    async def test_apply_creates_and_get_returns_what_was_applied(self, kube, namespaces):
        ns, _ = namespaces
        made = await kube.apply(config_map(ns, "cfg", {"a": "1"}, labels={"app": "mesh"}))
        got = await kube.get("v1", "ConfigMap", ns, "cfg")
        assert (got["apiVersion"], got["kind"]) == ("v1", "ConfigMap")
        assert got["data"] == made["data"] == {"a": "1"}
        assert got["metadata"]["labels"] == {"app": "mesh"}
        assert version(got) == version(made)
        assert got["metadata"]["uid"]

    async def test_applying_the_same_manifest_again_writes_nothing(self, kube, namespaces):
        ns, _ = namespaces
        first = await kube.apply(config_map(ns, "cfg", {"a": "1"}))
        again = await kube.apply(config_map(ns, "cfg", {"a": "1"}))
        assert version(again) == version(first)  # how reconcile tells "updated" from "unchanged"
        assert again["data"] == {"a": "1"}

    async def test_every_write_moves_the_resource_version(self, kube, namespaces):
        ns, _ = namespaces
        seen = [version(await kube.apply(config_map(ns, "cfg", {"a": "1"})))]
        seen.append(version(await kube.apply(config_map(ns, "cfg", {"a": "2"}))))
        seen.append(version(await kube.patch("v1", "ConfigMap", ns, "cfg", {"data": {"b": "3"}})))
        seen.append(version(await kube.get("v1", "ConfigMap", ns, "cfg")))
        assert len(set(seen[:3])) == 3
        assert seen[3] == seen[2]

    async def test_apply_drops_what_it_no_longer_applies_and_keeps_what_others_wrote(
        self, kube, namespaces
    ):
        ns, _ = namespaces
        await kube.apply(config_map(ns, "cfg", {"a": "1", "b": "2"}))
        await kube.patch("v1", "ConfigMap", ns, "cfg", {"data": {"user": "kept"}})
        after = await kube.apply(config_map(ns, "cfg", {"b": "2", "c": "3"}))
        assert after["data"] == {"b": "2", "c": "3", "user": "kept"}

    async def test_a_field_another_write_changed_is_no_longer_the_appliers(self, kube, namespaces):
        ns, _ = namespaces
        await kube.apply(config_map(ns, "cfg", {"a": "1", "b": "2"}))
        await kube.patch("v1", "ConfigMap", ns, "cfg", {"data": {"a": "edited"}})
        after = await kube.apply(config_map(ns, "cfg", {"b": "2"}))
        assert after["data"] == {"a": "edited", "b": "2"}
        forced = await kube.apply(config_map(ns, "cfg", {"a": "1", "b": "2"}))
        assert forced["data"] == {"a": "1", "b": "2"}  # applied again, the applier wins it back

    async def test_patch_is_a_json_merge_patch(self, kube, namespaces):
        ns, _ = namespaces
        await kube.apply(config_map(ns, "cfg", {"a": "1", "b": "2"}, labels={"app": "mesh"}))
        patched = await kube.patch(
            "v1",
            "ConfigMap",
            ns,
            "cfg",
            {"metadata": {"labels": {"tier": "x"}}, "data": {"a": "9", "b": None}},
        )
        assert patched["data"] == {"a": "9"}
        assert patched["metadata"]["labels"] == {"app": "mesh", "tier": "x"}
        assert (await kube.get("v1", "ConfigMap", ns, "cfg"))["data"] == {"a": "9"}

    async def test_a_patch_that_changes_nothing_writes_nothing(self, kube, namespaces):
        ns, _ = namespaces
        made = await kube.apply(config_map(ns, "cfg", {"a": "1"}))
        same = await kube.patch("v1", "ConfigMap", ns, "cfg", {"data": {"a": "1"}})
        assert version(same) == version(made)

    async def test_patching_a_missing_object_is_not_found(self, kube, namespaces):
        ns, _ = namespaces
        with pytest.raises(NotFound, match="404"):
            await kube.patch("v1", "ConfigMap", ns, "nothing", {"data": {"a": "1"}})

    async def test_applying_into_a_missing_namespace_is_not_found(self, kube):
        with pytest.raises(NotFound, match="404"):
            await kube.apply(config_map(ABSENT_NAMESPACE, "cfg", {"a": "1"}))

    async def test_a_write_with_a_stale_resource_version_is_a_retryable_conflict(
        self, kube, namespaces
    ):
        ns, _ = namespaces
        stale = version(await kube.apply(config_map(ns, "cfg", {"a": "1"})))
        current = version(await kube.apply(config_map(ns, "cfg", {"a": "2"})))
        pinned = {"metadata": {"resourceVersion": stale}, "data": {"a": "3"}}
        with pytest.raises(Unavailable, match="409") as conflict:
            await kube.patch("v1", "ConfigMap", ns, "cfg", pinned)
        assert conflict.value.retryable
        with pytest.raises(Unavailable, match="409"):
            await kube.apply(config_map(ns, "cfg", {"a": "3"}, resourceVersion=stale))
        assert (await kube.get("v1", "ConfigMap", ns, "cfg"))["data"] == {"a": "2"}
        fresh = {"metadata": {"resourceVersion": current}, "data": {"a": "3"}}
        done = await kube.patch("v1", "ConfigMap", ns, "cfg", fresh)
        assert done["data"] == {"a": "3"} and version(done) != current

    async def test_delete_removes_and_says_whether_there_was_something(self, kube, namespaces):
        ns, _ = namespaces
        await kube.apply(config_map(ns, "cfg", {"a": "1"}))
        assert await kube.delete("v1", "ConfigMap", ns, "cfg") is True
        assert await kube.get("v1", "ConfigMap", ns, "cfg") is None
        assert await kube.delete("v1", "ConfigMap", ns, "cfg") is False
        again = await kube.apply(config_map(ns, "cfg", {"b": "2"}))  # a new object, nothing kept
        assert again["data"] == {"b": "2"}

    async def test_list_selects_by_labels_within_one_namespace(self, kube, namespaces):
        ns, other = namespaces
        await kube.apply(config_map(ns, "one", {}, labels={"app": "mesh", "tier": "a"}))
        await kube.apply(config_map(ns, "two", {}, labels={"app": "mesh", "tier": "b"}))
        await kube.apply(config_map(ns, "three", {}, labels={"app": "other"}))
        await kube.apply(config_map(other, "elsewhere", {}, labels={"app": "mesh"}))
        mesh = await kube.list("v1", "ConfigMap", ns, "app=mesh")
        assert names(mesh) == {"one", "two"}
        assert names(await kube.list("v1", "ConfigMap", ns, "app=mesh,tier=b")) == {"two"}
        assert names(await kube.list("v1", "ConfigMap", ns, "app=none")) == set()
        everything = names(await kube.list("v1", "ConfigMap", ns, ""))
        # the API server may add its own (kube-root-ca.crt) to any namespace
        assert {"one", "two", "three"} <= everything and "elsewhere" not in everything
        assert await kube.list("v1", "ConfigMap", ABSENT_NAMESPACE, "") == []
        # a list response's items carry no apiVersion/kind: read them from the request
        assert not any("kind" in item or "apiVersion" in item for item in mesh)
        assert all(item["metadata"]["resourceVersion"] for item in mesh)

    async def test_an_immutable_config_map_refuses_new_data(self, kube, namespaces):
        ns, _ = namespaces
        await kube.apply({**config_map(ns, "genesis", {"a": "1"}), "immutable": True})
        with pytest.raises(InvalidArgument, match="422"):
            await kube.apply({**config_map(ns, "genesis", {"a": "2"}), "immutable": True})
        assert (await kube.get("v1", "ConfigMap", ns, "genesis"))["data"] == {"a": "1"}

    async def test_a_stateful_set_refuses_new_claim_templates(self, kube, namespaces):
        ns, _ = namespaces
        await kube.apply(stateful_set(ns, size="1Gi"))
        with pytest.raises(InvalidArgument, match="422"):
            await kube.apply(stateful_set(ns, size="2Gi"))
        sts = await kube.get("apps/v1", "StatefulSet", ns, "store")
        claim = sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]
        assert claim["storage"] == "1Gi"

    async def test_generation_moves_with_a_workloads_spec_only(self, kube, namespaces):
        ns, _ = namespaces
        made = await kube.apply(stateful_set(ns))
        assert made["metadata"]["generation"] == 1
        labelled = await kube.apply(stateful_set(ns, labels={"team": "x"}))
        assert labelled["metadata"]["generation"] == 1
        changed = await kube.apply(stateful_set(ns, min_ready_s=5, labels={"team": "x"}))
        assert changed["metadata"]["generation"] == 2
        plain = await kube.apply(config_map(ns, "cfg", {"a": "1"}))
        assert "generation" not in plain["metadata"]  # kinds without a spec have none

    async def test_a_network_policy_round_trips_through_its_own_api_group(self, kube, namespaces):
        ns, _ = namespaces
        made = await kube.apply(network_policy(ns, "store", 7000, {"app": "mesh"}))
        got = await kube.get("networking.k8s.io/v1", "NetworkPolicy", ns, "store")
        assert (got["apiVersion"], got["kind"]) == ("networking.k8s.io/v1", "NetworkPolicy")
        assert got["spec"]["podSelector"] == {"matchLabels": {"app": "store"}}
        assert got["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 7000}]}]
        again = await kube.apply(network_policy(ns, "store", 7000, {"app": "mesh"}))
        assert version(again) == version(made)
        moved = await kube.apply(network_policy(ns, "store", 7100, {"app": "mesh"}))
        assert version(moved) != version(made)
        assert moved["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 7100}]}]
        listed = await kube.list("networking.k8s.io/v1", "NetworkPolicy", ns, "app=mesh")
        assert names(listed) == {"store"}

    async def test_a_kind_the_operator_does_not_manage_is_refused(self, kube, namespaces):
        ns, _ = namespaces
        with pytest.raises(InvalidArgument, match="does not manage"):
            await kube.get("v1", "Pod", ns, "anything")
        with pytest.raises(InvalidArgument, match="does not manage"):
            await kube.list("rbac.authorization.k8s.io/v1", "Role", ns, "")
