"""The dataset loader: formats, merging, and refusal of bad datasets with located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from georisk.scoring.dataset import DatasetError, load_dataset
from georisk.scoring.model import LinkKind, ShareRange
from tests.conftest import BASE_YAML, WriteDataset


def issues_of(path: Path) -> list[str]:
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    return [str(i) for i in info.value.issues]


def test_yaml_dataset_loads_with_version(write_dataset: WriteDataset) -> None:
    ds = load_dataset(write_dataset({"base.yaml": BASE_YAML}))
    assert set(ds.entities) == {"gov-cn", "parent", "us-sub", "plant"}
    assert ds.links["parent-sub"].kind is LinkKind.EQUITY
    assert ds.arrangements["deal"].capacity is not None
    assert ds.version.startswith("sha256:")
    assert ds.origin[("link", "parent-sub")].startswith("base.yaml: links[0] line ")


def test_jsonl_lines_end_at_newlines_only(write_dataset: WriteDataset) -> None:
    """A JSON Lines record ends at "\\n" (or "\\r\\n"), as the format says: a name may hold
    NEL, LINE SEPARATOR or PARAGRAPH SEPARATOR as they are (valid JSON, written so by tools with
    ``ensure_ascii=False``), and the lines after it keep their numbers. (``str.splitlines``
    broke such a line in two and refused the file.)"""
    odd = "North\x85Star\u2028Holdings\u2029Ltd"
    rec = {"record": "entity", "id": "odd", "name": odd, "kind": "company", "country": "CN"}
    bad = {"record": "entity", "id": "bad", "name": "Bad", "kind": "spaceship", "country": "CN"}
    text = json.dumps(rec, ensure_ascii=False) + "\r\n" + json.dumps(bad) + "\n"
    d = write_dataset({"a.yaml": BASE_YAML, "b.jsonl": text})
    assert (
        [i for i in issues_of(d) if "b.jsonl" in i]
        == [i for i in issues_of(d) if i.startswith("b.jsonl: line 2 (id=bad): kind:")]
        != []
    )
    (d / "b.jsonl").write_text(json.dumps(rec, ensure_ascii=False) + "\n")
    assert load_dataset(d).entities["odd"].name == odd


def test_version_changes_with_content(write_dataset: WriteDataset) -> None:
    d = write_dataset({"base.yaml": BASE_YAML})
    v1 = load_dataset(d).version
    (d / "base.yaml").write_text(BASE_YAML.replace("share: 0.6", "share: 0.61"))
    assert load_dataset(d).version != v1


def test_bulk_csv_and_jsonl_merge_with_yaml(write_dataset: WriteDataset) -> None:
    d = write_dataset(
        {
            "base.yaml": BASE_YAML,
            "extra.entities.csv": (
                "id,name,kind,country,sources,lists\n"
                "holder,Holder Ltd,company,HK,s1,dod-1260h@2025-01-07@s1\n"
                "person,Jane Doe,person,CN,s1,\n"
            ),
            "extra.links.csv": (
                "id,kind,source,target,share,share_min,share_max,sources,status\n"
                "h-sub,equity,holder,us-sub,,0.1,0.2,s1,reported\n"
                "p-h,equity,person,holder,0.9,,,s1;s1,confirmed\n"
            ),
            "more.jsonl": json.dumps(
                {
                    "record": "link",
                    "id": "lic",
                    "kind": "licence",
                    "source": "parent",
                    "target": "us-sub",
                    "sources": ["s1"],
                    "licence": {"chemistry": "LFP", "signed": "2023-02-13"},
                }
            )
            + "\n",
        }
    )
    ds = load_dataset(d)
    assert ds.entities["holder"].listed_on("dod-1260h", __import__("datetime").date(2025, 6, 1))
    share = ds.links["h-sub"].share
    assert isinstance(share, ShareRange) and (share.minimum, share.maximum) == (0.1, 0.2)
    assert ds.links["lic"].licence is not None and ds.links["lic"].licence.chemistry == "LFP"
    assert ds.links["p-h"].share == 0.9


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (  # unknown reference
            {
                "a.yaml": BASE_YAML.replace(
                    "target: us-sub, share: 0.6", "target: nobody, share: 0.6"
                )
            },
            "a.yaml: links[0] line 10 (id=parent-sub): target: unknown entity 'nobody'",
        ),
        (  # share outside [0, 1]
            {"a.yaml": BASE_YAML.replace("share: 0.6", "share: 1.6")},
            "(id=parent-sub): share: Input should be less than or equal to 1",
        ),
        (  # equity above 100% into one entity
            {
                "a.yaml": BASE_YAML,
                "b.links.csv": "id,kind,source,target,share,sources\n"
                "gov-sub,equity,gov-cn,us-sub,0.5,s1\n",
            },
            "equity held in 'us-sub' adds up to 110.00% (> 100%)",
        ),
        (  # end before start
            {
                "a.yaml": BASE_YAML.replace(
                    "share: 0.6,", "share: 0.6, valid_from: 2025-01-01, valid_to: 2024-01-01,"
                )
            },
            "valid_to 2024-01-01 is before valid_from 2025-01-01",
        ),
        (  # duplicate ids across files
            {
                "a.yaml": BASE_YAML,
                "b.jsonl": json.dumps(
                    {
                        "record": "entity",
                        "id": "parent",
                        "name": "Again",
                        "kind": "company",
                        "country": "US",
                    }
                )
                + "\n",
            },
            "b.jsonl: line 1 (id=parent): id: duplicate entity id 'parent' (first defined in "
            "a.yaml: entities[1] line 6 (id=parent))",
        ),
        (  # unknown kind
            {"a.yaml": BASE_YAML.replace("kind: facility", "kind: spaceship")},
            "(id=plant): kind: Input should be 'company', 'government'",
        ),
        (  # unparsable YAML
            {"a.yaml": BASE_YAML + "\n  - {broken: [\n"},
            "a.yaml: unparsable YAML",
        ),
        (  # unparsable JSONL line
            {"a.yaml": BASE_YAML, "b.jsonl": '{"record": "entity", \n'},
            "b.jsonl: line 1: unparsable JSON",
        ),
        (  # unknown ISO country
            {"a.yaml": BASE_YAML.replace("country: CN, sources", "country: XX, sources")},
            "country: 'XX' is not an ISO 3166-1 alpha-2 country code",
        ),
        (  # CSV named without a kind
            {"a.yaml": BASE_YAML, "stuff.csv": "id\nx\n"},
            "stuff.csv: CSV files must be named NAME.sources.csv",
        ),
        (  # CSV row naming the field
            {
                "a.yaml": BASE_YAML,
                "b.links.csv": "id,kind,source,target,share,sources\n"
                "x1,equity,gov-cn,plant,abc,s1\n",
            },
            "b.links.csv: row 2 (id=x1): share",
        ),
        (  # unknown top-level key
            {"a.yaml": BASE_YAML + "\nwidgets: []\n"},
            "a.yaml: widgets: unknown key",
        ),
        (  # missing source on a link
            {
                "a.yaml": BASE_YAML.replace(
                    "share: 0.6, sources: [s1]", "share: 0.6, sources: [nope]"
                )
            },
            "sources: unknown source 'nope'",
        ),
    ],
)
def test_bad_dataset_is_refused_with_located_error(
    write_dataset: WriteDataset, files: dict[str, str], expected: str
) -> None:
    messages = issues_of(write_dataset(files))
    assert any(expected in m for m in messages), messages


def test_all_problems_reported_together(write_dataset: WriteDataset) -> None:
    bad = BASE_YAML.replace("share: 0.6", "share: 1.6").replace("kind: facility", "kind: rocket")
    messages = issues_of(write_dataset({"a.yaml": bad}))
    assert len(messages) >= 2


def test_not_a_directory_and_empty(tmp_path: Path) -> None:
    assert "not a directory" in issues_of(tmp_path / "missing")[0]
    assert "no *.yaml" in issues_of(tmp_path)[0]


def test_subdirectories_and_readme_are_not_records(write_dataset: WriteDataset) -> None:
    d = write_dataset({"base.yaml": BASE_YAML, "README.md": "# not data"})
    (d / "policies").mkdir()
    (d / "policies" / "us.yaml").write_text("not: records\n")
    assert len(load_dataset(d).entities) == 4


def test_equity_over_100_only_counted_for_overlapping_dates(write_dataset: WriteDataset) -> None:
    first = BASE_YAML.replace("share: 0.6, sources", "share: 0.6, valid_to: 2024-12-31, sources")
    later = (
        "links:\n"
        "  - {id: gov-sub, kind: equity, source: gov-cn, target: us-sub, share: 0.7,\n"
        "     valid_from: 2025-01-01, sources: [s1]}\n"
    )
    # the second stake starts after the first ends: 60% then 70%, never 130%
    ds = load_dataset(write_dataset({"a.yaml": first, "b.yaml": later}))
    assert {"parent-sub", "gov-sub"} <= set(ds.links)
    overlapping = later.replace("valid_from: 2025-01-01", "valid_from: 2024-06-01")
    messages = issues_of(write_dataset({"a.yaml": first, "b.yaml": overlapping}))
    assert any("adds up to 130.00%" in m and "2024-06-01" in m for m in messages), messages
