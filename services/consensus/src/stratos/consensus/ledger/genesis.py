"""Genesis: the chain's first state, read from a JSON file and validated before anything starts.

Every validator must start from byte-identical state, so the file is strict: unknown keys are
refused (a typo must not silently fall back to a default), amounts are decimal STOS strings
(exact, and safe from JSON's float numbers), and the total supply must fit in a uint64.

    {"chain_id": "stratos-local", "genesis_time_unix_ms": 1700000000000,
     "accounts": [{"address": "<40 hex>", "balance": "1000000"}],
     "validators": [{"public_key": "<64 hex>", "power": 10, "deposit": "0"}],
     "nodes": [{"address": "<40 hex>", "role": "resource", "deposit": "1000"}],
     "ozone": [{"address": "<40 hex>", "prepaid": "100"}],
     "params": {"min_fee": "0.000001", "unbonding_blocks": 100, ...}}

`nodes` are registered at genesis, their deposits locked as if by `RegisterNode`; `ozone` buys
ozone for an address at genesis, in the listed order, at the constant-product price after the
nodes' deposits, as if by `PrepayOzone` (the STOS goes to the prepaid pool). Both are optional.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stratos.common.errors import InvalidArgument
from stratos.common.stos import MAX_NSTOS, format_stos, parse_stos
from stratos.consensus.ledger.pricing import OzonePool, after_prepay
from stratos.consensus.ledger.state import (
    ROLE_NAMES,
    Account,
    LedgerState,
    NodeRecord,
    Params,
    Validator,
)
from stratos.consensus.ledger.tx import address_of, is_address
from stratos.v1 import ledger_pb2 as pb

CHAIN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")
AMOUNT_PARAMS = (
    "min_fee",
    "min_deposit_resource",
    "min_deposit_meta",
    "mining_reward",
    "audit_slash",
)
# Least value of each count parameter: below these the chain cannot carry a single tx.
PARAM_FLOORS = {
    "max_tx_bytes": 256,
    "max_block_txs": 1,
    "max_block_bytes": 256,
    "unbonding_blocks": 1,
    "epoch_blocks": 1,
}


@dataclass(frozen=True)
class GenesisValidator:
    public_key: bytes
    power: int
    deposit: int = 0

    @property
    def address(self) -> str:
        return address_of(self.public_key)


@dataclass(frozen=True)
class GenesisNode:
    address: str
    role: int  # pb.NodeRole
    deposit: int


ROLES_BY_NAME = {name: role for role, name in ROLE_NAMES.items()}


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    genesis_time_unix_ms: int
    accounts: tuple[tuple[str, int], ...]  # (address, balance in nstos)
    validators: tuple[GenesisValidator, ...]
    params: Params = field(default_factory=Params)
    nodes: tuple[GenesisNode, ...] = ()
    ozone: tuple[tuple[str, int], ...] = ()  # (address, nstos prepaid), in order

    def initial_state(self) -> LedgerState:
        accounts = {a: Account(balance=b) for a, b in self.accounts}
        resource = sum(n.deposit for n in self.nodes if n.role == pb.NODE_ROLE_RESOURCE)
        pool = OzonePool(resource, 0, self.params.initial_ozone_limit)
        for address, amount in self.ozone:
            pool, bought = after_prepay(pool, amount)
            acct = accounts.get(address, Account())
            accounts[address] = Account(acct.balance, acct.nonce, acct.ozone + bought)
        return LedgerState(
            chain_id=self.chain_id,
            params=self.params,
            height=0,
            time_unix_ms=self.genesis_time_unix_ms,
            accounts=accounts,
            nodes={n.address: NodeRecord(role=n.role, deposit=n.deposit) for n in self.nodes},
            validators={
                v.address: Validator(v.public_key, v.power, v.deposit) for v in self.validators
            },
            pool=pool,
        )

    def to_json(self) -> str:
        params = asdict(self.params)
        for name in AMOUNT_PARAMS:
            params[name] = format_stos(params[name])
        doc = {
            "chain_id": self.chain_id,
            "genesis_time_unix_ms": self.genesis_time_unix_ms,
            "accounts": [{"address": a, "balance": format_stos(b)} for a, b in self.accounts],
            "validators": [
                {
                    "public_key": v.public_key.hex(),
                    "power": v.power,
                    "deposit": format_stos(v.deposit),
                }
                for v in self.validators
            ],
            "params": params,
        }
        if self.nodes:
            doc["nodes"] = [
                {
                    "address": n.address,
                    "role": ROLE_NAMES[n.role],
                    "deposit": format_stos(n.deposit),
                }
                for n in self.nodes
            ]
        if self.ozone:
            doc["ozone"] = [{"address": a, "prepaid": format_stos(x)} for a, x in self.ozone]
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> Genesis:
        try:
            text = path.read_text()
        except OSError as err:
            raise InvalidArgument(f"cannot read the genesis file {path}: {err.strerror}") from None
        return cls.from_json(text)

    @classmethod
    def from_json(cls, text: str) -> Genesis:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidArgument(
                f"genesis is not valid JSON (line {err.lineno}): {err.msg}"
            ) from None
        _keys(
            doc,
            "genesis",
            required={"chain_id", "genesis_time_unix_ms", "accounts", "validators"},
            optional={"params", "nodes", "ozone"},
        )
        chain_id = doc["chain_id"]
        if not isinstance(chain_id, str) or not CHAIN_ID_RE.match(chain_id):
            raise InvalidArgument("genesis chain_id must be 1-50 letters, digits, '.', '_' or '-'")
        time_ms = _int(doc["genesis_time_unix_ms"], "genesis_time_unix_ms", least=0)
        accounts = _accounts(doc["accounts"])
        validators = _validators(doc["validators"])
        params = _params(doc.get("params", {}))
        nodes = _nodes(doc.get("nodes", []), params)
        ozone = _ozone(doc.get("ozone", []))
        supply = (
            sum(b for _, b in accounts)
            + sum(v.deposit for v in validators)
            + sum(n.deposit for n in nodes)
            + sum(x for _, x in ozone)
        )
        if supply > MAX_NSTOS:
            raise InvalidArgument("genesis total supply exceeds what a uint64 of nstos can hold")
        return cls(chain_id, time_ms, accounts, validators, params, nodes, ozone)


def _keys(doc: object, where: str, *, required: set[str], optional: set[str] = frozenset()) -> None:
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{where} must be a JSON object")
    if missing := required - doc.keys():
        raise InvalidArgument(f"{where} lacks {', '.join(sorted(missing))}")
    if unknown := doc.keys() - required - optional:
        raise InvalidArgument(f"{where} has unknown keys: {', '.join(sorted(unknown))}")


def _int(value: object, name: str, *, least: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= MAX_NSTOS:
        raise InvalidArgument(f"genesis {name} must be a whole number from {least} to {MAX_NSTOS}")
    return value


def _amount(value: object, name: str) -> int:
    if not isinstance(value, str):
        raise InvalidArgument(f'genesis {name} must be a decimal STOS string such as "12.5"')
    try:
        return parse_stos(value)
    except InvalidArgument as err:
        raise InvalidArgument(f"genesis {name}: {err}") from None


def _accounts(items: object) -> tuple[tuple[str, int], ...]:
    if not isinstance(items, list):
        raise InvalidArgument("genesis accounts must be a list")
    out: dict[str, int] = {}
    for i, item in enumerate(items):
        _keys(item, f"genesis accounts[{i}]", required={"address", "balance"})
        addr = item["address"]
        if not isinstance(addr, str) or not is_address(addr):
            raise InvalidArgument(f"genesis accounts[{i}].address is not a 40-hex-digit address")
        if addr in out:
            raise InvalidArgument(f"genesis lists the account {addr} twice")
        out[addr] = _amount(item["balance"], f"accounts[{i}].balance")
    return tuple(out.items())


def _validators(items: object) -> tuple[GenesisValidator, ...]:
    if not isinstance(items, list) or not items:
        raise InvalidArgument("genesis validators must be a non-empty list")
    out: list[GenesisValidator] = []
    for i, item in enumerate(items):
        _keys(
            item, f"genesis validators[{i}]", required={"public_key", "power"}, optional={"deposit"}
        )
        key = item["public_key"]
        try:
            raw = bytes.fromhex(key) if isinstance(key, str) else b""
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise InvalidArgument(f"genesis validators[{i}].public_key is not 64 hex digits")
        power = _int(item["power"], f"validators[{i}].power", least=1)
        deposit = _amount(item.get("deposit", "0"), f"validators[{i}].deposit")
        v = GenesisValidator(raw, power, deposit)
        if any(o.address == v.address for o in out):
            raise InvalidArgument(f"genesis lists the validator {v.address} twice")
        out.append(v)
    if sum(v.power for v in out) > 2**62:  # vote tallies must not overflow an int64 anywhere
        raise InvalidArgument("genesis validators' total power exceeds 2^62")
    return tuple(out)


def _address(value: object, where: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidArgument(f"{where} is not a 40-hex-digit address")
    return value


def _nodes(items: object, params: Params) -> tuple[GenesisNode, ...]:
    if not isinstance(items, list):
        raise InvalidArgument("genesis nodes must be a list")
    out: dict[str, GenesisNode] = {}
    for i, item in enumerate(items):
        _keys(item, f"genesis nodes[{i}]", required={"address", "role", "deposit"})
        address = _address(item["address"], f"genesis nodes[{i}].address")
        role = ROLES_BY_NAME.get(item["role"]) if isinstance(item["role"], str) else None
        if role is None:
            raise InvalidArgument(f'genesis nodes[{i}].role must be "resource" or "meta"')
        deposit = _amount(item["deposit"], f"nodes[{i}].deposit")
        if deposit < params.min_deposit(role):
            raise InvalidArgument(
                f"genesis nodes[{i}].deposit is below the minimum of "
                f"{format_stos(params.min_deposit(role))} STOS for a {item['role']} node"
            )
        if address in out:
            raise InvalidArgument(f"genesis lists the node {address} twice")
        out[address] = GenesisNode(address, role, deposit)
    return tuple(out.values())


def _ozone(items: object) -> tuple[tuple[str, int], ...]:
    if not isinstance(items, list):
        raise InvalidArgument("genesis ozone must be a list")
    out = []
    for i, item in enumerate(items):
        _keys(item, f"genesis ozone[{i}]", required={"address", "prepaid"})
        address = _address(item["address"], f"genesis ozone[{i}].address")
        out.append((address, _amount(item["prepaid"], f"ozone[{i}].prepaid")))
    return tuple(out)


def _params(doc: object) -> Params:
    names = set(Params.names())
    _keys(doc, "genesis params", required=set(), optional=names)
    values = {}
    for name, value in doc.items():
        if name in AMOUNT_PARAMS:
            values[name] = _amount(value, f"params.{name}")
        else:
            values[name] = _int(value, f"params.{name}", least=PARAM_FLOORS.get(name, 0))
    params = Params(**values)
    if params.max_block_bytes < params.max_tx_bytes:
        raise InvalidArgument("genesis params.max_block_bytes must be at least max_tx_bytes")
    if params.slash_fraction_bps > 10_000:
        raise InvalidArgument("genesis params.slash_fraction_bps must be at most 10000 (100%)")
    shares = params.reward_validators_bps + params.reward_resource_bps + params.reward_meta_bps
    if shares != 10_000:
        raise InvalidArgument(
            "genesis params.reward_validators_bps, reward_resource_bps and reward_meta_bps "
            f"must add up to 10000 (100%); they add up to {shares}"
        )
    return params
