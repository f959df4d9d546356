"""Step 2 of the method: refine the student with RL (PPO, GRPO or RLOO) against the frozen reader."""

from guidedcot.rl.config import Algo, RLConfig
from guidedcot.rl.trainer import RLResult, check_config, train_rl

__all__ = ["Algo", "RLConfig", "RLResult", "check_config", "train_rl"]
