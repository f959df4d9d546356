"""The demo is a small embedded study (`guidedcot.study`) on the embedded default:

1. the reader as teacher writes CoT rationales for training questions (teacher store);
2. the student is fine-tuned on the rationales that led to a correct answer;
3. a few GRPO steps with the task reward refine the distilled student;
4. evaluation on held-out dev questions: standard prompting, the reader's CoT, and LM-guided CoT
   with the untrained, the distilled and the RL student, each paired against standard prompting.
Every stage resumes (teacher store, checkpoints, generation cache), so a killed demo run again picks
up where it stopped, and a finished one replays from its caches.
"""

from __future__ import annotations

from pathlib import Path

from guidedcot.data import ContextMode
from guidedcot.demo.config import DemoConfig
from guidedcot.llm.config import ModelConfig
from guidedcot.study import UNTRAINED, StudyConfig


def demo_study(settings: DemoConfig, *, quick: bool = False) -> StudyConfig:
    """The study the demo runs, under ``settings.out/{quick|full}``."""
    root = Path(settings.out) / ("quick" if quick else "full")
    return StudyConfig(
        name="demo (quick)" if quick else "demo",
        out=str(root),
        data_dir=settings.data_dir,
        cache=settings.cache,
        reader=ModelConfig(model=settings.reader),
        student=settings.student,
        context_mode=ContextMode.GOLD,
        teacher={
            "datasets": list(settings.teacher_datasets),
            "limit": settings.teacher_limit,
            "cot_tokens": settings.cot_tokens,
        },
        distill={
            "full": {"epochs": settings.epochs, "learning_rate": settings.learning_rate, "save_steps": 20}
        },
        rl={
            "task": {
                "from": "full",
                "algo": "grpo",
                "reward": "task",
                "steps": settings.rl_steps,
                "questions_per_step": settings.rl_questions_per_step,
                "group_size": settings.rl_group_size,
                "learning_rate": settings.rl_learning_rate,
                "save_every": 1,
                "rationale_tokens": min(64, settings.rationale_tokens),
            }
        },
        evaluate={
            "datasets": list(settings.eval_datasets),
            "limit": settings.eval_limit,
            "methods": ["standard", "cot", "guided"],
            "cot_tokens": settings.cot_tokens,
            "rationale_tokens": settings.rationale_tokens,
        },
        context_modes=[ContextMode.GOLD],
        guides=[UNTRAINED, "distill:full", "rl:task"],
    )
