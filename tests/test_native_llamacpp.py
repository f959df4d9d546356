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
    folder = native.cache_folder(
        importlib.metadata.version("xllamacpp"), native.cmake_args(native.cpu_flags())
    )
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
    folder = native.cache_folder(
        importlib.metadata.version("xllamacpp"), native.cmake_args(native.cpu_flags())
    )
    if not list(folder.glob("xllamacpp-*.whl")):
        pytest.skip(f"no checked native wheel in {folder} (its build failed or never ran)")
    import xllamacpp

    info = xllamacpp.get_system_info()
    assert "AVX512 = 1" in info
    if {"amx_tile", "amx_int8"} <= native.cpu_flags():  # the AMX kernels, patched, where the CPU has them
        assert "AMX_INT8 = 1" in info


# /proc/cpuinfo flag lines of the two CPUs the project meets: the development machine (Intel Xeon,
# Sapphire Rapids, with AMX) and an AMD EPYC Zen 4 (AVX-512 with VNNI and BF16, no AVX-VNNI, no AMX).
INTEL_XEON_AMX = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht "
    "syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid tsc_known_freq pni "
    "pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c "
    "rdrand hypervisor lahf_lm abm 3dnowprefetch cpuid_fault fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms "
    "invpcid rtm avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw "
    "avx512vl xsaveopt xsavec xgetbv1 xsaves avx_vnni avx512_bf16 arat avx512vbmi umip avx512_vbmi2 gfni vaes "
    "vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid cldemote movdiri movdir64b fsrm serialize "
    "tsxldtrk amx_bf16 avx512_fp16 amx_tile amx_int8 arch_capabilities"
)
AMD_ZEN4 = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht "
    "syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid "
    "tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c "
    "rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext "
    "invpcid_single ssbd ibrs ibpb stibp vmmcall fsgsbase bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq "
    "rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 "
    "xsaves avx512_bf16 clzero xsaveerptr wbnoinvd arat avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes "
    "vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq la57 rdpid fsrm arch_capabilities"
)
# The one fixed line every machine was built with before the flags were read from the CPU (AMX off).
BEFORE = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON "
    "-DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON "
    "-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF "
    "-DLLAMA_LLGUIDANCE=OFF -DLLAMA_BUILD_BORINGSSL=OFF -DLLAMA_OPENSSL=OFF"
)


def options(arguments: str) -> dict[str, str]:
    return dict(item.removeprefix("-D").split("=") for item in arguments.split())


def test_an_intel_xeon_with_amx_gets_the_amx_kernels_on_top_of_the_build_it_had() -> None:
    native = load_script()
    amx_on = BEFORE.replace("-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF",
                            "-DGGML_AMX_TILE=ON -DGGML_AMX_INT8=ON -DGGML_AMX_BF16=ON")  # fmt: skip
    assert options(native.cmake_args(set(INTEL_XEON_AMX.split()))) == options(amx_on)


def test_an_amd_zen4_is_built_without_the_avx_vnni_it_lacks() -> None:
    native = load_script()
    flags = set(AMD_ZEN4.split())
    chosen = options(native.cmake_args(flags))
    assert chosen["GGML_AVX_VNNI"] == "OFF"  # -mavxvnni code died there with SIGILL (exit -4)
    for name in ("GGML_AVX2", "GGML_AVX512", "GGML_AVX512_VBMI", "GGML_AVX512_VNNI", "GGML_AVX512_BF16"):
        assert chosen[name] == "ON", name
    assert all(chosen[name] == "OFF" for name in ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"))
    # every option that is on names only flags this CPU has
    needs = dict(native.GGML_OPTIONS)
    assert all(set(needs[n]) <= flags for n, v in chosen.items() if v == "ON" and n in needs)
    # a different build is a different cache entry: a Zen 4 never reuses an Intel wheel
    assert native.cache_folder("1", native.cmake_args(flags)) != native.cache_folder("1", BEFORE)


def test_a_cpu_without_avx512_vnni_is_not_built_for() -> None:
    native = load_script()
    if not (sys.platform == "linux" and os.uname().machine == "x86_64"):
        pytest.skip("the native build is for x86_64 Linux")
    assert native.has_avx512_vnni(set(AMD_ZEN4.split()))
    assert native.has_avx512_vnni(set(INTEL_XEON_AMX.split()))
    assert not native.has_avx512_vnni(set(AMD_ZEN4.split()) - {"avx512_vnni"})


# ggml_tile_config_init as the pinned xllamacpp 2026.10.11549 ships it (its AMX matmul died with
# SIGILL on the development machine: tilezero ran with no valid tile config)
SHIPPED_AMX = """// tile
inline void ggml_tile_config_init(void) {
    static thread_local bool done = false;

    if (done) {
        return;
    }

    alignas(64) tile_config_t tc = {};
    tc.palette_id = 1;
    tc.start_row = 0;
    tc.rows[0] = 8;   tc.colsb[0] = 64;
    tc.rows[7] = 16;  tc.colsb[7] = 64;

    _tile_loadconfig(&tc);
    done = true;
}

// we need an extra 16 * 4B
"""


def test_the_amx_tile_config_is_patched_into_static_storage_and_loaded_every_call() -> None:
    native = load_script()
    patched = native.patch_amx_tile_config(SHIPPED_AMX)
    assert patched.startswith("// tile\n") and patched.endswith("\n// we need an extra 16 * 4B\n")
    body = patched.split("inline void ggml_tile_config_init(void) {", 1)[1].split("\n}\n", 1)[0]
    assert "static const tile_config_t tc = ggml_make_tile_config();" in body and "done" not in body
    assert "_tile_loadconfig(&tc);" in body
    assert native.patch_amx_tile_config(patched) == patched  # applying it twice changes nothing
    with pytest.raises(ValueError, match="ggml_tile_config_init"):
        native.patch_amx_tile_config("// a llama.cpp without the function\n")
