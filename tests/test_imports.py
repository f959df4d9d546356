"""Every module imports alone in a fresh interpreter: no import cycle hides behind import order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import guidedcot

PACKAGE_ROOT = Path(guidedcot.__file__).resolve().parent


def all_modules() -> list[str]:
    """Dotted names of every module and package of guidedcot."""
    names = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_there_are_modules_to_check() -> None:
    modules = all_modules()
    assert "guidedcot.report" in modules and "guidedcot.evaluate.runner" in modules
    assert len(modules) > 40


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    # One interpreter per module (a module imported earlier in the same process would mask a cycle);
    # the children run side by side so the check costs about a second per core.
    children = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import {name}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in all_modules()
    }
    failures = {}
    for name, child in children.items():
        _, err = child.communicate(timeout=300)
        if child.returncode != 0:
            failures[name] = err.strip().splitlines()[-1]
    assert not failures, failures


BENCH = sorted((PACKAGE_ROOT.parents[1] / "bench").glob("*.py"))


def test_every_bench_script_loads_in_a_fresh_interpreter() -> None:
    # A bench script that no test runs must at least load: its imports still exist after a refactor.
    assert len(BENCH) > 10
    children = {
        path.name: subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import runpy, sys; sys.path.insert(0, sys.argv[1]); "
                "runpy.run_path(sys.argv[2], run_name='smoke')",
                str(path.parent),
                str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in BENCH
    }
    failures = {name: child.communicate()[1].strip().splitlines()[-1:] for name, child in children.items()}
    assert not {name: tail for name, tail in failures.items() if children[name].returncode}


def test_no_command_module_imports_another() -> None:
    """The CLI stays thin: what two commands share lives in a helper module (cli/common, answering, studies)."""
    import ast

    commands = sorted((Path(__file__).parents[1] / "src" / "guidedcot" / "cli").glob("*_cmd.py"))
    assert len(commands) > 5
    for module in commands:
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.endswith("_cmd"), f"{module.name} imports {node.module}"


def test_every_bench_script_is_in_the_bench_index() -> None:
    # bench/README.md is the index of what each script measures and where its figures are.
    index = (PACKAGE_ROOT.parents[1] / "bench" / "README.md").read_text(encoding="utf-8")
    scripts = [*BENCH, *(PACKAGE_ROOT.parents[1] / "bench").glob("*.sh")]
    missing = [p.name for p in scripts if f"`{p.name}`" not in index]
    assert not missing, f"bench/README.md does not list {missing}"


def test_the_command_line_runs_as_a_module_without_a_double_import() -> None:
    """``python -m guidedcot.cli.app`` (how `accelerate launch` runs it) imports the module once: runpy
    warns when the package's ``__init__`` imported it first."""
    done = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "guidedcot.cli.app", "--help"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and "found in sys.modules" not in done.stderr, done.stderr
