"""Function lengths and module sizes of src/ (issue 27's bounds: no function over 80 lines, no module
over 400). Run: ``.venv/bin/python scripts/code_sizes.py [--over 80 --module-over 400]``."""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def sizes(root: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(function lengths, module lengths) as (lines, name), longest first."""
    functions, modules = [], []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        modules.append((len(text.splitlines()), str(path)))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                functions.append((length, f"{path}:{node.lineno} {node.name}"))
    return sorted(functions, reverse=True), sorted(modules, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("src"))
    parser.add_argument("--over", type=int, default=80)
    parser.add_argument("--module-over", type=int, default=400)
    args = parser.parse_args()
    functions, modules = sizes(args.root)
    long_functions = [f for f in functions if f[0] > args.over]
    long_modules = [m for m in modules if m[0] > args.module_over]
    out = sys.stdout
    out.write(
        f"{len(functions)} functions, longest {functions[0][0]} lines; {len(long_functions)} over {args.over}:\n"
    )
    out.writelines(f"  {n:4d}  {name}\n" for n, name in long_functions)
    out.write(
        f"{len(modules)} modules, largest {modules[0][0]} lines; {len(long_modules)} over {args.module_over}:\n"
    )
    out.writelines(f"  {n:4d}  {name}\n" for n, name in long_modules)


if __name__ == "__main__":
    main()
