"""Reading one environment variable the way every Stratos process does (issue 9): set to the
empty string means unset (so `STRATOS_HOME=` is ~/.stratos, not the current directory), and a
value that is only whitespace, or malformed, stops the command with a sentence naming the
variable instead of being half-used.

The services read their typed settings through pydantic-settings (`stratos.common.config`),
which follows the same rules; this module is for the few variables read outside them — the CLI's
(STRATOS_HOME, the address overrides) and OpenTelemetry's — and stays light, since the CLI reads
them at every start. Reading a `STRATOS_*` variable first refuses any `STRATOS_*` variable that
nothing in the project reads (`stratos.common.variables`), as loading settings does."""

from __future__ import annotations

import os
import re

from stratos.common import variables
from stratos.common.errors import ConfigError

# host:port — a name, an IPv4 address or a bracketed IPv6 address, and a port number.
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
# gRPC's own target syntax (unix:/path, dns:///host:port, ipv4:..., ipv6:...), passed through.
_GRPC_SCHEME = re.compile(r"^(?:unix|unix-abstract|dns|ipv4|ipv6|vsock):")


def value(name: str) -> str | None:
    """The variable's value; None when it is unset or empty. Only whitespace is an error, and
    so, when `name` is a `STRATOS_*` one, is any `STRATOS_*` variable the project does not read."""
    if name.startswith(variables.PREFIX):
        variables.refuse_unknown()
    raw = os.environ.get(name)
    if not raw:
        return None
    if not raw.strip():
        raise ConfigError(
            f"{name} is set to blanks; unset it, or give it a value", variables=[name]
        )
    return raw


def host_port_problem(address: str, *, allow_port_zero: bool = False) -> str | None:
    """Why `address` is not host:port (or a gRPC target such as unix:/path), or None."""
    if _GRPC_SCHEME.match(address):
        return None
    m = _HOST_PORT.match(address)
    if not m:
        return f"{address!r} is not host:port"
    if not (0 if allow_port_zero else 1) <= int(m.group(1)) <= 65535:
        return f"{address!r} has port {int(m.group(1))}; ports are 1 to 65535"
    return None


def addresses(name: str) -> list[str] | None:
    """A comma-separated list of host:port from variable `name`; None when unset or empty."""
    raw = value(name)
    if raw is None:
        return None
    found = [a.strip() for a in raw.split(",")]
    for address in found:
        problem = host_port_problem(address) if address else "an empty entry"
        if problem:
            raise ConfigError(
                f"{name} must be comma-separated host:port addresses; {problem} in {raw!r}",
                variables=[name],
            )
    return found
