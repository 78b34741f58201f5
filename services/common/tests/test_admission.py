"""The admission list: only the mesh's admin key can say who is in the mesh, and an older or
foreign list never replaces the one a consumer holds; signed NATS messages are believed only
from the admitted sender, once, and not from the future."""

from __future__ import annotations

import pytest

from stratos.common.admission import (
    AdmissionRefused,
    Member,
    issue,
    open_list,
)
from stratos.common.identity import Identity
from stratos.common.signed import Refused, Verifier, sign
from stratos.v1 import auth_pb2

STORAGE, META = auth_pb2.MESH_ROLE_STORAGE, auth_pb2.MESH_ROLE_META
ADMIN = Identity.generate()
NODE = Identity.generate()
INDEX = Identity.generate()
STRANGER = Identity.generate()


def members() -> list[Member]:
    return [
        Member("storage-1", STORAGE, NODE.public_bytes),
        Member("index-1", META, INDEX.public_bytes),
    ]


def test_an_issued_list_opens_with_the_admin_key_and_finds_members():
    adm = open_list(issue(ADMIN, "mesh", 1, members()), ADMIN.public_bytes, "mesh")
    assert adm.key_of("storage-1") == NODE.public_bytes
    assert adm.key_of("storage-1", META) is None
    assert adm.member_by_key(INDEX.public_bytes).node_id == "index-1"
    assert [m.node_id for m in adm.members(STORAGE)] == ["storage-1"]


def test_a_list_signed_by_anyone_else_is_refused():
    forged = issue(STRANGER, "mesh", 9, [*members(), Member("ghost", STORAGE, b"\1" * 32)])
    with pytest.raises(AdmissionRefused, match="not signed by this mesh's admin key"):
        open_list(forged, ADMIN.public_bytes, "mesh")


def test_a_tampered_list_is_refused():
    signed = auth_pb2.SignedAdmissionList.FromString(issue(ADMIN, "mesh", 1, members()))
    lst = auth_pb2.AdmissionList.FromString(signed.list)
    lst.nodes[0].public_key = STRANGER.public_bytes  # take over storage-1's name
    signed.list = lst.SerializeToString()
    with pytest.raises(AdmissionRefused, match="not signed"):
        open_list(signed.SerializeToString(), ADMIN.public_bytes, "mesh")


def test_another_meshs_list_and_garbage_are_refused_with_a_sentence():
    with pytest.raises(AdmissionRefused, match="for the mesh 'other'"):
        open_list(issue(ADMIN, "other", 1, members()), ADMIN.public_bytes, "mesh")
    with pytest.raises(AdmissionRefused, match="not a SignedAdmissionList"):
        open_list(b"\xff\xff\xff", ADMIN.public_bytes, "mesh")


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([Member("a b", STORAGE, NODE.public_bytes)], "not a node name"),
        ([Member("n", 99, NODE.public_bytes)], "no known role"),
        ([Member("n", STORAGE, b"short")], "not 32 bytes"),
        ([Member("n", STORAGE, NODE.public_bytes)] * 2, "twice"),
        (
            [Member("n", STORAGE, NODE.public_bytes), Member("m", META, NODE.public_bytes)],
            "another node already holds",
        ),
    ],
)
def test_the_admin_cannot_sign_a_list_a_consumer_would_refuse(bad, match):
    with pytest.raises(AdmissionRefused, match=match):
        issue(ADMIN, "mesh", 1, bad)


def test_only_a_newer_list_of_the_same_mesh_replaces_the_held_one():
    v1 = open_list(issue(ADMIN, "mesh", 1, members()), ADMIN.public_bytes, "mesh")
    v2 = open_list(issue(ADMIN, "mesh", 2, members()[:1]), ADMIN.public_bytes, "mesh")
    assert v1.replaces(None) and v2.replaces(v1)
    assert not v1.replaces(v2) and not v2.replaces(v2)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def checked():
    adm = open_list(issue(ADMIN, "mesh", 1, members()), ADMIN.public_bytes, "mesh")
    clock = Clock()
    return Verifier(lambda: adm, clock_ms=clock), clock


SUBJECT = "stratos.node.heartbeat.storage-1"


def test_a_signed_message_from_its_node_is_believed_once(checked):
    v, clock = checked
    h = sign(NODE, "storage-1", SUBJECT, b"hb", clock.now)
    got = v.check(SUBJECT, b"hb", h, roles={STORAGE}, sender="storage-1")
    assert (got.node_id, got.sent_ms) == ("storage-1", clock.now)
    with pytest.raises(Refused) as err:
        v.check(SUBJECT, b"hb", h, roles={STORAGE}, sender="storage-1")
    assert err.value.reason == "replayed"
    assert v.dropped == {"replayed": 1}


