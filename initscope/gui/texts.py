"""What the status bar and the hint strip say about the shown record(s): plain functions of the records."""

from __future__ import annotations

import html
import math

from initscope.core.messages import RunStatus

# the window's tabs, by the key the commands and the test fixture name them with (`shot --tab dead`,
# show_tab("explorer:time")) and the title on screen, in their order; "&&" is a literal "&" in a tab title
TABS = (("overview", "Overview"), ("gradients", "Gradients"), ("explorer", "Explorer"), ("dead", "Neurons && BN"),
        ("compare", "Compare"))
EXPLORER_TABS = (("gain", "Gain sweep"), ("depth", "Depth sweep"), ("train", "Train sweep"), ("width", "Width"),
                 ("time", "Time"))  # "Over time" was 2 px too wide at 1024 px in presentation mode


def tab_index(key: str, tabs=TABS) -> int:
    return [k for k, _ in tabs].index(key)


def tab_title(key: str, tabs=TABS) -> str:
    return dict(tabs)[key]


def _eta(p) -> str:
    if p is None or p.steps_per_sec <= 0:
        return "-"
    eta = (p.total - p.step) / p.steps_per_sec
    return f"{int(eta // 60)}m{int(eta % 60):02d}s" if math.isfinite(eta) else "-"


def status_line(recs: list, paused: bool = False, train_ready: bool = True) -> str:
    if not recs:
        return "loading…"
    if len(recs) > 1:
        live = [r for r in recs if r.status == RunStatus.RUNNING and r.progress is not None]
        parts = [f"{r.name}: " + (f"step {r.progress.step:,} / {r.cfg.train.steps:,}"
                                 if r in live and r.shown_status == RunStatus.RUNNING else
                                 f"{r.shown_status} at step {r.progress.step:,}" if r in live else r.shown_status)
                 for r in recs]
        if not live:
            return f"comparing {len(recs)} runs: " + " · ".join(parts)
        # runs of a pair train in turns: the time left is the sum of theirs
        left = sum((r.progress.total - r.progress.step) / r.progress.steps_per_sec if r.progress.steps_per_sec > 0
                   else math.nan for r in live)
        eta = f"{int(left // 60)}m{int(left % 60):02d}s" if math.isfinite(left) else "-"
        tail = "   (paused)" if paused else f"   ETA {eta}"
        return f"training {len(recs)} runs: " + " · ".join(parts) + tail
    rec = recs[0]
    if rec.status == RunStatus.INVALID:
        return f"invalid layer stack: {rec.message}"
    if rec.status == RunStatus.PREVIEW:
        snap = rec.history.init
        return (f"init preview: loss {snap.loss:.3f} at step 0 (uniform guess {snap.ref_loss:.3f}), "
                f"{rec.n_params:,} parameters — " + ("press Train" if train_ready else "Train in a moment"))
    total = rec.total_steps
    done = len(rec.history.loss)
    last = f"loss {float(rec.history.loss.data[-1]):.4f}" if done else "loss -"
    if rec.followed:
        live = {RunStatus.RUNNING: "training in its script", RunStatus.INTERRUPTED: "its script stopped (interrupted)"}
        return (f"{rec.name}: following {rec.followed}: {live.get(rec.status, rec.status)}, step {done:,}   {last}"
                if done else f"{rec.name}: waiting for {rec.followed}…")
    if rec.status == RunStatus.RUNNING:
        p = rec.progress
        at = p.step if p is not None else 0
        if rec.phase == "stopping":
            return f"{rec.name}: stopping at step {at:,}… (what was recorded is kept)"
        if p is not None and p.status == RunStatus.EVALUATING:
            return f"{rec.name}: {at:,} steps done; evaluating the final losses: {p.message}…"
        if paused:
            return f"{rec.name}: paused at step {at:,} / {total:,}   {last}" + ("" if p else " (before its first step)")
        if p is None:
            return f"{rec.name}: starting…"
        return (f"{rec.name}: step {p.step:,} / {total:,}   {last}   lr {p.lr:g}   "
                f"{p.steps_per_sec:,.0f} steps/s   ETA {_eta(p)}")
    where = "opened from a file, " if rec.from_file else ""
    losses = rec.losses
    tail = f"   train {losses['train']:.4f} · val {losses['val']:.4f}" if losses else ""
    if rec.status == RunStatus.FINISHED:
        return f"{rec.name}: {where}finished {done:,} steps{tail}"
    msg = (rec.result.message if rec.result is not None else "") or rec.message
    if rec.status == RunStatus.DIVERGED and msg:  # the step the message names (the hint strip says the same)
        return f"{rec.name}: {where}{msg.split(';')[0]}"
    return f"{rec.name}: {where}{rec.status} at step {done:,} of {total:,}{tail}"


