"""What a process connects to NATS with: its user's credentials file, read and checked at start.

A credentials file (written by `stratos.common.nats_auth`) is a comment line naming the user
(`# stratos nats user storage.storage-1`) and an NKey user seed. The name gives the connection
its own reply inbox (`_INBOX.<user>`, the only inbox its permissions let it read) and lets a
refusal name the user; the seed signs the server's nonce, so it never crosses the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nkeys

from stratos.common.errors import ConfigError

HEADER = "# stratos nats user "


@dataclass(frozen=True)
class NatsCredentials:
    """What a process connects with: its user's label (its inbox), NKey seed and public key."""

    label: str
    seed: str
    public_key: str
    source: str  # the file they came from, for error sentences

    @property
    def inbox_prefix(self) -> str:
        return f"_INBOX.{self.label}"


@dataclass(frozen=True)
class NatsLogin:
    """Who a process is on NATS: its user's credentials (None: anonymous, which every server we
    configure refuses) and the CA its server's certificate must chain to (None: the system's)."""

    credentials: NatsCredentials | None = None
    tls_ca_file: str | None = None


def parse_credentials(path: Path | str) -> NatsCredentials | str:
    """The credentials in `path`, or a sentence saying what is wrong with the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        return f"cannot read the NATS credentials file {path}: {exc.strerror or exc}"
    label, seed = "", ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(HEADER.strip()):
            label = line[len(HEADER.strip()) :].strip()
        elif line and not line.startswith("#"):
            seed = line
    try:
        public = nkeys.from_seed(bytearray(seed.encode())).public_key.decode()
    except Exception:  # nkeys raises several types (and binascii errors) for a bad seed
        public = ""
    if not label or not public.startswith("U"):
        return (
            f"{path} is not a Stratos NATS credentials file (a '{HEADER.strip()} NAME' line, "
            "then an NKey user seed starting with SU)"
        )
    return NatsCredentials(label=label, seed=seed, public_key=public, source=str(path))


def read_credentials(path: Path | str, variable: str = "STRATOS_NATS_NKEY_FILE") -> NatsCredentials:
    """Parse a credentials file; anything wrong with it is one ConfigError sentence."""
    found = parse_credentials(path)
    if isinstance(found, str):
        raise ConfigError(f"{variable}: {found}", variables=[variable])
    return found
