"""The StratosCluster spec as typed values, parsed from the custom resource's dict.

The API server already validated the object against the CRD's schema and CEL rules, and filled
in its defaults; this parser still checks what the builders rely on, so a CR that slipped past
(an old CRD, a test dict) fails with one sentence naming the field instead of a KeyError deep in
a builder. The defaults here are the CRD's (a unit test keeps the two in step).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from stratos.common.errors import InvalidArgument
from stratos.common.stos import MAX_NSTOS, format_stos, parse_stos
from stratos.operator.builders.genesis_amounts import operator_supply_nstos

GROUP = "stratos.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "StratosCluster"
PLURAL = "stratosclusters"

_QUANTITY_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_SUFFIX = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_CHAIN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")
_ADDRESS_RE = re.compile(r"^[0-9a-f]{40}$")
_STOS_RE = re.compile(r"^[0-9]+(\.[0-9]{1,9})?$")


class SpecError(InvalidArgument):
    """The StratosCluster spec cannot be built: retrying without editing it cannot help."""


def parse_quantity(value: str, where: str) -> int:
    """A Kubernetes quantity (`10Gi`, `500M`, `1.5Gi`) in bytes, rounded down."""
    m = _QUANTITY_RE.match(str(value))
    if not m:
        raise SpecError(f"{where} must be a quantity such as 10Gi or 500M, got {value!r}")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise SpecError(f"{where} must be a quantity, got {value!r}") from None
    return int(number * _SUFFIX[m.group(2)])


@dataclass(frozen=True)
class Resources:
    """Container requests/limits, passed through as the user wrote them."""

    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)

    def manifest(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        if self.requests:
            out["requests"] = dict(self.requests)
        if self.limits:
            out["limits"] = dict(self.limits)
        return out


@dataclass(frozen=True)
class Images:
    """Full image references; an empty one means the operator's default for that component."""

    nats: str = ""
    index: str = ""
    storage: str = ""
    consensus: str = ""
    incentive: str = ""


@dataclass(frozen=True)
class NatsSpec:
    replicas: int = 3
    storage_size: str = "1Gi"
    storage_class_name: str = ""
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True)
class IndexSpec:
    replicas: int = 2
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True)
class StorageSpec:
    replicas: int = 3
    size: str = "10Gi"
    capacity: str = ""  # empty: 90% of size (the filesystem needs headroom)
    storage_class_name: str = ""
    zones: tuple[str, ...] = ()
    resources: Resources = field(default_factory=Resources)

    @property
    def size_bytes(self) -> int:
        return parse_quantity(self.size, "spec.storage.size")

    @property
    def capacity_bytes(self) -> int:
        if self.capacity:
            return parse_quantity(self.capacity, "spec.storage.capacity")
        return self.size_bytes * 9 // 10


@dataclass(frozen=True)
class GenesisAccount:
    address: str
    balance: str  # decimal STOS, as the genesis file carries it
    # decimal STOS prepaid for ozone at genesis (the genesis `ozone` list); empty: none. The
    # prepay is not taken from `balance`: like a `PrepayOzone` at height 0, its STOS goes to
    # the ozone pool, on top of the balance (the consensus genesis's rule).
    ozone: str = ""


@dataclass(frozen=True)
class ValidatorsSpec:
    replicas: int = 0
    storage_size: str = "1Gi"
    storage_class_name: str = ""
    chain_id: str = ""  # empty: the cluster's name
    genesis_accounts: tuple[GenesisAccount, ...] = ()
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True)
class IncentiveSpec:
    """Proof-of-Traffic settlement replicas, each a meta node registered in the genesis: run only
    with validators, and fixed when the genesis is made (like `validators.replicas`)."""

    replicas: int = 3
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True)
class ClusterSpec:
    images: Images = field(default_factory=Images)
    image_pull_policy: str = "IfNotPresent"
    replication: int = 3
    log_level: str = "info"
    otlp_endpoint: str = ""
    nats: NatsSpec = field(default_factory=NatsSpec)
    index: IndexSpec = field(default_factory=IndexSpec)
    storage: StorageSpec = field(default_factory=StorageSpec)
    validators: ValidatorsSpec = field(default_factory=ValidatorsSpec)
    incentive: IncentiveSpec = field(default_factory=IncentiveSpec)


