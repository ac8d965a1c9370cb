"""Saved runs: one zip file (suffix .initscope) in a versioned format, written atomically.

Members: manifest.json (format, version, config, data, status, split losses, samples, hints),
losses.npy (every step's loss), history.npz (per-snapshot scalars), snapshots.json (step-0 and the latest
snapshots, histograms included), replay.npz (version 4: every kept snapshot row, histograms as 16-bit counts,
core/replay.py; damaged, it is left out with one line and the rest opens; version 5: a live writer's file holds
the same rows as chunks replay/0000.npz, ... of REPLAY_CHUNK rows, each deflated once) and weights.npz (the state_dict as plain arrays). Nothing is unpickled:
numpy arrays are read with allow_pickle=False; version-1 files carry weights.pt instead, read with
torch.load(weights_only=True).

Loading is hostile-input safe (issue 11): a regular file only; every member's declared size and the total
are bounded before reading, and members are read as a stream with a cap (a zip bomb is "damaged" at once);
the memory a config would need is checked before its net is built; and one validation pass
(`validate_run`) checks types, shapes, lengths, finiteness and names against the net the config builds, so
nothing that loading accepts can crash the report, the CSV export or the GUI. Every problem is one
RunFileError line naming the file.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import pickle
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from initscope import __version__
from initscope.core.config import ACTIVATIONS, Config
from initscope.core.errors import ConfigError, RunFileError, UserError
from initscope.core.files import MAX_JSON_DEPTH, atomic_write_bytes, check_input_file, json_depth_ok, valid_unicode
from initscope.core.history import History
from initscope.core.messages import RUN_FILE_STATUSES, RunStatus
from initscope.core.model import Net
from initscope.core.replay import HISTS, LAYER_FIELDS, PARAM_FIELDS
from initscope.core.replay import KEYS as REPLAY_KEYS
from initscope.core.snapshot import Histogram, LayerStats, ModelInfo, ParamStats, Snapshot

FORMAT = "initscope-run"
VERSION = 5  # 5: the replay rows may come in chunks (replay/0000.npz, ...: a live writer); 4: replay.npz (every kept snapshot, histograms included); 3: watched runs ("source": "watch") and the per-step tier; 2: weights.npz (no pickle); 1: weights.pt
HISTORY_KEYS = ("snap_steps", "saturation", "act_std", "grad_std", "update")
STEP_KEYS = ("step_steps", "step_saturation", "step_act_std", "step_grad_std", "step_update")  # the per-step tier
STATUSES = tuple(s.value for s in RUN_FILE_STATUSES)  # the words a manifest may say
MEMBERS = ("manifest.json", "losses.npy", "history.npz", "snapshots.json")

# bounds checked before anything is decompressed (declared sizes), then again while reading (a stream cap)
MAX_MEMBERS = 64
MAX_MANIFEST = 16 * 2**20
MAX_HISTORY = 128 * 2**20
MAX_SNAPSHOTS = 256 * 2**20
MAX_REPLAY = 512 * 2**20  # 4,096 rows of a net with 200 layers and parameters of 50 bins is ~100 MB
MAX_REPLAY_ROWS = 65_536
# a live writer (`initscope.watch`) keeps the replay rows in members of REPLAY_CHUNK rows, each deflated once and
# copied as it is into every later write: a flush deflates the chunks that changed, not every row of the run
# (a snapshot every step: 36-80 ms a write for 100-600 rows of the lecture's net, deflating all of them)
REPLAY_CHUNK = 128
MAX_WEIGHTS = 2 * 2**30
MAX_TOTAL = 3 * 2**30
MAX_WEIGHT_PARAMS = MAX_WEIGHTS // 4  # a config needing more float32 values could not have been saved


@dataclass
class SavedRun:
    """A run as saved: one the app trained (`source` "app": its config, vocabulary and weights), or a model watched
    in its user's own loop (`source` "watch": `model` describes its layers and parameters; no config, no weights)."""

    config: Config | None
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
    source: str = "app"
    model: ModelInfo | None = None
    step_history: dict[str, np.ndarray] = field(default_factory=dict)  # STEP_KEYS -> arrays, when recorded
    writer: dict = field(default_factory=dict)  # a live file's writer: pid, host, heartbeat (time.time())
    replay: dict[str, np.ndarray] = field(default_factory=dict)  # replay.KEYS -> arrays (version 4), when recorded
    replay_problem: str = ""  # why a file's replay member was left out (damaged): the rest of the run opened

    @property
    def watched(self) -> bool:
        return self.source == "watch"

    @classmethod
    def from_history(cls, h: History, *, config: Config | None, vocab: list[str], data_path: str, status: str,
                     message: str = "", split_losses: dict | None = None, samples: list | None = None,
                     hints: list | None = None, state_dict: dict | None = None) -> SavedRun:
        """An app run as saved, from the History its panels draw: every step's loss, the snapshot rows, the
        per-step tier when it was recorded (diag.step_stats: the CLI's and the window's saves dropped it), step 0
        and the kept snapshots, the replay rows. The one place both build a run from (issue 21)."""
        arrays, names = history_arrays(h)
        step_history = {}
        if h.step_saturation is not None and len(h.step_steps):
            step_history = dict(zip(STEP_KEYS, (a.data.copy() for a in h._step_arrays())))
        snaps = h.whole_snapshots()
        return cls(config=config, vocab=list(vocab), data_path=data_path, status=status, message=message,
                   steps=len(h.loss), losses=h.loss.data.copy(), history=arrays, names=names, snapshots=snaps,
                   split_losses=dict(split_losses or {}), samples=list(samples or []), hints=list(hints or []),
                   state_dict=dict(state_dict or {}), step_history=step_history, replay=replay_arrays(h))

    def net(self) -> Net:
        if self.config is None:
            raise RunFileError("a watched run keeps no weights: its model is its script's")
        net = Net(self.config, len(self.vocab))
        net.load_state_dict(self.state_dict)
        return net


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _array(v) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    return np.array(v)  # a copy; keeps 0-d arrays 0-d (ascontiguousarray would make them 1-d)


def save_run(path: str | Path, run: SavedRun) -> None:
    """Write `run` atomically, after checking that the bytes load back (`validate_run`): a file already at
    `path` is replaced only by a complete, valid run. Raises RunFileError (invalid run) or UserError (path)."""
    raw = _validated_bytes(run, f"not saved to {path}: the run")
    atomic_write_bytes(Path(path), raw)


