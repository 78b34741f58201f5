"""The local mesh's NATS, locked: one NATS user per process (`stratos.common.nats_roles`), TLS
on the client port, monitoring on loopback — generated under `$STRATOS_HOME/run/nats-auth/`
(0700, keys 0600) the first time and kept.

`secure(run_dir, records, ca_dir)` makes whatever is missing (the server's certificate, issued
by the mesh CA that gRPC uses too, so a mesh has one CA; a user for each index, storage node and
validator; an admin user for the owner's own tools), writes the server's part of the config to
`run/nats/secure.conf` (which the `nats.conf` that `procctl` writes includes), and gives each
service record the variables it signs in with. The CLI and the SDK get no user: they speak gRPC
only. A storage node added to a running mesh needs its user in the running server, a mesh whose
server certificate was issued again its new certificate: `reload` has nats-server read its
config again.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path

from stratos.common.errors import DeadlineExceeded
from stratos.common.files import write_atomic
from stratos.common.nats_mesh import NatsSecurity
from stratos.common.nats_roles import Role
from stratos.sdk.meshplan import INCENTIVE, INDEX, NATS, STORAGE, VALIDATOR, ProcessRecord

SECURE_CONF = "secure.conf"  # beside nats.conf, which includes it
ROLES = {
    INDEX: Role.INDEX,
    STORAGE: Role.STORAGE,
    VALIDATOR: Role.VALIDATOR,
    INCENTIVE: Role.INCENTIVE,
}


def security(run_dir: Path, ca_dir: Path) -> NatsSecurity:
    """The mesh's NATS material; the server's certificate is issued by the mesh CA in `ca_dir`
    (`meshtls`: ca.pem, ca.key), the one gRPC uses, so a mesh has one CA."""
    return NatsSecurity(
        run_dir / "nats-auth", ca_file=ca_dir / "ca.pem", ca_key_file=ca_dir / "ca.key"
    )


def secure(run_dir: Path, records: list[ProcessRecord], ca_dir: Path) -> bool:
    """Users, TLS files and the server's config for `records`; True when a running server must
    reload it (a user was added or the certificate issued again). The mesh CA must be in
    `ca_dir` already (`meshtls.issue_local` makes it)."""
    sec = security(run_dir, ca_dir)
    cert = sec.tls_dir / "server.pem"
    before = cert.read_bytes() if cert.exists() else None
    changed = sec.tls().cert_file.read_bytes() != before
    for rec in records:
        role = ROLES.get(rec.kind)
        if role is None:
            continue
        name = "" if role is Role.INDEX else rec.name
        changed |= not sec.has_user(role, name)
        rec.env.update(sec.env(role, name))
    nats = next((r for r in records if r.kind == NATS), None)
    if nats is not None and nats.data_dir:
        write_atomic(Path(nats.data_dir) / SECURE_CONF, sec.server_config().encode(), mode=0o600)
    return changed


def _config_load_time(monitor_address: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{monitor_address}/varz", timeout=2) as resp:
            return json.load(resp).get("config_load_time")
    except OSError:
        return None


def reload(nats: ProcessRecord, pid: int, wait_s: float = 15.0) -> None:
    """Have the running nats-server read its config again (new users); wait until it has."""
    assert nats.monitor_address
    before = _config_load_time(nats.monitor_address)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + wait_s
    while _config_load_time(nats.monitor_address) in (before, None):
        if time.monotonic() >= deadline:
            raise DeadlineExceeded(f"nats-server did not reload its config within {wait_s:g} s")
        time.sleep(0.05)
