"""The package's layers, checked against the folders and the map in docs/architecture.md.

A module's layer is the folder it sits in (`core/` and `rules/` are pure, `usecases/` are use
cases, `adapters/`, `cli/` and `wiring` do I/O); the doc is the one place that says which
folder is which layer: this test parses its tables (the folders, the module map, the I/O
libraries, the known exceptions) and its tree instead of keeping a copy, so the doc, the folders
and the check cannot drift apart. Each module's imports are read with `ast`, without importing
it, so the check needs nothing installed and sees imports inside functions too. Modules are
named by their dotted path under the package (`rules.compose.model`).
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
    layers: dict[str, str]  # module (dotted path under the package) -> layer, from its folder
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


def folder_layer(module: str, folders: dict[str, str]) -> str | None:
    """The layer of a module: that of the longest folder (or module) path the doc lists for it."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in folders:
            return folders[".".join(parts[:n])]
    return None


def parse_map(text: str) -> LayerMap:
    folders: dict[str, str] = {}
    problems = []
    for folder, layer, *_ in table(text, "Folders and their layers"):
        if layer not in LAYERS:
            problems.append(f"`{folder}` has layer '{layer}'; use one of {sorted(LAYERS)}")
        folders[folder.strip("/").replace("/", ".")] = layer
    layers: dict[str, str] = {}
    for module, *_ in table(text, "Module map"):
        if module in layers:
            problems.append(f"`{module}` has two rows")
        layer = folder_layer(module, folders)
        if layer is None:
            problems.append(f"`{module}` is in no folder of '## Folders and their layers'")
        layers[module] = layer or "io"
    assert not problems, f"{DOC_NAME}:\n" + "\n".join(problems)
    io_libraries = {name: does.lower() == "yes" for name, does, *_ in
                    table(text, "I/O libraries")}
    listed = table(text, "Known exceptions", may_be_empty=True)
    exceptions = {(module, target): frozenset(n.strip(" `") for n in names.split(","))
                  for module, target, names, *_ in listed}
    usecase_may_use = frozenset(row[0] for row in table(text, "What a use case may use"))
    return LayerMap(layers, io_libraries, exceptions, usecase_may_use)


def internal_module(dotted: str, known: set[str]) -> str:
    """The package module an import names: `rules.compose.model` for
    `rules.compose.model.parse_config` (the longest known prefix), else the dotted path itself."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in known:
            return ".".join(parts[:n])
    return dotted


def imports_of(source: str, module: str = "", known: set[str] | None = None) -> list[Import]:
    """Every import in a module of the package, wherever it is in the file. Imports of the
    package itself are named by their module's dotted path under it (relative ones resolved
    against `module`)."""
    known = known or set()
    found = []
    lines = source.splitlines()
    package = module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        text = lines[node.lineno - 1].strip() if isinstance(node, ast.stmt) else ""
        if isinstance(node, ast.Import):
            for alias in node.names:
                inside = alias.name.removeprefix(PACKAGE + ".") \
                    if alias.name.startswith(PACKAGE + ".") else None
                internal = internal_module(inside, known) if inside else None
                found.append(Import(node.lineno, text, internal, alias.name, frozenset()))
        elif isinstance(node, ast.ImportFrom):
            names = frozenset(alias.name for alias in node.names)
            module_name = node.module or ""
            if node.level:
                base = package[:len(package) - node.level + 1]
                inside = ".".join(base + ([module_name] if module_name else []))
            elif module_name == PACKAGE or module_name.startswith(PACKAGE + "."):
                inside = module_name.removeprefix(PACKAGE).lstrip(".")
            else:
                found += [Import(node.lineno, text, None, f"{module_name}.{name}", names)
                          for name in names]
                continue
            for name in sorted(names):
                target = f"{inside}.{name}" if inside else name
                if target in known:  # from otterstack_hooks.rules import health
                    found.append(Import(node.lineno, text, target, target, frozenset()))
                else:  # from otterstack_hooks.rules.health import judge
                    found.append(Import(node.lineno, text, internal_module(inside, known),
                                        inside, frozenset({name})))
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
        for imp in imports_of(source, module, set(layer_map.layers)):
            where = f"{path_of(module)}:{imp.lineno}: `{imp.source}`"
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
                    f"libraries' in {DOC_NAME}). Do the I/O in an adapter and pass the result "
                    f"in, or, if `{module}` must do I/O, move it under adapters/ (a module's "
                    f"folder is its layer).")
            elif layer == "usecase" and imp.internal is None and any(
                    imp.dotted == lib or imp.dotted.startswith(lib + ".") for lib in OUTSIDE):
                problems.append(
                    f"{where}\n    `{module}` is a use case but `{imp.dotted}` reaches an "
                    f"outside system: do it behind a port (core/ports.py) in an adapter.")
    return problems, used


def path_of(module: str) -> str:
    return f"{PACKAGE}/{module.replace('.', '/')}.py"


def package_sources() -> dict[str, str]:
    """Every module of the package by its dotted path (a package's `__init__` by its folder's
    path with `.__init__`)."""
    return {".".join(path.relative_to(PACKAGE_DIR).with_suffix("").parts): path.read_text()
            for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def drawn_tree(text: str) -> list[str]:
    """The files the doc's tree (the code block under '## The tree') draws, as paths."""
    block = re.search(r"```text\n(.*?)```", section(text, "The tree"), re.S)
    assert block, f"{DOC_NAME}: no ```text block under '## The tree'"
    paths, stack = [], []
    for line in block.group(1).splitlines()[1:]:  # the first line is the package itself
        name = re.sub(r"\s+#.*$", "", line)
        stripped = name.lstrip("│├└─ \u00a0")
        depth = (len(name) - len(stripped)) // 4 - 1  # "├── " is the first level
        stack[depth:] = [stripped.rstrip("/")]
        if not stripped.endswith("/"):
            paths.append("/".join(stack))
    return sorted(paths)


