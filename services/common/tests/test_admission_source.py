"""Where the admission list comes from and what the admin signs: a service holds the newest list
its file has held, never goes back to an older or forged one, and costs one stat a second; an
admin action is believed only signed by the admin key, recently and once; drops are counted and
logged at most once a minute per reason and sender."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stratos.common.admin_auth import AdminCheck, sign_request
from stratos.common.admission import Member, issue
from stratos.common.admission_source import AdmissionSettings, AdmissionSource, self_problem
from stratos.common.config import load_settings
from stratos.common.errors import ConfigError, PermissionDenied
from stratos.common.identity import Identity
from stratos.common.mesh_admin import next_list, write_members
from stratos.common.nats_trust import Gate
from stratos.common.signed import sign
from stratos.common.testing import TrustedMesh
from stratos.v1 import auth_pb2, index_pb2

STORAGE, META = auth_pb2.MESH_ROLE_STORAGE, auth_pb2.MESH_ROLE_META
ADMIN, NODE, OTHER = Identity.generate(), Identity.generate(), Identity.generate()


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def write(path: Path, raw: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, path)  # as the kubelet and write_atomic do: a new inode


def members(*names: str) -> list[Member]:
    return [Member(n, STORAGE, Identity.generate().public_bytes) for n in names]


def test_a_newer_list_replaces_the_held_one_within_a_second(tmp_path):
    path, clock = tmp_path / "admission", Clock()
    write(path, issue(ADMIN, "m", 1, members("a")))
    src = AdmissionSource(path, ADMIN.public_bytes, "m", clock=clock)
    write(path, issue(ADMIN, "m", 2, members("a", "b")))
    assert src.current().version == 1  # not looked at again within the second
    clock.now += 1
    assert src.current().version == 2 and src.current().member("b") is not None


@pytest.mark.parametrize(
    "raw",
    [
        issue(ADMIN, "m", 1, members("ghost")),  # an older version (a replayed file)
        issue(OTHER, "m", 9, members("ghost")),  # signed by someone else
        issue(ADMIN, "other", 9, members("ghost")),  # another mesh's
        b"\x00garbage",
    ],
)
def test_an_older_forged_or_bad_list_is_refused_once_and_the_held_one_stays(tmp_path, raw):
    path, clock = tmp_path / "admission", Clock()
    write(path, issue(ADMIN, "m", 2, members("a")))
    src = AdmissionSource(path, ADMIN.public_bytes, "m", clock=clock)
    write(path, raw)
    for _ in range(3):
        clock.now += 1
        assert src.current().version == 2 and src.current().member("ghost") is None
    assert src.refused == 1  # looked at every second, refused (and logged) once


def test_a_vanished_file_keeps_the_held_list(tmp_path):
    path, clock = tmp_path / "admission", Clock()
    write(path, issue(ADMIN, "m", 1, members("a")))
    src = AdmissionSource(path, ADMIN.public_bytes, "m", clock=clock)
    path.unlink()
    clock.now += 5
    assert src.current().member("a") is not None
    write(path, issue(ADMIN, "m", 3, members("a", "c")))
    clock.now += 1
    assert src.current().version == 3


def test_a_missing_or_bad_list_at_start_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read the admission list .*STRATOS_ADMISSION"):
        AdmissionSource(tmp_path / "none", ADMIN.public_bytes, "m")
    path = tmp_path / "admission"
    write(path, issue(OTHER, "m", 1, members("a")))
    with pytest.raises(ConfigError, match="not signed by this mesh's admin key"):
        AdmissionSource(path, ADMIN.public_bytes, "m")


def test_the_settings_name_a_bad_admin_key(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("STRATOS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STRATOS_MESH_ID", "m")
    monkeypatch.setenv("STRATOS_ADMISSION_FILE", str(tmp_path / "a"))
    monkeypatch.setenv("STRATOS_ADMIN_KEY", "abc")
    with pytest.raises(ConfigError, match=r"STRATOS_ADMIN_KEY: .*64 hex digits"):
        load_settings(AdmissionSettings)
    monkeypatch.delenv("STRATOS_ADMIN_KEY")
    with pytest.raises(ConfigError, match="STRATOS_ADMIN_KEY"):
        load_settings(AdmissionSettings)


def test_the_admin_bumps_the_version_only_when_members_change(tmp_path):
    path = tmp_path / "admission"
    one = members("a")
    assert write_members(path, ADMIN, "m", one)
    assert not write_members(path, ADMIN, "m", one)  # a relaunch changes nothing
    assert write_members(path, ADMIN, "m", [*one, *members("b")])
    src = AdmissionSource(path, ADMIN.public_bytes, "m")
    assert src.current().version == 2 and len(src.current()) == 2
    assert next_list(b"junk", ADMIN, "m", one) is not None  # an unreadable list is replaced


def test_a_node_learns_why_it_would_not_be_believed():
    adm_raw = issue(ADMIN, "m", 1, [Member("s1", STORAGE, NODE.public_bytes)])
    from stratos.common.admission import open_list

    adm = open_list(adm_raw, ADMIN.public_bytes, "m")
    assert self_problem(adm, "s1", NODE.public_bytes, STORAGE) is None
    assert "not in the admission list" in self_problem(adm, "s2", NODE.public_bytes, STORAGE)
    assert "as a storage node" in self_problem(adm, "s1", NODE.public_bytes, META)
    assert "another key" in self_problem(adm, "s1", OTHER.public_bytes, STORAGE)


# -- drops are counted, logs are bounded --------------------------------------------------------


def logged(capsys) -> str:
    """What was logged since the last look: a service logs to stdout, but a CLI test earlier in
    the same pytest process may have pointed structlog at stderr."""
    out = capsys.readouterr()
    return out.out + out.err


def test_a_flood_of_forgeries_is_counted_each_time_and_logged_once_a_minute(tmp_path, capsys):
    mesh = TrustedMesh(tmp_path)
    mesh.storage("s1")
    clock = Clock()
    gate = Gate(mesh.source().current, clock_s=clock)
    subject = "stratos.node.heartbeat.s1"
    for i in range(50):
        h = sign(OTHER, "s1", subject, b"x%d" % i)
        assert gate.admit(subject, b"x%d" % i, h, roles={STORAGE}, sender="s1") is None
    assert gate.dropped["bad_signature"] == 50
    assert logged(capsys).count("nats_message_dropped") == 1
    clock.now += 61
    gate.admit(subject, b"y", sign(OTHER, "s1", subject, b"y"), roles={STORAGE}, sender="s1")
    assert logged(capsys).count("nats_message_dropped") == 1
    good = mesh.signer("s1").headers(subject, b"z")
    assert gate.admit(subject, b"z", good, roles={STORAGE}, sender="s1").node_id == "s1"


# -- admin actions ------------------------------------------------------------------------------


def drain(node: str = "storage-1", cancel: bool = False) -> index_pb2.DrainNodeRequest:
    return index_pb2.DrainNodeRequest(node_id=node, cancel=cancel)


def test_an_admin_request_is_believed_signed_recently_and_once():
    now = [1_000_000]
    check = AdminCheck(ADMIN.public_bytes, clock_ms=lambda: now[0])
    req = drain()
    req.admin.CopyFrom(sign_request(ADMIN, "DrainNode", req, now[0]))
    check.check("DrainNode", req)
    with pytest.raises(PermissionDenied, match="already used"):
        check.check("DrainNode", req)


@pytest.mark.parametrize(
    ("signer", "method", "signed_at", "changed", "match"),
    [
        (None, "DrainNode", 0, False, "sign it with the mesh's admin key"),
        (OTHER, "DrainNode", 0, False, "not signed by the admin key"),
        (ADMIN, "RemoveNode", 0, False, "not signed by the admin key"),  # another action's
        (ADMIN, "DrainNode", 0, True, "not signed by the admin key"),  # cancel flipped
        (ADMIN, "DrainNode", -10 * 60_000, False, "signed 600 s away"),
        (ADMIN, "DrainNode", 60_000, False, "signed 60 s away"),
    ],
)
def test_an_admin_request_not_signed_by_the_admin_for_it_now_is_refused(
    signer, method, signed_at, changed, match
):
    now = 1_000_000_000
    check = AdminCheck(ADMIN.public_bytes, clock_ms=lambda: now)
    req = drain()
    if signer is not None:
        req.admin.CopyFrom(sign_request(signer, method, req, now + signed_at))
    if changed:
        req.cancel = True
    with pytest.raises(PermissionDenied, match=match):
        check.check("DrainNode", req)
    assert check.refused == 1
