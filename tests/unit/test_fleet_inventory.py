"""The inventory: written and read back the same, errors that name the entry and the key,
names made from offices, and every key documented for the officer."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from provisioning import inventory
from provisioning.errors import InventoryError
from provisioning.inventory import Box, Fleet
from tests.helpers import ROOT


def test_the_inventory_is_read_back_as_written(tmp_path: Path) -> None:
    fleet = Fleet(release="0.2.0", parallel=4, settings={"timezone": "Asia/Hebron"})
    fleet.boxes["ramallah"] = Box(
        "ramallah", "0191-aa", "10.0.0.12", office_id="office-7", enrolled=True,
        settings={"office_name": 'Ramallah "North" Clinic', "port": 8081},
    )  # fmt: skip
    path = tmp_path / "inventory.toml"
    inventory.save(path, fleet)
    again = inventory.load(path)
    assert again == fleet
    assert again.settings_of(again.boxes["ramallah"])["timezone"] == "Asia/Hebron"
    assert again.by_id("0191-aa") is again.boxes["ramallah"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[fleet]\nparalel = 3\n", "[fleet]: unknown key `paralel`"),
        ("[fleet]\nparallel = 'many'\n", "`parallel` must be a whole number"),
        ("[boxes.Ramallah]\nbox_id = 'x'\naddress = 'y'\n", "a box name is lowercase"),
        ("[boxes.r]\naddress = 'y'\n", "[boxes.r]: `box_id` is missing"),
        ("[boxes.r]\nbox_id = 'x'\naddress = 'y'\ntrust = 'tofu'\n", "`trust` is `pin` or `ca`"),
        ("[extras]\n", "unknown table [extras]"),
        ("[fleet\n", "not valid TOML"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    with pytest.raises(InventoryError) as caught:
        inventory.load(path)
    assert says in caught.value.detail and str(path) in caught.value.detail


def test_names_are_made_from_offices_and_never_clash() -> None:
    fleet = Fleet()
    assert inventory.name_for("Ramallah Clinic", fleet) == "ramallah-clinic"
    fleet.boxes["ramallah-clinic"] = Box("ramallah-clinic", "x", "y")
    assert inventory.name_for("Ramallah Clinic!", fleet) == "ramallah-clinic-2"
    with pytest.raises(InventoryError, match="no box named jenin"):
        fleet.select(["jenin"])


def test_every_inventory_key_is_documented() -> None:
    doc = (ROOT / "docs" / "provisioning.md").read_text()
    for cls in (Fleet, Box):
        for f in fields(cls):
            if f.name not in ("name", "boxes", "settings"):
                assert f"`{f.name}`" in doc, f"docs/provisioning.md misses `{f.name}`"
