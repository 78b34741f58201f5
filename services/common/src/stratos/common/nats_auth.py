"""NATS users as NKeys: making them, keeping their seeds in 0600 files, reading a seed back to
connect with, and rendering the users of `stratos.common.nats_roles` into nats-server's
`authorization` block.

NKeys rather than passwords: the server's config holds only public keys (a leaked config or
ConfigMap gives nobody a way in), and a connection proves it holds the seed by signing the
server's nonce, so the secret never crosses the wire. A credentials file is the NKey seed on
its own line, after a comment naming the user (`# stratos nats user storage.storage-1`), so
errors and the connection's inbox can name the user without a second setting.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import nkeys

from stratos.common.files import private_dir, write_atomic
from stratos.common.nats_credentials import HEADER, read_credentials
from stratos.common.nats_roles import Permissions, Role, permissions, user_label


@dataclass(frozen=True)
class NatsUser:
    """One user the server admits: its label, role, permissions and NKey."""

    label: str
    role: Role
    public_key: str
    permissions: Permissions
    seed: str = ""  # empty where only the public key is known (a server's config)


def new_user(role: Role, name: str = "") -> NatsUser:
    """A fresh NKey user of `role` (a storage node's ID or a validator's number as `name`)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode()
    return NatsUser(
        label=user_label(role, name),
        role=role,
        public_key=nkeys.from_seed(bytearray(seed.encode())).public_key.decode(),
        permissions=permissions(role, name),
        seed=seed,
    )


def credentials_text(user: NatsUser) -> str:
    return f"{HEADER}{user.label}\n{user.seed}\n"


def ensure_user(directory: Path, role: Role, name: str = "") -> tuple[NatsUser, Path]:
    """The user's credentials file in `directory` (0700), made 0600 on first use; kept after."""
    label = user_label(role, name)
    path = directory / f"{label}.nk"
    if path.exists():
        creds = read_credentials(path)
        return (
            NatsUser(label, role, creds.public_key, permissions(role, name), creds.seed),
            path,
        )
    private_dir(directory)
    user = new_user(role, name)
    write_atomic(path, credentials_text(user).encode(), mode=0o600)
    return user, path


def authorization_block(users: list[NatsUser]) -> str:
    """nats-server's `authorization { users: [...] }` for these users: NKey, publish and
    subscribe allow lists (anything not allowed is denied), and no anonymous user."""
    entries = []
    for user in sorted(users, key=lambda u: u.label):
        perms = {
            "publish": {"allow": list(user.permissions.publish)},
            "subscribe": {"allow": list(user.permissions.subscribe)},
        }
        # JSON strings are valid nats-server config strings (it reads a JSON superset)
        entries.append(
            f"    # {user.label}\n"
            f"    {{ nkey: {json.dumps(user.public_key)}, permissions: {json.dumps(perms)} }}"
        )
    return "authorization {\n  users: [\n" + ",\n".join(entries) + "\n  ]\n}\n"
