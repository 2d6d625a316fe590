"""What-if overlays: applied in memory, validated whole, never touching the dataset."""

from __future__ import annotations

import pytest

from georisk.scoring.dataset import DatasetError, load_dataset
from georisk.scoring.overlay import Overlay, apply_overlay
from tests.conftest import DATA


def test_overlay_changes_adds_and_removes() -> None:
    ds = load_dataset(DATA)
    ov = Overlay.model_validate(
        {
            "arrangement": "tesla-nevada-lfp",
            "add": {
                "entities": [
                    {
                        "id": "acme",
                        "name": "Acme",
                        "kind": "company",
                        "country": "CN",
                        "sources": ["a14"],
                    }
                ],
                "links": [
                    {
                        "id": "acme-tesla-debt",
                        "kind": "debt",
                        "source": "acme",
                        "target": "tesla",
                        "share": 0.2,
                        "sources": ["a14"],
                    }
                ],
            },
            "remove": {"links": ["catl-licence-tesla"]},
            "change": {"links": [{"id": "catl-services-tesla", "status": "confirmed"}]},
        }
    )
    out = apply_overlay(ds, ov)
    assert "acme" in out.entities and "catl-licence-tesla" not in out.links
    assert out.links["catl-services-tesla"].status.value == "confirmed"
    assert out.version.startswith(ds.version + "+overlay:")
    assert "catl-licence-tesla" in ds.links  # the base dataset is untouched


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ({"arrangement": "x", "remove": {"links": ["nope"]}}, "no link 'nope' to remove"),
        (
            {"arrangement": "x", "change": {"links": [{"id": "catl-licence-tesla", "share": 2}]}},
            "less than or equal to 1",
        ),
        (
            {
                "arrangement": "x",
                "add": {
                    "links": [
                        {
                            "id": "l",
                            "kind": "equity",
                            "source": "catl",
                            "target": "ghost",
                            "share": 0.1,
                            "sources": ["a1"],
                        }
                    ]
                },
            },
            "unknown entity 'ghost'",
        ),
        (
            {
                "arrangement": "x",
                "add": {
                    "links": [
                        {
                            "id": "l",
                            "kind": "equity",
                            "source": "catl",
                            "target": "gotion-inc",
                            "share": 0.5,
                            "sources": ["a1"],
                        }
                    ]
                },
            },
            "adds up to 150.00%",
        ),
    ],
)
def test_bad_overlay_is_refused(overlay: dict[str, object], message: str) -> None:
    ds = load_dataset(DATA)
    with pytest.raises(DatasetError) as info:
        apply_overlay(ds, Overlay.model_validate(overlay))
    assert any(message in str(i) for i in info.value.issues), info.value.issues


def test_removing_an_entity_removes_its_links() -> None:
    ds = load_dataset(DATA)
    out = apply_overlay(
        ds, Overlay.model_validate({"arrangement": "x", "remove": {"entities": ["li-zhen"]}})
    )
    assert all("li-zhen" not in (l.source, l.target) for l in out.links.values())
