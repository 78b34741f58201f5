"""The operator's NATS speaks TLS only, with a certificate from the mesh CA: the rendered config,
the NATS Secret, what every NATS client pod is given — and the real nats-server started with
the rendered config, reached by a rendered client (kwok runs no containers, so this is where
the config is shown to work)."""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest
from operator_support import (
    certs_of,
    cluster_body,
    in_test_dir,
    new_trust,
    tls_mounted,
    write_secret,
)

from stratos.common import mesh_ca
from stratos.common.errors import Unavailable
from stratos.common.nats_credentials import NatsLogin, read_credentials
from stratos.common.natsutil import connect
from stratos.common.procs import free_port, nats_server_binary, port_open, wait_until
from stratos.operator.builders import DefaultImages, build_all
from stratos.operator.builders.identity_files import IDENTITY_DIR
from stratos.operator.builders.secrets import leaks
from stratos.operator.builders.spec import parse_cluster
from stratos.operator.builders.tls import ROLES, TLS_DIR
from stratos.operator.keys import ensure_material
from stratos.operator.meshcerts import ensure_certs

CLIENTS = [("Deployment", "demo-index"), ("StatefulSet", "demo-storage")]
CLIENTS += [("StatefulSet", "demo-validator")]


def _render(spec):
    cluster = parse_cluster(cluster_body(spec))
    material = ensure_material(cluster, None, None, now_ms=1)
    manifests = build_all(
        cluster,
        DefaultImages(),
        trust_material=new_trust(cluster, material),
        certs=certs_of(cluster),
        material=material,
    )
    return cluster, manifests, {(m["kind"], m["metadata"]["name"]): m for m in manifests}


def _pod(kids, kind, name):
    return kids[(kind, name)]["spec"]["template"]["spec"]


def _env(container):
    return {v["name"]: v.get("value") for v in container["env"]}


def _files(secret) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in secret["data"].items()}


def _conf(kids) -> str:
    return kids[("ConfigMap", "demo-nats-config")]["data"]["nats.conf"]


def _blocks(conf: str, name: str) -> list[str]:
    """The bodies of every `name {` block (one level of nesting is enough for nats.conf)."""
    return re.findall(rf"^\s*{name} \{{\n((?:.*\n)*?)\s*\}}$", conf, re.M)


SPEC = {"nats": {"replicas": 3}, "validators": {"replicas": 4}}


def test_the_client_port_and_the_routes_speak_tls_with_the_mounted_certificate():
    _, _, kids = _render(SPEC)
    conf = _conf(kids)
    client, route = _blocks(conf, "tls")
    for block in (client, route):
        assert f'cert_file: "{TLS_DIR}/tls.crt"' in block
        assert f'key_file: "{TLS_DIR}/tls.key"' in block
        assert f'ca_file: "{TLS_DIR}/ca.pem"' in block
    assert "verify" not in client  # clients prove who they are with their NKey
    # a route shows a certificate from the mesh CA that names a configured route
    assert "verify: true" in route and "verify_cert_and_check_known_urls: true" in route
    (cluster_block,) = re.findall(r"^cluster \{\n((?:.*\n)*?)\}$", conf, re.M)
    assert route in cluster_block
    assert "allow_non_tls" not in conf
    # the others learn this server's route address by a name its certificate holds, not an IP
    args = _pod(kids, "StatefulSet", "demo-nats")["containers"][0]["args"]
    assert args[-2:] == ["--cluster_advertise", "$(POD_NAME).demo-nats-headless.mesh.svc:6222"]
    # the monitoring port stays plaintext: the kubelet's probes speak no TLS
    nats = _pod(kids, "StatefulSet", "demo-nats")["containers"][0]
    assert nats["readinessProbe"]["httpGet"]["port"] == "monitor"


def test_one_server_has_tls_on_its_clients_and_no_routes():
    _, _, kids = _render({"nats": {"replicas": 1}})
    assert len(_blocks(_conf(kids), "tls")) == 1
    assert "cluster {" not in _conf(kids)


def test_the_nats_certificate_is_the_mesh_cas_and_names_the_service_and_every_route():
    cluster, _, kids = _render(SPEC)
    data = _files(kids[("Secret", "demo-nats-tls")])
    ca = certs_of(cluster).ca.cert_pem.encode()
    assert data["ca.pem"] == ca
    assert mesh_ca.problem_with(data["tls.crt"], ca) is None
    names = [
        "demo-nats",
        "demo-nats.mesh.svc",
        "*.demo-nats.mesh.svc",
        "*.demo-nats-headless.mesh.svc",  # the routes dial demo-nats-<i>.demo-nats-headless...
    ]
    uri = mesh_ca.identity_uri(ROLES["nats"], "nats")
    assert mesh_ca.names_match(data["tls.crt"], uri, names, ())
    # on gRPC the NATS servers' certificate is a client's: it opens no service's door
    assert ROLES["nats"] == "client"


