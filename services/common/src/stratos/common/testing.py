"""Test support shared by every tier: a real nats-server with JetStream on a loopback port, or a
cluster of them (tests run real components; there is no NATS fake), and a `TrustedMesh`: the
admin key, admission list and node keys a harness gives the services it starts.

`secure=True` gives the server what the local mesh's has (`stratos.common.nats_mesh`): TLS only,
and only the users of `stratos.common.nats_roles`; a test signs a process in with
`server.env(role, name)` or connects with `server.login(role, name)`, which add the user and
reload the server's config when it is new."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from stratos.common.admission_source import AdmissionSource
from stratos.common.identity import Identity
from stratos.common.mesh_admin import write_members
from stratos.common.nats_mesh import NatsSecurity
from stratos.common.nats_roles import Role
from stratos.common.nats_trust import Gate, Signer
from stratos.common.natsutil import NatsLogin
from stratos.common.procs import free_port, nats_config, nats_server_binary, port_open, wait_until


@dataclass
class NatsProcess:
    url: str
    port: int
    store_dir: Path
    proc: subprocess.Popen
    monitor_port: int = 0
    extra_config: str = field(default="", repr=False)
    security: NatsSecurity | None = field(default=None, repr=False)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def restart(self) -> None:
        """Start again on the same port and store (after kill)."""
        self.proc = _spawn(
            self.port, self.monitor_port, self.store_dir, self.extra_config, self.security
        )

    def monitor(self, path: str) -> dict:
        """A monitoring endpoint's JSON (`varz`, `jsz`, ...): what the running server reports."""
        url = f"http://127.0.0.1:{self.monitor_port}/{path}"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.load(resp)

    def _user(self, role: Role, name: str) -> NatsSecurity:
        assert self.security is not None, "a server started with secure=True has users"
        if not self.security.has_user(role, name):
            self.security.user_file(role, name)
            self.reload()
        return self.security

    def login(self, role: Role = Role.ADMIN, name: str = "") -> NatsLogin:
        """How a test connects as a user of `role` (added to the server if new)."""
        return self._user(role, name).login(role, name)

    def env(self, role: Role, name: str = "") -> dict[str, str]:
        """The variables a service process signs in with as a user of `role`."""
        return self._user(role, name).env(role, name)

    def reload(self) -> None:
        """Rewrite the config (with every user made so far) and wait until the server runs it."""
        before = self.monitor("varz").get("config_load_time")
        _write_config(
            self.port, self.monitor_port, self.store_dir, self.extra_config, self.security
        )
        self.proc.send_signal(signal.SIGHUP)
        wait_until(
            lambda: self.monitor("varz").get("config_load_time") != before,
            timeout_s=15,
            what="nats-server to reload its config",
        )


def _write_config(
    port: int, monitor_port: int, store_dir: Path, extra: str, security: NatsSecurity | None
) -> Path:
    conf = store_dir / "nats.conf"
    secure = security.server_config() if security else ""
    conf.write_text(nats_config(port, monitor_port, store_dir / "js") + secure + extra)
    return conf