@dataclass(frozen=True)
class Cluster:
    """One StratosCluster: its identity (for names and owner references) and its spec."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: ClusterSpec
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def chain_id(self) -> str:
        return self.spec.validators.chain_id or self.name

    @property
    def incentive_replicas(self) -> int:
        """The incentive replicas the spec asks for: none without a chain to settle on."""
        return self.spec.incentive.replicas if self.spec.validators.replicas else 0


def _obj(doc: Any, where: str) -> Mapping[str, Any]:
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise SpecError(f"{where} must be an object")
    return doc


def _int(doc: Mapping[str, Any], key: str, where: str, default: int, least: int = 0) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SpecError(f"{where}.{key} must be a whole number of at least {least}, got {value!r}")
    return value


def _str(doc: Mapping[str, Any], key: str, where: str, default: str) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise SpecError(f"{where}.{key} must be a string, got {value!r}")
    return value


def _stos(value: Any, where: str) -> int:
    """A decimal STOS string (as the genesis carries amounts) in nstos."""
    if not isinstance(value, str) or not _STOS_RE.match(value):
        raise SpecError(f'{where} must be a decimal STOS string such as "100", got {value!r}')
    try:
        return parse_stos(value)
    except InvalidArgument:
        raise SpecError(
            f"{where} is more than the ledger can hold ({format_stos(MAX_NSTOS)} STOS)"
        ) from None


def _resources(doc: Mapping[str, Any], where: str) -> Resources:
    res = _obj(doc.get("resources"), f"{where}.resources")
    return Resources(
        requests={str(k): str(v) for k, v in _obj(res.get("requests"), where).items()},
        limits={str(k): str(v) for k, v in _obj(res.get("limits"), where).items()},
    )


def _nats(doc: Mapping[str, Any]) -> NatsSpec:
    w = "spec.nats"
    d = NatsSpec()
    replicas = _int(doc, "replicas", w, d.replicas, least=1)
    if replicas == 2:
        raise SpecError("spec.nats.replicas must be 1 or at least 3 (JetStream needs a majority)")
    size = _str(doc, "storageSize", w, d.storage_size)
    parse_quantity(size, f"{w}.storageSize")
    return NatsSpec(replicas, size, _str(doc, "storageClassName", w, ""), _resources(doc, w))


def _storage(doc: Mapping[str, Any]) -> StorageSpec:
    w = "spec.storage"
    d = StorageSpec()
    zones = doc.get("zones", [])
    if not isinstance(zones, list) or not all(isinstance(z, str) and z for z in zones):
        raise SpecError("spec.storage.zones must be a list of zone names")
    spec = StorageSpec(
        replicas=_int(doc, "replicas", w, d.replicas),
        size=_str(doc, "size", w, d.size),
        capacity=_str(doc, "capacity", w, ""),
        storage_class_name=_str(doc, "storageClassName", w, ""),
        zones=tuple(zones),
        resources=_resources(doc, w),
    )
    if spec.capacity_bytes > spec.size_bytes:
        raise SpecError("spec.storage.capacity cannot exceed spec.storage.size")
    if spec.capacity_bytes < 2**20:
        raise SpecError("spec.storage.capacity must be at least 1Mi")
    return spec


def _validators(doc: Mapping[str, Any]) -> ValidatorsSpec:
    w = "spec.validators"
    d = ValidatorsSpec()
    replicas = _int(doc, "replicas", w, d.replicas)
    if replicas in (2, 3):
        raise SpecError(
            "spec.validators.replicas must be 0, 1 or at least 4: BFT consensus tolerates "
            "f = (n-1)/3 faulty validators, so 2 or 3 tolerate none"
        )
    chain_id = _str(doc, "chainId", w, "")
    if chain_id and not _CHAIN_ID_RE.match(chain_id):
        raise SpecError("spec.validators.chainId must be 1-50 letters, digits, '.', '_' or '-'")
    accounts: list[GenesisAccount] = []
    for i, item in enumerate(doc.get("genesisAccounts", []) or []):
        where = f"{w}.genesisAccounts[{i}]"
        item = _obj(item, where)
        address, balance = item.get("address", ""), item.get("balance", "")
        ozone = item.get("ozone", "")
        if not isinstance(address, str) or not _ADDRESS_RE.match(address):
            raise SpecError(f"{where}.address must be 40 lower-case hex digits")
        _stos(balance, f"{where}.balance")
        if ozone != "":
            _stos(ozone, f"{where}.ozone")
        if any(a.address == address for a in accounts):  # the genesis refuses an account twice
            raise SpecError(f"{where}.address {address} is listed twice in {w}.genesisAccounts")
        accounts.append(GenesisAccount(address, balance, ozone))
    size = _str(doc, "storageSize", w, d.storage_size)
    parse_quantity(size, f"{w}.storageSize")
    return ValidatorsSpec(
        replicas=replicas,
        storage_size=size,
        storage_class_name=_str(doc, "storageClassName", w, ""),
        chain_id=chain_id,
        genesis_accounts=tuple(accounts),
        resources=_resources(doc, w),
    )


def parse_spec(doc: Mapping[str, Any]) -> ClusterSpec:
    """The typed spec of a StratosCluster's `.spec`; SpecError names the first bad field."""
    doc = _obj(doc, "spec")
    d = ClusterSpec()
    images = _obj(doc.get("images"), "spec.images")
    replication = _int(doc, "replication", "spec", d.replication, least=1)
    spec = ClusterSpec(
        images=Images(**{k: _str(images, k, "spec.images", "") for k in Images.__annotations__}),
        image_pull_policy=_str(doc, "imagePullPolicy", "spec", d.image_pull_policy),
        replication=replication,
        log_level=_str(doc, "logLevel", "spec", d.log_level),
        otlp_endpoint=_str(_obj(doc.get("tracing"), "spec.tracing"), "otlpEndpoint", "spec", ""),
        nats=_nats(_obj(doc.get("nats"), "spec.nats")),
        index=IndexSpec(
            _int(_obj(doc.get("index"), "spec.index"), "replicas", "spec.index", 2, least=1),
            _resources(_obj(doc.get("index"), "spec.index"), "spec.index"),
        ),
        storage=_storage(_obj(doc.get("storage"), "spec.storage")),
        validators=_validators(_obj(doc.get("validators"), "spec.validators")),
        incentive=IncentiveSpec(
            _int(_obj(doc.get("incentive"), "spec.incentive"), "replicas", "spec.incentive", 3),
            _resources(_obj(doc.get("incentive"), "spec.incentive"), "spec.incentive"),
        ),
    )
    if spec.storage.replicas < replication:
        raise SpecError(
            f"spec.storage.replicas ({spec.storage.replicas}) must be at least spec.replication "
            f"({replication}): every chunk needs that many distinct storage nodes"
        )
    if spec.validators.replicas:
        _check_genesis_supply(spec)
    return spec


