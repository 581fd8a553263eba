"""The package's layers, checked against the map in docs/architecture.md.

The doc is the one place the layer of each module is declared: this test parses its tables
(the module map, the I/O libraries, the known exceptions) instead of keeping a copy, so the doc
and the check cannot drift apart. Each module's imports are read with `ast`, without importing
it, so the check needs nothing installed and sees imports inside functions too.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "otterstack_hooks"
PACKAGE_DIR = ROOT / PACKAGE
DOC = ROOT / "docs" / "architecture.md"
DOC_NAME = "docs/architecture.md"
LAYERS = {"pure", "usecase", "io"}
# what each layer may import from the package (a use case also the io modules of its table)
MAY_IMPORT = {"pure": {"pure"}, "usecase": {"pure", "usecase"}, "io": {"pure", "usecase", "io"}}
# libraries that reach an outside system: a use case reaches them only through its ports
OUTSIDE = ("docker", "requests", "git", "sqlite3", "portalocker", "subprocess", "socket", "ssl",
           "http", "urllib.request", "urllib.error")


@dataclass(frozen=True)
class Import:
    """One import statement's target: a module of the package (`internal`) or a library
    (`dotted`, e.g. "urllib.parse.urlsplit"), with the names taken from it."""

    lineno: int
    source: str
    internal: str | None
    dotted: str
    names: frozenset[str]


@dataclass(frozen=True)
class LayerMap:
    layers: dict[str, str]  # module -> layer
    io_libraries: dict[str, bool]  # dotted prefix -> does I/O
    exceptions: dict[tuple[str, str], frozenset[str]]  # (pure module, io module) -> names
    usecase_may_use: frozenset[str] = frozenset()  # io modules a use case may import


def section(text: str, title: str) -> str:
    """The body of the Markdown section headed `title` (any level), up to the next heading of
    the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(title)}\s*$", text, re.M)
    assert match, f"{DOC_NAME} has no section '{title}'"
    level = len(match.group(1))
    rest = text[match.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[:end.start()] if end else rest


def table(text: str, title: str, may_be_empty: bool = False) -> list[list[str]]:
    """The rows (cells stripped of spaces and backticks) of the first table in a section."""
    rows = []
    for line in section(text, title).splitlines():
        line = line.strip()
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip().strip("`").strip() for cell in line.strip("|").split("|")]
        rows.append(cells)
    assert len(rows) > (1 if may_be_empty else 2), f"{DOC_NAME}: no table under '{title}'"
    return rows[2:]  # without the header and the |---| line


def parse_map(text: str) -> LayerMap:
    layers: dict[str, str] = {}
    problems = []
    for module, layer, *_ in table(text, "Module map"):
        if layer not in LAYERS:
            problems.append(f"`{module}` has layer '{layer}'; use one of {sorted(LAYERS)}")
        if module in layers:
            problems.append(f"`{module}` has two rows")
        layers[module] = layer
    assert not problems, f"{DOC_NAME}, section 'Module map':\n" + "\n".join(problems)
    io_libraries = {name: does.lower() == "yes" for name, does, *_ in
                    table(text, "I/O libraries")}
    listed = table(text, "Known exceptions", may_be_empty=True)
    exceptions = {(module, target): frozenset(n.strip(" `") for n in names.split(","))
                  for module, target, names, *_ in listed}
    usecase_may_use = frozenset(row[0] for row in table(text, "What a use case may use"))
    return LayerMap(layers, io_libraries, exceptions, usecase_may_use)


def imports_of(source: str) -> list[Import]:
    """Every import in a module of the package, wherever it is in the file."""
    found = []
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        text = lines[node.lineno - 1].strip() if isinstance(node, ast.stmt) else ""
        if isinstance(node, ast.Import):
            for alias in node.names:
                internal = alias.name.removeprefix(PACKAGE + ".").split(".")[0] \
                    if alias.name.startswith(PACKAGE + ".") else None
                found.append(Import(node.lineno, text, internal, alias.name, frozenset()))
        elif isinstance(node, ast.ImportFrom):
            names = frozenset(alias.name for alias in node.names)
            module = node.module or ""
            if node.level or module == PACKAGE or module.startswith(PACKAGE + "."):
                inside = module.removeprefix(PACKAGE).lstrip(".") if not node.level else module
                if inside:  # from .traefik import TraefikInfo
                    found.append(Import(node.lineno, text, inside.split(".")[0], inside, names))
                else:  # from . import engine, traefik as traefik_io
                    found += [Import(node.lineno, text, name, name, frozenset()) for name in names]
            else:
                found += [Import(node.lineno, text, None, f"{module}.{name}", names)
                          for name in names]
    return sorted(found, key=lambda imp: imp.lineno)


