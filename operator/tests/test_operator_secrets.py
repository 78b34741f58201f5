"""Secret material only in Secrets mounted as files: the builders' output passes the check for
every kind of cluster, and the check does catch each way a secret can leak (so passing it
means something)."""

from __future__ import annotations

import base64
import copy

import pytest
from operator_support import cluster_body, new_trust

from stratos.operator.builders import DefaultImages, build_all
from stratos.operator.builders.secrets import leaks, secret_files, secret_in_text
from stratos.operator.builders.spec import parse_cluster
from stratos.operator.keys import ensure_material
from stratos.operator.meshcerts import ensure_certs

SPECS = [
    {},
    {"validators": {"replicas": 4}, "storage": {"zones": ["a", "b", "c"]}},
    {"validators": {"replicas": 1}, "nats": {"replicas": 1}},
    {"tracing": {"otlpEndpoint": "http://jaeger:4317"}, "logLevel": "debug"},
]


def _manifests(spec):
    cluster = parse_cluster(cluster_body(spec))
    material = (
        ensure_material(cluster, None, None, now_ms=1) if cluster.spec.validators.replicas else None
    )
    return build_all(
        cluster,
        DefaultImages(),
        trust_material=new_trust(cluster, material),
        certs=ensure_certs(cluster, None, {}),
        material=material,
    )


@pytest.mark.parametrize("spec", SPECS)
def test_no_cluster_puts_secret_material_in_config_maps_or_the_environment(spec):
    assert leaks(_manifests(spec)) == []


def test_validator_keys_are_files_only_the_pods_user_and_group_can_read():
    manifests = _manifests({"validators": {"replicas": 4}})
    (secret,) = [
        m
        for m in manifests
        if m["kind"] == "Secret" and m["metadata"]["name"] == "demo-validator-keys"
    ]
    keys = [base64.b64decode(v).decode() for v in secret["data"].values()]
    assert all(secret_in_text(k) == "a private key" for k in keys)  # the check knows a key
    sts = next(
        m for m in manifests if m["kind"] == "StatefulSet" and "validator" in m["metadata"]["name"]
    )
    pod = sts["spec"]["template"]["spec"]
    (volume,) = [
        v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "demo-validator-keys"
    ]
    assert volume["secret"] == {"secretName": "demo-validator-keys", "defaultMode": 0o440}
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    env = {e["name"]: e.get("value", "") for e in pod["containers"][0]["env"]}
    assert env["STRATOS_VALIDATOR_KEY_FILE"].startswith(mount["mountPath"] + "/")
    assert not any(secret_in_text(v) for v in env.values())


def test_secret_files_refuses_a_mode_wider_than_owner_and_group():
    volume, mount = secret_files("creds", "demo-nats-creds", "/etc/stratos/nats", mode=0o400)
    assert volume["secret"]["defaultMode"] == 0o400 and mount["readOnly"] is True
    with pytest.raises(ValueError, match="644"):
        secret_files("creds", "demo-nats-creds", "/etc/stratos/nats", mode=0o644)


PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI...\n-----END PRIVATE KEY-----\n"
SEED = "SUAM" + "A" * 54  # an NKey user seed: 'S', type 'U', 56 base32 characters
CREDS = "-----BEGIN USER NKEY SEED-----\n" + SEED + "\n------END USER NKEY SEED------\n"


def _storage(manifests):
    return next(
        m for m in manifests if m["metadata"]["name"] == "demo-storage" and "template" in m["spec"]
    )


def _container(sts):
    return sts["spec"]["template"]["spec"]["containers"][0]


def _with(mutate):
    manifests = copy.deepcopy(_manifests({"validators": {"replicas": 4}}))
    mutate(manifests)
    return leaks(manifests)


@pytest.mark.parametrize(
    "mutate, said",
    [
        (
            lambda ms: _container(_storage(ms))["env"].append(
                {
                    "name": "STRATOS_NATS_CREDS",
                    "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user.creds"}},
                }
            ),
            "variable STRATOS_NATS_CREDS reads a Secret",
        ),
        (
            lambda ms: (
                _container(_storage(ms))
                .setdefault("envFrom", [])
                .append({"secretRef": {"name": "creds"}})
            ),
            "takes its environment from a Secret",
        ),
        (
            lambda ms: _container(_storage(ms))["env"].append({"name": "KEY", "value": PEM}),
            "variable KEY holds a private key",
        ),
        (
            lambda ms: _container(_storage(ms))["env"].append(
                {"name": "STRATOS_NATS_PASSWORD", "value": "hunter2"}
            ),
            "STRATOS_NATS_PASSWORD carries a secret in the environment",
        ),
        (
            lambda ms: _container(_storage(ms))["env"].append({"name": "SEEDY", "value": SEED}),
            "holds an NKey seed",
        ),
        (
            lambda ms: next(m for m in ms if m["kind"] == "ConfigMap" and "data" in m)[
                "data"
            ].update({"nats.conf": "authorization { user: index, password: s3cret }\n"}),
            "key nats.conf holds a password or token",
        ),
        (
            lambda ms: next(m for m in ms if m["kind"] == "ConfigMap" and "data" in m)[
                "data"
            ].update({"index.creds": CREDS}),
            "key index.creds holds a NATS credentials seed",
        ),
        (
            lambda ms: next(m for m in ms if m["metadata"]["name"] == "demo-genesis")[
                "data"
            ].update({"key.pem": PEM}),
            "key key.pem holds a private key",
        ),
        (
            lambda ms: next(
                v
                for m in ms
                if m["metadata"]["name"] == "demo-validator" and m["kind"] == "StatefulSet"
                for v in m["spec"]["template"]["spec"]["volumes"]
                if "secret" in v
            )["secret"].pop("defaultMode"),
            "leaves the files world-readable",
        ),
        (
            lambda ms: next(
                v
                for m in ms
                if m["metadata"]["name"] == "demo-validator" and m["kind"] == "StatefulSet"
                for v in m["spec"]["template"]["spec"]["volumes"]
                if "secret" in v
            )["secret"].update({"defaultMode": 0o444}),
            "readable beyond owner and group (444)",
        ),
        (
            lambda ms: _storage(ms)["spec"]["template"]["spec"]["volumes"].append(
                {"name": "tls", "projected": {"sources": [{"secret": {"name": "demo-tls"}}]}}
            ),
            "volume tls leaves the files world-readable",
        ),
    ],
)
def test_the_check_catches_each_way_a_secret_leaks(mutate, said):
    found = _with(mutate)
    assert len(found) == 1 and said in found[0], found


def test_paths_public_keys_and_plain_settings_are_no_secret():
    for text in (
        "/etc/stratos/keys/$(POD_NAME).pem",
        "ab" * 32,  # a public key in hex, as the genesis carries them
        "UAM" + "A" * 53,  # an NKey *public* user key
        "password: $NATS_PASSWORD",  # a reference, not a value
        '{"validators": [{"public_key": "ff00", "power": 10}]}',
    ):
        assert secret_in_text(text) is None, text
