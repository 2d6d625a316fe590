"""The EU/UK facts of the dataset model (issue 18): entity ``facts`` and an arrangement's
markets, origins, transactions and tenders load, are checked for references, and survive the
columnar snapshot unchanged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from georisk.scoring.dataset import DatasetError, load_dataset
from georisk.scoring.model import Money, Turnover, TurnoverScope
from tests.test_snapshot import same

DATA = """
sources:
  - {id: s1, title: a source, url: "https://example.org/1"}
entities:
  - id: catl
    name: CATL
    kind: company
    country: CN
    sources: [s1]
    facts:
      foreign_financial_contributions:
        - {country: CN, period_from: 2022-01-01, period_to: 2024-12-31, minimum: 60000000,
           kind: grant, sources: [s1], unconfirmed: true}
      duty_groups:
        - {measure: eu-bev-cvd, group: other_cooperating, since: 2024-10-30, sources: [s1]}
  - id: jv
    name: The JV
    kind: company
    country: ES
    sources: [s1]
    facts:
      activities:
        - {activity: battery_cell_manufacturing, since: 2024-12-10, sources: [s1]}
      turnover:
        - {scope: eu, year: 2024, maximum: 499999999, sources: [s1]}
        - {scope: national, country: es, year: 2024, amount: 0, sources: [s1]}
      undertakings:
        - {measure: eu-bev-cvd, models: [m1], accepted: 2026-02-10, sources: [s1]}
  - {id: plant, name: The plant, kind: facility, country: ES, sources: [s1]}
links:
  - {id: catl-jv, kind: equity, source: catl, target: jv, share: 0.5, sources: [s1]}
  - {id: jv-plant, kind: equity, source: jv, target: plant, share: 1.0, sources: [s1]}
arrangements:
  - id: deal
    name: The deal
    focal: plant
    parties: [{entity: jv, role: owner}, {entity: catl, role: jv_partner}]
    country: ES
    products: [cells]
    status: [{status: announced, date: 2024-12-10, sources: [s1]}]
    sources: [s1]
    markets:
      - {countries: [ES, de], products: [cells], categories: [ev], operator: jv,
         since: 2027-09-01, sources: [s1]}
    origins:
      - {product: cells, country: ES, share: 1.0, sources: [s1]}
    transactions:
      - {id: jv-creation, kind: joint_venture, target: jv, acquirers: [catl], signed: 2024-12-10,
         control: true, value: {amount: 4100000000}, sources: [s1]}
    tenders:
      - {id: t1, authority_country: ES, date: 2026-07-01, value: {minimum: 250000000},
         bidder: jv, origins: [{product: storage, country: CN, share: 0.7, sources: [s1]}],
         sources: [s1]}
"""


def _write(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    (d / "records.yaml").write_text(text)
    return d


def test_facts_load_with_their_values(tmp_path: Path) -> None:
    ds = load_dataset(_write(tmp_path, DATA), snapshot=False)
    jv = ds.entities["jv"]
    assert jv.facts is not None
    assert jv.facts.turnover[0].bounds() == (0.0, 499_999_999.0)
    assert jv.facts.turnover[1].country == "ES"
    assert jv.facts.activities[0].active(dt.date(2025, 1, 1))
    assert not jv.facts.undertakings[0].active(dt.date(2026, 2, 9))
    arr = ds.arrangements["deal"]
    assert arr.markets[0].countries == ["ES", "DE"]
    assert arr.transactions[0].value == Money(amount=4.1e9)
    assert arr.tenders[0].origins[0].bounds() == (0.7, 0.7)
    assert ds.entities["catl"].facts is not None


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (
            "sources: [s1], unconfirmed: true}",
            "sources: [nope], unconfirmed: true}",
            "facts.foreign_financial_contributions.0.sources",
        ),
        ("operator: jv,", "operator: nobody,", "markets.0.operator"),
        (
            "target: jv, acquirers: [catl]",
            "target: jv, acquirers: [ghost]",
            "transactions.0.acquirers.0",
        ),
        ("bidder: jv,", "bidder: ghost,", "tenders.0.bidder"),
    ],
)
def test_unknown_references_in_facts_are_refused_by_field(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    assert old in DATA
    with pytest.raises(DatasetError) as exc:
        load_dataset(_write(tmp_path, DATA.replace(old, new, 1)), snapshot=False)
    assert [i.field for i in exc.value.issues] == [field]


def test_bad_fact_values_are_refused() -> None:
    with pytest.raises(ValueError, match="country is given exactly for scope national"):
        Turnover(scope=TurnoverScope.NATIONAL, year=2024, amount=1, sources=["s1"])
    with pytest.raises(ValueError, match="not both"):
        Money(amount=1, maximum=2)
    with pytest.raises(ValueError, match="currency"):
        Money(amount=1, currency="euro")


def test_facts_survive_the_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEORISK_SNAPSHOT_DIR", str(tmp_path / "snap"))
    d = _write(tmp_path, DATA)
    ref = load_dataset(d, snapshot=False)
    load_dataset(d, snapshot=True)  # validates and writes
    warm = load_dataset(d, snapshot=True)
    assert warm.snapshot is not None
    same(warm, ref)
    assert warm.entities["jv"].facts == ref.entities["jv"].facts