def _check_genesis_supply(spec: ClusterSpec) -> None:
    """The consensus genesis's supply rule (`genesis_amounts`), checked here so a spec that
    breaks it is refused with one sentence rather than by every validator at start."""
    accounts = spec.validators.genesis_accounts
    users = sum(parse_stos(a.balance) + parse_stos(a.ozone or "0") for a in accounts)
    meta = spec.incentive.replicas
    if users + operator_supply_nstos(spec.storage.replicas, meta) > MAX_NSTOS:
        raise SpecError(
            "spec.validators.genesisAccounts: the balances and ozone prepays add up to "
            f"{format_stos(users)} STOS, and with the nodes' deposits the genesis would hold "
            f"more than the ledger can ({format_stos(MAX_NSTOS)} STOS)"
        )


def parse_cluster(body: Mapping[str, Any]) -> Cluster:
    """A StratosCluster object (as kopf or the API hands it over) → `Cluster`."""
    meta = _obj(body.get("metadata"), "metadata")
    name, namespace = meta.get("name"), meta.get("namespace")
    if not name or not namespace:
        raise SpecError("a StratosCluster needs metadata.name and metadata.namespace")
    return Cluster(
        name=str(name),
        namespace=str(namespace),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation", 0) or 0),
        spec=parse_spec(body.get("spec") or {}),
        annotations=dict(meta.get("annotations") or {}),
    )
