"""File names are sealed (issue 11, part 6): a stranger who reads everything NATS and the index
hand out — every message on every subject, the manifests bucket, ListFiles, GetManifest,
GetHealth — and every byte the mesh's services keep on disk finds no file name, while the owner's
`stratos ls` shows it and anyone holding the capability reads it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest

from e2e.conftest import Mesh, connect_nats_as_admin, random_file
from stratos.common.natsutil import MANIFEST_BUCKET, kv_keys
from stratos.sdk.home import Home
from stratos.sdk.manifest import sign_manifest
from stratos.sdk.meshtls import local_client_tls
from stratos.v1 import index_pb2, index_pb2_grpc, types_pb2

NAME = "acme-takeover-plan-q3.pdf"
SECRET = b"acme-takeover"  # the part of the name no other byte of the mesh has a reason to hold


def processes(mesh: Mesh) -> dict[str, dict]:
    records = json.loads((mesh.home / "run" / "mesh.json").read_text())["processes"]
    return {r["kind"]: r for r in records}


def second_user(mesh: Mesh, home: Path) -> Mesh:
    """Another user of the same mesh: their own STRATOS_HOME (key, keyring), the same index, the
    mesh's CA and client certificate (what its owner hands a user)."""
    index = processes(mesh)["index"]["address"]
    tls = mesh.home / "run" / "tls"
    return Mesh(
        home,
        {
            **mesh.env,
            "STRATOS_HOME": str(home),
            "STRATOS_INDEX_ADDRESS": index,
            "STRATOS_TLS_CA_FILE": str(tls / "ca.pem"),
            "STRATOS_TLS_CERT_FILE": str(tls / "client.pem"),
            "STRATOS_TLS_KEY_FILE": str(tls / "client.key"),
        },
    )


class Eavesdropper:
    """A stranger on NATS with an account that may read everything (the mesh's admin user, the
    worst case of a compromised account): subscribed to every subject before the put, reading
    the manifests bucket afterwards. Keeps every byte it saw."""

    def __init__(self, home: Path, url: str) -> None:
        self.home, self.url = home, url
        self.seen: list[bytes] = []
        self.nc = None

    async def __aenter__(self) -> Eavesdropper:
        self.nc = await connect_nats_as_admin(self.home, self.url)

        async def keep(msg) -> None:
            headers = json.dumps(msg.headers or {}).encode()
            self.seen.append(msg.subject.encode() + b"\n" + headers + b"\n" + msg.data)

        await self.nc.subscribe(">", cb=keep)
        await self.nc.flush()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.nc.drain()

    async def read_manifests(self) -> dict[str, bytes]:
        kv = await self.nc.jetstream().key_value(MANIFEST_BUCKET)
        return {key: (await kv.get(key)).value for key in await kv_keys(kv)}


async def index_answers(address: str, credentials) -> tuple[list[str], list[bytes]]:
    """What the index tells anyone who asks, without a key: (listed IDs, every answer's bytes).
    `credentials`: the client certificate every user of the mesh is given."""
    async with grpc.aio.secure_channel(address, credentials) as channel:
        stub = index_pb2_grpc.IndexServiceStub(channel)
        listed = await stub.ListFiles(index_pb2.ListFilesRequest(), timeout=30)
        answers = [listed.SerializeToString()]
        for f in listed.files:
            got = await stub.GetManifest(index_pb2.GetManifestRequest(file_id=f.file_id))
            answers.append(got.SerializeToString())
        answers.append((await stub.GetHealth(index_pb2.GetHealthRequest())).SerializeToString())
    return [f.file_id for f in listed.files], answers


