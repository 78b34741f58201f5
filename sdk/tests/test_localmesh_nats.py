"""The local mesh's NATS is locked by default (issue 11, part 3): a stranger who knows its
address cannot connect without a user or without TLS, its monitoring answers on loopback only,
and the users and keys `stratos dev up` made are its owner's alone."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import stat
from pathlib import Path

import pytest

from stratos.common import natsutil
from stratos.common.errors import PermissionDenied
from stratos.common.natsutil import NatsLogin

pytestmark = [pytest.mark.integration, pytest.mark.attack]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    from devharness import Dev

    dev = Dev(tmp_path_factory.mktemp("natsmesh") / "home")
    try:
        dev.run("dev", "up", "--storage-nodes", "2", "--validators", "0", timeout=180)
        yield dev, next(p for p in dev.mesh()["processes"] if p["kind"] == "nats")
    finally:
        dev.close()


def _host_port(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


async def test_a_stranger_cannot_connect_to_the_mesh_nats(mesh):
    dev, nats = mesh
    ca = dev.home.run_dir / "tls" / "ca.pem"  # the mesh's one CA, gRPC's too
    with pytest.raises(PermissionDenied, match="refused an anonymous connection"):
        await natsutil.connect(
            f"nats://{nats['address']}",
            name="stranger",
            login=NatsLogin(tls_ca_file=str(ca)),
            connect_deadline_s=10,
        )


def test_nats_and_grpc_trust_the_one_mesh_ca(mesh):
    dev, _ = mesh
    services = [p for p in dev.mesh()["processes"] if p["kind"] in ("index", "storage")]
    ca = str(dev.home.run_dir / "tls" / "ca.pem")
    assert services and all(p["env"]["STRATOS_NATS_TLS_CA_FILE"] == ca for p in services)
    assert all(p["env"]["STRATOS_TLS_CA_FILE"] == ca for p in services)


def test_the_mesh_nats_refuses_plaintext(mesh):
    _, nats = mesh
    with socket.create_connection(_host_port(nats["address"]), timeout=5) as s:
        info = json.loads(s.recv(65536).decode().split(" ", 1)[1])
        assert info["tls_required"] is True and info["auth_required"] is True
        s.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := s.recv(4096):
                answer += chunk
    assert b"PONG" not in answer


def test_the_mesh_nats_monitoring_listens_on_loopback_only(mesh):
    _, nats = mesh
    host, port = _host_port(nats["monitor_address"])
    assert ipaddress.ip_address(host).is_loopback
    outbound = None
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 9))  # sends nothing: picks the outbound address
        outbound = s.getsockname()[0]
    # 127.0.0.2 is answered by a wildcard listener, never by one bound to 127.0.0.1: so this
    # holds on a machine with no other address too
    tried = ["127.0.0.2"]
    if outbound is not None and not ipaddress.ip_address(outbound).is_loopback:
        tried.append(outbound)
    for address in tried:
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=2).close()


def test_the_mesh_nats_keys_are_private_and_the_config_holds_none(mesh):
    dev, _ = mesh
    auth = dev.home.run_dir / "nats-auth"
    for path in [auth, *auth.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    users = sorted(p.name for p in (auth / "users").iterdir())
    assert users == ["admin.nk", "index.nk", "storage.storage-1.nk", "storage.storage-2.nk"]
    secure = (dev.home.run_dir / "nats" / "secure.conf").read_text()
    seeds = [Path(p).read_text().splitlines()[-1] for p in (auth / "users").iterdir()]
    assert all(seed.startswith("SU") and seed not in secure for seed in seeds)
    storage = next(p for p in dev.mesh()["processes"] if p["name"] == "storage-1")
    assert storage["env"]["STRATOS_NATS_NKEY_FILE"].endswith("storage.storage-1.nk")
