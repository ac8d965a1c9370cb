"""Saved runs: one zip file (suffix .initscope) in a versioned format, written atomically.

Members: manifest.json (format, version, config, data, status, split losses, samples, hints),
losses.npy (every step's loss), history.npz (per-snapshot scalars), snapshots.json (step-0 and the latest
snapshots, histograms included) and weights.pt (a plain state_dict). Nothing is unpickled on load:
numpy arrays are read with allow_pickle=False and the weights with torch.load(weights_only=True).
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from initscope import __version__
from initscope.core.config import Config
from initscope.core.diagnostics import Histogram, LayerStats, ParamStats, Snapshot
from initscope.core.errors import ConfigError, RunFileError
from initscope.core.files import atomic_write_bytes
from initscope.core.history import History
from initscope.core.model import Net

FORMAT = "initscope-run"
VERSION = 1
HISTORY_KEYS = ("snap_steps", "saturation", "act_std", "grad_std", "update")


@dataclass
class SavedRun:
    config: Config
    vocab: list[str]
    data_path: str
    status: str
    message: str
    steps: int
    losses: np.ndarray
    history: dict[str, np.ndarray]  # HISTORY_KEYS -> arrays; plus layer and matrix names in `names`
    names: dict[str, list[str]]
    snapshots: list[Snapshot]
    split_losses: dict[str, float] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)

    def net(self) -> Net:
        net = Net(self.config, len(self.vocab))
        net.load_state_dict(self.state_dict)
        return net


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def save_run(path: str | Path, run: SavedRun) -> None:
    manifest = {"format": FORMAT, "version": VERSION, "initscope": __version__, "config": run.config.to_dict(),
                "vocab": run.vocab, "data_path": run.data_path, "status": run.status, "message": run.message,
                "steps": run.steps, "split_losses": run.split_losses, "samples": run.samples, "hints": run.hints,
                "names": run.names}
    hist = io.BytesIO()
    np.savez(hist, **{k: run.history[k] for k in HISTORY_KEYS if k in run.history})
    weights = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in run.state_dict.items()}, weights)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=1))
        z.writestr("losses.npy", _npy(np.asarray(run.losses, np.float32)))
        z.writestr("history.npz", hist.getvalue())
        z.writestr("snapshots.json", json.dumps([s.to_dict(histograms=True) for s in run.snapshots]))
        z.writestr("weights.pt", weights.getvalue())
    atomic_write_bytes(Path(path), buf.getvalue())


def _hist(d: dict | None) -> Histogram | None:
    if d is None:
        return None
    return Histogram(np.asarray(d["counts"], np.float32), float(d["lo"]), float(d["hi"]))


def _num(x) -> float:
    return float("nan") if x is None else float(x)


def snapshot_from_dict(d: dict) -> Snapshot:
    snap = Snapshot(step=int(d["step"]), loss=_num(d["loss"]), lr=float(d["lr"]), ref_loss=float(d["ref_loss"]))
    for s in d["layers"]:
        snap.layers.append(LayerStats(
            index=int(s["index"]), name=str(s["name"]), kind=str(s["kind"]), mean=_num(s["mean"]), std=_num(s["std"]),
            saturation=_num(s["saturation"]), dead=int(s["dead"]), width=int(s["width"]), hist=_hist(s.get("hist")),
            grad_mean=_num(s["grad_mean"]), grad_std=_num(s["grad_std"]), grad_hist=_hist(s.get("grad_hist"))))
    for p in d["params"]:
        snap.params.append(ParamStats(
            name=str(p["name"]), shape=tuple(int(v) for v in p["shape"]), is_matrix=bool(p["is_matrix"]),
            data_std=_num(p["data_std"]), grad_mean=_num(p["grad_mean"]), grad_std=_num(p["grad_std"]),
            grad_data=_num(p["grad_data"]), update_data_log10=_num(p["update_data_log10"]),
            grad_hist=_hist(p.get("grad_hist"))))
    return snap


def load_run(path: str | Path) -> SavedRun:
    """Read a saved run; anything wrong with the file is a RunFileError naming the file and the problem."""
    p = Path(path)
    if not p.exists():
        raise RunFileError(f"{path}: no such file")
    if p.is_dir():
        raise RunFileError(f"{path}: is a directory, not a saved run")
    if not zipfile.is_zipfile(p):
        raise RunFileError(f"{path}: not an initscope run file (not a zip archive; truncated or foreign?)")
    try:
        with zipfile.ZipFile(p) as z:
            names = set(z.namelist())
            if "manifest.json" not in names:
                raise RunFileError(f"{path}: not an initscope run file (no manifest.json)")
            m = json.loads(z.read("manifest.json").decode("utf-8"))
            if not isinstance(m, dict) or m.get("format") != FORMAT:
                raise RunFileError(f"{path}: not an initscope run file (format {m.get('format') if isinstance(m, dict) else None!r})")
            if not isinstance(m.get("version"), int) or m["version"] > VERSION:
                raise RunFileError(f"{path}: written by a newer initscope (run format {m.get('version')}; "
                                   f"this one reads up to {VERSION})")
            missing = {"losses.npy", "history.npz", "snapshots.json", "weights.pt"} - names
            if missing:
                raise RunFileError(f"{path}: damaged, missing {', '.join(sorted(missing))}")
            cfg = Config.from_dict(m["config"])
            losses = np.load(io.BytesIO(z.read("losses.npy")), allow_pickle=False)
            with np.load(io.BytesIO(z.read("history.npz")), allow_pickle=False) as h:
                history = {k: h[k] for k in h.files}
            snaps = [snapshot_from_dict(d) for d in json.loads(z.read("snapshots.json").decode("utf-8"))]
            state = torch.load(io.BytesIO(z.read("weights.pt")), weights_only=True)
    except RunFileError:
        raise
    except ConfigError as e:
        raise RunFileError(f"{path}: its config is invalid ({e})") from None
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise RunFileError(f"{path}: damaged or truncated ({e})") from None
    except (KeyError, ValueError, TypeError, UnicodeDecodeError, RuntimeError, OSError) as e:
        raise RunFileError(f"{path}: damaged ({type(e).__name__}: {e})") from None
    if losses.ndim != 1 or len(losses) != int(m.get("steps", -1)):
        raise RunFileError(f"{path}: damaged (losses hold {losses.shape} values for {m.get('steps')} steps)")
    vocab = [str(c) for c in m.get("vocab", [])]
    run = SavedRun(config=cfg, vocab=vocab, data_path=str(m.get("data_path", "")), status=str(m.get("status", "")),
                   message=str(m.get("message", "")), steps=int(m["steps"]), losses=losses.astype(np.float32),
                   history=history, names={k: list(v) for k, v in dict(m.get("names", {})).items()},
                   snapshots=snaps, split_losses={k: float(v) for k, v in dict(m.get("split_losses", {})).items()},
                   samples=[str(s) for s in m.get("samples", [])], hints=[str(s) for s in m.get("hints", [])],
                   state_dict=state)
    try:
        run.net()  # the weights must fit the config they came with
    except (RuntimeError, ConfigError, ValueError) as e:
        raise RunFileError(f"{path}: damaged (weights do not match its config: {str(e).splitlines()[0]})") from None
    return run


def history_arrays(h: History) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    arrays = {"snap_steps": h.snap_steps.data.copy()}
    for k in HISTORY_KEYS[1:]:
        a = getattr(h, k)
        if a is not None:
            arrays[k] = a.data.copy()
    return arrays, {"layers": list(h.layer_names), "matrices": list(h.matrix_names)}


def history_from_run(run: SavedRun) -> History:
    """Rebuild the buffers the panels draw from, as they were when the run was saved."""
    h = History()
    h.add_losses(0, run.losses)
    h.set_init(run.snapshots[0])
    steps = run.history.get("snap_steps", np.zeros(0, np.int64))
    if len(steps) and "saturation" in run.history:
        h.layer_names = list(run.names.get("layers", []))
        h.matrix_names = list(run.names.get("matrices", []))
        from initscope.core.history import GrowArray

        h.snap_steps.extend(steps)
        for key in HISTORY_KEYS[1:]:
            arr = run.history[key]
            g = GrowArray(arr.shape[1])
            g.extend(arr)
            setattr(h, key, g)
    for s in run.snapshots[1:]:
        h.recent.append(s)
    h.version += 1
    return h


def metrics_csv(run_or_history) -> tuple[str, str]:
    """(per-step loss CSV, per-snapshot per-layer CSV) of a SavedRun or a History."""
    h = history_from_run(run_or_history) if isinstance(run_or_history, SavedRun) else run_or_history
    loss_lines = ["step,loss"] + [f"{s},{v:.7g}" for s, v in zip(h.loss_steps(), h.loss.data)]
    rows = ["step,name,kind,saturation,act_std,grad_std,update_data_log10"]
    if h.saturation is not None:
        for i, step in enumerate(h.snap_steps.data):
            for j, name in enumerate(h.layer_names):
                rows.append(f"{step},{name},layer,{h.saturation.data[i, j]:.7g},{h.act_std.data[i, j]:.7g},"
                            f"{h.grad_std.data[i, j]:.7g},")
            for j, name in enumerate(h.matrix_names):
                rows.append(f"{step},{name},matrix,,,,{h.update.data[i, j]:.7g}")
    return "\n".join(loss_lines) + "\n", "\n".join(rows) + "\n"
