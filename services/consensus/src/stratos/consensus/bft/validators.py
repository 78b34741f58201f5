"""Who votes, with how much weight, and who proposes at each (height, round).

Thresholds are in voting power, not head count: a quorum is more than 2/3 of the total power
(any two quorums share an honest validator when less than 1/3 is Byzantine) and the round-skip
threshold is more than 1/3 (at least one honest validator is among them).

Proposer rotation follows Tendermint's priority algorithm so that each validator proposes in
proportion to its power, smoothly interleaved: at every step each priority grows by its power,
the highest priority (ties: the smallest address) proposes and pays back the total power. Step
k = (height - first_height) + round, counted from all-zero priorities, so every validator
computes the same proposer from the set alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from stratos.common.errors import ConfigError
from stratos.consensus.bft.messages import address_of


@dataclass(frozen=True, slots=True)
class Validator:
    address: str
    public_key: bytes
    power: int

    @classmethod
    def from_public_key(cls, public_key: bytes, power: int) -> Validator:
        return cls(address_of(public_key), public_key, power)


class ValidatorSet:
    def __init__(self, validators: Iterable[Validator], *, first_height: int = 1) -> None:
        vals = sorted(validators, key=lambda v: v.address)
        if not vals:
            raise ConfigError("a validator set needs at least one validator")
        for v in vals:
            if v.power <= 0:
                raise ConfigError(f"validator {v.address} has power {v.power}; it must be > 0")
            if v.address != address_of(v.public_key):
                raise ConfigError(f"validator {v.address} does not match its public key")
        if len({v.address for v in vals}) != len(vals):
            raise ConfigError("a validator set lists the same validator twice")
        self._vals: tuple[Validator, ...] = tuple(vals)
        self._by_address = {v.address: v for v in vals}
        self.first_height = first_height
        self.total_power = sum(v.power for v in vals)
        # Cache: the priorities after `_cached_step` steps; proposer queries are nearly always
        # for the current height, so advancing from the last height's state is O(n) per round.
        self._cached_step = 0
        self._cached_prios = [0] * len(vals)

    def __len__(self) -> int:
        return len(self._vals)

    def __iter__(self) -> Iterator[Validator]:
        return iter(self._vals)

    def __contains__(self, address: object) -> bool:
        return address in self._by_address

    def get(self, address: str) -> Validator | None:
        return self._by_address.get(address)

    @property
    def quorum_power(self) -> int:
        """The least power that is more than 2/3 of the total."""
        return self.total_power * 2 // 3 + 1

    @property
    def skip_power(self) -> int:
        """The least power that is more than 1/3 of the total (f+1 for equal powers)."""
        return self.total_power // 3 + 1

    def has_quorum(self, power: int) -> bool:
        return power * 3 > self.total_power * 2

    def has_skip(self, power: int) -> bool:
        return power * 3 > self.total_power

    def _step(self, prios: list[int]) -> int:
        best = 0
        for i, v in enumerate(self._vals):
            prios[i] += v.power
            # Strictly greater keeps the first (smallest-address) validator on ties.
            if prios[i] > prios[best]:
                best = i
        prios[best] -= self.total_power
        return best

    def proposer(self, height: int, round_: int) -> Validator:
        if height < self.first_height or round_ < 0:
            raise ValueError(f"no proposer for height {height} round {round_}")
        base = height - self.first_height
        if base < self._cached_step:
            self._cached_step, self._cached_prios = 0, [0] * len(self._vals)
        while self._cached_step < base:
            self._step(self._cached_prios)
            self._cached_step += 1
        prios = list(self._cached_prios)
        best = 0
        for _ in range(round_ + 1):
            best = self._step(prios)
        return self._vals[best]
