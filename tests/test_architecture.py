"""The house rules of DESIGN.md §3, read from the source: each layer imports only what its row of the
table allows, each area of domain/ imports only the plumbing and the areas above it, and no module
takes part in an import circle (lazy imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("domain", "resolvers", "schema", "integrations")

# DESIGN.md §3, top to bottom: an area may import the plumbing and the areas above it.
AREAS = ("brands", "ledger", "members", "cards", "coupons", "sales", "payments", "marketing", "bookings", "notifications", "reports")
# Modules that assemble the areas (every table for Alembic, every invariant, the demo seed): they may
# import any area, and no area may import them.
COMPOSITION = {"domain.models", "domain.invariants", "domain.demo"}

# What each layer may import beyond the standard library and its own layer.
ALLOWED_LAYERS = {"domain": set(), "resolvers": {"domain"}, "schema": {"domain", "resolvers"}, "integrations": {"domain"}}
# The ASGI app is the one place where the GraphQL endpoints (schema) and the routes the payment
# platforms call (integrations) are mounted side by side.
APP_ASSEMBLY = {"schema.app"}
# Third-party packages the domain must never know (DESIGN.md §3: "never Strawberry, Starlette or an SDK").
FORBIDDEN_IN_DOMAIN = {"strawberry", "starlette", "uvicorn", "httpx", "wechatpy", "wechatpayv3", "alipay", "graphql"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """Every module this file imports, anywhere in it, resolved to our own modules where it names one."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from domain.cards import stored_value` imports a module, not a name
            found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known)
    return found


def area_of(module: str) -> str | None:
    """The area of a domain module, 'plumbing' for the modules at the top of domain/."""
    parts = module.split(".")
    if parts[0] != "domain" or module in COMPOSITION or len(parts) == 1:
        return None
    return parts[1] if parts[1] in AREAS else "plumbing"


def rank(area: str) -> int:
    return -1 if area == "plumbing" else AREAS.index(area)


GRAPH = {name: imports_of(path, modules()) for name, path in modules().items()}


def test_every_domain_module_is_in_an_area_or_the_plumbing():
    for name, path in modules().items():
        parts = name.split(".")
        if parts[0] == "domain" and len(parts) > 2:
            assert parts[1] in AREAS, f"{path}: domain/{parts[1]}/ is not an area of DESIGN.md §3"


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_import_only_what_the_table_allows(layer):
    wrong = []
    for name, imported in GRAPH.items():
        if name.split(".")[0] != layer:
            continue
        for target in imported:
            top = target.split(".")[0]
            if top in LAYERS and top != layer and top not in ALLOWED_LAYERS[layer] and name not in APP_ASSEMBLY:
                wrong.append(f"{name} imports {target}")
            if layer == "domain" and top in FORBIDDEN_IN_DOMAIN:
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_areas_import_only_upward():
    wrong = []
    for name, imported in GRAPH.items():
        mine = area_of(name)
        if mine is None:
            continue
        for target in imported:
            if target in COMPOSITION:
                wrong.append(f"{name} imports the composition module {target}")
                continue
            theirs = area_of(target)
            if theirs is not None and rank(theirs) > rank(mine):
                wrong.append(f"{name} ({mine}) imports {target} ({theirs}), which is below it")
    assert wrong == []


def test_no_import_circles():
    ours = {name: {t for t in imported if t in GRAPH and t != name} for name, imported in GRAPH.items()}
    # a package's __init__ is imported with every module in it; ours are empty, so they are left out
    circles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(ours[node]):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(ours):
        if node not in state:
            visit(node)
    assert circles == []


def test_the_rules_catch_a_downward_import():
    """The checks above must be able to fail: a brands module importing cards is refused."""
    assert rank(area_of("domain.brands.stores")) < rank(area_of("domain.cards.stored_value"))
    assert area_of("domain.audit") == "plumbing" and area_of("domain.models") is None
