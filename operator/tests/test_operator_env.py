"""Every `STRATOS_*` variable the operator hands a process is one that process's settings read,
and so is every one the chart hands the operator: a process refuses to start while a
`STRATOS_*` variable it does not read is set, so a stray one would stop a pod."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from operator_support import cluster_body, new_trust

from stratos.common.admission_source import AdmissionSettings
from stratos.common.config import env_names
from stratos.consensus.config import ConsensusSettings
from stratos.incentive.config import IncentiveSettings
from stratos.index.config import IndexSettings
from stratos.operator.builders import DefaultImages, build_all
from stratos.operator.builders.spec import parse_cluster
from stratos.operator.config import OperatorSettings
from stratos.operator.keys import ensure_material
from stratos.operator.meshcerts import ensure_certs
from stratos.storage.config import StorageSettings

DEFAULTS = DefaultImages(
    nats="nats:test",
    index="idx:test",
    storage="sto:test",
    consensus="con:test",
    incentive="inc:test",
)
# the settings classes each image reads (index and storage also read their admission list's)
READER = {
    "idx:test": (IndexSettings, AdmissionSettings),
    "sto:test": (StorageSettings, AdmissionSettings),
    "con:test": (ConsensusSettings,),
    "inc:test": (IncentiveSettings, AdmissionSettings),
}
CHART = Path(__file__).resolve().parents[2] / "charts" / "stratos" / "templates"


def _containers() -> list[dict]:
    cluster = parse_cluster(
        cluster_body({"validators": {"replicas": 4}, "storage": {"zones": ["a", "b", "c"]}})
    )
    material = ensure_material(cluster, None, None, now_ms=1)
    out = []
    for child in build_all(
        cluster,
        DEFAULTS,
        trust_material=new_trust(cluster, material),
        certs=ensure_certs(cluster, None, {}),
        material=material,
    ):
        pod = child.get("spec", {}).get("template", {}).get("spec", {})
        out += pod.get("initContainers", []) + pod.get("containers", [])
    return out


def _reaching_the_process(container: dict) -> set[str]:
    """The STRATOS_* names the service process sees: the container's env, as its start script
    (when it has one) leaves it."""
    env = {e["name"]: e.get("value") or "x" for e in container.get("env", [])}
    env["POD_NAME"] = "demo-storage-1"
    command = container.get("command")
    if command is None:
        names = set(env)
    else:
        assert command[:2] == ["/bin/sh", "-c"], command
        script = re.sub(r"exec stratos-\w+", "env", command[2])
        out = subprocess.run(
            ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout
        names = {line.split("=", 1)[0] for line in out.splitlines() if "=" in line}
    return {n for n in names if n.startswith("STRATOS_")}


def test_every_variable_the_builders_hand_a_service_is_one_it_reads():
    checked = set()
    for container in _containers():
        reader = READER.get(container["image"])
        if reader is None:
            assert not _reaching_the_process(container), container["name"]  # nats
            continue
        unread = _reaching_the_process(container) - set().union(*map(env_names, reader))
        assert not unread, f"{container['name']} is handed {sorted(unread)}"
        checked.add(reader)
    assert checked == set(READER.values())


def test_every_variable_the_chart_hands_the_operator_is_one_it_reads():
    text = (CHART / "deployment.yaml").read_text()
    names = set(re.findall(r"-\s+name:\s+(STRATOS_\w+)", text))
    assert names and names <= env_names(OperatorSettings), names - env_names(OperatorSettings)
