"""Covered-nation parties and the share of an entity they own, directly and indirectly.

:func:`covered_parties` is the mask of the seeds of every covered-nation test (governments,
nationals, entities organized or based in a covered nation; never facilities);
:func:`covered_exposure` is the integrated share they own, with its paths (:func:`covered_paths`).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from georisk.scoring.control.params import PfeParams
from georisk.scoring.dataset import Dataset
from georisk.scoring.graph import ArrangementGraph, PathListing, ShareValue
from georisk.scoring.interval import Interval
from georisk.scoring.model import Entity, EntityKind, LinkKind
from georisk.scoring.ownership import Bounds, absorbed_exposure

__all__ = [
    "ExposureResult",
    "covered_exposure",
    "covered_parties",
    "covered_paths",
    "covered_share",
]


class ExposureResult(BaseModel):
    entity: str
    share: ShareValue = Field(
        description="share owned, directly or through non-covered "
        "intermediates, by covered-nation parties"
    )
    direct: ShareValue
    paths: PathListing
    converged: bool


def covered_parties(g: ArrangementGraph, params: PfeParams) -> np.ndarray:
    """Mask of covered-nation governments, nationals and entities (the FCE seeds)."""
    covered = params.covered_nations

    def make() -> np.ndarray:
        ents = g.dataset.entities
        d, p = g.derivation, g.parent
        if d is not None and p is not None:
            # an attribute of each entity alone: the base's, again for the edited and added
            # entities (among the seeds)
            out = d.carry(covered_parties(p, params), False)
            for i in d.seeds.tolist():
                out[i] = _is_covered_party(ents[g.ids[i]], covered)
            return out
        if getattr(ents, "field", None) is not None and len(ents) == len(g.ids):
            # a snapshot's entity columns (in g.ids order): no 1M Entity objects built
            return _covered_columns(g.dataset, covered)
        return np.fromiter(
            (_is_covered_party(ents[eid], covered) for eid in g.ids), dtype=bool, count=len(g.ids)
        )

    return g.shared(f"covered:{sorted(covered)}", make)


def _covered_columns(ds: Dataset, covered: frozenset[str]) -> np.ndarray:
    """:func:`_is_covered_party` of every entity, from the dataset's columns."""
    kind, country, place, us = (
        ds.entity_field(f) for f in ("kind", "country", "principal_place", "us_person")
    )
    fac, per = EntityKind.FACILITY, EntityKind.PERSON
    return np.fromiter(
        (
            k != fac
            and (c in covered and u is not True if k == per else c in covered or p in covered)
            for k, c, p, u in zip(kind, country, place, us, strict=True)
        ),
        dtype=bool,
        count=len(kind),
    )


def _is_covered_party(e: Entity, covered: frozenset[str]) -> bool:
    if e.kind is EntityKind.FACILITY:
        return False
    if e.kind is EntityKind.PERSON:
        return e.country in covered and e.us_person is not True
    return e.country in covered or e.principal_place in covered


def covered_paths(
    g: ArrangementGraph,
    entity_id: str,
    params: PfeParams,
    kinds: frozenset[LinkKind] = frozenset({LinkKind.EQUITY}),
) -> PathListing:
    """The paths from covered-nation parties down to the entity (nearest party first).

    The listing depends on the links only: kept per set of links (``g.shared``). Its holders
    are the covered parties upstream of the entity: the walk up the in-links visits only
    upstream entities, so the mask of every covered party gives that listing without
    computing the entity's upstream (on a graph with a giant cycle, a fifth of the graph).

    With ``params.explain`` False (scoring), an entity that no covered party reaches through
    ``kinds`` links (:meth:`.ArrangementGraph.reached`, once per graph) gets the empty
    listing without a walk; its ``truncated`` flag is then False (an explained listing says
    whether the depth cap cut a walk that found nothing).
    """
    nations = sorted(params.covered_nations)
    key = (
        f"covered-paths:{entity_id}:{sorted(kinds)}:{nations}:{params.max_depth}:{params.max_paths}"
    )
    covered = covered_parties(g, params)
    if (
        not params.explain
        and g.derivation is None
        and not g.reached(f"covered:{nations}", covered, kinds)[g.index[entity_id]]
    ):
        return PathListing(
            paths=[], truncated=False, max_depth=params.max_depth, max_paths=params.max_paths
        )

    def make() -> PathListing:
        return g.share_paths(
            entity_id,
            kinds=kinds,
            max_depth=params.max_depth,
            max_paths=params.max_paths,
            holder_mask=covered,
        )

    return g.inherit(key, entity_id, make)  # upstream of the entity only


