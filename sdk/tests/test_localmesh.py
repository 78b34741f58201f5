"""Integration tier for the local-mesh launcher, driven through the real `stratos dev` CLI in a
temporary STRATOS_HOME: up, status, kill, start, down (and purge), idempotence, resuming data,
and a process that cannot start being named with its log."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from devharness import gone

pytestmark = pytest.mark.integration


def test_up_status_kill_start_down(dev):
    up = dev.run("dev", "up", "--storage-nodes", "3", timeout=180)
    validators = [f"validator-{i}" for i in (1, 2, 3, 4)]  # the default: 4
    # with a chain, the incentive service settles its Proof-of-Traffic epochs
    names = ["nats", "index", "storage-1", "storage-2", "storage-3", *validators, "incentive-1"]
    assert "started " + ", ".join(names) in " ".join(up.stderr.split())

    rows = dev.status()
    assert list(rows) == names
    assert all(r["running"] and r["healthy"] for r in rows.values())
    assert all(rows[f"storage-{i}"]["state"] == "LIVE" for i in (1, 2, 3))
    assert rows["storage-1"]["capacity_bytes"] == 10 << 30

    mesh = dev.mesh()
    assert mesh["version"] == 1
    s2 = next(p for p in mesh["processes"] if p["name"] == "storage-2")
    assert s2["kind"] == "storage" and s2["state"] == "running"
    assert s2["env"]["STRATOS_NODE_ID"] == "storage-2"
    assert s2["env"]["STRATOS_ZONE"] == "zone-2"
    assert s2["env"]["STRATOS_GRPC_ADDRESS"] == s2["address"]
    assert Path(s2["log"]).exists() and Path(s2["data_dir"]).is_dir()

    # TLS: the mesh CA and each process's certificate under run/tls, private, named in its env
    tls = dev.home.run_dir / "tls"
    assert s2["env"]["STRATOS_TLS_CERT_FILE"] == str(tls / "storage-2.pem")
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in tls.iterdir())
    issued = {f.name: f.read_bytes() for f in tls.iterdir()}

    again = dev.run("dev", "up")
    assert "already running" in again.stderr
    assert {f.name: f.read_bytes() for f in tls.iterdir()} == issued  # reused, not remade
    assert {p["pid"] for p in dev.mesh()["processes"]} == {p["pid"] for p in mesh["processes"]}

    dev.run("dev", "kill", "storage-2")
    assert gone(s2["pid"])
    assert not dev.status()["storage-2"]["running"]

    dev.run("dev", "start", "storage-2")
    row = dev.status()["storage-2"]
    assert row["running"] and row["healthy"] and row["state"] == "LIVE"
    assert row["address"] == s2["address"] and row["pid"] != s2["pid"]

    logs = dev.run("dev", "logs", "storage-2", "-n", "5")
    assert 0 < len(logs.stdout.splitlines()) <= 5

    pids = [p["pid"] for p in dev.mesh()["processes"]]
    dev.run("dev", "down")
    assert all(gone(pid) for pid in pids)
    assert all(p["state"] == "stopped" and p["pid"] is None for p in dev.mesh()["processes"])
    assert not any(r["running"] for r in dev.status().values())
    no_mesh = dev.run("ls", check=False)
    assert no_mesh.returncode == 1 and "no mesh is running" in no_mesh.stderr


def test_add_storage_joins_a_running_mesh_live(dev):
    refused = dev.run("dev", "add-storage", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr

    dev.run("dev", "up", "--storage-nodes", "2", "--validators", "0", "--capacity", "1GiB")
    bad = dev.run("dev", "add-storage", "--count", "0", check=False)
    assert bad.returncode == 1
    assert "--count must be between 1 and 16, not 0" in " ".join(bad.stderr.split())

    added = dev.run("dev", "add-storage", timeout=120)
    assert "added storage-3" in added.stderr
    rows = dev.status()
    assert [n for n in rows if n.startswith("storage-")] == ["storage-1", "storage-2", "storage-3"]
    new = rows["storage-3"]
    assert new["running"] and new["healthy"] and new["state"] == "LIVE"
    assert new["capacity_bytes"] == 1 << 30  # that of the nodes already there
    assert new["address"] not in {rows["storage-1"]["address"], rows["storage-2"]["address"]}
    s3 = next(p for p in dev.mesh()["processes"] if p["name"] == "storage-3")
    assert s3["env"]["STRATOS_ZONE"] == "zone-3" and Path(s3["data_dir"]).is_dir()
    dev.run("dev", "down")


def test_down_keeps_files_and_ports_and_purge_deletes_everything(dev, tmp_path):
    dev.run("dev", "up", "--storage-nodes", "3", timeout=180)
    dev.env["COLUMNS"] = "80"
    demo = dev.run("dev", "demo", timeout=180)
    assert "byte-identical" in demo.stdout and "Next:" in demo.stdout
    # the capability is a line of its own, whole, and nowhere broken across lines
    (cap,) = [line for line in demo.stdout.splitlines() if line.startswith("stratos://")]
    assert re.fullmatch(r"stratos://[0-9a-f]{32}#[A-Za-z0-9_-]{43}", cap)
    assert all(cap in line for line in demo.stdout.splitlines() if "stratos://" in line)
    assert all(len(line) <= 80 for line in demo.stdout.splitlines() if "│" in line)
    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello mesh\n" * 1000)
    put = json.loads(dev.run("put", str(src), "--json").stdout)
    before = {p["name"]: p["address"] for p in dev.mesh()["processes"]}

    dev.run("dev", "down")
    dev.run("dev", "up", "--storage-nodes", "3", timeout=180)
    assert {p["name"]: p["address"] for p in dev.mesh()["processes"]} == before
    out = tmp_path / "hello.out"
    dev.run("get", put["id"], "-o", str(out))  # by bare ID, through the keyring
    assert out.read_bytes() == src.read_bytes()

    pids = [p["pid"] for p in dev.mesh()["processes"]]
    dev.run("dev", "down", "--purge")
    assert all(gone(pid) for pid in pids)
    assert not dev.home.run_dir.exists()


def test_a_process_that_cannot_start_is_named_with_its_log(dev):
    # Every storage node refuses this setting at boot (the index and NATS do not read it). A
    # capacity below the minimum no longer gets that far: the launcher refuses it first.
    dev.env["STRATOS_MAX_ACTIVE_PUTS"] = "0"
    proc = dev.run("dev", "up", "--storage-nodes", "1", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    err = proc.stderr.strip().splitlines()[-1]
    assert err.startswith("error: storage-1 exited while starting")
    assert str(dev.home.logs_dir / "storage-1.log") in err
