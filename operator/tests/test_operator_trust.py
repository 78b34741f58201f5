"""Trust on Kubernetes, as a node would check it: each storage node and index replica mounts its
own key and NATS user, the admission list names exactly the nodes that run with those keys and
opens under the admin key, scaling keeps every key and re-signs the list one version up, and a
pod started from the rendered template (the kubelet's `$(POD_NAME)`, the mounted Secret and
ConfigMap) loads the key the list admits it under."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fake_kube import FakeKube
from operator_support import FakeDrainer, certs_of, cluster_body, new_trust, write_secret

from stratos.common.admission import open_list
from stratos.common.admission_source import AdmissionSource
from stratos.common.nats_roles import Role, may_publish, permissions
from stratos.operator.builders import DefaultImages, build_all
from stratos.operator.builders.identity_files import ADMISSION_DIR, IDENTITY_DIR
from stratos.operator.builders.secrets import leaks
from stratos.operator.builders.spec import parse_cluster
from stratos.operator.builders.tls import TLS_DIR
from stratos.operator.builders.trust import public_key
from stratos.operator.identities import Held
from stratos.operator.keys import ensure_material
from stratos.operator.meshcerts import ensure_certs
from stratos.operator.reconcile import reconcile
from stratos.v1 import auth_pb2

SPECS = [
    {},
    {"storage": {"replicas": 5, "zones": ["a", "b", "c"]}, "index": {"replicas": 3}},
    {"validators": {"replicas": 4}, "nats": {"replicas": 1}},
]


def _render(spec, held=None, storage_replicas=None, certs=None):
    cluster = parse_cluster(cluster_body(spec))
    material = (
        ensure_material(cluster, None, None, now_ms=1) if cluster.spec.validators.replicas else None
    )
    trust = new_trust(cluster, material, storage_replicas=storage_replicas, held=held)
    manifests = build_all(
        cluster,
        DefaultImages(),
        trust_material=trust,
        certs=certs or certs_of(cluster),
        material=material,
    )
    return cluster, trust, {(m["kind"], m["metadata"]["name"]): m for m in manifests}


def _held(kids) -> Held:
    """What the API server holds after the children were applied."""
    return Held(
        admin=kids.get(("Secret", "demo-mesh-admin")),
        index=kids.get(("Secret", "demo-index-identity")),
        storage=kids.get(("Secret", "demo-storage-identity")),
        validator=kids.get(("Secret", "demo-validator-identity")),
        incentive=kids.get(("Secret", "demo-incentive-identity")),
        admission=kids.get(("ConfigMap", "demo-admission")),
    )


def _secret_files(secret) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in secret["data"].items()}


def _admission(kids):
    raw = base64.b64decode(kids[("ConfigMap", "demo-admission")]["binaryData"]["admission.bin"])
    admin = _secret_files(kids[("Secret", "demo-mesh-admin")])["admin.pem"].decode()
    return open_list(raw, public_key(admin), "demo"), admin


def _pod(kids, kind, name):
    return kids[(kind, name)]["spec"]["template"]["spec"]


def _env(pod):
    return {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}


@pytest.mark.parametrize("spec", SPECS)
def test_every_node_mounts_its_key_and_the_list_names_exactly_the_running_nodes(spec):
    cluster, _, kids = _render(spec)
    admission, admin = _admission(kids)
    storage_keys = {
        k.removesuffix(".pem"): public_key(v.decode())
        for k, v in _secret_files(kids[("Secret", "demo-storage-identity")]).items()
        if k.endswith(".pem")
    }
    replicas = cluster.spec.storage.replicas
    running = {f"demo-storage-{i}" for i in range(replicas)}
    assert set(storage_keys) == running
    assert {
        m.node_id: m.public_key for m in admission.members(auth_pb2.MESH_ROLE_STORAGE)
    } == storage_keys
    index_files = _secret_files(kids[("Secret", "demo-index-identity")])
    assert admission.key_of("demo-index", auth_pb2.MESH_ROLE_META) == public_key(
        index_files["demo-index.pem"].decode()
    )
    validators = {m.node_id for m in admission.members(auth_pb2.MESH_ROLE_VALIDATOR)}
    assert validators == {f"demo-validator-{i}" for i in range(cluster.spec.validators.replicas)}
    incentive = {m.node_id for m in admission.members(auth_pb2.MESH_ROLE_INCENTIVE)}
    assert incentive == {f"demo-incentive-{i}" for i in range(cluster.incentive_replicas)}
    assert len(admission) == 1 + replicas + len(validators) + len(incentive)

    for kind, name in (("StatefulSet", "demo-storage"), ("Deployment", "demo-index")):
        pod = _pod(kids, kind, name)
        env = _env(pod)
        stem = "$(POD_NAME)" if kind == "StatefulSet" else "demo-index"
        key_variable = "STRATOS_NODE_KEY_FILE" if kind == "StatefulSet" else "STRATOS_IDENTITY_FILE"
        assert env[key_variable] == f"{IDENTITY_DIR}/{stem}.pem"
        assert env["STRATOS_NATS_NKEY_FILE"] == f"{IDENTITY_DIR}/{stem}.nk"
        assert env["STRATOS_ADMISSION_FILE"] == f"{ADMISSION_DIR}/admission.bin"
        assert env["STRATOS_ADMIN_KEY"] == public_key(admin).hex()
        assert env["STRATOS_MESH_ID"] == "demo"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["identity"]["secret"] == {
            "secretName": f"{name}-identity",
            "defaultMode": 0o440,
        }
        mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
        assert mounts[IDENTITY_DIR]["readOnly"] and mounts[ADMISSION_DIR]["readOnly"]
        assert "subPath" not in mounts[ADMISSION_DIR]  # a subPath copy is never refreshed
    # no key of anyone's is in a ConfigMap or a variable; the admin key is mounted nowhere
    assert leaks(kids.values()) == []
    for kind, name in kids:
        if kind in ("StatefulSet", "Deployment"):
            names = [
                v.get("secret", {}).get("secretName") for v in _pod(kids, kind, name)["volumes"]
            ]
            assert "demo-mesh-admin" not in names


def test_nats_admits_only_the_nodes_users_each_with_its_own_subjects():
    _, _, kids = _render({"storage": {"replicas": 3}, "validators": {"replicas": 1}})
    conf = kids[("ConfigMap", "demo-nats-config")]["data"]["nats.conf"]
    for node in (
        "storage.demo-storage-0",
        "storage.demo-storage-2",
        "index",
        "validator.demo-validator-0",
        *(f"incentive.demo-incentive-{i}" for i in range(3)),
    ):
        assert f"# {node}\n" in conf
    assert conf.count("nkey:") == 8  # no anonymous user, no admin user on a cluster
    assert "http: 0.0.0.0" in conf  # the kubelet's probes; no Service publishes it:
    for svc in ("demo-nats", "demo-nats-headless"):
        assert 8222 not in [p["port"] for p in kids[("Service", svc)]["spec"]["ports"]]
    # the credentials a storage pod mounts are its own user's, which publishes only its subjects
    creds = _secret_files(kids[("Secret", "demo-storage-identity")])["demo-storage-1.nk"]
    assert creds.decode().startswith("# stratos nats user storage.demo-storage-1\n")
    perms = permissions(Role.STORAGE, "demo-storage-1")
    assert may_publish(perms, "stratos.node.heartbeat.demo-storage-1")
    assert not may_publish(perms, "stratos.node.heartbeat.demo-storage-0")


def test_scaling_keeps_every_key_and_re_signs_the_list_one_version_up():
    _, _, first = _render({"storage": {"replicas": 3}})
    before, _ = _admission(first)
    old_files = _secret_files(first[("Secret", "demo-storage-identity")])

    # nothing changed: the same list, byte for byte (no version churn on every pass)
    _, _, again = _render({"storage": {"replicas": 3}}, held=_held(first))
    assert again[("ConfigMap", "demo-admission")] == first[("ConfigMap", "demo-admission")]
    assert again[("Secret", "demo-storage-identity")] == first[("Secret", "demo-storage-identity")]

    _, _, up = _render({"storage": {"replicas": 5}}, held=_held(first))
    after, _ = _admission(up)
    up_files = _secret_files(up[("Secret", "demo-storage-identity")])
    assert after.version == before.version + 1
    assert {k: up_files[k] for k in old_files} == old_files  # never made again
    assert {m.node_id for m in after.members(auth_pb2.MESH_ROLE_STORAGE)} == {
        f"demo-storage-{i}" for i in range(5)
    }

    _, _, down = _render({"storage": {"replicas": 3}}, held=_held(up))
    shrunk, _ = _admission(down)
    assert shrunk.version == after.version + 1
    assert {m.node_id for m in shrunk.members(auth_pb2.MESH_ROLE_STORAGE)} == {
        f"demo-storage-{i}" for i in range(3)
    }
    # the keys of the ordinals scaled away stay: a node that comes back is the same node
    assert _secret_files(down[("Secret", "demo-storage-identity")]) == up_files
    conf = down[("ConfigMap", "demo-nats-config")]["data"]["nats.conf"]
    assert "storage.demo-storage-3" not in conf and "storage.demo-storage-2" in conf


def test_a_deleted_admission_config_map_comes_back_newer_than_any_list_a_node_holds():
    _, _, first = _render({"storage": {"replicas": 3}})
    _, _, up = _render({"storage": {"replicas": 4}}, held=_held(first))
    held = _held(up)
    version = _admission(up)[0].version
    _, _, healed = _render(
        {"storage": {"replicas": 4}},
        held=Held(admin=held.admin, index=held.index, storage=held.storage),
    )
    assert _admission(healed)[0].version == version  # the admin Secret's copy
    _, _, grown = _render(
        {"storage": {"replicas": 5}},
        held=Held(admin=held.admin, index=held.index, storage=held.storage),
    )
    assert _admission(grown)[0].version == version + 1


def test_the_nats_servers_roll_when_their_users_change_and_only_then():
    cluster, _, three = _render({"storage": {"replicas": 3}})
    _, _, same = _render({"storage": {"replicas": 3}}, held=_held(three))
    _, _, four = _render({"storage": {"replicas": 4}}, held=_held(three))

    def stamp(kids):
        return kids[("StatefulSet", "demo-nats")]["spec"]["template"]["metadata"]["annotations"]

    assert stamp(three) == stamp(same)
    assert stamp(three) != stamp(four)
    # nats-server reads its certificate at start too: a renewed one rolls the servers
    fresh = ensure_certs(cluster, None, {})
    _, _, renewed = _render({"storage": {"replicas": 3}}, held=_held(three), certs=fresh)
    assert stamp(renewed) != stamp(three)


async def test_drains_are_signed_with_the_admin_key_the_cluster_keeps_in_its_secret():
    kube, drainer, given = FakeKube(), FakeDrainer(), []

    async def one_pass(spec):
        return await reconcile(
            cluster_body(spec),
            kube=kube,
            drainer_for=lambda _certs, admin: given.append(admin) or drainer,
            emit=lambda *e: None,
            defaults=DefaultImages(),
            now="t",
        )

    await one_pass({"storage": {"replicas": 4}})
    await one_pass({"storage": {"replicas": 3}})
    secret = kube.find("Secret", "demo-mesh-admin")
    pem = base64.b64decode(secret["data"]["admin.pem"]).decode()
    assert {a.public_bytes for a in given} == {public_key(pem)}  # made once, used every pass
    assert "demo-storage-3" in drainer.calls
    raw = base64.b64decode(kube.find("ConfigMap", "demo-admission")["binaryData"]["admission.bin"])
    assert open_list(raw, public_key(pem), "demo").version >= 1


def _kubelet_volume(root: Path, files: dict[str, bytes], version: str) -> None:
    """A Secret or ConfigMap volume as the kubelet lays it out: the files in a timestamped
    directory, `..data` pointing at it, and each name a symlink through `..data`; an update
    writes a new directory and swaps `..data` atomically."""
    root.mkdir(parents=True, exist_ok=True)
    stamp = root / f"..{version}"
    stamp.mkdir()
    for name, content in files.items():
        (stamp / name).write_bytes(content)
    tmp = root / "..data_tmp"
    tmp.symlink_to(stamp.name)
    os.replace(tmp, root / "..data")
    for name in files:
        if not (root / name).is_symlink():
            (root / name).symlink_to(f"..data/{name}")
    for old in root.glob("..[0-9]*"):
        if old != stamp:
            shutil.rmtree(old)


def test_a_running_node_takes_the_next_list_through_the_kubelets_symlink_swap(tmp_path):
    _, _, first = _render({"storage": {"replicas": 3}})
    _, _, up = _render({"storage": {"replicas": 4}}, held=_held(first))
    admin = public_key(_secret_files(first[("Secret", "demo-mesh-admin")])["admin.pem"].decode())

    def files(kids):
        data = kids[("ConfigMap", "demo-admission")]["binaryData"]
        return {k: base64.b64decode(v) for k, v in data.items()}

    _kubelet_volume(tmp_path, files(first), "1")
    now = [0.0]
    source = AdmissionSource(tmp_path / "admission.bin", admin, "demo", clock=lambda: now[0])
    assert source.current().member("demo-storage-3") is None
    _kubelet_volume(tmp_path, files(up), "2")
    now[0] += 1.0
    assert source.current().member("demo-storage-3") is not None
    assert source.refused == 0


# The node's own start: the rendered container (its command, when the zones script wraps it),
# its environment as the kubelet expands it, the Secret and ConfigMap as files. Only the mount
# roots move into a temporary directory; `stratos-storage` is a stand-in that does what the node
# does first (settings, key, admission list) and prints whether the list admits it.
_STAND_IN = """\
import sys
from stratos.common.errors import StratosError
from stratos.common.admission_source import AdmissionSource, self_problem
from stratos.common.config import load_settings
from stratos.storage.config import StorageSettings
from stratos.storage.main import load_identity
from stratos.v1 import auth_pb2