def covered_share(
    g: ArrangementGraph, entity_id: str, params: PfeParams | None = None
) -> ShareValue:
    """:func:`covered_exposure`'s ``share`` alone: a lookup in the whole-graph exposure
    vector (computed once per set of links), without the path listing.

    >>> import datetime as dt
    >>> from georisk.scoring.dataset import Dataset
    >>> from georisk.scoring.model import Entity, Link
    >>> ents = {e: Entity(id=e, name=e, kind="company", country=c)
    ...         for e, c in [("envision", "CN"), ("aesc", "JP")]}
    >>> l = Link.model_validate({"id": "l", "kind": "equity", "source": "envision",
    ...                          "target": "aesc", "share": 0.75, "sources": ["s"]})
    >>> ds = Dataset(sources={}, entities=ents, links={"l": l}, arrangements={}, version="t")
    >>> covered_share(ArrangementGraph.build(ds, dt.date(2026, 1, 1)), "aesc").min
    0.75
    """
    params = params or PfeParams()
    exp = _exposure_vector(g, params)
    i = g.index[entity_id]
    return ShareValue.of(Interval(float(exp.lo[i]), float(exp.hi[i])).clamp())


def _exposure_vector(g: ArrangementGraph, params: PfeParams) -> Bounds:
    seeds = covered_parties(g, params)
    nations = sorted(params.covered_nations)
    return g.shared(f"exposure:{nations}", lambda: _exposure(g, params, seeds))


def covered_exposure(
    g: ArrangementGraph, entity_id: str, params: PfeParams | None = None
) -> ExposureResult:
    """Share of ``entity_id`` owned directly and indirectly by covered-nation parties.

    Each chain counts once, attributed to the covered party nearest the entity (so a Chinese
    parent's 100% of a Chinese subsidiary holding 30% of X adds 30%, not 60%).

    Envision Group (CN) holds 75% of AESC (JP), Nissan the rest: AESC's exposure is 75%.

    >>> import datetime as dt
    >>> from georisk.scoring.dataset import Dataset
    >>> from georisk.scoring.model import Entity, Link
    >>> owners = [("envision", "CN", 0.75), ("nissan", "JP", 0.25)]
    >>> ents = {e: Entity(id=e, name=e, kind="company", country=c) for e, c, _ in owners}
    >>> ents["aesc"] = Entity(id="aesc", name="AESC", kind="company", country="JP")
    >>> links = {
    ...     f"{e}-aesc": Link.model_validate({"id": f"{e}-aesc", "kind": "equity", "source": e,
    ...                                       "target": "aesc", "share": s, "sources": ["s"]})
    ...     for e, _, s in owners
    ... }
    >>> ds = Dataset(sources={}, entities=ents, links=links, arrangements={}, version="t")
    >>> g = ArrangementGraph.build(ds, dt.date(2026, 1, 1))
    >>> r = covered_exposure(g, "aesc")
    >>> r.share.min, r.share.max, r.paths.paths[0].entities
    (0.75, 0.75, ['envision', 'aesc'])

    It depends on the links only, so it is kept per set of links (``g.shared``): the equity
    axis and the technology axis ask for the same entities in every scenario and date.
    """
    params = params or PfeParams()
    key = (
        f"exposure-result:{entity_id}:{sorted(params.covered_nations)}:"
        f"{params.max_depth}:{params.max_paths}" + ("" if params.explain else ":lean")
    )
    # upstream of the entity only: inherited from the base graph when the entity is clean
    return g.inherit(key, entity_id, lambda: _covered_exposure(g, entity_id, params))


def _exposure(g: ArrangementGraph, params: PfeParams, seeds: np.ndarray) -> Bounds:
    """Every entity's covered-nation exposure; on a derived graph, the base's outside what
    the overlay reaches (:meth:`.graph.Derivation.absorbed_exposure`)."""
    d, p = g.derivation, g.parent
    if d is not None and p is not None:
        nations = sorted(params.covered_nations)
        p_seeds = covered_parties(p, params)
        old = p.shared(f"exposure:{nations}", lambda: _exposure(p, params, p_seeds))
        got = d.absorbed_exposure(seeds, d.carry(p_seeds, False), old)
        if got is not None:
            return got
    return absorbed_exposure(g.equity, seeds)


def _covered_exposure(g: ArrangementGraph, entity_id: str, params: PfeParams) -> ExposureResult:
    seeds = covered_parties(g, params)
    i = g.index[entity_id]
    exp = _exposure_vector(g, params)
    direct = Interval.zero()
    for l in g.links_into(entity_id, [LinkKind.EQUITY]):
        if seeds[g.index[l.source]]:
            direct = direct + l.share_interval()
    paths = covered_paths(g, entity_id, params)
    return ExposureResult(
        entity=entity_id,
        share=ShareValue.of(Interval(float(exp.lo[i]), float(exp.hi[i])).clamp()),
        direct=ShareValue.of(direct.clamp()),
        paths=paths,
        converged=bool(exp.converged),
    )
