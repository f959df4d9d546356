"""What a new user hits first: a bad dataset fails before any model loads; an empty slice is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from guidedcot.cli.app import main
from guidedcot.data.selection import select_examples
from guidedcot.errors import GuidedCotError


def test_an_empty_slice_is_an_error_that_says_so(shared_data: Path) -> None:
    with pytest.raises(GuidedCotError, match=r"selects no question \(103 in"):
        select_examples("hotpotqa:dev[5:2]", shared_data, split="dev", limit=None)


@pytest.mark.parametrize(
    ("dataset", "message"),
    [("nosuch", "is neither hotpotqa nor 2wiki"), ("hotpotqa:dev[5:2]", "selects no question")],
)
def test_evaluate_checks_the_data_before_loading_a_model(
    shared_data: Path, capsys: pytest.CaptureFixture[str], dataset: str, message: str
) -> None:
    code = main(["evaluate", "--dataset", dataset, "--data-dir", str(shared_data), "--reader", "no-such-model",
                 "--student", "no-such-model"])  # fmt: skip
    assert code == 2
    assert message in capsys.readouterr().err


def test_rl_checks_the_data_before_loading_a_model(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["rl", "--data-dir", str(shared_data), "--reader", "no-such-model", "--student", "no-such-model",
                 "--set", 'datasets=["hotpotqa:train[700:800]"]'])  # fmt: skip
    assert code == 2
    assert "selects no question" in capsys.readouterr().err


@pytest.mark.slow
def test_counting_a_gguf_readers_tokens_converts_no_weights(isolated_cache: Path) -> None:
    """The reader's token counter reads the tokenizer from the GGUF file (no transformers folder)."""
    from guidedcot.llm.config import ModelConfig
    from guidedcot.llm.factory import token_counter

    count = token_counter(ModelConfig(model="smollm2"))
    assert count("Which city is the capital of France?") == 8
    assert not list(isolated_cache.rglob("config.json")), "no model folder was written"