try:  # what the node's entry point does with a bad start: one sentence, exit 2
    settings = load_settings(StorageSettings)
    ident = load_identity(settings)
    admission = AdmissionSource.from_env().current()
except StratosError as err:
    sys.exit(f"stratos-storage: {err}")
problem = self_problem(admission, settings.node_id, ident.public_bytes, auth_pb2.MESH_ROLE_STORAGE)
print("verdict:", settings.node_id, settings.zone, problem or "admitted")
"""


def _expand(value: str, env: dict[str, str]) -> str:
    for name, val in env.items():
        value = value.replace(f"$({name})", val)
    return value


def _start_pod(tmp_path: Path, kids, pod_name: str) -> subprocess.CompletedProcess[str]:
    pod = _pod(kids, "StatefulSet", "demo-storage")
    container = pod["containers"][0]
    roots = {
        IDENTITY_DIR: tmp_path / "identity",
        ADMISSION_DIR: tmp_path / "admission",
        TLS_DIR: write_secret(kids[("Secret", "demo-storage-tls")], tmp_path / "tls"),
    }
    for root in roots.values():
        root.mkdir(exist_ok=True)
    for name, content in _secret_files(kids[("Secret", "demo-storage-identity")]).items():
        (roots[IDENTITY_DIR] / name).write_bytes(content)
    for name, content in kids[("ConfigMap", "demo-admission")]["binaryData"].items():
        (roots[ADMISSION_DIR] / name).write_bytes(base64.b64decode(content))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stand_in = bin_dir / "stratos-storage"
    stand_in.write_text(f"#!{sys.executable}\n{_STAND_IN}")
    stand_in.chmod(0o755)

    env = {"POD_NAME": pod_name, "POD_NAMESPACE": "mesh"}
    for var in container["env"]:
        if "value" in var:
            value = _expand(var["value"], env)
            for mount, root in roots.items():
                value = value.replace(mount, str(root))
            env[var["name"]] = value
    env["STRATOS_DATA_DIR"] = str(tmp_path / "data")
    env["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
    command = container.get("command") or ["stratos-storage"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("zones", [[], ["a", "b", "c"]])
def test_a_storage_pod_started_from_the_template_loads_the_key_it_is_admitted_under(
    tmp_path, zones
):
    spec = {"storage": {"replicas": 3, **({"zones": zones} if zones else {})}}
    _, _, kids = _render(spec)
    out = _start_pod(tmp_path, kids, "demo-storage-2")
    assert out.returncode == 0, out.stderr
    (line,) = [ln for ln in out.stdout.splitlines() if ln.startswith("verdict:")]
    _, node, zone, verdict = line.split(maxsplit=3)
    assert (node, verdict) == ("demo-storage-2", "admitted")
    if zones:
        assert zone == "c"  # ordinal 2 of three zones


def test_a_pod_whose_key_is_not_there_yet_stops_with_one_sentence(tmp_path):
    _, _, kids = _render({"storage": {"replicas": 3}})
    out = _start_pod(tmp_path, kids, "demo-storage-7")  # an ordinal the operator has not keyed
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "STRATOS_NATS_NKEY_FILE" in out.stderr and "demo-storage-7.nk" in out.stderr