def disk_bytes_holding(root: Path, needle: bytes) -> list[Path]:
    """Every file under `root` (NATS's store, the chunks, the services' logs) holding `needle`."""
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.attack
def test_a_stranger_reading_nats_and_the_index_finds_no_file_name(mesh_factory, tmp_path):
    alice = mesh_factory(3)
    src = random_file(tmp_path / NAME, 300_000, seed=11)
    nats_url = "nats://" + processes(alice)["nats"]["address"]
    index = processes(alice)["index"]["address"]

    async def eavesdrop_on_a_put() -> tuple[dict[str, bytes], list[bytes], dict]:
        async with Eavesdropper(alice.home, nats_url) as spy:
            put = await asyncio.to_thread(alice.json, "put", str(src))
            manifests = await spy.read_manifests()
            await spy.nc.flush()
        return manifests, spy.seen, put

    manifests, messages, put = asyncio.run(eavesdrop_on_a_put())
    listed, answers = asyncio.run(
        index_answers(index, local_client_tls(Home(alice.home)).channel_credentials())
    )

    # the stranger really read the file's records: its ID is in the bucket and the listing
    assert put["id"] in manifests and put["id"] in listed
    assert any(put["id"].encode() in m for m in messages)  # the commit event, at least
    # ... and no byte of any of them holds the name
    assert not [k for k, v in manifests.items() if SECRET in v]
    assert not [m[:80] for m in messages if SECRET in m]
    assert not [a[:80] for a in answers if SECRET in a]
    # nor does any byte NATS, the index or a storage node keeps on disk or logs
    assert disk_bytes_holding(alice.home / "run", SECRET) == []

    # the owner's ls opens it with the key in their keyring
    (mine,) = alice.json("ls")
    assert (mine["id"], mine["name"], mine["sealed"]) == (put["id"], NAME, True)
    assert NAME in Mesh(alice.home, {**alice.env, "COLUMNS": "200"}).stratos("ls").stdout

    # another user lists it (public by design) but sees the placeholder, not the name
    bob = second_user(alice, tmp_path / "bob-home")
    (theirs,) = bob.json("ls", "--all")
    assert theirs["id"] == put["id"] and theirs["name"] is None
    shown = Mesh(bob.home, {**bob.env, "COLUMNS": "200"}).stratos("ls", "--all", check=True)
    assert "(encrypted)" in shown.stdout and put["id"] in shown.stdout
    assert NAME not in shown.stdout
    assert bob.json("stat", put["id"])["name"] is None

    # given the capability, bob reads the name too: stat shows it, get saves under it
    assert bob.json("stat", put["cap"])["name"] == NAME
    out = tmp_path / "bob-downloads"
    out.mkdir()
    got = bob.json("get", put["cap"], "-o", str(out))
    assert got["name"] == NAME and (out / NAME).read_bytes() == src.read_bytes()


@pytest.mark.attack
def test_a_get_with_someone_else_s_key_is_refused_with_one_sentence(mesh_factory, tmp_path):
    alice = mesh_factory(3)
    one = alice.json("put", str(random_file(tmp_path / "one.txt", 1000, seed=1)))
    two = alice.json("put", str(random_file(tmp_path / "two.txt", 1000, seed=2)))
    wrong = f"stratos://{one['id']}#{two['cap'].split('#')[1]}"
    proc = alice.stratos("get", wrong, "-o", str(tmp_path / "x"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"error: the name of file {one['id']} cannot be read: the key is not this file's, "
        "or the sealed bytes were altered"
    )
    assert not (tmp_path / "x").exists()


def test_a_file_stored_before_names_were_sealed_still_lists_and_reads(mesh_factory, tmp_path):
    """A manifest written by an older client (plaintext name, no sealed block) stays readable:
    the owner re-signs one the way the old SDK did and it is put in the bucket as it was."""
    alice = mesh_factory(3)
    src = random_file(tmp_path / "new-name.bin", 5000, seed=3)
    put = alice.json("put", str(src))
    nats_url = "nats://" + processes(alice)["nats"]["address"]

    async def store_as_an_old_client_did() -> None:
        nc = await connect_nats_as_admin(alice.home, nats_url)
        try:
            kv = await nc.jetstream().key_value(MANIFEST_BUCKET)
            signed = types_pb2.SignedManifest.FromString((await kv.get(put["id"])).value)
            old = types_pb2.Manifest.FromString(signed.manifest)
            old.ClearField("metadata")
            old.legacy_name = "written-by-v1.txt"
            resigned = sign_manifest(old, Home(alice.home).identity())
            await kv.put(put["id"], resigned.SerializeToString())
        finally:
            await nc.drain()

    asyncio.run(store_as_an_old_client_did())

    (listed,) = alice.json("ls")
    assert (listed["name"], listed["sealed"]) == ("written-by-v1.txt", False)
    assert alice.json("stat", put["id"])["name"] == "written-by-v1.txt"
    out = tmp_path / "downloads"
    out.mkdir()
    got = alice.json("get", put["id"], "-o", str(out))
    assert (out / "written-by-v1.txt").read_bytes() == src.read_bytes() and got["size"] == 5000
