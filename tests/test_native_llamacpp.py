"""The install step that rebuilds xllamacpp for AVX-512 (scripts/native_llamacpp.py): it can be
switched off, a remembered failure keeps the prebuilt wheel without building again, and where the
CPU has AVX-512 VNNI and a checked wheel is cached, the installed xllamacpp is that build."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "native_llamacpp.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("native_llamacpp", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GUIDEDCOT_CACHE": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, str(SCRIPT)], env=environment, text=True, capture_output=True, timeout=60
    )


def test_switched_off_it_keeps_the_prebuilt_wheel(tmp_path: Path) -> None:
    done = run_script(tmp_path, GUIDEDCOT_NATIVE_LLAMACPP="0")
    assert done.returncode == 0
    assert "keeping the prebuilt xllamacpp wheel" in done.stderr
    assert not (tmp_path / "wheels").exists()


def test_a_remembered_failure_is_not_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    native = load_script()
    if not native.has_avx512_vnni():
        done = run_script(tmp_path)
        assert done.returncode == 0 and "lacks AVX-512 VNNI" in done.stderr
        return
    monkeypatch.setenv("GUIDEDCOT_CACHE", str(tmp_path))
    folder = native.cache_folder(importlib.metadata.version("xllamacpp"))
    folder.mkdir(parents=True)
    (folder / "FAILED.txt").write_text("build failed: test\n", encoding="utf-8")
    done = run_script(tmp_path)
    assert done.returncode == 0
    assert "an earlier build or check failed" in done.stderr and str(folder / "FAILED.txt") in done.stderr
    assert not list(folder.glob("*.whl")) and not (folder / "build.log").exists()


def test_cpu_flags_are_read_from_cpuinfo() -> None:
    flags = load_script().cpu_flags()
    if Path("/proc/cpuinfo").exists():
        assert "sse2" in flags or "fp" in flags  # every x86_64 CPU has SSE2; ARM lists fp


def test_the_installed_reader_engine_is_the_native_build_where_one_is_cached() -> None:
    native = load_script()
    if os.environ.get("GUIDEDCOT_NATIVE_LLAMACPP") == "0" or not native.has_avx512_vnni():
        pytest.skip("no AVX-512 VNNI here, or the native build is switched off")
    folder = native.cache_folder(importlib.metadata.version("xllamacpp"))
    if not list(folder.glob("xllamacpp-*.whl")):
        pytest.skip(f"no checked native wheel in {folder} (its build failed or never ran)")
    import xllamacpp

    assert "AVX512 = 1" in xllamacpp.get_system_info()
