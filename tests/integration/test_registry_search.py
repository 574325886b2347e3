"""Searching the national registry from a box's search page, between real processes: the
registry lists only the records the asking user's role may read, by its own register of
users and the country configuration; a user it does not know sees nothing from it."""

from __future__ import annotations

from pathlib import Path

import httpx

from edge.commands.init import DEMO_PASSWORD
from tests.helpers import Registry, edge_cli, running_box
from tests.integration.test_sync import declare, national_registrar
from tests.integration.test_sync_pull import new_box


def registry_part(client: httpx.Client, text: str) -> str:
    """The page's "In the national registry" section."""
    page = client.get("/search", params={"q": text})
    assert page.status_code == 200, page.text
    return page.text.split("In the national registry", 1)[1]


def test_the_registry_search_shows_only_what_the_asking_user_may_read(
    tmp_path: Path, registry: Registry
) -> None:
    # The registry holds a record of office-1 made on another box of the office, and one of
    # office-2.
    for name, office, child in (("other", "office-1", "Yara"), ("far", "office-2", "Zaid")):
        home = tmp_path / name
        edge_cli(home, "init", "--demo", "--office-id", office)
        edge_cli(home, "enroll", registry.url, registry.token(office))
        with running_box(home) as b:
            declare(b.client("clerk"), child)
        edge_cli(home, "sync")
    # It knows the office's registrar; the box learns of them at its pull.
    assert national_registrar(registry, "national password 1").status_code == 201
    home = new_box(tmp_path, registry, "box")
    edge_cli(home, "sync")
    with running_box(home) as box:
        registrar = box.client("registrar", password="national password 1")
        assert "Yara" in registry_part(registrar, "Yara")  # their office's, from the registry
        assert "Zaid" not in registry_part(registrar, "Zaid")  # another office's
        # The local admin has no record scope at all; the clerk is unknown to the registry.
        for user in ("admin", "clerk"):
            someone = box.client(user, password=DEMO_PASSWORD)
            for text in ("Yara", "Zaid"):
                part = registry_part(someone, text)
                assert text not in part and "No records in the registry match" in part
