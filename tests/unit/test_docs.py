"""Docs that could drift from the code are checked against it."""

from __future__ import annotations

import msgspec

from edge.workflow import config
from tests.helpers import ROOT


def test_country_config_reference_covers_every_key() -> None:
    doc = (ROOT / "docs" / "country-config.md").read_text()
    structs = [getattr(config, name) for name in dir(config)]
    for struct in structs:
        if (
            isinstance(struct, type)
            and issubclass(struct, msgspec.Struct)
            and struct.__module__ == config.__name__
        ):
            for field in struct.__struct_fields__:
                assert f"`{field}`" in doc, (
                    f"docs/country-config.md misses `{field}` of {struct.__name__}"
                )


def test_readme_has_exactly_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