def _spawn(
    port: int,
    monitor_port: int,
    store_dir: Path,
    extra: str = "",
    security: NatsSecurity | None = None,
) -> subprocess.Popen:
    conf = _write_config(port, monitor_port, store_dir, extra, security)
    proc = subprocess.Popen(
        [nats_server_binary(), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: port_open("127.0.0.1", port), timeout_s=15, what="nats-server")
    return proc


@contextmanager
def nats_server(store_dir: Path | None = None, *, secure: bool = False) -> Iterator[NatsProcess]:
    """A real nats-server with JetStream, killed on exit."""
    with tempfile.TemporaryDirectory(prefix="stratos-nats-") as tmp:
        root = store_dir or Path(tmp)
        security = NatsSecurity(Path(tmp) / "security") if secure else None
        port, monitor_port = free_port(), free_port()
        proc = _spawn(port, monitor_port, root, "", security)
        n = NatsProcess(f"nats://127.0.0.1:{port}", port, root, proc, monitor_port, "", security)
        try:
            yield n
        finally:
            n.proc.kill()
            n.proc.wait(10)


def _jetstream_ready(server: NatsProcess) -> bool:
    """The server answers health checks with JetStream up and a meta leader elected."""
    try:
        return server.monitor("healthz?js-enabled-only=true").get("status") == "ok" and bool(
            server.monitor("jsz").get("meta_cluster", {}).get("leader")
        )
    except OSError:
        return False


@contextmanager
def nats_cluster(size: int = 3, *, secure: bool = False) -> Iterator[list[NatsProcess]]:
    """`size` nats-servers on loopback routed into one JetStream cluster (each with the same
    config as a single server, plus a name and its routes, over TLS when `secure`); every one
    is killed on exit. Secure servers share one directory of users and TLS files."""
    with tempfile.TemporaryDirectory(prefix="stratos-nats-cluster-") as tmp, ExitStack() as stack:
        security = NatsSecurity(Path(tmp) / "security") if secure else None
        if security:
            security.user_file(Role.INDEX)  # known to every server (a later user: to one only)
        route_tls = security.route_tls() if security else ""
        route_ports = [free_port() for _ in range(size)]
        routes = ", ".join(f"nats://127.0.0.1:{p}" for p in route_ports)
        servers: list[NatsProcess] = []
        for i, route_port in enumerate(route_ports):
            root = Path(tmp) / f"n{i}"
            root.mkdir()
            extra = (
                f"server_name: n{i}\n"
                f'cluster {{\n  name: stratos-test\n  listen: "127.0.0.1:{route_port}"\n'
                f"  routes: [{routes}]\n{route_tls}}}\n"
            )
            port, monitor_port = free_port(), free_port()
            proc = _spawn(port, monitor_port, root, extra, security)
            server = NatsProcess(
                f"nats://127.0.0.1:{port}", port, root, proc, monitor_port, extra, security
            )
            stack.callback(server.kill)
            servers.append(server)
        for s in servers:
            wait_until(lambda s=s: _jetstream_ready(s), timeout_s=60, what="a JetStream cluster")
        yield servers


INDEX_ID = "index-1"  # the index's default STRATOS_NODE_ID


@dataclass
class TrustedMesh:
    """What a test harness needs to start services the way the launcher does: an admin key, the
    signed admission list in `root`, and an identity per node it admits (`node`). `env` is what
    every service process is given; `signer(node_id)` lets the test publish as an admitted node."""

    root: Path
    mesh_id: str = "test-mesh"
    admin: Identity = field(default_factory=lambda: Identity.generate())
    identities: dict[str, Identity] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)

    @property
    def admission_file(self) -> Path:
        return self.root / "admission.bin"

    @property
    def env(self) -> dict[str, str]:
        return {
            "STRATOS_MESH_ID": self.mesh_id,
            "STRATOS_ADMIN_KEY": self.admin.public_bytes.hex(),
            "STRATOS_ADMISSION_FILE": str(self.admission_file),
        }

    def node(self, node_id: str, role: int, identity: Identity | None = None) -> Identity:
        """Admit `node_id` in `role` (with `identity`, or a new key) and rewrite the list."""
        self.identities[node_id] = identity or self.identities.get(node_id) or Identity.generate()
        self.roles[node_id] = role
        self._write()
        return self.identities[node_id]

    def storage(self, node_id: str, data_dir: Path | None = None) -> Identity:
        """Admit a storage node; with `data_dir`, the key is the node's own identity.pem (made
        now if missing), as the launcher does before it starts the node."""
        from stratos.common.identity import load_or_create
        from stratos.v1 import auth_pb2

        key = load_or_create(data_dir / "identity.pem") if data_dir is not None else None
        return self.node(node_id, auth_pb2.MESH_ROLE_STORAGE, key)

    def meta(self, node_id: str = "index-1") -> tuple[Identity, dict[str, str]]:
        """Admit an index replica; its key file is written under root. Returns the identity and
        the env an index process needs besides `env`."""
        from stratos.common.identity import load_or_create
        from stratos.v1 import auth_pb2

        key_file = self.root / f"{node_id}.pem"
        ident = self.node(node_id, auth_pb2.MESH_ROLE_META, load_or_create(key_file))
        return ident, {"STRATOS_NODE_ID": node_id, "STRATOS_IDENTITY_FILE": str(key_file)}

    def remove(self, node_id: str) -> None:
        self.identities.pop(node_id, None)
        self.roles.pop(node_id, None)
        self._write()

    def signer(self, node_id: str) -> Signer:
        return Signer(node_id, self.identities[node_id])

    def gate(self) -> Gate:
        """A consumer's gate over this list, which sees a node admitted a moment ago."""
        return Gate(self.source(check_every_s=0).current)

    def bearer(self, *node_ids: str, meta: str = INDEX_ID, ttl_ms: int = 600_000):
        """A ticket the admitted meta node `meta` issues to itself for every action on any chunk
        of `node_ids` (what the index's own audits, GC and repairs use): a test that plays the
        index calls storage RPCs with `bearer.prove(method, node_id, *fields)`."""
        from stratos.common import tickets

        if meta not in self.identities:
            self.meta(meta)
        ident = self.identities[meta]
        signed = tickets.issue(
            ident,
            meta,
            holder_public_key=ident.public_bytes,
            actions=list(tickets.ACTION_NAMES),
            node_ids=node_ids,
            byte_budget=1 << 40,
            ttl_ms=ttl_ms,
        )
        return tickets.Bearer(ident, signed)

    def source(self, **kwargs) -> AdmissionSource:
        return AdmissionSource(self.admission_file, self.admin.public_bytes, self.mesh_id, **kwargs)

    def _write(self) -> None:
        from stratos.common.admission import Member

        members = [
            Member(n, self.roles[n], ident.public_bytes) for n, ident in self.identities.items()
        ]
        write_members(self.admission_file, self.admin, self.mesh_id, members)


@contextmanager
def trusted_mesh(root: Path, index_id: str = INDEX_ID) -> Iterator[TrustedMesh]:
    """A `TrustedMesh` in `root` whose settings (and an admitted `index_id` key for an index
    process) are in os.environ for the block, so every service a test spawns belongs to it; a
    test admits the storage nodes it starts (`mesh.storage(node_id, data_dir)`)."""
    mesh = TrustedMesh(root)
    _, index_env = mesh.meta(index_id)
    # the index's default name; a storage node spawned from this environment must not inherit it
    index_env.pop("STRATOS_NODE_ID")
    saved = {k: os.environ.get(k) for k in (*mesh.env, *index_env)}
    os.environ.update({**mesh.env, **index_env})
    try:
        yield mesh
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
