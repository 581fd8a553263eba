#!/usr/bin/env python3
"""The longest functions and classes of the package (lines, docstrings included): the size
the deploy core's refactor is judged by. `--rev REV` measures a git revision instead of the
working tree (e.g. the commit before the refactor)."""

import argparse
import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sources(rev: str | None) -> dict[str, str]:
    if rev is None:
        return {p.name: p.read_text() for p in sorted((ROOT / "otterstack_hooks").glob("*.py"))}
    names = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", rev,
                            "otterstack_hooks/"], capture_output=True, text=True,
                           check=True).stdout.split()
    return {Path(n).name: subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{n}"],
                                         capture_output=True, text=True, check=True).stdout
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
    print(f"{args.rev or 'working tree'}: {len(files)} modules, "
          f"{sum(t.count(chr(10)) for t in files.values())} lines")
    for title, found in (("functions", functions), ("classes", classes)):
        print(f"longest {title}:")
        for length, where in found[:args.top]:
            print(f"  {length:5d}  {where}")


if __name__ == "__main__":
    main()