@pytest.fixture(scope="module")
def layer_map() -> LayerMap:
    return parse_map(DOC.read_text())


@pytest.fixture(scope="module")
def checked(layer_map: LayerMap) -> tuple[list[str], set]:
    return violations(package_sources(), layer_map)


def suggested_layer(module: str) -> str:
    return {"core": "pure", "rules": "pure", "usecases": "usecase"}.get(
        module.split(".")[0], "io")


def test_every_module_is_in_the_map(layer_map: LayerMap) -> None:
    sources = {m for m in package_sources() if not m.endswith("__init__")}
    problems = []
    for module in sorted(sources - set(layer_map.layers)):
        problems.append(
            f"{path_of(module)} is not in the module map. Add a row to the table under "
            f"'## Module map' in {DOC_NAME}:\n"
            f"    | `{module}` | one line on what it does |\n"
            f"  and its line to '## The tree'. Its folder makes it {suggested_layer(module)}.")
    for module in sorted(set(layer_map.layers) - sources):
        problems.append(f"{DOC_NAME} maps `{module}`, but there is no {path_of(module)}: "
                        "remove its row from '## Module map' (or fix the name).")
    assert not problems, "\n".join(problems)


def test_the_tree_in_the_doc_is_the_tree_on_disk() -> None:
    """`tree otterstack_hooks` (without caches) draws what '## The tree' draws."""
    on_disk = sorted(str(p.relative_to(PACKAGE_DIR)) for p in PACKAGE_DIR.rglob("*.py"))
    drawn = drawn_tree(DOC.read_text())
    assert drawn == on_disk, (
        f"'## The tree' in {DOC_NAME} is not the package's tree: missing from the doc "
        f"{sorted(set(on_disk) - set(drawn))}, not on disk {sorted(set(drawn) - set(on_disk))}")


def test_pure_modules_import_no_io(checked: tuple[list[str], set]) -> None:
    problems, _ = checked
    assert not problems, "layer violations:\n" + "\n".join(problems)


def test_known_exceptions_are_still_needed(layer_map: LayerMap,
                                           checked: tuple[list[str], set]) -> None:
    """A known exception whose import is gone must leave the table, so it only shrinks."""
    _, used = checked
    stale = [f"`{module}` does not import {sorted(layer_map.exceptions[module, target])} "
             f"from `{target}`: delete that row from '## Known exceptions' in {DOC_NAME}."
             for module, target in sorted(set(layer_map.exceptions) - used)]
    assert not stale, "\n".join(stale)


def test_the_check_catches_a_pure_module_doing_io(layer_map: LayerMap) -> None:
    """The check itself: a pure module importing an io module or an I/O library fails it, in
    every form of import; what does no I/O passes."""
    bad = {
        "core.names": "import subprocess\n",
        "rules.push": "from urllib.request import urlopen\n",
        "rules.health": "def f():\n    import docker.errors\n",
        "rules.release_plan": f"from {PACKAGE}.adapters.local.state import Store\n",
        "rules.compose.override": f"from {PACKAGE}.adapters.docker import engine\n",
        "rules.compose.refusals": f"from {PACKAGE}.adapters.git.repo import GitRepo\n",
        "rules.compose.model": f"import {PACKAGE}.adapters.local.lock\n",
        "rules.ssh_gate": "from ..adapters.local.state import Store\n",
        "usecases.deploy": f"from {PACKAGE}.adapters.docker import engine\n",  # ports only
        "usecases.rollback": "import docker\n",
    }
    problems, _ = violations(bad, layer_map)
    for module, source in bad.items():
        assert any(p.startswith(f"{path_of(module)}:") for p in problems), (module, source)
    good = {
        "core.names": "import re\nfrom urllib.parse import urlsplit\nimport yaml\n",
        "rules.push": f"from {PACKAGE}.core.names import is_sha\nfrom ..core import errors\n",
        "usecases.deploy": f"from {PACKAGE}.adapters.local.lock import app_lock\n"
                           f"from {PACKAGE}.core.ports import Ports\nimport time\n",
        "wiring": f"import docker\nfrom {PACKAGE}.adapters.docker import engine\n",
    }
    problems, _ = violations(good, layer_map)
    assert problems == []


def test_a_new_module_gets_its_layer_from_its_folder() -> None:
    assert suggested_layer("rules.compose.new_rule") == "pure"
    assert suggested_layer("usecases.preview") == "usecase"
    assert suggested_layer("adapters.docker.new_adapter") == "io"
