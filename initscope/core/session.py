"""The window's state, Qt-free: napari's ViewerModel for initscope.

A Session holds what the window shows and what it would train: the config, the word list, the init preview of
the config, the records on screen, why the stack is invalid (if it is), workshop length, and the run in progress.
Every setter says what changed through `events` (a small signal of our own: `connect(fn)`, `emit(value)`), so the
window subscribes and draws, and every rule about what is shown when lives here, tested without a window
(tests/test_session.py). The window (gui/main_window.py) owns one and forwards its attributes to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from initscope.core.config import Config, default_config
from initscope.core.errors import UserError
from initscope.core.messages import RunStatus

if TYPE_CHECKING:  # numpy comes with them: the launch's shell builds a Session before it has numpy
    from initscope.core.records import RunRecord


class Event:
    """One kind of change: callbacks connected to it are called with the new value, in order."""

    def __init__(self, name: str):
        self.name = name
        self._slots: list[Callable[[Any], None]] = []

    def connect(self, fn: Callable[[Any], None]) -> Callable[[Any], None]:
        self._slots.append(fn)
        return fn

    def disconnect(self, fn: Callable[[Any], None]) -> None:
        self._slots = [s for s in self._slots if s is not fn]

    def emit(self, value: Any = None) -> None:
        for fn in list(self._slots):
            fn(value)


class SessionEvents:
    """config, data, preview, shown, stack_error, workshop: each an Event fired with the new value."""

    NAMES = ("config", "data", "preview", "shown", "stack_error", "workshop")

    def __init__(self):
        for n in self.NAMES:
            setattr(self, n, Event(n))

    def disconnect_all(self) -> None:
        for n in self.NAMES:
            getattr(self, n)._slots.clear()


class Session:
    def __init__(self, cfg: Config | None = None, data_path: str = ""):
        self.events = SessionEvents()
        # normalised (the bias rule), as every copy the engine is sent: a config built in code once never
        # matched its own preview
        self._cfg = (cfg or default_config()).copy()
        self._data = None  # core.data.Dataset, loaded by the engine
        self.data_path = str(data_path) if data_path else ""
        self._preview: RunRecord | None = None
        self._shown: list[RunRecord] = []
        self._stack_error: str | None = None
        self._workshop = False
        self.active: list[RunRecord] = []  # the records of the run in progress (one, or an A/B pair)

    # --- evented state ------------------------------------------------------------------------------------
    def _set(self, attr: str, event: str, value) -> None:
        setattr(self, attr, value)
        getattr(self.events, event).emit(value)

    cfg = property(lambda self: self._cfg, lambda self, v: self._set("_cfg", "config", v))
    data = property(lambda self: self._data, lambda self, v: self._set("_data", "data", v))
    preview = property(lambda self: self._preview, lambda self, v: self._set("_preview", "preview", v))
    shown = property(lambda self: self._shown, lambda self, v: self._set("_shown", "shown", list(v)))
    stack_error = property(lambda self: self._stack_error, lambda self, v: self._set("_stack_error", "stack_error", v))
    workshop = property(lambda self: self._workshop, lambda self, v: self._set("_workshop", "workshop", bool(v)))

    @property
    def training(self) -> bool:
        return bool(self.active)

    @property
    def vocab_size(self) -> int:
        return self.data.vocab.size if self.data is not None else 27

    @property
    def can_train(self) -> bool:
        return not self.training and self.data is not None and self.stack_error is None

    # --- settings ----------------------------------------------------------------------------------------------
    def set_config(self, cfg: Config) -> None:
        """New settings (a preset, a scenario step, an opened config): at workshop length when that is on."""
        from initscope.core.scenario import workshop_length

        self.cfg = workshop_length(cfg) if self.workshop else cfg.copy()
        self.validate()

    def validate(self) -> str | None:
        """Why the current stack cannot train here (None: it can): an invalid stack (named by layer), or a config
        too large for this machine's memory with the loaded data, said before anything is allocated."""
        try:
            self.cfg.model.resolve(self.vocab_size)
            if self.data is not None:
                from initscope.core.budget import check_dataset_memory

                check_dataset_memory(self.cfg, self.data)
            err = None
        except UserError as e:
            err = str(e)
        if err != self.stack_error:
            self.stack_error = err
        return err

    def sweep_problem(self) -> str | None:
        """Why the explorer's sweeps cannot run now (None: they can)."""
        return self.stack_error if self.data is not None else "no data yet"

    # --- what is on screen -----------------------------------------------------------------------------------
    def invalid_record(self) -> RunRecord:
        from initscope.core.history import History
        from initscope.core.records import RunRecord

        return RunRecord("invalid stack", self.cfg.copy(), History(), status=RunStatus.INVALID, message=self.stack_error or "")

    def preview_records(self) -> list[RunRecord]:
        """What "the preview" means now: the invalid stack's record, the preview of the current settings, or
        nothing yet (it is being computed)."""
        if self.stack_error is not None:
            return [self.invalid_record()]
        return [self.preview] if self.preview is not None else []

    def on_selection(self, selected: list[RunRecord]) -> list[RunRecord]:
        """What a selection in Runs shows: the runs selected; nothing selected while a run trains (the run on
        screen was deleted): the run in progress; else the preview."""
        return list(selected) or list(self.active) or self.preview_records()

    def preview_arrived(self, rec: RunRecord) -> bool:
        """The engine's preview of some settings. Kept when it is of the current settings; True when it should
        replace what is on screen (not while a run trains, not over a run opened or followed at the launch)."""
        if rec.cfg != self.cfg:
            return False  # of settings changed since: the engine has been asked for the new ones
        self.preview = rec
        return not self.training and self.stack_error is None and not any(r.from_file for r in self.shown)

    def run_name(self, number: int) -> str:
        return f"Run {number}: {self.cfg.name or 'custom'}"
