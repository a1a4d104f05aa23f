from argparse import Namespace

from sdstudio.train.model_card import learning_rate_history
from sdstudio.train.unet import learning_rate


def _logged(first: int, last: int, max_steps: int, cooldown: int) -> list[dict]:
    """What `sdstudio train unet` logs every 10 steps (the step counter is logged after the update)."""
    args = Namespace(lr=4e-4, warmup=50, max_steps=max_steps, cooldown_steps=cooldown)
    return [{"step": s, "lr": learning_rate(args, s - 1)} for s in range(first, last + 1, 10)]


def test_history_names_each_cool_down_of_a_resumed_run():
    # 3000 steps cooled over the last 1000 (killed at 2000 and resumed from 1980, re-logging two
    # records), then continued to 6000 at full rate, cooled over the last 1500.
    first = _logged(10, 2000, 3000, 1000) + _logged(1990, 3000, 3000, 1000)
    records = first + _logged(3010, 6000, 6000, 1500)
    assert learning_rate_history(records) == (
        "AdamW 4.0e-4, falling linearly to 10% over steps 2000-3000, "
        "then back to the peak and falling again to 10% over steps 4500-6000"
    )


def test_history_without_a_cool_down_or_a_log():
    assert learning_rate_history(_logged(10, 3000, 0, 0)) == "AdamW 4.0e-4"
    assert learning_rate_history([]) == "AdamW"
