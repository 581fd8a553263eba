#!/usr/bin/env python3
"""The longest modules, functions and classes of the package (lines, docstrings included): the
size the refactors are judged by (no module over 400 lines, no function over 60). `--rev REV`
measures a git revision instead of the working tree (e.g. the commit before a refactor); modules
are named by their path under the package, so a flat and a layered tree compare."""

import argparse
import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sources(rev: str | None) -> dict[str, str]:
    package = ROOT / "otterstack_hooks"
    if rev is None:
        return {str(p.relative_to(package)): p.read_text() for p in sorted(package.rglob("*.py"))}
    names = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", rev,
                            "otterstack_hooks/"], capture_output=True, text=True,
                           check=True).stdout.split()
    return {n.removeprefix("otterstack_hooks/"): subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{rev}:{n}"], capture_output=True, text=True,
                check=True).stdout
            for n in names if n.endswith(".py")}


def sizes(files: dict[str, str]) -> tuple[list, list]:
    functions, classes = [], []
    for name, text in files.items():
        for node in ast.walk(ast.parse(text)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1 \
                if hasattr(node, "lineno") else 0
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append((length, f"{name}:{node.name}"))
            elif isinstance(node, ast.ClassDef):
                classes.append((length, f"{name}:{node.name}"))
    return sorted(functions, reverse=True), sorted(classes, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", help="a git revision (default: the working tree)")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    files = sources(args.rev)
    functions, classes = sizes(files)
    modules = sorted(((text.count("\n"), name) for name, text in files.items()), reverse=True)
    print(f"{args.rev or 'working tree'}: {len(files)} modules, "
          f"{sum(length for length, _ in modules)} lines")
    for title, found in (("modules", modules), ("functions", functions), ("classes", classes)):
        print(f"longest {title}:")
        for length, where in found[:args.top]:
            print(f"  {length:5d}  {where}")


if __name__ == "__main__":
    main()
