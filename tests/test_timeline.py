"""Timelines: the dates on which an arrangement's verdicts, bands or credit change, and why.

What an analyst checks (../shared/domain/expected.md and brief.md): Gotion Manteno loses §30D
when the credit terminates (vehicles acquired after 2025-09-30), §45X when the PFE rules apply
(taxable years beginning after 2025-07-04: calendar 2026), and meets the NDAA §154 DoD battery
ban from 2027-10-01; each change names its cause. Evaluating at change points only must agree
with a day-by-day scan. Reason texts are left alone (other work changes them).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import random
from pathlib import Path

import pytest

from georisk.cli import main
from georisk.scoring.engine import Engine, NotFoundError, View
from georisk.scoring.timeline import (
    AXES,
    Timeline,
    TimelineRangeError,
    candidates,
    timeline,
)
from tests.conftest import BASE_YAML, WriteDataset

GOTION = "gotion-manteno-il"
START, END = dt.date(2024, 1, 1), dt.date(2028, 12, 31)


@pytest.fixture(scope="module")
def gotion(engine: Engine) -> Timeline:
    return timeline(engine, GOTION, START, END)


def _change(t: Timeline, day: dt.date, rule: str) -> tuple[str | None, str | None]:
    point = next((c for c in t.changes if c.date == day), None)
    assert point is not None, f"no change on {day}: {[c.date for c in t.changes]}"
    hit = next((x for x in point.changed if x.what == "verdict" and x.subject == rule), None)
    assert hit is not None, f"{rule} does not change on {day}: {point.changed}"
    return hit.before, hit.after


def _refs(t: Timeline, day: dt.date) -> set[tuple[str, str]]:
    point = next(c for c in t.changes if c.date == day)
    return {(e.kind, e.ref) for e in point.events}


def _read(
    engine: Engine, aid: str, day: dt.date, scenario: str = "current-law"
) -> tuple[object, ...]:
    s = engine.score(
        aid, day, scenario, view=View.BASIC, remedies=False, scenario_in_force_only=True
    )
    return (
        {v.rule: v.verdict.value for v in s.verdicts},
        {a: getattr(s, a).band for a in AXES},
        {v.rule: (v.credit.min, v.credit.max) for v in s.verdicts if v.credit is not None},
    )


def _interval_reading(t: Timeline, day: dt.date) -> tuple[object, ...]:
    p = next(p for p in t.intervals if p.from_ <= day <= p.to)
    credit = {r: (a.min, a.max) for r, a in (p.credit or {}).items()}
    return p.verdicts, p.bands, credit


# --------------------------------------------------------------------------- the analyst's dates


def test_gotion_manteno_loses_30d_when_the_credit_terminates_after_2025_09_30(
    gotion: Timeline,
) -> None:
    before, after = _change(gotion, dt.date(2025, 10, 1), "us-30d")
    # a FEOC-made battery (Gotion is organized in China): not eligible until then, then gone
    assert before in ("not_eligible", "at_risk") and after == "not_applicable"
    assert ("parameter", "30d.available") in _refs(gotion, dt.date(2025, 10, 1))


def test_gotion_manteno_loses_45x_when_the_pfe_rules_apply_from_2026(gotion: Timeline) -> None:
    # taxable years beginning after 2025-07-04: a calendar-year taxpayer from 2026-01-01
    before, after = _change(gotion, dt.date(2026, 1, 1), "us-45x")
    assert before != "not_eligible" and after == "not_eligible"
    assert ("parameter", "pfe.in_force") in _refs(gotion, dt.date(2026, 1, 1))
    # nothing about §45X changes on the enactment date itself: the bar waits for the tax year
    assert all(
        not (c.date == dt.date(2025, 7, 4) and any(x.subject == "us-45x" for x in c.changed))
        for c in gotion.changes
    )


def test_gotion_manteno_meets_the_ndaa_154_battery_ban_on_2027_10_01(gotion: Timeline) -> None:
    before, after = _change(gotion, dt.date(2027, 10, 1), "us-lists")
    assert before != "not_eligible" and after == "not_eligible"
    assert ("list_effect", "ndaa-fy2024-154") in _refs(gotion, dt.date(2027, 10, 1))


def test_events_no_changed_rule_reads_are_set_apart(gotion: Timeline) -> None:
    # on 2026-01-01 the §45X bar starts and, the same day, the storage tariff rises and the
    # House-text scenario begins: neither can explain a current-law §45X verdict
    point = next(c for c in gotion.changes if c.date == dt.date(2026, 1, 1))
    causes = {(e.kind, e.ref) for e in point.events}
    others = {(e.kind, e.ref) for e in point.other_events}
    assert ("parameter", "pfe.in_force") in causes
    assert ("scenario", "house-2025-licensing") in others
    assert ("parameter", "tariff.301.non_ev_batteries") in others
    assert not causes & others
    text = next(e.text for e in point.events if e.ref == "pfe.in_force")
    assert "false → true" in text


def test_intervals_tile_the_window_and_each_change_opens_one(gotion: Timeline) -> None:
    ps = gotion.intervals
    assert ps[0].from_ == START and ps[-1].to == END and not gotion.truncated
    for a, b in itertools.pairwise(ps):
        assert b.from_ == a.to + dt.timedelta(days=1)
        assert (a.verdicts, a.bands, a.credit) != (b.verdicts, b.bands, b.credit)
    assert [p.from_ for p in ps[1:]] == [c.date for c in gotion.changes]
    assert all(c.events for c in gotion.changes), "every change names what happened that day"
    # far fewer scores than days
    assert gotion.evaluated <= gotion.candidates + 1 < (END - START).days // 10
    last = ps[-1]
    assert last.verdicts["us-45x"] == "not_eligible" and last.verdicts["us-lists"] == "not_eligible"
    assert last.bands["equity"] == "high"


# --------------------------------------------------------------------------- change points vs days


@pytest.mark.parametrize("scenario", ["current-law", "house-2025-licensing"])
def test_random_days_inside_intervals_score_as_their_interval(
    engine: Engine, scenario: str
) -> None:
    rng = random.Random(13)
    for aid in sorted(engine.dataset.arrangements):
        t = timeline(engine, aid, START, END, scenario)
        for p in t.intervals:
            span = (p.to - p.from_).days
            for day in {
                p.from_,
                p.to,
                *(p.from_ + dt.timedelta(rng.randint(0, span)) for _ in range(3)),
            }:
                assert _read(engine, aid, day, scenario) == _interval_reading(t, day), (aid, day)


@pytest.mark.parametrize("aid", [GOTION, "ford-marshall", "gotion-big-rapids-mi"])
def test_change_dates_are_those_of_a_day_by_day_scan(engine: Engine, aid: str) -> None:
    lo, hi = dt.date(2025, 6, 1), dt.date(2026, 3, 31)
    t = timeline(engine, aid, lo, hi)
    scanned, prev, day = [], _read(engine, aid, lo), lo
    while day < hi:
        day += dt.timedelta(days=1)
        cur = _read(engine, aid, day)
        if cur != prev:
            scanned.append(day)
        prev = cur
    assert [c.date for c in t.changes] == scanned


def test_random_days_agree_on_a_synthetic_dataset_with_many_dated_links(tmp_path: Path) -> None:
    # the shipped data has few link dates inside the window; a synthetic one has dozens per deal
    from georisk.synth import SynthSpec, generate

    generate(SynthSpec(entities=300, links_per_entity=3.0, arrangements=4, seed=5), tmp_path)
    engine = Engine.from_dir(tmp_path)
    rng = random.Random(5)
    for aid in sorted(engine.dataset.arrangements)[:2]:
        t = timeline(engine, aid, dt.date(2023, 1, 1), dt.date(2028, 12, 31))
        assert t.candidates > 30 and not t.truncated
        assert any(
            e.kind == "link" for evs in candidates(engine, aid, t.from_, t.to).values() for e in evs
        )
        for p in t.intervals:
            span = (p.to - p.from_).days
            for day in {p.from_, p.to, p.from_ + dt.timedelta(rng.randint(0, span))}:
                assert _read(engine, aid, day) == _interval_reading(t, day), (aid, day)


# --------------------------------------------------------------------------- dataset dates


def _timed_dataset(write_dataset: WriteDataset) -> Path:
    # entities must be declared before the links that name them: rebuild the document
    doc = BASE_YAML.replace(
        "share: 0.6, sources: [s1]}", "share: 0.6, valid_to: 2026-06-30, sources: [s1]}"
    )
    doc = doc.replace(
        "links:\n",
        "  - {id: far-a, name: Far A, kind: company, country: DE, sources: [s1]}\n"
        "  - {id: far-b, name: Far B, kind: company, country: FR, sources: [s1]}\n"
        "links:\n"
        "  - {id: far-deal, kind: equity, source: far-a, target: far-b, share: 0.9,"
        " valid_from: 2025-03-01, sources: [s1]}\n",
    )
    return write_dataset({"a.yaml": doc})


def test_a_link_that_ends_changes_the_equity_band_the_next_day_and_is_named(
    write_dataset: WriteDataset,
) -> None:
    engine = Engine.from_dir(_timed_dataset(write_dataset))
    t = timeline(engine, "deal", dt.date(2025, 1, 1), dt.date(2027, 12, 31))
    point = next(c for c in t.changes if c.date == dt.date(2026, 7, 1))
    assert any(x.what == "band" and x.subject == "equity" for x in point.changed)
    assert ("link", "parent-sub") in {(e.kind, e.ref) for e in point.events}
    text = next(e.text for e in point.events if e.ref == "parent-sub")
    assert "Parent Co [parent]" in text and "2026-06-30" in text


def test_links_that_cannot_reach_the_arrangement_are_no_candidates(
    write_dataset: WriteDataset,
) -> None:
    engine = Engine.from_dir(_timed_dataset(write_dataset))
    cands = candidates(engine, "deal", dt.date(2025, 1, 1), dt.date(2027, 12, 31))
    assert dt.date(2026, 7, 1) in cands  # the deal's own owner
    assert all(e.ref != "far-deal" for evs in cands.values() for e in evs)


def test_a_listing_inside_the_window_is_a_candidate_with_its_entity(
    write_dataset: WriteDataset,
) -> None:
    doc = BASE_YAML.replace(
        "{id: parent, name: Parent Co, kind: company, country: CN, sources: [s1]}",
        "{id: parent, name: Parent Co, kind: company, country: CN, sources: [s1],"
        " lists: [{list: dod-1260h, since: 2026-03-02, sources: [s1]}]}",
    )
    engine = Engine.from_dir(write_dataset({"a.yaml": doc}))
    cands = candidates(engine, "deal", dt.date(2025, 1, 1), dt.date(2027, 12, 31))
    texts = [e.text for e in cands[dt.date(2026, 3, 2)] if e.kind == "list"]
    assert texts and "Parent Co [parent]" in texts[0] and "dod-1260h" in texts[0]


# --------------------------------------------------------------------------- bounds and errors


def test_a_bounded_evaluation_says_where_it_stopped(engine: Engine) -> None:
    full = timeline(engine, GOTION, START, END)
    cut = timeline(engine, GOTION, START, END, max_points=3)
    assert cut.truncated and cut.evaluated == 3 and cut.candidates == full.candidates
    assert cut.truncated_by == "max_points" and full.truncated_by is None
    days = list(candidates(engine, GOTION, START, END))
    assert cut.covered_to == days[2] - dt.timedelta(days=1)
    assert cut.intervals[-1].to == cut.covered_to
    assert all(c.date <= cut.covered_to for c in cut.changes)


def test_a_spent_time_budget_stops_after_the_first_score(engine: Engine) -> None:
    t = timeline(engine, GOTION, START, END, time_budget=0.0)
    first = next(iter(candidates(engine, GOTION, START, END)))
    assert (t.truncated, t.truncated_by, t.evaluated) == (True, "time_budget", 1)
    assert t.covered_to == first - dt.timedelta(days=1) == t.intervals[-1].to
    assert not t.changes


def test_the_walk_leaves_the_callers_graph_cache_alone() -> None:
    # a server's engine keeps its hot dates' graphs; a 500-date walk must not evict them
    from tests.conftest import DATA

    engine = Engine.from_dir(DATA)
    hot = dt.date(2026, 11, 22)
    engine.score(GOTION, hot, view=View.BASIC, remedies=False)
    before = engine.graphs.sizes()
    t = timeline(engine, GOTION, START, END)
    assert t.evaluated > 10
    assert engine.graphs.sizes() == before and engine.cached_graph(hot) is not None


def test_bad_windows_and_unknown_ids(engine: Engine) -> None:
    with pytest.raises(TimelineRangeError):
        timeline(engine, GOTION, END, START)
    with pytest.raises(NotFoundError) as e:
        timeline(engine, "no-such-deal", START, END)
    assert e.value.what == "arrangement"
    with pytest.raises(NotFoundError) as e:
        timeline(engine, GOTION, START, END, "no-such-scenario")
    assert e.value.what == "scenario"


def test_one_day_window_is_one_interval(engine: Engine) -> None:
    t = timeline(engine, GOTION, dt.date(2026, 1, 1), dt.date(2026, 1, 1))
    assert len(t.intervals) == 1 and not t.changes and t.evaluated == 1


# --------------------------------------------------------------------------- command line


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["timeline", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_json_follows_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(
        capsys,
        "--arrangement",
        GOTION,
        "--from",
        "2024-01-01",
        "--to",
        "2028-12-31",
        "--format",
        "json",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "georisk.timeline/v1"
    assert (doc["arrangement"], doc["from"], doc["to"]) == (GOTION, "2024-01-01", "2028-12-31")
    assert {"dataset_version", "pack_version", "intervals", "changes", "truncated"} <= set(doc)
    first = doc["intervals"][0]
    assert set(first) == {"from", "to", "verdicts", "bands", "credit"}
    assert "2027-10-01" in [c["date"] for c in doc["changes"]]
    change = next(c for c in doc["changes"] if c["date"] == "2027-10-01")
    assert {"what", "subject", "before", "after"} <= set(change["changed"][0])
    assert change["events"] and {"kind", "ref", "text"} <= set(change["events"][0])


def test_cli_table_fits_a_terminal_and_csv_has_one_row_per_interval(
    capsys: pytest.CaptureFixture[str],
) -> None:
    window = ["--arrangement", GOTION, "--from", "2024-01-01", "--to", "2028-12-31"]
    code, table, _ = _cli(capsys, *window)
    assert code == 0 and max(len(line) for line in table.splitlines()) <= 120
    assert "2027-10-01" in table and "ndaa-fy2024-154" in table
    code, text, _ = _cli(capsys, *window, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert code == 0 and rows[0]["from"] == "2024-01-01" and rows[-1]["to"] == "2028-12-31"
    assert rows[-1]["verdict:us-lists"] == "not_eligible" and rows[-1]["from"] == "2027-10-01"
    assert "ndaa-fy2024-154" in rows[-1]["events"]


def test_cli_table_says_where_a_bounded_timeline_stopped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, table, _ = _cli(
        capsys,
        "--arrangement",
        GOTION,
        "--from",
        "2024-01-01",
        "--to",
        "2028-12-31",
        "--max-points",
        "2",
    )
    assert code == 0
    line = next(x for x in table.splitlines() if x.startswith("TRUNCATED"))
    assert "bound on scores" in line and "not to 2028-12-31" in line


def test_cli_from_after_to_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(
        capsys, "--arrangement", GOTION, "--from", "2028-01-01", "--to", "2027-01-01"
    )
    assert code == 2 and not out and "--from" in err


def test_cli_unknown_arrangement_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "--arrangement", "no-such-deal", "--from", "2026-01-01")
    assert code == 4 and not out and "no-such-deal" in err


def test_cli_unknown_scenario_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "--arrangement", GOTION, "--scenario", "nope")
    assert code == 4 and "nope" in err


def test_a_scenarios_change_shows_on_its_own_date_not_before(engine: Engine) -> None:
    """Under the hypothetical §45X battery repeal (from 2027-01-01), Ford Marshall keeps the
    credit until 2026-12-31 and loses it on 2027-01-01, the scenario named as the cause; the
    timeline never shows a future change as already in force (it did: not_eligible from the
    window's first day)."""
    t = timeline(engine, "ford-marshall", dt.date(2025, 1, 1), END, "repeal-45x-batteries")
    before = next(p for p in t.intervals if p.from_ <= dt.date(2026, 12, 31) <= p.to)
    after = next(p for p in t.intervals if p.from_ <= dt.date(2027, 1, 1) <= p.to)
    assert before.verdicts["us-45x"] == "eligible" and after.verdicts["us-45x"] == "not_eligible"
    change = next(c for c in t.changes if c.date == dt.date(2027, 1, 1))
    assert any(e.kind == "scenario" and e.ref == "repeal-45x-batteries" for e in change.events)
