"""What the window shows, Qt-free: a RunRecord is a run (training or done), a run opened from a file or followed
as a script writes it, the init preview of the current settings, or an invalid stack. The GUI renders records;
tests and sessions can make and read them without a window."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from initscope.core.config import Config, flat_kinds
from initscope.core.history import History
from initscope.core.messages import RunResult, RunStatus

_ids = itertools.count(1)


@dataclass
class RunRecord:
    """What the window shows: a run (training or done), a run opened from a file, or the init preview of the
    current settings (status "preview", never in the Runs list), or an invalid stack (status "invalid").
    Every panel, the status bar and the hint strip render from the shown record(s) and nothing else."""

    name: str
    cfg: Config
    history: History
    status: RunStatus = RunStatus.RUNNING  # PREVIEW | INVALID | RUNNING | how it ended
    result: RunResult | None = None  # what the run left when it ended (None while it trains, and for a preview)
    data_path: str = ""
    vocab: tuple = ()
    from_file: bool = False
    id: int = field(default_factory=lambda: next(_ids))
    progress: object = None  # the latest Progress of a training run (step, total, lr, speed)
    message: str = ""  # why a stack is invalid, or how a run failed
    n_params: int = 0
    # a run watched in its user's own loop (initscope.watch): its layers and parameters; cfg is then only a
    # placeholder (name, steps) and nothing derived from the app's layer stack (theory, presets) applies
    model: object = None
    followed: str = ""  # the file a followed run is read from
    phase: str = ""  # a running run's passing state, set by the controller: "" | "paused" | "stopping"
    source: str = ""  # the resolved path of the file an opened run came from (opened twice: one record)

    def __post_init__(self):
        self.status = RunStatus(self.status)

    @property
    def watched(self) -> bool:
        return self.model is not None

    @property
    def block_of(self) -> dict:
        from initscope.core.layer_colors import blocks, watched_blocks  # Qt-free: a record needs no pyqtgraph

        if self.model is not None:
            return watched_blocks(self.model)
        return blocks(flat_kinds(self.cfg.model.layers))

    @property
    def total_steps(self) -> int:
        """The run's planned length (the step axes' extent): a watched run's is what it has done so far."""
        return max(len(self.history.loss), 1) if self.model is not None else self.cfg.train.steps

    @property
    def layer_kinds(self) -> list[str] | None:
        """Kinds of the history's layer columns, for a watched run (the app's names carry their kind)."""
        return [k for _, k, _ in self.model.layers] if self.model is not None else None

    @property
    def steps_done(self) -> int:
        return len(self.history.loss)

    @property
    def parameter_count(self) -> int:
        """The run's own count (an opened run's, not the side panel's current settings')."""
        if self.model is not None:
            return sum(_numel(s) for _, s in self.model.params)
        if self.n_params:
            return self.n_params
        from initscope.core.budget import n_parameters

        return n_parameters(self.cfg, len(self.vocab) or 27)

    @property
    def shown_status(self) -> str:
        """What the Runs list, status bar and hint strip call the run's state: a running run may be paused,
        stopping, or evaluating its final losses (seconds on a long word list)."""
        if self.status != RunStatus.RUNNING:
            return self.status
        if self.phase:
            return self.phase
        p = self.progress
        return RunStatus.EVALUATING if p is not None and p.status == RunStatus.EVALUATING else RunStatus.RUNNING

    @property
    def is_preview(self) -> bool:
        return self.status in (RunStatus.PREVIEW, RunStatus.INVALID)

    @property
    def losses(self) -> dict[str, float]:
        """The final split losses ({} until the run ended, or when it has none)."""
        return self.result.losses if self.result is not None else {}

    @property
    def has_weights(self) -> bool:
        """Weights to sample from or save (a watched run has none; a run still training none yet)."""
        return self.result is not None and self.result.has_weights

    def finish(self, result: RunResult) -> None:
        self.status, self.result, self.phase = result.status, result, ""
        while len(self.history.recent) > 1:  # a finished run keeps step 0 and its latest snapshot
            self.history.recent.popleft()

    def label(self) -> str:
        val = self.losses.get("val")
        tail = f" · val {val:.4f}" if isinstance(val, float) else ""
        return f"{self.name} — {self.shown_status}{tail}"

    def summary(self) -> str:
        if self.model is not None:
            m = self.model
            return (f"{m.cls}: {len(m.layers)} layers, {sum(_numel(s) for _, s in m.params):,} trainable parameters\n"
                    f"watched in its own training loop{' (' + self.followed + ')' if self.followed else ''}")
        c = self.cfg
        losses = self.losses
        final = ("\n" + ", ".join(f"{k} {v:.4f}" for k, v in losses.items())) if losses else ""
        return (f"{' → '.join(s.label() for s in c.model.layers)}\n{c.init.scheme}, gain {c.init.gain:.3g}, "
                f"output x{c.init.output_factor if c.init.output_scaling else 1:g}; lr {c.train.lr:g}, "
                f"{c.train.steps:,} steps, seed {c.train.seed}{final}")


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
