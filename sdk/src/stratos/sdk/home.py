"""STRATOS_HOME (default ~/.stratos): the user's keys, the keyring of files they stored, and the
local mesh's run directory. Every command finds the mesh through it.

All of it is the user's alone: keys/ and run/ are 0700, key files and the keyring 0600, and the
mesh's processes run with umask 077 (`stratos.common.files`).

Layout:
    keys/default.pem      the user's ed25519 identity (0600); signs manifests and deletes, and
                          is the default wallet (other wallets: keys/<name>.pem, see wallet.py)
    keyring.json          file_id → capability of files this user stored (0600)
    run/mesh.json         the local mesh: one record per process (see localmesh.py)
    run/logs/<name>.log   each process's log
    run/<name>/           each process's data directory
    run/genesis.json      the local chain's genesis (validators: run/validator-i/validator.pem)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stratos.common import env
from stratos.common.errors import FailedPrecondition, InvalidArgument
from stratos.common.files import tighten, write_atomic
from stratos.common.identity import Identity, load_or_create


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls) -> Home:
        """STRATOS_HOME, or ~/.stratos when it is unset or empty (never the current directory),
        with what an older version left readable by others made private."""
        home = cls(Path(env.value("STRATOS_HOME") or "~/.stratos").expanduser().resolve())
        home.make_private()
        return home

    def make_private(self) -> None:
        """keys/ and run/ 0700, key files and the keyring 0600, where they exist. Everything else
        lives inside those two directories. The home itself is created 0700 but never changed:
        STRATOS_HOME may name a directory the user shares on purpose."""
        tighten(self.keys_dir, 0o700)
        if self.keys_dir.is_dir():
            for key in self.keys_dir.glob("*.pem"):
                tighten(key, 0o600)
        tighten(self.keyring_file, 0o600)
        tighten(self.run_dir, 0o700)

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def mesh_file(self) -> Path:
        return self.run_dir / "mesh.json"

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def keyring_file(self) -> Path:
        return self.root / "keyring.json"

    def identity(self, name: str = "default") -> Identity:
        return load_or_create(self.root / "keys" / f"{name}.pem")

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def genesis_file(self) -> Path:
        return self.run_dir / "genesis.json"

    def validator_processes(self) -> list[tuple[str, str]]:
        """(name, address) of the local mesh's validators, as mesh.json records them."""
        if not self.mesh_file.exists():
            raise FailedPrecondition(
                f"no mesh is running under {self.root}; start one with "
                "'stratos dev up --validators 4' or set STRATOS_CONSENSUS_ADDRESS"
            )
        mesh = json.loads(self.mesh_file.read_text())
        procs = [
            (p["name"], p["address"])
            for p in mesh.get("processes", [])
            if p.get("kind") == "validator"
        ]
        if not procs:
            raise FailedPrecondition(
                f"the local mesh under {self.root} runs no validators; start them with "
                "'stratos dev up --validators 4' or set STRATOS_CONSENSUS_ADDRESS"
            )
        return procs

    def consensus_addresses(self) -> list[str]:
        """Where the validators are: STRATOS_CONSENSUS_ADDRESS (comma-separated) or the local
        mesh's validator processes."""
        given = env.addresses("STRATOS_CONSENSUS_ADDRESS")
        if given is not None:
            return given
        return [addr for _, addr in self.validator_processes()]

    def index_addresses(self) -> list[str]:
        """Where the index is: STRATOS_INDEX_ADDRESS (comma-separated) or the local mesh."""
        given = env.addresses("STRATOS_INDEX_ADDRESS")
        if given is not None:
            return given
        if not self.mesh_file.exists():
            raise FailedPrecondition(
                f"no mesh is running under {self.root}; start one with 'stratos dev up' "
                "or set STRATOS_INDEX_ADDRESS"
            )
        mesh = json.loads(self.mesh_file.read_text())
        addrs = [p["address"] for p in mesh.get("processes", []) if p.get("kind") == "index"]
        if not addrs:
            raise FailedPrecondition(f"the mesh described in {self.mesh_file} has no index")
        return addrs

    # -- what a wallet's last put and get cost, for `stratos ozone` --------------------------------

    @property
    def traffic_file(self) -> Path:
        return self.root / "last-traffic.json"

    def note_traffic(self, payer: str, kind: str, entry: dict) -> None:
        """Remember `entry` (name, size, ozone, at) as `payer`'s last `kind` ("put" or "get")."""
        doc = self.last_traffic_all()
        doc.setdefault(payer, {})[kind] = entry
        if len(doc) > 256:  # wallets of this home; never grows without bound
            doc = dict(list(doc.items())[-256:])
        write_atomic(self.traffic_file, json.dumps(doc, indent=1).encode())

    def last_traffic(self, payer: str) -> dict:
        """`payer`'s last put and get as noted here ({} when none)."""
        got = self.last_traffic_all().get(payer)
        return got if isinstance(got, dict) else {}

    def last_traffic_all(self) -> dict:
        try:
            doc = json.loads(self.traffic_file.read_text())
        except (OSError, ValueError):
            return {}  # none yet, or unreadable: it is only a note, rewritten by the next put
        return doc if isinstance(doc, dict) else {}

    # -- keyring: capabilities of files this user stored, so `stratos get <id>` works for them --

    def remember(self, file_id: str, capability: str) -> None:
        ring = self._read_keyring()
        ring[file_id] = capability
        write_atomic(self.keyring_file, json.dumps(ring, indent=1).encode())

    def forget(self, file_id: str) -> None:
        ring = self._read_keyring()
        if ring.pop(file_id, None) is not None:
            write_atomic(self.keyring_file, json.dumps(ring, indent=1).encode())

    def capability_for(self, file_id: str) -> str | None:
        return self._read_keyring().get(file_id)

    def file_keys(self) -> dict[str, bytes]:
        """file_id → file key of every capability in the keyring, which `ls` opens names with;
        an entry that is not a capability of that file is left out (its name stays sealed)."""
        from stratos.sdk.capability import parse_capability

        keys: dict[str, bytes] = {}
        for file_id, cap in self._read_keyring().items():
            try:
                parsed_id, key = parse_capability(cap)
            except InvalidArgument:
                continue
            if parsed_id == file_id:
                keys[file_id] = key
        return keys

    def _read_keyring(self) -> dict[str, str]:
        if not self.keyring_file.exists():
            return {}
        try:
            return dict(json.loads(self.keyring_file.read_text()))
        except (ValueError, TypeError):
            raise FailedPrecondition(f"the keyring {self.keyring_file} is not valid JSON") from None