@pytest.mark.parametrize(
    ("who", "name", "subject", "payload", "sender", "roles", "reason"),
    [
        (STRANGER, "ghost-1", SUBJECT, b"hb", None, {STORAGE}, "not_admitted"),
        (STRANGER, "storage-1", SUBJECT, b"hb", "storage-1", {STORAGE}, "bad_signature"),
        (NODE, "storage-1", SUBJECT, b"hb", "storage-2", {STORAGE}, "not_owner"),
        (NODE, "storage-1", SUBJECT, b"hb", None, {META}, "wrong_role"),
    ],
)
def test_what_a_stranger_or_the_wrong_node_sends_is_dropped_and_counted(
    checked, who, name, subject, payload, sender, roles, reason
):
    v, clock = checked
    h = sign(who, name, subject, payload, clock.now)
    with pytest.raises(Refused) as err:
        v.check(subject, payload, h, roles=roles, sender=sender)
    assert err.value.reason == reason
    assert v.dropped[reason] == 1


def test_a_signed_message_moved_to_another_subject_or_changed_is_dropped(checked):
    v, clock = checked
    h = sign(NODE, "storage-1", SUBJECT, b"hb", clock.now)
    for subject, payload in ((SUBJECT + "x", b"hb"), (SUBJECT, b"hb2")):
        with pytest.raises(Refused) as err:
            v.check(subject, payload, h, roles={STORAGE})
        assert err.value.reason == "bad_signature"


def test_unsigned_and_malformed_headers_are_dropped(checked):
    v, clock = checked
    with pytest.raises(Refused, match="no sender signature"):
        v.check(SUBJECT, b"", None, roles={STORAGE})
    h = sign(NODE, "storage-1", SUBJECT, b"", clock.now) | {"Stratos-Sent-Ms": "soon"}
    with pytest.raises(Refused, match="malformed"):
        v.check(SUBJECT, b"", h, roles={STORAGE})


def test_the_future_and_the_past_are_dropped(checked):
    v, clock = checked
    ahead = sign(NODE, "storage-1", SUBJECT, b"a", clock.now + 10 * 365 * 86_400_000)
    with pytest.raises(Refused) as err:
        v.check(SUBJECT, b"a", ahead, roles={STORAGE})
    assert err.value.reason == "future"
    v.check(SUBJECT, b"b", sign(NODE, "storage-1", SUBJECT, b"b", clock.now), roles={STORAGE})
    # Slightly out of order (two sends racing) is fine; older than the window is not.
    late = sign(NODE, "storage-1", SUBJECT, b"c", clock.now - 500)
    v.check(SUBJECT, b"c", late, roles={STORAGE})
    old = sign(NODE, "storage-1", SUBJECT, b"d", clock.now - 60_000)
    with pytest.raises(Refused) as err:
        v.check(SUBJECT, b"d", old, roles={STORAGE})
    assert err.value.reason == "stale"


def test_a_node_removed_from_the_list_is_no_longer_believed():
    held = [open_list(issue(ADMIN, "mesh", 1, members()), ADMIN.public_bytes, "mesh")]
    v = Verifier(lambda: held[0], clock_ms=lambda: 5_000)
    v.check(SUBJECT, b"x", sign(NODE, "storage-1", SUBJECT, b"x", 5_000), roles={STORAGE})
    held[0] = open_list(issue(ADMIN, "mesh", 2, members()[1:]), ADMIN.public_bytes, "mesh")
    with pytest.raises(Refused) as err:
        v.check(SUBJECT, b"y", sign(NODE, "storage-1", SUBJECT, b"y", 5_000), roles={STORAGE})
    assert err.value.reason == "not_admitted"


def test_a_redelivered_work_queue_message_is_believed_again_only_when_told(checked):
    """JetStream redelivers a nak'd job with the same signature; the storage node checks it
    with once=False then (signature, sender and clock still checked), and a fresh publish of
    the same bytes is still caught as a replay."""
    v, clock = checked
    subject = "stratos.repair.job.storage-1"
    h = sign(INDEX, "index-1", subject, b"job", clock.now)
    v.check(subject, b"job", h, roles={META})
    assert v.check(subject, b"job", h, roles={META}, once=False).node_id == "index-1"
    with pytest.raises(Refused) as err:
        v.check(subject, b"job", h, roles={META})
    assert err.value.reason == "replayed"
    with pytest.raises(Refused) as err:
        v.check(
            subject, b"job", sign(STRANGER, "index-1", subject, b"job"), roles={META}, once=False
        )
    assert err.value.reason == "bad_signature"