def hints_for(rec, snap) -> list[str]:
    """The core's health hints; at init also where the measurement and the wide-net theory part ways."""
    from initscope.core.hints import hints, theory_hints  # imports torch: only once a snapshot exists
    from initscope.core.theory import predict

    said = hints(snap)
    if snap.step == 0 and rec.vocab:
        said += theory_hints(snap, predict(rec.cfg, len(rec.vocab)))
    return said


WAITING = ("<i>Getting ready to train: the training side (torch) is still loading; Train is enabled in a "
           "moment.</i>")


def hint_lines(recs: list, limit: int = 4, hints_of=hints_for, train_ready: bool = True) -> list[str]:
    """Rich-text lines for the hint strip. hints_of(record, snapshot) -> [str]. Until the training side is ready
    (the launch, on a busy machine: seconds) the first line says what Train waits for."""
    if not train_ready:
        return [WAITING, *hint_lines(recs, limit, hints_of)]
    if not recs:
        return ["Loading the word list…"]
    if len(recs) > 1:
        lines = [f"Comparing {len(recs)} runs (line style = run):"]
        for r in recs:
            val = f", val {r.losses['val']:.4f}" if "val" in r.losses else ""
            lines.append(f"• {html.escape(r.name)}: {r.shown_status}{val}")
        return lines
    rec = recs[0]
    if rec.status == RunStatus.INVALID:
        return [f"<b style='color:#b00020'>⚠ Invalid layer stack:</b> {html.escape(rec.message)}",
                "Fix the stack in the side panel; the panels show nothing until it is valid."]
    lines = []
    r = rec.result
    if r is None:
        pass  # training, or a preview: the snapshot's hints below
    elif rec.status == RunStatus.DIVERGED:
        lines.append(f"<b style='color:#b00020'>Run {html.escape(r.message or 'diverged')}</b>")
    elif rec.status == RunStatus.FAILED:
        lines.append(f"<b style='color:#b00020'>The run failed: {html.escape(r.message)}</b>")
    elif rec.watched and rec.status in (RunStatus.FINISHED, RunStatus.INTERRUPTED):
        why = f": {html.escape(r.message)}" if r.message else ""
        lines.append(f"<b>{rec.status.capitalize()} after {rec.steps_done:,} steps</b> in its own training loop{why}")
    elif r.losses:
        # the splits a run has: a saved run may carry none (a width check's runs: a few steps, no evaluation)
        ls = r.losses
        said = " · ".join(f"{k} {ls[k]:.4f}" for k in ("train", "val", "test") if k in ls) or "no split losses saved"
        lines.append(f"<b>{rec.status.capitalize()} after {r.steps:,} steps:</b> {said}   (Sample names: Ctrl+N)")
    snap = rec.history.latest
    if snap is None and rec.followed:
        return [f"Following {html.escape(rec.followed)}: waiting for its first snapshot.",
                "Run the script that writes it: <code>initscope.watch(model, optimizer, save=...)</code>."]
    if snap is None:
        return lines or ["Waiting for the first snapshot…"]
    said = hints_of(rec, snap)
    where = "at init" if snap.step == 0 else f"at step {snap.step:,}"
    if said:
        lines += [f"• {html.escape(h)}" for h in said[:limit]]
        if len(said) > limit:
            lines.append(f"… and {len(said) - limit} more")
    else:
        lines.append(f"No problems visible in the snapshot {where}.")
    return lines