def _run_bytes(run: SavedRun, snapshot_json: list[str] | None = None, level: int = 6,
               replay_cache: dict | None = None) -> bytes:
    """The file's bytes. `snapshot_json`: the snapshots already serialised (a live writer keeps them, so a flush
    does not serialise every snapshot again); `level`: zlib's, 1 for a live writer's frequent flushes;
    `replay_cache` (a live writer's, kept between its writes): the replay rows go in chunks (REPLAY_CHUNK), each
    deflated only when its rows changed."""
    manifest = {"format": FORMAT, "version": VERSION, "initscope": __version__, "source": run.source,
                "config": run.config.to_dict() if run.config is not None else None,
                "vocab": run.vocab, "data_path": run.data_path, "status": str(run.status), "message": run.message,
                "steps": run.steps, "split_losses": run.split_losses, "samples": run.samples, "hints": run.hints,
                "names": run.names}
    if run.model is not None:
        manifest["model"] = run.model.to_dict()
    if run.writer:
        manifest["writer"] = run.writer
    hist = io.BytesIO()
    np.savez(hist, **{k: run.history[k] for k in HISTORY_KEYS if k in run.history},
             **{k: run.step_history[k] for k in STEP_KEYS if k in run.step_history})
    snaps = snapshot_json if snapshot_json is not None else [json.dumps(s.to_dict(histograms=True)) for s in run.snapshots]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=1))
        z.writestr("losses.npy", _npy(np.asarray(run.losses, np.float32)))
        z.writestr("history.npz", hist.getvalue())
        z.writestr("snapshots.json", "[" + ",".join(snaps) + "]")
        if run.replay and replay_cache is not None:
            for name, data in _replay_chunks(run.replay, level, replay_cache):
                z.writestr(name, data, compress_type=zipfile.ZIP_STORED)  # deflated inside already
        elif run.replay:
            rep = io.BytesIO()
            np.savez(rep, **{k: run.replay[k] for k in REPLAY_KEYS})
            z.writestr("replay.npz", rep.getvalue())
        if not run.watched:
            weights = io.BytesIO()
            np.savez(weights, **{k: _array(v) for k, v in run.state_dict.items()})
            z.writestr("weights.npz", weights.getvalue())
    return buf.getvalue()


