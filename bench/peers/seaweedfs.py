"""SeaweedFS on loopback with the redundancy of a 3-node Stratos mesh: one master, three volume
servers, a filer and its S3 gateway, every file written with replication "002" (two more copies
on other servers of the same rack: three in all). Each daemon keeps its data in its own folder of
one temp dir; `weed version` and every command line go into the results."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.peers.environment import PeerEnv
from bench.peers.processes import Daemons, http_ok, wait_http
from stratos.common.procs import free_port, wait_until

HOST = "127.0.0.1"
REPLICATION = "002"
VOLUME_SERVERS = 3
BUCKET = "bench"
# the S3 gateway checks SigV4 signatures with this identity, as Stratos checks its tickets
ACCESS_KEY = "bench-peers"
SECRET_KEY = "bench-peers-secret-not-a-secret"


@dataclass(frozen=True)
class SeaweedFS:
    filer_url: str
    s3_url: str
    bucket: str
    access_key: str
    secret_key: str
    version: str
    daemons: Daemons


def version(env: PeerEnv) -> str:
    out = subprocess.run(
        [str(env.tool("weed")), "version"], capture_output=True, text=True, timeout=30
    )
    return out.stdout.strip().removeprefix("version ") or "unknown"


def _addr(http: int, grpc: int) -> str:
    return f"{HOST}:{http}.{grpc}"  # weed's notation for a server's HTTP and gRPC ports


def _s3_config(path: Path) -> Path:
    identity = {
        "name": ACCESS_KEY,
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path.write_text(json.dumps({"identities": [identity]}))
    path.chmod(0o600)
    return path


def _volume_servers_up(master_url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{master_url}/dir/status", timeout=2) as answer:
            topology = json.load(answer)["Topology"]
    except (OSError, KeyError, ValueError):
        return False
    nodes = [
        node
        for dc in topology.get("DataCenters") or []
        for rack in dc.get("Racks") or []
        for node in rack.get("DataNodes") or []
    ]
    return len(nodes) >= VOLUME_SERVERS


@contextmanager
def running(env: PeerEnv, root: Path) -> Iterator[SeaweedFS]:
    weed = str(env.tool("weed"))
    ports = {name: (free_port(), free_port()) for name in ("master", "filer", "s3")}
    master = _addr(*ports["master"])
    master_url = f"http://{HOST}:{ports['master'][0]}"
    with Daemons(root / "logs") as daemons:
        (root / "master").mkdir(parents=True)
        daemons.start(
            "master",
            [weed, "master", f"-ip={HOST}", f"-ip.bind={HOST}", f"-port={ports['master'][0]}",
             f"-port.grpc={ports['master'][1]}", f"-mdir={root / 'master'}",
             f"-defaultReplication={REPLICATION}", "-volumeSizeLimitMB=1024", "-peers=none"],
            root,
        )  # fmt: skip
        wait_http(daemons, f"{master_url}/cluster/status", "the SeaweedFS master")
        for i in range(VOLUME_SERVERS):
            http, grpc = free_port(), free_port()
            folder = root / f"volume{i}"
            folder.mkdir()
            daemons.start(
                f"volume{i}",
                [weed, "volume", f"-ip={HOST}", f"-ip.bind={HOST}", f"-port={http}",
                 f"-port.grpc={grpc}", f"-dir={folder}", "-max=100", f"-master={master}"],
                folder,
            )  # fmt: skip
        wait_until(
            lambda: daemons.check_alive() or _volume_servers_up(master_url),
            timeout_s=60,
            what="three SeaweedFS volume servers",
        )
        (root / "filer").mkdir()
        daemons.start(
            "filer",
            [weed, "filer", f"-ip={HOST}", f"-ip.bind={HOST}", f"-port={ports['filer'][0]}",
             f"-port.grpc={ports['filer'][1]}", f"-master={master}",
             f"-defaultReplicaPlacement={REPLICATION}", f"-defaultStoreDir={root / 'filer'}",
             f"-localSocket={root / 'filer.sock'}"],
            root / "filer",
        )  # fmt: skip
        filer_url = f"http://{HOST}:{ports['filer'][0]}"
        wait_http(daemons, f"{filer_url}/", "the SeaweedFS filer")
        daemons.start(
            "s3",
            [weed, "s3", f"-ip.bind={HOST}", f"-port={ports['s3'][0]}",
             f"-port.grpc={ports['s3'][1]}", f"-filer={_addr(*ports['filer'])}",
             f"-config={_s3_config(root / 's3.json')}", "-port.iceberg=0", "-port.lance=0",
             f"-localSocket={root / 's3.sock'}"],
            root,
        )  # fmt: skip
        s3_url = f"http://{HOST}:{ports['s3'][0]}"
        wait_until(
            lambda: daemons.check_alive() or http_ok(s3_url),
            timeout_s=60,
            what="the SeaweedFS S3 gateway",
        )
        yield SeaweedFS(filer_url, s3_url, BUCKET, ACCESS_KEY, SECRET_KEY, version(env), daemons)
