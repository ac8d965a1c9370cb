"""Train several runs side by side in turns (an A/B pair), so their curves grow together.

Each run keeps its own total and status: a turn is `Trainer.train(until=...)`, which reports the whole run's
total and stays "running" between turns, so a caller never mistakes the end of a turn for the end of a run.
"""

from __future__ import annotations

from typing import Callable

from initscope.core.messages import RunStatus

PAIR_CHUNK = 25  # steps each run trains before the next takes its turn


def train_in_turns(trainers: dict, on_progress: Callable[[str, object], None] | None = None,
                   chunk: int = PAIR_CHUNK) -> dict[str, RunStatus]:
    """Train every trainer to its config's step count, `chunk` steps at a time, in the dict's order.

    Returns each tag's final status. A stop (the trainers share their stop event) ends all of them; a run that
    diverges stops alone while the others go on."""
    status = {tag: RunStatus.RUNNING for tag in trainers}
    while RunStatus.RUNNING in status.values():
        for tag, t in trainers.items():
            if status[tag] != RunStatus.RUNNING:
                continue
            cb = (lambda p, tag=tag: on_progress(tag, p)) if on_progress else None
            st = t.train(cb, until=min(t.step + chunk, t.cfg.train.steps))
            if st != RunStatus.RUNNING or t.step >= t.cfg.train.steps:
                status[tag] = st if st != RunStatus.RUNNING else RunStatus.FINISHED
    return status