def _replay_chunks(replay: dict[str, np.ndarray], level: int, cache: dict) -> list[tuple[str, bytes]]:
    """The replay rows as members replay/0000.npz, ... of REPLAY_CHUNK rows each: an .npz whose arrays are
    deflated at `level`. `cache` maps a chunk's number to (its rows' fingerprint, its bytes): a chunk whose rows
    are as they were (a CRC of every array, with shapes and dtypes) is not deflated again."""
    rows = len(replay["steps"])
    out = []
    for c in range(-(-rows // REPLAY_CHUNK)):
        part = {k: np.ascontiguousarray(replay[k][c * REPLAY_CHUNK: (c + 1) * REPLAY_CHUNK]) for k in REPLAY_KEYS}
        crc, shapes = 0, []
        for k, a in part.items():
            crc = zlib.crc32(memoryview(a).cast("B"), crc)
            shapes.append((k, a.shape, a.dtype.str))
        fp = (crc, tuple(shapes), level)
        got = cache.get(c)
        if got is None or got[0] != fp:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as inner:
                for k, a in part.items():
                    with inner.open(f"{k}.npy", "w") as f:
                        np.lib.format.write_array(f, a, allow_pickle=False)
            got = cache[c] = (fp, buf.getvalue())
        out.append((f"replay/{c:04d}.npz", got[1]))
    for c in [c for c in cache if c >= len(out)]:  # thinned: fewer chunks than before
        del cache[c]
    return out


# --- reading: snapshots -------------------------------------------------------

class _Bad(Exception):
    """A validation failure inside load_run; turned into one RunFileError line naming the file."""


def _expect(cond: bool, msg: str) -> None:
    if not cond:
        raise _Bad(msg)


def _int_of(x, what: str, lo: int | None = 0) -> int:
    _expect(isinstance(x, int) and not isinstance(x, bool), f"{what} is {x!r}, not an integer")
    _expect(lo is None or x >= lo, f"{what} is {x}, below {lo}")
    return x


def _float_of(x, what: str) -> float:
    """A number; None (how JSON carries NaN/inf) reads as NaN."""
    if x is None:
        return float("nan")
    _expect(isinstance(x, (int, float)) and not isinstance(x, bool), f"{what} is {x!r}, not a number")
    return float(x)


def _str_of(x, what: str) -> str:
    _expect(isinstance(x, str), f"{what} is {type(x).__name__}, not text")
    _expect(valid_unicode(x), f"{what} is not valid Unicode (a lone surrogate)")
    return x


def _hist(d, what: str) -> Histogram | None:
    if d is None:
        return None
    _expect(isinstance(d, dict) and {"counts", "lo", "hi"} <= set(d), f"{what} is not a histogram")
    counts = d["counts"]
    _expect(isinstance(counts, list) and 1 <= len(counts) <= 100_000, f"{what} has no bins")
    _expect(all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in counts), f"{what}: counts are not numbers")
    arr = np.asarray(counts, np.float64)
    _expect(bool(np.all(np.isfinite(arr))) and bool(np.all(arr >= 0)) and bool(np.all(arr <= 2**53)),
            f"{what}: counts must be whole numbers of examples")
    lo, hi = _float_of(d["lo"], f"{what} lo"), _float_of(d["hi"], f"{what} hi")
    _expect(math.isfinite(lo) and math.isfinite(hi) and lo <= hi, f"{what}: range {lo}..{hi} is not valid")
    return Histogram(arr.astype(np.float32), lo, hi)


def _snapshot(d, what: str, watched: bool = False) -> Snapshot:
    """A snapshot's JSON; a watched model's may have layers not called yet (width 0) and parameters of any shape."""
    _expect(isinstance(d, dict), f"{what} is not an object")
    for k in ("step", "loss", "lr", "ref_loss", "layers", "params"):
        _expect(k in d, f"{what} has no '{k}'")
    snap = Snapshot(step=_int_of(d["step"], f"{what} step"), loss=_float_of(d["loss"], f"{what} loss"),
                    lr=_float_of(d["lr"], f"{what} lr"), ref_loss=_float_of(d["ref_loss"], f"{what} ref_loss"))
    _expect(isinstance(d["layers"], list) and isinstance(d["params"], list), f"{what}: layers/params are not lists")
    for j, s in enumerate(d["layers"]):
        w = f"{what} layer {j}"
        _expect(isinstance(s, dict), f"{w} is not an object")
        try:
            snap.layers.append(LayerStats(
                index=_int_of(s["index"], f"{w} index"), name=_str_of(s["name"], f"{w} name"),
                kind=_str_of(s["kind"], f"{w} kind"), mean=_float_of(s["mean"], f"{w} mean"),
                std=_float_of(s["std"], f"{w} std"), saturation=_float_of(s["saturation"], f"{w} saturation"),
                dead=_int_of(s["dead"], f"{w} dead"), width=_int_of(s["width"], f"{w} width", 0 if watched else 1),
                hist=_hist(s.get("hist"), f"{w} histogram"), grad_mean=_float_of(s["grad_mean"], f"{w} grad_mean"),
                grad_std=_float_of(s["grad_std"], f"{w} grad_std"),
                grad_hist=_hist(s.get("grad_hist"), f"{w} gradient histogram")))
        except KeyError as e:
            raise _Bad(f"{w} has no {e}") from None
    for j, p in enumerate(d["params"]):
        w = f"{what} parameter {j}"
        _expect(isinstance(p, dict), f"{w} is not an object")
        try:
            shape = p["shape"]
            _expect(isinstance(shape, list) and ((0 <= len(shape) <= 8) if watched else (1 <= len(shape) <= 2)),
                    f"{w} shape is {shape!r}")  # a watched model's parameters: any shape (a conv's is 4-D)
            _expect(isinstance(p["is_matrix"], bool), f"{w} is_matrix is {p['is_matrix']!r}, not true or false")
            snap.params.append(ParamStats(
                name=_str_of(p["name"], f"{w} name"), shape=tuple(_int_of(v, f"{w} shape") for v in shape),
                is_matrix=p["is_matrix"],
                data_std=_float_of(p["data_std"], f"{w} data_std"), grad_mean=_float_of(p["grad_mean"], f"{w} grad_mean"),
                grad_std=_float_of(p["grad_std"], f"{w} grad_std"), grad_data=_float_of(p["grad_data"], f"{w} grad_data"),
                update_data_log10=_float_of(p["update_data_log10"], f"{w} update_data_log10"),
                grad_hist=_hist(p.get("grad_hist"), f"{w} gradient histogram")))
        except KeyError as e:
            raise _Bad(f"{w} has no {e}") from None
    return snap


# --- reading: the zip, bounded ------------------------------------------------

def _read_member(z: zipfile.ZipFile, name: str, cap: int) -> bytes:
    """A member's bytes, refusing a declared size over `cap` before reading and stopping at `cap` while
    reading (a lying header cannot make it read more)."""
    info = z.getinfo(name)
    _expect(info.file_size <= cap, f"{name} would unpack to {info.file_size:,} bytes (limit {cap:,})")
    with z.open(info) as f:
        data = f.read(cap + 1)
    _expect(len(data) <= cap, f"{name} unpacks to more than {cap:,} bytes")
    return data


def _npy_load(raw: bytes, what: str):
    try:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - numpy's header parser raises many kinds (tokenize.TokenError, ...)
        raise _Bad(f"{what} is not a plain numpy file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def _npz_dict(raw: bytes, what: str, max_keys: int = 100_000, max_bytes: int | None = None,
              shapes: dict[str, tuple] | None = None, max_rows: int | None = None,
              mismatch: str = "does not match") -> dict[str, np.ndarray]:
    """The arrays of an .npz (itself a zip: its members may be compressed). Each array's npy header is read
    first and checked (issue 20: a 1.4 MB run file inflated to 1.55 GB before it was called damaged): a plain
    numeric dtype, the shape `shapes` names for its key, at most `max_rows` rows, and all of them together at
    most `max_bytes` (default: the raw size's cap the caller read it with, len(raw) x 1, i.e. no inflation
    beyond what an uncompressed archive holds). Only then is an array read, as a bounded stream."""
    budget = len(raw) if max_bytes is None else max_bytes
    try:
        inner = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, ValueError, EOFError) as e:
        raise _Bad(f"{what} is not a numpy archive ({str(e)[:80]})") from None
    with inner:
        infos = inner.infolist()
        _expect(len(infos) <= max_keys, f"{what} holds {len(infos)} arrays")
        headers = []
        for info in infos:
            _expect(info.filename.endswith(".npy"), f"{what} holds {info.filename[:60]!r}, not an array")
            key = info.filename[:-4]
            with inner.open(info) as f:
                shape, fortran, dtype = _npy_header(f, f"{what} {key[:60]}")
            headers.append((info, key, shape, fortran, dtype))
            _expect(dtype.kind in "biuf" or shapes is None, f"{mismatch} ({key[:60]} holds {dtype}, not numbers)")
            if shapes is not None:
                _expect(key in shapes, f"{mismatch} (other names: {key[:60]!r})")
                _expect(shape == shapes[key], f"{mismatch} ({key[:60]} is {dtype} {shape}, expected {shapes[key]})")
            if max_rows is not None:
                _expect(not shape or shape[0] <= max_rows, f"{what} {key[:60]} has {shape[0]:,} rows, more than the "
                        f"run's {max_rows:,} steps allow")
            budget -= int(np.prod(shape, dtype=object)) * dtype.itemsize
            _expect(budget >= 0, f"{what} would unpack to more than its limit of "
                    f"{(len(raw) if max_bytes is None else max_bytes):,} bytes")
        out = {}
        for info, key, shape, fortran, dtype in headers:
            with inner.open(info) as f:
                _npy_header(f, what)
                out[key] = _npy_body(f, shape, fortran, dtype, f"{what} {key[:60]}")
        return out


