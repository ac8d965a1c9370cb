"""What the training process and the window say to each other: the requests, the answers and their payloads.

Plain data only (numbers, strings, numpy arrays, the Snapshot dataclasses of core.snapshot), so the window can
unpickle every message without torch and a test can make one without a window. The module itself imports
neither numpy nor torch: the status words are read by the window's shell before either is loaded. core.remote sends them over its
pipe; gui.worker relays them as Qt signals; gui.run_controller turns them into RunRecords.

One path for one run and for an A/B pair: a TrainRequest holds `{tag: config}` (one tag for a single run, "A"
and "B" for a pair), and every answer names its tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the window's shell imports this module before numpy (test_startup)
    import numpy as np

    from initscope.core.snapshot import Snapshot, StepScalars

Tag = str  # "A" for a single run; "A" and "B" for a pair (the order they train in turns)


class RunStatus(str, Enum):
    """A run's state, spelled once. A str, so a run file (JSON) and the CLI's output keep the plain words."""

    READY = "ready"  # a trainer made, not yet started
    RUNNING = "running"
    EVALUATING = "evaluating"  # the steps are done; the split losses are being computed (a Progress only)
    FINISHED = "finished"
    STOPPED = "stopped"
    DIVERGED = "diverged"
    FAILED = "failed"  # the training process raised (the record's message says what)
    ERROR = "error"  # a sweep's run that raised (its point says why; the sweep goes on)
    INTERRUPTED = "interrupted"  # a watched script died, or a run file was saved mid-run
    INIT_ONLY = "init-only"  # a run file of the step-0 snapshot alone
    PREVIEW = "preview"  # the init preview of the current settings (never in the Runs list)
    INVALID = "invalid"  # the side panel's stack cannot be built

    def __str__(self) -> str:  # f"{status}" and str(status) are the word, as before the enum
        return self.value

    __format__ = str.__format__

    @property
    def ended(self) -> bool:
        """A run that trains no more: its result is final."""
        return self in _ENDED


_ENDED = frozenset({RunStatus.FINISHED, RunStatus.STOPPED, RunStatus.DIVERGED, RunStatus.FAILED, RunStatus.ERROR,
                    RunStatus.INTERRUPTED})
RUN_FILE_STATUSES = (RunStatus.READY, RunStatus.RUNNING, RunStatus.FINISHED, RunStatus.STOPPED, RunStatus.DIVERGED,
                     RunStatus.INIT_ONLY, RunStatus.PREVIEW, RunStatus.INTERRUPTED)  # what a run file may say


@dataclass
class Progress:
    """One report from the trainer. `losses` are the per-step losses of steps first_step .. step-1."""

    step: int  # steps completed
    total: int
    first_step: int
    losses: np.ndarray
    lr: float
    steps_per_sec: float
    snapshot: Snapshot | None
    status: RunStatus  # RUNNING, EVALUATING (the final losses) or how the run ended
    message: str = ""
    scalars: StepScalars | None = None  # the per-step tier for steps first_step.. (when diag.step_stats)

    def __post_init__(self):
        self.status = RunStatus(self.status)


@dataclass
class RunResult:
    """What a run leaves when it ends: how it ended, its final split losses, sample names and weights.

    A run that diverged has no losses or samples (its weights are NaN); a run that failed has only a message;
    a watched run (opened from its script's file) has no weights but the SavedRun it was read from."""

    status: RunStatus
    message: str = ""
    steps: int = 0
    losses: dict[str, float] = field(default_factory=dict)  # split -> mean loss ("train", "val", "test")
    samples: list[str] = field(default_factory=list)
    state: dict[str, np.ndarray] | None = None  # the weights as numpy arrays (None: no weights)
    saved: object = None  # a watched run's SavedRun, written again as it is by Save run and Export report
    replay_problem: str = ""  # why an opened run's replay cannot be scrubbed ("" when it can)

    def __post_init__(self):
        self.status = RunStatus(self.status)

    @property
    def has_weights(self) -> bool:
        return self.state is not None


# --- parent -> child ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadRequest:
    rid: int
    path: str
    block_size: int


@dataclass(frozen=True)
class TrainRequest:
    """One run ({"A": config}) or an A/B pair ({"A": ..., "B": ...}) trained in turns on identical batches."""

    rid: int
    configs: dict[Tag, dict]  # tag -> Config.to_dict()
    path: str


@dataclass(frozen=True)
class SampleRequest:
    rid: int
    k: int
    seed: int
    config: dict
    weights: dict  # name -> numpy array
    itos: list


@dataclass(frozen=True)
class PreviewRequest:
    """The init preview (step-0 snapshot) of one config: every preview the window shows, the launch's first
    included (asked for before the window's own process has imported torch)."""

    rid: int
    config: dict  # Config.to_dict()
    path: str


@dataclass(frozen=True)
class QuitRequest:
    rid: int = 0


# --- child -> parent ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ready:
    rid: int = 0


@dataclass(frozen=True)
class Loaded:
    rid: int
    summary: str


@dataclass(frozen=True)
class Preview:
    rid: int
    snapshot: Snapshot
    n_params: int
    data_path: str
    vocab: tuple


@dataclass(frozen=True)
class Started:
    rid: int
    tag: Tag
    snapshot: Snapshot  # step 0


@dataclass(frozen=True)
class ProgressMessage:
    rid: int
    tag: Tag
    progress: Progress


@dataclass(frozen=True)
class Done:
    rid: int
    results: dict[Tag, RunResult]


@dataclass(frozen=True)
class Samples:
    rid: int
    names: list


@dataclass(frozen=True)
class Failed:
    rid: int
    message: str
    user_error: bool
