"""The folder tree is the architecture: each package imports only the packages below it
(docs/design-notes.md draws the map). A new import across the layers fails here, naming the
module and what it imported; so does a module grown past one concept's size."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

# The box's base: modules every layer may use.
BASE = {
    "edge",  # the package itself: __version__
    "edge.errors",
    "edge.texts",
    "edge.ids",
    "edge.clock",
    "edge.logs",
    "edge.notify",
    "edge.runlock",
    "edge.identity",
    "edge.keys",
    "edge.latency",
    "edge.saves_first",
    "edge.limits",
    "edge.serving",
    "edge.settings",
    "edge.upstream",
    "edge.pairing",
    "edge.watch",
}
BOX_CORE = BASE | {"edge.workflow", "edge.journal", "edge.users"}
# package -> the packages (or modules) it may import, besides itself.
ALLOWED: dict[str, set[str]] = {
    **{m: BASE for m in BASE},
    "edge.workflow": BASE,
    "edge.journal": BASE | {"edge.workflow"},
    "edge.users": BASE | {"edge.workflow", "edge.journal"},
    "edge.auth": BOX_CORE,
    "edge.state": BOX_CORE | {"edge.auth"},
    "edge.mdns": BOX_CORE,
    "edge.pairing": BASE,
    # The API and the pages: side by side, never importing each other.
    "edge.http": BOX_CORE | {"edge.auth", "edge.state"},
    "edge.web": BOX_CORE | {"edge.auth", "edge.state"},
    # The composition root and the entry points sit on top of everything.
    "edge.handlers": BOX_CORE | {"edge.http", "edge.web", "edge.auth", "edge.state"},
    "edge.app": {"*"},
    "edge.cli": {"*"},
    "edge.commands": {"*"},
    "edge.__main__": {"*"},
    # The box's sync side: the box's core, never its web layers.
    "upstream_sync": BOX_CORE | {"edge.auth"},
    # The reference registry: a separate program sharing only the journal's and the
    # workflow's pure parts with the box.
    "upstream_sync.registry": {
        "upstream_sync.protocol",
        "edge",
        "edge.clock",
        "edge.ids",
        "edge.logs",
        "edge.serving",
        "edge.identity",
        "edge.texts",
        "edge.errors",
        "edge.journal.chain",
        "edge.journal.records",
        "edge.journal.db",
        "edge.workflow.fold",
        "edge.workflow.model",
        "edge.workflow.config",
        "edge.users.passwords",
        "edge.keys.recovery",
    },
    # The fleet tool speaks the box's pairing, finds boxes by the box's mDNS service and
    # checks a backup with the box's own verifier before trusting it.
    "provisioning": {"edge.pairing", "edge.ids", "edge.mdns", "edge.journal.verify"},
}
PACKAGES = ("edge", "upstream_sync", "provisioning")
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def layer(module: str) -> str:
    """The layer a module belongs to: its package, or itself for a top-level module."""
    parts = module.split(".")
    if parts[0] == "upstream_sync" and len(parts) > 1 and parts[1] == "registry":
        return "upstream_sync.registry"
    if parts[0] in ("upstream_sync", "provisioning"):
        return parts[0]
    return ".".join(parts[:2])


def imports(path: Path) -> set[str]:
    """Every module imported, at the top or inside a function (type-only imports included:
    they are a dependency too). `from pkg import module` counts as the module only."""
    known = modules()
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = {f"{node.module}.{a.name}" for a in node.names}
            found.update(names)
            if not names <= set(known):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def allowed(target: str, rules: set[str]) -> bool:
    """A rule names a package (and so its modules) or a module; a top-level package name
    means only its `__init__` (`edge` for `__version__`)."""
    if "*" in rules:
        return True
    return any(target == r or (r not in PACKAGES and target.startswith(r + ".")) for r in rules)


def test_every_package_imports_only_downward() -> None:
    known = modules()
    violations = []
    for name, path in sorted(known.items()):
        here = layer(name)
        assert here in ALLOWED, f"{name}: its layer {here} has no rule in test_layers.ALLOWED"
        for target in sorted(imports(path)):
            if target not in known:  # `from edge.x import name` also lists edge.x.name
                continue
            if layer(target) == here or allowed(target, ALLOWED[here]):
                continue
            violations.append(f"{name} imports {target}")
    assert violations == [], "imports against the layers:\n" + "\n".join(violations)


def test_the_api_and_the_pages_do_not_import_each_other() -> None:
    for name, path in modules().items():
        if layer(name) in ("edge.http", "edge.web"):
            other = "edge.web" if layer(name) == "edge.http" else "edge.http"
            assert not any(t.startswith(other) for t in imports(path)), name


def test_no_module_holds_more_than_one_concept() -> None:
    big = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert big == {}, f"modules over {MAX_LINES} lines (split them by concept): {big}"


def test_no_bare_assert_is_a_runtime_check() -> None:
    found = [
        f"{name}:{node.lineno}"
        for name, path in modules().items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert found == [], f"assert vanishes under python -O; raise an error instead: {found}"
