"""The ``control`` link kind: control recorded without a share (accounting consolidation from
GLEIF Level 2, other influence or control from BODS). It is shown beside the holders and never
enters the share arithmetic."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from georisk.scoring.dataset import DatasetError, load_dataset
from georisk.scoring.engine import Engine
from georisk.scoring.model import Link, LinkKind

ON = dt.date(2026, 11, 22)

YAML = """\
sources:
  - {id: s1, title: GLEIF Level 2 relationship record (test), url: "https://www.gleif.org/"}
entities:
  - {id: parent-cn, name: Parent Holdings, kind: company, country: CN, sources: [s1],
     lists: [{list: dod-1260h, since: "2024-01-31", sources: [s1]}]}
  - {id: sub-us, name: Sub Inc, kind: company, country: US, sources: [s1]}
  - {id: fund-us, name: Fund LP, kind: fund, country: US, sources: [s1]}
links:
  - {id: fund-owns-sub, kind: equity, source: fund-us, target: sub-us, share: 1.0, sources: [s1]}
"""

CONTROL_CSV = """\
id,kind,source,target,role,valid_from,sources,note
parent-consolidates-sub,control,parent-cn,sub-us,direct_consolidation,2020-01-01,s1,GLEIF RR
"""


def _dataset(tmp_path: Path, links_csv: str = CONTROL_CSV) -> Path:
    d = tmp_path / "ds"
    d.mkdir()
    (d / "base.yaml").write_text(YAML)
    (d / "gleif.links.csv").write_text(links_csv)
    return d


def test_a_control_link_takes_no_share_and_only_its_own_roles() -> None:
    with pytest.raises(ValidationError, match="a control link carries no share"):
        Link(id="x", kind=LinkKind.CONTROL, source="a", target="b", share=0.5, sources=["s"])
    with pytest.raises(ValidationError, match="role of a control link must be one of"):
        Link(id="x", kind=LinkKind.CONTROL, source="a", target="b", role="board", sources=["s"])
    with pytest.raises(ValidationError, match="role belongs on a link of kind"):
        Link(
            id="x",
            kind=LinkKind.EQUITY,
            source="a",
            target="b",
            share=0.1,
            role="influence",
            sources=["s"],
        )


def test_a_control_row_with_a_share_is_refused_naming_the_file_and_row(tmp_path: Path) -> None:
    bad = CONTROL_CSV.replace("id,kind", "share,id,kind").replace(
        "\nparent-consolidates", "\n0.6,parent-consolidates"
    )
    with pytest.raises(DatasetError) as exc:
        load_dataset(_dataset(tmp_path, bad))
    text = str(exc.value)
    assert "gleif.links.csv" in text and "row 2" in text and "carries no share" in text


def test_a_consolidating_parent_is_shown_but_never_counted_as_a_holder(tmp_path: Path) -> None:
    """Sub Inc is wholly owned by a US fund and consolidated by a listed Chinese parent: the
    share tests see only the fund (the consolidation has no share), and the report shows the
    parent beside the holders, says it is an SFE and why, so the analyst can chase the equity."""
    eng = Engine.from_dir(_dataset(tmp_path))
    rep = eng.ownership("sub-us", ON)
    assert [h.holder for h in rep.direct_holders] == ["fund-us"]
    assert [(o.holder, o.role, o.link) for o in rep.other_control] == [
        ("parent-cn", "direct_consolidation", "parent-consolidates-sub")
    ]
    assert rep.covered_nation_exposure.share.max == 0.0
    assert rep.foreign_influenced_entity.sfe_holders == []
    assert "parent-cn" in rep.sfe_basis and "1260h" in rep.sfe_basis["parent-cn"].lower()
    from georisk.scoring.control.report import render_ownership_table

    table = render_ownership_table(rep)
    assert "Other control (recorded without a share" in table
    assert "direct consolidation   Parent Holdings [parent-cn], CN" in table
    assert "an SFE:" in table


def test_the_control_link_reaches_the_wire(tmp_path: Path) -> None:
    from server.convert import ownership_to_proto

    rep = Engine.from_dir(_dataset(tmp_path)).ownership("sub-us", ON)
    msg = ownership_to_proto(rep)
    assert [(o.holder, o.role, o.country) for o in msg.other_control] == [
        ("parent-cn", "direct_consolidation", "CN")
    ]


def test_a_control_link_is_described_in_words(tmp_path: Path) -> None:
    from georisk.scoring.engine import describe_link

    ds = load_dataset(_dataset(tmp_path))
    text = describe_link(ds, ds.links["parent-consolidates-sub"])
    assert text == (
        "Parent Holdings [parent-cn] consolidates the accounts of Sub Inc [sub-us] "
        "(link parent-consolidates-sub)"
    )
