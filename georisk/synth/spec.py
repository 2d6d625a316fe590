"""What :func:`georisk.synth.generate` is asked for (:class:`SynthSpec`) and what it wrote
(:class:`SynthStats`).

>>> SynthSpec(entities=100).check()
Traceback (most recent call last):
...
ValueError: entities must be at least 200
>>> SynthSpec(mode="random").check()
Traceback (most recent call last):
...
ValueError: mode must be one of realistic, adversarial
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["MODES", "SOURCE_ID", "SOURCE_URL", "SynthSpec", "SynthStats"]

SOURCE_ID = "synth"
SOURCE_URL = "https://example.invalid/georisk-synth"
# ownership shapes (georisk/synth/__init__.py, "Modes"): registry-like trees with small
# cross-holdings, or random links that close one giant strongly connected component
MODES = ("realistic", "adversarial")


@dataclass(frozen=True)
class SynthSpec:
    """What to generate. Counts are targets; the links actually written are within a few %."""

    entities: int = 10_000
    links_per_entity: float = 3.0  # total links ≈ entities × this
    arrangements: int = 1_000
    seed: int = 0
    covered_share: float = 0.25  # fraction of companies organized in CN/RU/IR/KP (mostly CN)
    ranged_share: float = 0.05  # fraction of equity links with a ranged share (BODS min/max)
    unconfirmed_share: float = 0.03
    # "adversarial" (the default, as every earlier dataset and benchmark figure): random
    # minority stakes and cross-holdings; "realistic": bounded-depth trees, tiny cycles
    mode: str = "adversarial"

    def check(self) -> None:
        if self.entities < 200:
            raise ValueError("entities must be at least 200")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if self.links_per_entity < 0 or self.arrangements < 0:
            raise ValueError("links_per_entity and arrangements must not be negative")
        for name in ("covered_share", "ranged_share", "unconfirmed_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")


@dataclass(frozen=True)
class SynthStats:
    """Counts of what :func:`generate` wrote, and how long it took."""

    sources: int
    entities: int
    links: int
    arrangements: int
    entities_by_kind: dict[str, int]
    links_by_kind: dict[str, int]
    entities_by_country: dict[str, int]
    listed: int  # list memberships
    ranged_shares: int
    unconfirmed_links: int
    files: list[str]
    bytes: int
    seconds: float
    spec: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
