"""Several policy packs at once: which packs reach an arrangement, and their scenarios merged.

An engine holds one *primary* pack (the first selected; ``us`` by default), evaluated for every
arrangement as before, and any number of further packs (``eu``, ``uk``), each evaluated only for
the arrangements within its **nexus** (``pack.nexus``: the arrangement's location, the markets
it places products on, or a party of a given role organized in a given country). A US plant
with no European nexus is scored exactly as under the US pack alone.

The scenario sets of the packs that apply are merged into one list for the policy axis: the
packs' enacted current laws are one baseline (the primary's ``current-law``), every other
scenario keeps its id, and its event is qualified by its pack (``eu:iaa-adoption``), so that an
EU question never counts as an alternative to a US one: events of different packs are
independent, as the policy axis assumes of different events.

>>> import pathlib
>>> pdir = pathlib.Path(__file__).parents[1] / "data" / "policies"
>>> shipped_pack_ids(pdir)[0]
'us'
>>> parse_pack_ids("us, eu,uk")
['us', 'eu', 'uk']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from georisk.scoring.dataset import DatasetError, DatasetIssue
from georisk.scoring.model import Arrangement, Entity
from georisk.scoring.policy import BasisKind, PolicyPack, Scenario, ScenarioSet
from georisk.scoring.wording import named, prose_list

__all__ = [
    "ALL_PACKS",
    "PackApplied",
    "PackSet",
    "merged_scenarios",
    "pack_nexus",
    "parse_pack_ids",
    "shipped_pack_ids",
]

#: the pack selection meaning "every pack shipped in the policies directory"
ALL_PACKS = "all"


@dataclass(frozen=True)
class PackSet:
    """A policy pack and its scenario set."""

    pack: PolicyPack
    scenarios: ScenarioSet

    @property
    def id(self) -> str:
        return self.pack.pack.id


class PackApplied(BaseModel):
    """A selected pack, whether it was evaluated for the arrangement, and why."""

    id: str
    version: str = Field(description="the pack's version label (id@version (sha256:…))")
    scenario_set_version: str
    applied: bool
    reason: str = Field(description="the nexus that made it apply, or why none holds")


def parse_pack_ids(spec: str | Iterable[str]) -> list[str]:
    """Pack ids from ``"us,eu"`` or ``["us", "eu,uk"]`` (repeated options), in order, once each.

    >>> parse_pack_ids(["us", "eu,uk", "us"])
    ['us', 'eu', 'uk']
    """
    parts = [spec] if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for part in parts:
        for p in part.split(","):
            p = p.strip()
            if p and p not in out:
                out.append(p)
    return out


def shipped_pack_ids(pdir: Path) -> list[str]:
    """The packs of a policies directory (``<id>.yaml`` with ``<id>.scenarios.yaml``): ``us``
    first, then the others by id."""
    ids = sorted(
        p.name.removesuffix(".yaml")
        for p in pdir.glob("*.yaml")
        if not p.name.endswith(".scenarios.yaml")
        and (pdir / p.name.replace(".yaml", ".scenarios.yaml")).exists()
    )
    return sorted(ids, key=lambda i: (i != "us", i))


def pack_nexus(
    pack: PolicyPack, arr: Arrangement, entities: Mapping[str, Entity]
) -> tuple[bool, str]:
    """Whether ``pack`` is evaluated for ``arr``, and why (the first nexus found, or none).

    A pack without ``nexus`` applies to every arrangement.

    >>> from georisk.scoring.policy import PackInfo, PackNexus
    >>> p = PolicyPack(pack=PackInfo(id="eu", jurisdiction="EU", version="1", title="EU",
    ...     nexus=PackNexus(countries=["ES"])), parameters={}, rules=[])
    >>> a = Arrangement(id="a", name="A", focal="f", parties=[{"entity": "f", "role": "owner"}],
    ...     country="ES", products=["cells"],
    ...     status=[{"status": "announced", "date": "2024-01-01", "sources": ["s"]}],
    ...     sources=["s"])
    >>> pack_nexus(p, a, {})
    (True, 'located in ES')
    """
    nx = pack.pack.nexus
    if nx is None:
        return True, "the pack applies to every arrangement"
    if arr.country in nx.countries:
        return True, f"located in {arr.country}"
    placed = sorted({c for m in arr.markets for c in m.countries} & set(nx.markets))
    if placed:
        return True, f"places products on the market in {prose_list(placed)}"
    if nx.parties is not None:
        roles = set(nx.parties.roles)
        for p in arr.parties:
            e = entities.get(p.entity)
            if (
                e is not None
                and e.country in nx.parties.countries
                and (not roles or p.role in roles)
            ):
                return (
                    True,
                    f"party {named(entities, p.entity)} ({p.role}) is organized in {e.country}",
                )
    return False, (
        f"no nexus: located in {arr.country}, no market or party of the pack's "
        f"({pack.pack.jurisdiction}) recorded"
    )


def merged_scenarios(primary: ScenarioSet, others: Sequence[PackSet]) -> list[Scenario]:
    """The primary's scenarios, then each other pack's changes (its enacted scenario is the
    common baseline), their events qualified by pack id.

    Raises :class:`DatasetError` when two packs' change scenarios share an id (a scenario is
    chosen by id).
    """
    out = list(primary.scenarios)
    seen = {s.id: primary.pack for s in out}
    issues: list[DatasetIssue] = []
    for ps in others:
        for s in ps.scenarios.scenarios:
            if s.basis.kind is BasisKind.ENACTED:
                continue
            if s.id in seen:
                issues.append(
                    DatasetIssue(
                        f"{ps.id}.scenarios.yaml",
                        f"scenario {s.id}",
                        "id",
                        f"also a scenario of pack {seen[s.id]!r}: scenario ids must differ "
                        "across the packs evaluated together",
                    )
                )
                continue
            seen[s.id] = ps.id
            out.append(s.model_copy(update={"event": f"{ps.id}:{s.event}"}))
    if issues:
        raise DatasetError(issues)
    return out
