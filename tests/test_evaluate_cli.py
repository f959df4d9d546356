"""`guidedcot evaluate` with real models (SmolLM2 as reader and student), and its report.html in a
real headless Chromium driven by Playwright: no console errors, every method listed, filters work.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, str]:
    """One real evaluation: 2 questions per dev set, 3 methods, SmolLM2 reading and writing rationales."""
    root = tmp_path_factory.mktemp("evaluate")
    out = root / "run"
    env = {**os.environ, "GUIDEDCOT_DATA": str(shared_data), "COLUMNS": "200"}
    command = [
        sys.executable, "-m", "guidedcot.cli.app", "evaluate",
        "--reader", "smollm2", "--student", "smollm2", "--limit", "2",
        "--methods", "standard,cot,guided", "--out", str(out),
        "--set", f"cache={root / 'cache.sqlite'}", "--set", "reader.n_ctx=2048", "--set", "cot_tokens=64",
        "--set", "rationale_tokens=48",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout


def test_evaluate_command_writes_the_whole_run_folder(run_folder: tuple[Path, str]) -> None:
    out, printed = run_folder
    for name in ("config.yaml", "predictions.jsonl", "metrics.json", "report.md", "report.html", "chart.png"):
        assert (out / name).stat().st_size > 0, name
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 2 * 2 * 3
    assert all(r["reader_seconds"] > 0 for r in records)  # a cold cache: every answer cost reader time
    assert all((r["student_seconds"] > 0) == (r["method"] == "guided") for r in records)
    assert {(r["dataset"], r["method"]) for r in records} == {
        (d, m) for d in ("hotpotqa", "2wiki") for m in ("standard", "cot", "guided")
    }
    assert all(r["rationale"] for r in records if r["method"] == "guided")
    for method in ("standard", "cot", "guided"):
        assert method in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["usage"]["reader"]["prompt_tokens"] > 0
    assert metrics["prompt_versions"]["guided"].startswith("guided-v1-")


def test_evaluate_refuses_an_unknown_method_in_one_paragraph(shared_data: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "guidedcot.cli.app", "evaluate", "--methods", "standard,oracle"],
        capture_output=True,
        text=True,
        env={**os.environ, "GUIDEDCOT_DATA": str(shared_data)},
        check=False,
    )
    assert done.returncode == 2
    assert "unknown method 'oracle'" in done.stderr and "Traceback" not in done.stderr


def chromium() -> str:
    path = (
        os.environ.get("GUIDEDCOT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not path:
        pytest.fail("Chromium not found: `make test` installs Debian's chromium (or set GUIDEDCOT_CHROMIUM)")
    return path


def test_report_html_in_a_real_browser(run_folder: tuple[Path, str]) -> None:
    from playwright.sync_api import sync_playwright

    out, _ = run_folder
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    wrong = sum(r["em"] < 1 for r in records)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in {"error", "warning"} else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto((out / "report.html").as_uri())
        page.wait_for_load_state("load")
        assert problems == []
        summary_methods = set(page.locator("#summary tbody tr td:nth-child(2)").all_inner_texts())
        assert summary_methods == {"standard", "cot", "guided"}
        assert page.locator("img").evaluate("img => img.naturalWidth") > 0  # the chart loaded
        examples = page.locator("article.example")
        assert examples.count() == len(records)

        page.select_option("#filter-correct", "wrong")
        visible = page.locator("article.example:visible")
        assert visible.count() == wrong
        assert set(visible.evaluate_all("els => els.map(e => e.dataset.correct)")) <= {"wrong"}
        assert page.locator("#shown").inner_text() == str(wrong)

        page.select_option("#filter-correct", "")
        page.select_option("#filter-method", "cot")
        assert page.locator("article.example:visible").count() == sum(r["method"] == "cot" for r in records)
        first = page.locator("article.example:visible").first
        first.locator("summary").click()  # the context opens
        assert first.locator("details pre").is_visible()
        browser.close()