def test_the_nats_certificate_is_mounted_into_the_nats_pods_only_and_readable_by_them_only():
    _, manifests, kids = _render(SPEC)
    nats = _pod(kids, "StatefulSet", "demo-nats")
    (volume,) = [v for v in nats["volumes"] if v.get("secret", {}).get("secretName")]
    assert volume["secret"] == {"secretName": "demo-nats-tls", "defaultMode": 0o440}
    mounts = {m["name"]: m for m in nats["containers"][0]["volumeMounts"]}
    assert mounts[volume["name"]] == {
        "name": volume["name"],
        "mountPath": TLS_DIR,
        "readOnly": True,
    }
    for kind, name in CLIENTS:
        secrets = [
            v["secret"]["secretName"] for v in _pod(kids, kind, name)["volumes"] if "secret" in v
        ]
        assert "demo-nats-tls" not in secrets, name
    assert leaks(manifests) == []


def test_a_renewed_nats_certificate_rolls_the_servers():
    cluster, _, _ = _render(SPEC)
    material = ensure_material(cluster, None, None, now_ms=1)
    trust = new_trust(cluster, material)
    stamps = set()
    for certs in (certs_of(cluster), certs_of(cluster), ensure_certs(cluster, None, {})):
        out = build_all(
            cluster, DefaultImages(), trust_material=trust, certs=certs, material=material
        )
        (nats,) = [
            m for m in out if m["kind"] == "StatefulSet" and m["metadata"]["name"] == "demo-nats"
        ]
        stamps.add(tuple(nats["spec"]["template"]["metadata"]["annotations"].items()))
    assert len(stamps) == 2


@pytest.mark.parametrize(("kind", "name"), CLIENTS)
def test_every_nats_client_trusts_the_mesh_ca_from_a_file_it_mounts(kind, name):
    cluster, _, kids = _render(SPEC)
    pod = _pod(kids, kind, name)
    env = _env(pod["containers"][0])
    assert env["STRATOS_NATS_URL"] == "tls://demo-nats.mesh.svc:4222"
    path = env["STRATOS_NATS_TLS_CA_FILE"]
    mount = next(
        m for m in pod["containers"][0]["volumeMounts"] if path.startswith(m["mountPath"] + "/")
    )
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    held = _files(kids[("Secret", volume["secret"]["secretName"])])
    assert held[path[len(mount["mountPath"]) + 1 :]] == certs_of(cluster).ca.cert_pem.encode()