def does_io(dotted: str, io_libraries: dict[str, bool]) -> bool:
    """Whether a library import does I/O: its longest listed prefix decides."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in io_libraries:
            return io_libraries[prefix]
    return False


def violations(sources: dict[str, str], layer_map: LayerMap) -> tuple[list[str], set]:
    """What breaks the rules in `sources` (module -> source), and the known exceptions used."""
    problems: list[str] = []
    used: set[tuple[str, str]] = set()
    for module, source in sorted(sources.items()):
        layer = layer_map.layers.get(module)
        if layer is None:
            continue  # reported by test_every_module_is_in_the_map
        for imp in imports_of(source):
            where = f"{PACKAGE}/{module}.py:{imp.lineno}: `{imp.source}`"
            if imp.internal is not None:
                target = layer_map.layers.get(imp.internal)
                if target is None or target in MAY_IMPORT[layer]:
                    continue
                if layer == "usecase" and imp.internal in layer_map.usecase_may_use:
                    continue
                known = layer_map.exceptions.get((module, imp.internal))
                if known is not None and imp.names and imp.names <= known:
                    used.add((module, imp.internal))
                    continue
                problems.append(
                    f"{where}\n    `{module}` is {layer} but `{imp.internal}` is {target}. A "
                    f"{layer} module may import only {' or '.join(sorted(MAY_IMPORT[layer]))} "
                    f"modules: move what it needs from `{imp.internal}` into a pure module, "
                    f"or pass it in as a value (see '## Layers' in {DOC_NAME}).")
            elif layer == "pure" and does_io(imp.dotted, layer_map.io_libraries):
                problems.append(
                    f"{where}\n    `{module}` is pure but `{imp.dotted}` does I/O (table 'I/O "
                    f"libraries' in {DOC_NAME}). Do the I/O in an io module and pass the "
                    f"result in, or, if `{module}` must do I/O, make it `io` in the module map.")
            elif layer == "usecase" and imp.internal is None and any(
                    imp.dotted == lib or imp.dotted.startswith(lib + ".") for lib in OUTSIDE):
                problems.append(
                    f"{where}\n    `{module}` is a use case but `{imp.dotted}` reaches an "
                    f"outside system: do it behind a port (ports.py) in an adapter.")
    return problems, used


def package_sources() -> dict[str, str]:
    return {path.stem: path.read_text() for path in sorted(PACKAGE_DIR.glob("*.py"))}


@pytest.fixture(scope="module")
def layer_map() -> LayerMap:
    return parse_map(DOC.read_text())


@pytest.fixture(scope="module")
def checked(layer_map: LayerMap) -> tuple[list[str], set]:
    return violations(package_sources(), layer_map)


def suggested_layer(source: str, layer_map: LayerMap) -> str:
    """The layer a new module's imports allow: pure if nothing it imports does I/O."""
    for imp in imports_of(source):
        if imp.internal is not None and layer_map.layers.get(imp.internal, "pure") != "pure":
            return f"io (it imports `{imp.internal}`, which is io)"
        if imp.internal is None and does_io(imp.dotted, layer_map.io_libraries):
            return f"io (it imports `{imp.dotted}`)"
    return "pure, if it only decides (nothing it imports does I/O); else io"


def test_every_module_is_in_the_map(layer_map: LayerMap) -> None:
    sources = package_sources()
    problems = []
    for module in sorted(set(sources) - set(layer_map.layers)):
        problems.append(
            f"{PACKAGE}/{module}.py is not in the module map. Add a row to the table under "
            f"'## Module map' in {DOC_NAME}:\n"
            f"    | `{module}` | LAYER | one line on what it does |\n"
            f"  LAYER: {suggested_layer(sources[module], layer_map)}.")
    for module in sorted(set(layer_map.layers) - set(sources)):
        problems.append(f"{DOC_NAME} maps `{module}`, but there is no {PACKAGE}/{module}.py: "
                        "remove its row from '## Module map' (or fix the name).")
    assert not problems, "\n".join(problems)


def test_pure_modules_import_no_io(checked: tuple[list[str], set]) -> None:
    problems, _ = checked
    assert not problems, "layer violations:\n" + "\n".join(problems)


def test_known_exceptions_are_still_needed(layer_map: LayerMap,
                                           checked: tuple[list[str], set]) -> None:
    """A known exception whose import is gone must leave the table, so it only shrinks."""
    _, used = checked
    stale = [f"`{module}` does not import {sorted(layer_map.exceptions[module, target])} "
             f"from `{target}`: delete that row from '### Known exceptions' in {DOC_NAME}."
             for module, target in sorted(set(layer_map.exceptions) - used)]
    assert not stale, "\n".join(stale)


def test_the_check_catches_a_pure_module_doing_io(layer_map: LayerMap) -> None:
    """The check itself: a pure module importing an io module or an I/O library fails it, in
    every form of import; what does no I/O passes."""
    bad = {
        "names": "import subprocess\n",
        "push": "from urllib.request import urlopen\n",
        "health": "def f():\n    import docker.errors\n",
        "release_plan": "from .state import State\n",
        "override": "from . import engine\n",
        "compose_rules": f"from {PACKAGE}.gitops import worktree\n",
        "compose_model": f"import {PACKAGE}.lock\n",
        "ssh_gate": "from .state import SshKey, State\n",
        "deploy": "from . import engine\n",  # a use case acts through its ports only
        "rollback": "import docker\n",
    }
    problems, _ = violations(bad, layer_map)
    for module, source in bad.items():
        assert any(p.startswith(f"{PACKAGE}/{module}.py:") for p in problems), (module, source)
    good = {
        "names": "import re\nfrom urllib.parse import urlsplit\nimport yaml\n",
        "push": "from .names import is_sha\nfrom . import errors\n",
        "deploy": "from .lock import app_lock\nfrom .ports import Ports\nimport time\n",
        "wiring": "import docker\nfrom . import engine\n",  # io may import anything
    }
    problems, _ = violations(good, layer_map)
    assert problems == []


def test_a_new_module_gets_a_message_that_says_what_to_add(layer_map: LayerMap) -> None:
    assert suggested_layer("import sqlite3\n", layer_map).startswith("io")
    assert suggested_layer("from .state import State\n", layer_map).startswith("io")
    assert suggested_layer("from .names import short\n", layer_map).startswith("pure")