def _npy_header(f, what: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """An npy stream's (shape, fortran order, dtype), read without its data; only plain numbers pass."""
    from numpy.lib import format as npf

    try:
        version = npf.read_magic(f)
        read = {(1, 0): npf.read_array_header_1_0, (2, 0): npf.read_array_header_2_0}.get(version)
        _expect(read is not None, f"{what} has npy format {version}")
        shape, fortran, dtype = read(f)
    except _Bad:
        raise
    except Exception as e:  # noqa: BLE001 - numpy's header parser raises many kinds: the file is damaged
        raise _Bad(f"{what} is not a plain numpy array ({str(e).splitlines()[0][:100] if str(e) else type(e).__name__})") from None
    _expect(not dtype.hasobject, f"{what} is not plain numpy (it holds Python objects; refused, nothing in it was run)")
    _expect(dtype.itemsize <= 64, f"{what} holds {dtype}")
    _expect(all(isinstance(n, int) and n >= 0 for n in shape), f"{what} has the shape {shape}")
    return tuple(shape), bool(fortran), dtype


def _npy_body(f, shape: tuple[int, ...], fortran: bool, dtype: np.dtype, what: str) -> np.ndarray:
    """The array after the header, read straight into its own buffer (no bytes copy) and exactly its size."""
    arr = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    view = memoryview(arr.reshape(-1, order="A").view(np.uint8)) if arr.size else memoryview(b"")
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    _expect(got == len(view), f"{what} is truncated ({got:,} of {len(view):,} bytes)")
    _expect(not f.read(1), f"{what} holds more bytes than its shape")
    return arr


def _npy_member(z: zipfile.ZipFile, name: str, shape: tuple[int, ...], kinds: str) -> np.ndarray:
    """A top-level .npy member whose shape the manifest and config give: the header is checked before any data
    is read (a file claiming 150 M losses peaked at 10.3 GB before)."""
    info = z.getinfo(name)
    cap = 65536 + 8 * int(np.prod(shape, dtype=object))
    _expect(info.file_size <= cap, f"{name} would unpack to {info.file_size:,} bytes (limit {cap:,})")
    with z.open(info) as f:
        got, fortran, dtype = _npy_header(f, name)
        _expect(got == shape and dtype.kind in kinds, f"{name} holds {dtype} of shape {got}, expected {shape}")
        return _npy_body(f, got, fortran, dtype, name)


def _check_load_memory(path, steps: int) -> None:
    """The losses alone are 12 bytes a step while loading (as written, then float32): refuse a file whose steps
    could not be loaded within the memory limit, before reading them."""
    from initscope.core.budget import default_limit, format_bytes

    need, limit = 12 * steps, default_limit()
    if limit is not None and need > limit:
        raise RunFileError(f"{path}: its {steps:,} steps need {format_bytes(need)} of memory to load "
                           f"(limit {format_bytes(limit)}, half of this machine's)")


def _weights_v1(raw: bytes) -> dict[str, np.ndarray]:
    """weights.pt of version-1 files: torch.load(weights_only=True) never runs planted code; anything it
    refuses (a malicious pickle included) is one line."""
    try:
        with warnings.catch_warnings():  # torch warns about odd pickles on stderr: the one line says it all
            warnings.simplefilter("ignore")
            state = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:  # torch's text goes on to suggest weights_only=False: never for a file
        raise _Bad("weights.pt cannot be read safely (it holds objects other than plain tensors; "
                   "refused, nothing in it was run)") from None
    except (RuntimeError, ValueError, EOFError, TypeError, AttributeError, KeyError,
            ImportError, IndexError, OSError, UnicodeDecodeError, zipfile.BadZipFile, MemoryError) as e:
        first = str(e).splitlines()[0][:200] if str(e) else ""
        raise _Bad(f"weights.pt cannot be read safely ({type(e).__name__}{': ' + first if first else ''})") from None
    _expect(isinstance(state, dict), "weights.pt is not a state_dict")
    out = {}
    for k, v in state.items():
        _expect(isinstance(k, str) and isinstance(v, torch.Tensor), "weights.pt holds something other than tensors")
        out[k] = v.detach().cpu().numpy()
    return out


def load_run(path: str | Path) -> SavedRun:
    """Read and validate a saved run; anything wrong with the file is a RunFileError naming the file and the problem."""
    check_input_file(path, RunFileError, "saved run")
    try:
        ok = zipfile.is_zipfile(path)
    except OSError as e:
        raise RunFileError(f"{path}: cannot read ({e.strerror or e})") from None
    if not ok:
        raise RunFileError(f"{path}: not an initscope run file (not a zip archive; truncated or foreign?)")
    try:
        with zipfile.ZipFile(path) as z, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. numpy's overflow on a cast: the checks after it say what is wrong
            return _load(z, path)
    except RunFileError:
        raise
    except _Bad as e:
        raise RunFileError(f"{path}: damaged ({e})") from None
    except ConfigError as e:
        raise RunFileError(f"{path}: its config is invalid ({e})") from None
    except UserError as e:
        raise RunFileError(f"{path}: {e}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError) as e:
        raise RunFileError(f"{path}: damaged or truncated ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    except Exception as e:  # noqa: BLE001 - the last resort for untrusted bytes: one line, never a traceback
        first = str(e).splitlines()[0][:200] if str(e) else ""
        raise RunFileError(f"{path}: damaged ({type(e).__name__}{': ' + first if first else ''})") from None


def _manifest_fields(m: dict):
    """The manifest's fields shared by app and watched runs, each of its type."""
    status = _str_of(m.get("status", RunStatus.FINISHED), "manifest status")
    _expect(status in STATUSES, f"manifest status {status[:40]!r} is not one of {', '.join(STATUSES)}")
    status = RunStatus(status)
    message = _str_of(m.get("message", ""), "manifest message")
    data_path = _str_of(m.get("data_path", ""), "manifest data_path")
    split = m.get("split_losses", {})
    _expect(isinstance(split, dict), f"manifest split_losses is {type(split).__name__}, not an object")
    split_losses = {_str_of(k, "split name"): _float_of(v, f"split loss {k!r}") for k, v in split.items()}
    lists = {}
    for key in ("samples", "hints"):
        v = m.get(key, [])
        _expect(isinstance(v, list) and all(isinstance(x, str) for x in v), f"manifest {key} is not a list of text")
        lists[key] = list(v)
    raw_names = m.get("names", {})
    _expect(isinstance(raw_names, dict), f"manifest names is {type(raw_names).__name__}, not an object")
    names_ = {}
    for key, v in raw_names.items():
        _expect(isinstance(v, list) and all(isinstance(x, str) for x in v), f"manifest names.{key} is not a list of names")
        names_[str(key)] = list(v)
    return status, message, data_path, split_losses, lists, names_


def _history(z: zipfile.ZipFile, steps: int, expected_names: dict[str, list[str]], names_: dict, finite: bool):
    """history.npz: the per-snapshot rows (HISTORY_KEYS) and the per-step tier (STEP_KEYS), checked against the
    columns the run's layers and matrices give; `finite`: NaN / inf refused (an app run that did not diverge)."""
    history = _npz_dict(_read_member(z, "history.npz", MAX_HISTORY), "history.npz", len(HISTORY_KEYS) + len(STEP_KEYS),
                        max_bytes=MAX_HISTORY, max_rows=steps + 1)
    unknown = set(history) - set(HISTORY_KEYS) - set(STEP_KEYS)
    _expect(not unknown, f"history.npz holds unknown arrays ({', '.join(sorted(unknown))[:80]})")
    step_history = {k: history.pop(k) for k in STEP_KEYS if k in history}
    cols = (("layers", "layers", "layers", "matrices"))
    for steps_key, keys in (("snap_steps", HISTORY_KEYS[1:]), ("step_steps", STEP_KEYS[1:])):
        src = history if steps_key == "snap_steps" else step_history
        ss = src.get(steps_key)
        if ss is None or len(ss) == 0:
            for key in keys:
                _expect(key not in src or src[key].size == 0, f"history {key} has rows but no {steps_key}")
            src.clear()
            continue
        _expect(ss.dtype.kind in "iu" and ss.ndim == 1, f"history {steps_key} are {ss.dtype} of shape {ss.shape}, not step numbers")
        ss = src[steps_key] = ss.astype(np.int64)
        _expect(bool(np.all(ss >= 0)) and bool(np.all(ss <= steps)) and bool(np.all(np.diff(ss) > 0)),
                f"history {steps_key} are not increasing steps of the run")
        for key, names_key in zip(keys, cols):
            _expect(key in src, f"history has no {key}")
            a = src[key]
            want = (len(ss), len(expected_names[names_key]))
            _expect(a.dtype.kind == "f" and a.shape == want, f"history {key} is {a.dtype} {a.shape}, expected {want}")
            _expect(not finite or steps_key == "step_steps" or bool(np.all(np.isfinite(a))), f"history {key} holds NaN or inf")
            src[key] = a.astype(np.float32)
        _expect(names_.get("layers") == expected_names["layers"] and names_.get("matrices") == expected_names["matrices"],
                "manifest names do not match the history's columns")
    return history, step_history


def _load(z: zipfile.ZipFile, path) -> SavedRun:
    """An app run, read member by member; each step checks what it reads against the config (see below)."""
    m, members, version = _manifest(z, path)
    if m.get("source", "app") == "watch":
        return _load_watched(z, m, members, path)
    weights_member = "weights.npz" if version >= 2 else "weights.pt"
    missing = set(MEMBERS + (weights_member,)) - members
    if missing:
        raise RunFileError(f"{path}: damaged, missing {', '.join(sorted(missing))}")
    f = _app_fields(m)
    exp = _expected(f.cfg, f.vocab, f.names)
    _check_load_memory(path, f.steps)
    losses = _losses(z, f.steps, f.status)
    # non-finite diagnostics are data (log10 of a zero update at lr 0 or gain 0 is -inf; issue 20): only the losses
    # and the weights must be finite in a run that did not diverge
    history, step_history = _history(z, f.steps, exp.names, f.names, finite=False)
    snaps = _snapshots(z, f.steps, f.cfg.diag.hist_bins, exp)
    state = _weights(z, weights_member, version, exp.state, f.status)
    run = SavedRun(config=f.cfg, vocab=f.vocab, data_path=f.data_path, status=f.status, message=f.message,
                   steps=f.steps, losses=losses, history=history,
                   names=f.names if history or step_history else {"layers": [], "matrices": []},
                   snapshots=snaps, split_losses=f.split_losses, samples=f.samples, hints=f.hints,
                   state_dict=state, step_history=step_history)
    run.replay, run.replay_problem = _replay_or_problem(z, members, snaps, f.steps)
    try:
        run.net()  # the weights must load into the net they came with (dtypes included)
    except (RuntimeError, ConfigError, ValueError, TypeError) as e:
        raise RunFileError(f"{path}: damaged (weights do not match its config: {str(e).splitlines()[0]})") from None
    return run


# --- the members and the manifest: bounds first, then the format and its version ------------------------
def _manifest(z: zipfile.ZipFile, path) -> tuple[dict, set[str], int]:
    """The archive's bounds, then manifest.json: (manifest, member names, format version)."""
    infos = z.infolist()
    _expect(len(infos) <= MAX_MEMBERS, f"{len(infos)} members (at most {MAX_MEMBERS})")
    names = {i.filename for i in infos}
    _expect(len(names) == len(infos), "a member appears twice")
    _expect(sum(i.file_size for i in infos) <= MAX_TOTAL, f"it would unpack to more than {MAX_TOTAL // 2**30} GB")
    if "manifest.json" not in names:
        raise RunFileError(f"{path}: not an initscope run file (no manifest.json)")
    try:
        m = json.loads(_read_member(z, "manifest.json", MAX_MANIFEST).decode("utf-8"))
    except RecursionError:
        raise _Bad("manifest.json is nested too deeply") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise RunFileError(f"{path}: not an initscope run file (format {m.get('format') if isinstance(m, dict) else None!r})")
    _expect(json_depth_ok(m), f"manifest.json is nested more than {MAX_JSON_DEPTH} levels")
    _expect(valid_unicode(m), "manifest.json holds text that is not valid Unicode (a lone surrogate)")
    version = m.get("version")
    if isinstance(version, str) and version.strip().isdigit():
        raise RunFileError(f"{path}: damaged (manifest version is the text {version!r}; it must be the number {int(version)})")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RunFileError(f"{path}: damaged (manifest version is {version!r}, not a format number)")
    if version > VERSION:
        raise RunFileError(f"{path}: written by a newer initscope (run format {version}; this one reads up to {VERSION})")
    source = m.get("source", "app")
    _expect(source in ("app", "watch"), f"manifest source {str(source)[:40]!r} is not 'app' or 'watch'")
    return m, names, version


# --- the manifest's fields, each of its type -------------------------------------------------------------
@dataclass
class _AppFields:
    cfg: Config
    steps: int
    vocab: list[str]
    status: RunStatus
    message: str
    data_path: str
    split_losses: dict[str, float]
    samples: list[str]
    hints: list[str]
    names: dict[str, list[str]]


def _app_fields(m: dict) -> _AppFields:
    for key in ("config", "vocab", "steps"):
        _expect(key in m, f"manifest has no '{key}'")
    cfg = Config.from_dict(m["config"])
    steps = _int_of(m["steps"], "manifest steps")
    vocab = m["vocab"]
    _expect(isinstance(vocab, list) and 2 <= len(vocab) <= 4096, f"manifest vocab is {type(vocab).__name__} "
            f"of {len(vocab) if isinstance(vocab, list) else '?'} entries, not a list of tokens")
    _expect(all(isinstance(c, str) and len(c) == 1 for c in vocab), "manifest vocab holds entries that are not single characters")
    _expect(len(set(vocab)) == len(vocab), "manifest vocab repeats a character")
    status, message, data_path, split_losses, lists, names_ = _manifest_fields(m)
    if status in (RunStatus.READY, RunStatus.RUNNING):  # an app run is saved done; one that says otherwise opened
        status, message = RunStatus.INTERRUPTED, message or "saved while it was still training"  # as "starting..."
    return _AppFields(cfg, steps, [str(c) for c in vocab], status, message, data_path, split_losses,
                      lists["samples"], lists["hints"], names_)


# --- the net the config builds: checked against memory before anything is allocated ----------------------
@dataclass
class _Expected:
    """What the config says a file of its run holds: the resolved stack's entries and widths, its parameters
    (as the panels name them) and its state dict's shapes, and the history's column names."""

    layers: list[tuple[int, str, str]]  # (flat index, name, kind) of every non-Linear entry
    acts: list[tuple[int, str, str]]  # the activations among them
    widths: dict[int, int]  # flat index -> output width
    params: list[tuple[str, tuple]]
    state: dict[str, tuple]
    names: dict[str, list[str]]


def _expected(cfg: Config, vocab: list[str], names_: dict[str, list[str]]) -> _Expected:
    from initscope.core.budget import n_parameters

    flat = cfg.model.resolve(len(vocab))  # the one walk of the stack: widths, kinds, names (issue 21)
    n_par = n_parameters(cfg, len(vocab))
    _expect(n_par <= MAX_WEIGHT_PARAMS, f"its config needs {n_par:,} parameters, more than a run file can hold")
    with torch.device("meta"):
        try:
            shape_net = Net(cfg, len(vocab))  # parameter names and shapes only: nothing is allocated
        except ConfigError as e:
            raise ConfigError(str(e)) from None
    # snapshots list every non-Linear entry (activations, norms, residual streams); files written before those
    # kinds existed list the activations only, and both read; the history's columns are the activations
    layers = [(r.index, r.name, r.kind) for r in flat if r.kind != "linear"]
    acts = [t for t in layers if t[2] in ACTIVATIONS]
    params = [(n, tuple(p.shape)) for n, p in shape_net.named_params()]
    names = {"layers": [n for _, n, _ in acts], "matrices": [n for n, shp in params if len(shp) == 2]}
    for key, v in names_.items():
        _expect(key in names, f"manifest names has an unknown list {key[:40]!r}")
        _expect(v == names[key] or v == [], f"manifest names.{key} do not match the layers of its config")
    return _Expected(layers, acts, {r.index: r.width for r in flat}, params,
                     {k: tuple(v.shape) for k, v in shape_net.state_dict().items()}, names)


# --- losses ----------------------------------------------------------------------------------------------
def _losses(z: zipfile.ZipFile, steps: int, status: RunStatus) -> np.ndarray:
    losses = _npy_member(z, "losses.npy", (steps,), "f").astype(np.float32, copy=False)
    finite = np.isfinite(losses)
    # a diverged run ends with the non-finite loss that stopped it; nothing else may be NaN or inf
    _expect(bool(finite[:-1].all()) if status == RunStatus.DIVERGED else bool(finite.all()),
            "losses hold NaN or inf before the end of the run")
    return losses


# --- snapshots -------------------------------------------------------------------------------------------
def _snapshots(z: zipfile.ZipFile, steps: int, bins: int, exp: _Expected) -> list[Snapshot]:
    try:
        raw_snaps = json.loads(_read_member(z, "snapshots.json", MAX_SNAPSHOTS).decode("utf-8"))
    except RecursionError:
        raise _Bad("snapshots.json is nested too deeply") from None
    _expect(isinstance(raw_snaps, list) and 1 <= len(raw_snaps) <= 10_000, "snapshots.json is not a non-empty list of snapshots")
    snaps = [_snapshot(d, f"snapshot {i}") for i, d in enumerate(raw_snaps)]
    _expect(snaps[0].step == 0, f"the first snapshot is at step {snaps[0].step}, not the step-0 one")
    for i, snap in enumerate(snaps):
        _expect(snap.step <= steps, f"snapshot {i} is at step {snap.step}, past the run's {steps}")
        got_layers = [(s.index, s.name, s.kind) for s in snap.layers]
        _expect(got_layers in (exp.layers, exp.acts), f"snapshot {i}'s layers do not match its config")
        _expect([(p.name, p.shape) for p in snap.params] == exp.params, f"snapshot {i}'s parameters do not match its config")
        for s in snap.layers:
            _expect(s.width == exp.widths[s.index] and 0 <= s.dead <= s.width,
                    f"snapshot {i}: {s.name} width {s.width} or dead {s.dead} does not fit its config")
            for h in (s.hist, s.grad_hist):
                _expect(h is None or len(h.counts) == bins, f"snapshot {i}: {s.name} histogram has the wrong number of bins")
        for p in snap.params:
            _expect(p.is_matrix == (len(p.shape) == 2), f"snapshot {i}: {p.name} is_matrix does not fit its shape")
            _expect(p.grad_hist is None or len(p.grad_hist.counts) == bins, f"snapshot {i}: {p.name} histogram has the wrong number of bins")
    _expect(all(a.step <= b.step for a, b in itertools.pairwise(snaps[1:])), "snapshots are not in step order")
    return snaps


# --- weights: plain arrays of the config's shapes ----------------------------------------------------------
def _weights(z: zipfile.ZipFile, member: str, version: int, expected: dict[str, tuple],
             status: RunStatus) -> dict[str, torch.Tensor]:
    cap = 64 * 1024 + 4096 * len(expected) + 8 * sum(int(np.prod(s)) for s in expected.values())
    raw_w = _read_member(z, member, cap)
    arrays = (_npz_dict(raw_w, "weights.npz", 10 * len(expected) + 10, max_bytes=cap, shapes=expected,
                        mismatch="weights do not match its config")
              if version >= 2 else _weights_v1(raw_w))
    _expect(set(arrays) == set(expected), "weights do not match its config (other parameter names)")
    state: dict[str, torch.Tensor] = {}
    for k, a in arrays.items():
        _expect(a.dtype.kind in "fiu" and tuple(a.shape) == expected[k],
                f"weights do not match its config ({k} is {a.dtype} {tuple(a.shape)}, expected {expected[k]})")
        _expect(status == RunStatus.DIVERGED or a.dtype.kind != "f" or bool(np.all(np.isfinite(a))),
                f"weight {k} holds NaN or inf")
        state[k] = torch.from_numpy(np.array(a))
    return state


MAX_WATCH_ENTRIES = 100_000  # layers or parameters of a watched model a file may describe


def _model_info(d) -> ModelInfo:
    _expect(isinstance(d, dict), "manifest has no model description")
    cls = _str_of(d.get("class", ""), "model class")
    layers, params = d.get("layers"), d.get("params")
    _expect(isinstance(layers, list) and len(layers) <= MAX_WATCH_ENTRIES, "model layers are not a list")
    _expect(isinstance(params, list) and len(params) <= MAX_WATCH_ENTRIES, "model params are not a list")
    info = ModelInfo(cls[:200])
    for j, e in enumerate(layers):
        _expect(isinstance(e, dict), f"model layer {j} is not an object")
        info.layers.append((_str_of(e.get("name"), f"model layer {j} name")[:500], _str_of(e.get("kind"), f"model layer {j} kind")[:200],
                            _int_of(e.get("width"), f"model layer {j} width")))
    for j, e in enumerate(params):
        _expect(isinstance(e, dict), f"model parameter {j} is not an object")
        shape = e.get("shape")
        _expect(isinstance(shape, list) and len(shape) <= 8, f"model parameter {j} shape is {shape!r}")
        info.params.append((_str_of(e.get("name"), f"model parameter {j} name")[:500],
                            tuple(_int_of(v, f"model parameter {j} shape") for v in shape)))
    return info


def _load_watched(z: zipfile.ZipFile, m: dict, members: set[str], path) -> SavedRun:
    """A run recorded by `initscope.watch`: checked against the model description it carries (no config,
    no weights). Losses and statistics may hold NaN / inf: a watched run records what happened."""
    missing = set(MEMBERS) - members
    if missing:
        raise RunFileError(f"{path}: damaged, missing {', '.join(sorted(missing))}")
    _expect("steps" in m, "manifest has no 'steps'")
    steps = _int_of(m["steps"], "manifest steps")
    model = _model_info(m.get("model"))
    status, message, data_path, split_losses, lists, names_ = _manifest_fields(m)
    writer = m.get("writer", {})
    _expect(isinstance(writer, dict), "manifest writer is not an object")
    expected_names = {"layers": [n for n, _, _ in model.layers], "matrices": model.matrices}
    for key, v in names_.items():
        _expect(key in expected_names and (v == expected_names[key] or v == []),
                f"manifest names.{key[:40]} do not match its model")
    _check_load_memory(path, steps)
    losses = _npy_member(z, "losses.npy", (steps,), "f")
    history, step_history = _history(z, steps, expected_names, names_, finite=False)
    try:
        raw_snaps = json.loads(_read_member(z, "snapshots.json", MAX_SNAPSHOTS).decode("utf-8"))
    except RecursionError:
        raise _Bad("snapshots.json is nested too deeply") from None
    _expect(isinstance(raw_snaps, list) and len(raw_snaps) <= 10_000, "snapshots.json is not a list of snapshots")
    snaps = [_snapshot(d, f"snapshot {i}", watched=True) for i, d in enumerate(raw_snaps)]
    want_layers = [(i, n, k) for i, (n, k, _) in enumerate(model.layers)]
    bins = None
    for i, snap in enumerate(snaps):
        _expect(snap.step <= steps, f"snapshot {i} is at step {snap.step}, past the run's {steps}")
        _expect([(s.index, s.name, s.kind) for s in snap.layers] == want_layers, f"snapshot {i}'s layers do not match its model")
        _expect([(p.name, p.shape) for p in snap.params] == model.params, f"snapshot {i}'s parameters do not match its model")
        for h in [h for s in snap.layers for h in (s.hist, s.grad_hist)] + [p.grad_hist for p in snap.params]:
            if h is not None:
                bins = bins or len(h.counts)
                _expect(len(h.counts) == bins, f"snapshot {i}: histograms have different numbers of bins")
    _expect(all(a.step < b.step for a, b in itertools.pairwise(snaps)), "snapshots are not in step order")
    replay, problem = _replay_or_problem(z, members, snaps, steps)
    return SavedRun(config=None, vocab=[], data_path=data_path, status=status, message=message, steps=steps,
                    losses=losses.astype(np.float32), history=history,
                    names=names_ if history or step_history else {"layers": [], "matrices": []}, snapshots=snaps,
                    split_losses=split_losses, samples=lists["samples"], hints=lists["hints"], source="watch",
                    model=model, step_history=step_history, writer=dict(writer), replay=replay, replay_problem=problem)


# --- reading: the replay rows (versions 4 and 5) ------------------------------------------------------------------

def _replay_or_problem(z: zipfile.ZipFile, members: set[str], snaps: list[Snapshot], steps: int) -> tuple[dict, str]:
    """The replay rows (replay.npz, or a live writer's chunks replay/0000.npz, ...) checked against the run's first
    snapshot's layout, or ({}, one line saying why they were left out): a damaged or truncated replay costs the
    replay only, never the rest of the run."""
    chunks = sorted(m for m in members if m.startswith("replay/"))
    if "replay.npz" not in members and not chunks:
        return {}, ""
    what = "replay.npz" if "replay.npz" in members else "replay/"
    try:
        if what == "replay.npz":
            arrays = _npz_dict(_read_member(z, "replay.npz", MAX_REPLAY), "replay.npz", len(REPLAY_KEYS))
        else:
            arrays = _chunked_replay(z, chunks)
        return _replay(arrays, snaps, steps), ""
    except _Bad as e:
        why = str(e)
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError) as e:
        why = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
    return {}, f"its history of snapshots ({what}) is damaged ({why}); the rest of the run opened without it"


def _chunked_replay(z: zipfile.ZipFile, names: list[str]) -> dict[str, np.ndarray]:
    """A live writer's replay chunks, in order, joined: every chunk holds the replay arrays, they agree on every
    array's dtype and row shape, and all of them together unpack to at most MAX_REPLAY bytes."""
    _expect(names == [f"replay/{i:04d}.npz" for i in range(len(names))],
            "its chunks are not replay/0000.npz, replay/0001.npz, ... in order")
    budget, parts = MAX_REPLAY, []
    for name in names:
        arrays = _npz_dict(_read_member(z, name, budget), name, len(REPLAY_KEYS), max_bytes=budget)
        _expect(set(arrays) == set(REPLAY_KEYS), f"{name} does not hold the replay arrays")
        budget -= sum(a.nbytes for a in arrays.values())
        parts.append(arrays)
    out = {}
    for k in REPLAY_KEYS:
        a0 = parts[0][k]
        _expect(all(p[k].ndim >= 1 and p[k].ndim == a0.ndim and p[k].shape[1:] == a0.shape[1:] and p[k].dtype == a0.dtype
                    for p in parts), f"its chunks disagree on {k}")
        out[k] = np.concatenate([p[k] for p in parts])
    return out


def _replay(arrays: dict[str, np.ndarray], snaps: list[Snapshot], steps: int) -> dict[str, np.ndarray]:
    _expect(set(arrays) == set(REPLAY_KEYS), "it does not hold the replay arrays")
    _expect(bool(snaps), "replay rows without any snapshot to name their layers")
    t = snaps[0]
    ss = arrays["steps"]
    _expect(ss.dtype.kind in "iu" and ss.ndim == 1 and 1 <= len(ss) <= MAX_REPLAY_ROWS, "replay steps are not step numbers")
    ss = arrays["steps"] = ss.astype(np.int64)
    _expect(bool(np.all(ss >= 0)) and bool(np.all(ss <= steps)) and bool(np.all(np.diff(ss) > 0)),
            "replay steps are not increasing steps of the run")
    r, nl, npar = len(ss), len(t.layers), len(t.params)
    bins = arrays["act_counts"].shape[-1] if arrays["act_counts"].ndim == 3 else 0
    _expect(1 <= bins <= 100_000, "replay histograms have no bins")
    want = {"scalars": ((r, 2), "f"), "layer_stats": ((r, nl, len(LAYER_FIELDS)), "f"),
            "param_stats": ((r, npar, len(PARAM_FIELDS)), "f")}
    for h, n in zip(HISTS, (nl, nl, npar)):
        want[f"{h}_counts"] = ((r, n, bins), "u")
        want[f"{h}_scale"] = ((r, n), "f")
        want[f"{h}_range"] = ((r, n, 2), "f")
    for k, (shape, kind) in want.items():
        a = arrays[k]
        _expect(a.shape == shape and a.dtype.kind == kind, f"replay {k} is {a.dtype} {a.shape}, expected {shape}")
    for h in HISTS:
        _expect(arrays[f"{h}_counts"].dtype == np.uint16, f"replay {h}_counts are not 16-bit counts")
        sc, rg = arrays[f"{h}_scale"].astype(np.float32), arrays[f"{h}_range"].astype(np.float64)
        have = np.isfinite(sc)
        _expect(bool(np.all(sc[have] > 0)), f"replay {h}_scale holds a scale that is not positive")
        _expect(bool(np.all(np.isfinite(rg[have]))) and bool(np.all(rg[have][:, 0] <= rg[have][:, 1])),
                f"replay {h}_range holds a range that is not valid")
        arrays[f"{h}_scale"], arrays[f"{h}_range"] = sc, rg
    st = arrays["layer_stats"]
    w, d = st[..., LAYER_FIELDS.index("width")], st[..., LAYER_FIELDS.index("dead")]
    _expect(bool(np.all((w >= 0) & (w == np.rint(w)) & (d >= 0) & (d <= w))), "replay layer widths or dead counts are not valid")
    return arrays


def live_status(run: SavedRun, stale_after: float = 60.0) -> RunStatus:
    """A file's status as a reader should take it: a "running" file whose writer is gone is "interrupted" (the
    script died between flushes: a crash, SIGKILL). The writer is gone when its process no longer exists on this
    host, or, on another host, when it has not written for `stale_after` seconds."""
    if run.status != RunStatus.RUNNING or not run.writer:
        return RunStatus(run.status)
    import os
    import socket
    import time

    pid, host, beat = run.writer.get("pid"), run.writer.get("host"), run.writer.get("heartbeat")
    if host == socket.gethostname() and isinstance(pid, int) and pid > 0:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return RunStatus.INTERRUPTED
        except PermissionError:
            pass  # alive, another user's
        return RunStatus.RUNNING
    if isinstance(beat, (int, float)) and time.time() - beat > stale_after:
        return RunStatus.INTERRUPTED
    return RunStatus.RUNNING


def validate_run(run: SavedRun, source: str = "run") -> SavedRun:
    """Validate an in-memory SavedRun exactly as a file is on load (serialised and read back, in memory);
    returns the validated copy. For runs that did not come from load_run (a child process, an import).
    Raises RunFileError naming `source`."""
    return _validated(run, source)[1]


def _validated_bytes(run: SavedRun, source: str) -> bytes:
    return _validated(run, source)[0]


def _validated(run: SavedRun, source: str) -> tuple[bytes, SavedRun]:
    try:
        raw = _run_bytes(run)
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        raise RunFileError(f"{source} is damaged ({type(e).__name__}: {e})") from None
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return raw, _load(z, source)
    except _Bad as e:
        raise RunFileError(f"{source} is damaged ({e})") from None
    except (RunFileError, ConfigError) as e:
        raise RunFileError(f"{source} is not valid ({e})") from None


def replay_arrays(h: History) -> dict[str, np.ndarray]:
    """The history's replay rows (every kept snapshot, histograms included) for SavedRun.replay."""
    return h.replay.to_arrays() if len(h.replay) else {}


def history_arrays(h: History) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    arrays = {"snap_steps": h.snap_steps.data.copy()}
    for k in HISTORY_KEYS[1:]:
        a = getattr(h, k)
        if a is not None:
            arrays[k] = a.data.copy()
    return arrays, {"layers": list(h.layer_names), "matrices": list(h.matrix_names)}


def history_from_run(run: SavedRun) -> History:
    """Rebuild the buffers the panels draw from, as they were when the run was saved."""
    h = History(all_layers=run.watched)
    h.add_losses(0, run.losses)
    if run.snapshots:  # a watched run's file exists before its first snapshot
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
    if len(h.snap_steps):  # the rows' snapshot numbers: as if these were every one there was
        h.snap_number.extend(np.arange(len(h.snap_steps)))
        h._snaps_seen = len(h.snap_steps)
    if run.replay and run.snapshots:
        from initscope.core.replay import SnapshotStore

        h.replay = SnapshotStore.from_arrays(run.replay, run.snapshots[0], limit=h.max_rows + 1)
    if run.step_history.get("step_steps") is not None and len(run.step_history["step_steps"]):
        from initscope.core.history import GrowArray

        h.layer_names = h.layer_names or list(run.names.get("layers", []))
        h.matrix_names = h.matrix_names or list(run.names.get("matrices", []))
        for key, attr in zip(STEP_KEYS, ("step_steps", "step_saturation", "step_act_std", "step_grad_std", "step_update")):
            arr = run.step_history[key]
            g = GrowArray(None if arr.ndim == 1 else arr.shape[1], dtype=arr.dtype)
            g.extend(arr)
            setattr(h, attr, g)
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