def _serve(kids, tmp: Path) -> tuple[subprocess.Popen, int, int]:
    """nats-server with the rendered config, its Secret's files and ports of this machine."""
    port, monitor = free_port(), free_port()
    conf = in_test_dir(_conf(kids), tls_mounted(kids, "nats", tmp))
    conf = conf.replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{port}")
    conf = conf.replace("http: 0.0.0.0:8222", f"http: 127.0.0.1:{monitor}")
    conf = conf.replace("store_dir: /data", f"store_dir: {tmp / 'data'}")
    assert str(tmp) in conf and str(port) in conf and str(monitor) in conf
    (tmp / "nats.conf").write_text(conf)
    server = subprocess.Popen(
        [nats_server_binary(), "-c", str(tmp / "nats.conf")],
        env={"POD_NAME": "demo-nats-0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: port_open("127.0.0.1", port), timeout_s=30, what="nats-server to listen")
    return server, port, monitor


def _index_login(kids, tmp: Path, port: int) -> tuple[str, NatsLogin]:
    """The index pod's NATS URL, user and CA, its mounts written under `tmp`."""
    env = _env(_pod(kids, "Deployment", "demo-index")["containers"][0])
    identity = write_secret(kids[("Secret", "demo-index-identity")], tmp / "identity")
    ca = in_test_dir(env["STRATOS_NATS_TLS_CA_FILE"], tls_mounted(kids, "index", tmp))
    nkey = env["STRATOS_NATS_NKEY_FILE"].replace(IDENTITY_DIR, str(identity))
    # the pods reach `demo-nats.mesh.svc`; here it is loopback, which the certificate names too
    url = env["STRATOS_NATS_URL"].replace("demo-nats.mesh.svc:4222", f"127.0.0.1:{port}")
    return url, NatsLogin(credentials=read_credentials(nkey), tls_ca_file=ca)


@pytest.mark.integration
async def test_the_rendered_nats_server_serves_a_rendered_client_over_tls_only(tmp_path):
    _, _, kids = _render({"nats": {"replicas": 1}})
    server, port, monitor = _serve(kids, tmp_path)
    try:
        url, login = _index_login(kids, tmp_path, port)
        assert url.startswith("tls://")
        nc = await connect(url, name="index", login=login, connect_deadline_s=20)
        try:
            # the index's user may use the JetStream API, over the verified TLS connection
            info = await nc.jetstream().account_info()
            assert info.limits is not None
        finally:
            await nc.close()
        # a server that says anything before TLS says it speaks TLS only
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            hello = raw.recv(4096).decode()
        assert '"tls_required":true' in hello
        # a client trusting another CA does not take this server for the mesh's
        other = ensure_certs(parse_cluster(cluster_body({}, name="other")), None, {})
        (tmp_path / "other-ca.pem").write_text(other.ca.cert_pem)
        stranger = NatsLogin(login.credentials, tls_ca_file=str(tmp_path / "other-ca.pem"))
        with pytest.raises(Unavailable):  # the certificate does not verify: no connection
            await connect(url, name="index", login=stranger, connect_deadline_s=3)
        # the kubelet's probe, plaintext on the monitoring port
        with urllib.request.urlopen(
            f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true"
        ) as r:
            assert r.status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


def _routes(monitor: int) -> set[str]:
    """The servers this one routes to (a pool of connections to each)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/routez", timeout=5) as r:
        return {route["remote_name"] for route in json.load(r)["routes"] or []}


def _route_server(conf: str, tls_dir: Path, tmp: Path, name: str, routes: list[int]):
    """A server of the rendered 3-server config on loopback: its own ports, `tls_dir`'s
    certificate, and routes to `localhost` (the pod names do not resolve here)."""
    port, monitor, route = free_port(), free_port(), free_port()
    conf = in_test_dir(conf, tls_dir)
    conf = conf.replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{port}")
    conf = conf.replace("http: 0.0.0.0:8222", f"http: 127.0.0.1:{monitor}")
    conf = conf.replace("listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{route}")
    conf = conf.replace("store_dir: /data", f"store_dir: {tmp / name}")
    urls = ", ".join(f"nats://localhost:{p}" for p in [route, *routes])
    conf = re.sub(r"routes: \[.*\]", f"routes: [{urls}]", conf)
    (tmp / f"{name}.conf").write_text(conf)
    log = tmp / f"{name}.log"
    server = subprocess.Popen(
        [nats_server_binary(), "-c", str(tmp / f"{name}.conf"), "-l", str(log)],
        env={"POD_NAME": name},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: port_open("127.0.0.1", monitor), timeout_s=30, what=f"{name} to serve")
    return server, monitor, route, log


@pytest.mark.integration
@pytest.mark.attack
def test_routes_form_between_nats_servers_only_not_with_another_mesh_certificate(tmp_path):
    """The rendered route `tls {}` on real servers: two servers holding the NATS certificate
    route to each other; a server holding another certificate from the same CA (the storage
    nodes') is refused, since it names no route."""
    cluster, _, kids = _render(SPEC)
    conf = _conf(kids)
    certs = certs_of(cluster)
    ca = mesh_ca.Issued(certs.ca.cert_pem.encode(), certs.ca.key_pem.encode())
    # the NATS certificate with `localhost` standing in for the pod names it holds
    nats = mesh_ca.issue(ca, ROLES["nats"], "nats", dns_names=["localhost"], ip_addresses=[])
    ours = tmp_path / "nats-tls"
    ours.mkdir()
    (ours / "ca.pem").write_text(certs.ca.cert_pem)
    (ours / "tls.crt").write_bytes(nats.cert_pem)
    (ours / "tls.key").write_bytes(nats.key_pem)
    servers = []
    try:
        a, a_mon, a_route, a_log = _route_server(conf, ours, tmp_path, "demo-nats-0", [])
        servers.append(a)
        b, b_mon, _, _ = _route_server(conf, ours, tmp_path, "demo-nats-1", [a_route])
        servers.append(b)
        wait_until(lambda: _routes(a_mon) == {"demo-nats-1"}, what="the two servers to route")
        # the storage certificate: from the mesh CA, names no route
        storage = tls_mounted(kids, "storage", tmp_path)
        c, _, _, _ = _route_server(conf, storage, tmp_path, "stranger", [a_route])
        servers.append(c)
        wait_until(
            lambda: "authentication error" in a_log.read_text().lower(),
            what="the route from the storage certificate to be refused",
        )
        assert _routes(a_mon) == {"demo-nats-1"}
        assert _routes(b_mon) == {"demo-nats-0"}
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
