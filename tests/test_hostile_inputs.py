"""Issue 11's matrix of hostile and unlucky inputs: each case gets one clear line (CLI: exit 2) and loses nothing.

Every CLI case runs `initscope.cli.main([...])` in-process and checks three things: the exit code, exactly one
line on stderr naming the problem, and that a file already at the output target is byte-identical afterwards.
Only the signal cases need a subprocess.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from initscope.cli import main
from initscope.core.errors import ConfigError, UserError

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
KEEP = b"the old file, which must survive\n"
WORDS = "\n".join(["emma", "olivia", "ava", "isabella", "sophia", "mia", "liam", "noah", "logan", "lucas",
                   "mason", "ethan", "james", "amelia", "harper", "evelyn"] * 4) + "\n"


def one_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("initscope: error: ") and "Traceback" not in err[0]
    return err[0]


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


# --- CLI `run`: options, outputs, data, configs -------------------------------------------------------------

def _setup_run_case(case: str, d: Path) -> tuple[list[str], str, Path | None]:
    """(extra argv, expected text, a target that must stay as it was)."""
    keep = d / "keep.json"
    keep.write_bytes(KEEP)
    words = d / "words.txt"
    words.write_text(WORDS)
    base = ["--data", str(words)]
    if case == "json-out-device":
        return base + ["--json-out", "/dev/null"], "is a device", None
    if case == "json-out-symlink":
        (d / "link.json").symlink_to(keep)
        return base + ["--json-out", str(d / "link.json")], "symbolic link", keep
    if case == "save-run-symlink":
        (d / "link.initscope").symlink_to(keep)
        return base + ["--save-run", str(d / "link.initscope")], "symbolic link", keep
    if case == "save-run-dangling-symlink":
        (d / "dangling.initscope").symlink_to(d / "nowhere")
        return base + ["--save-run", str(d / "dangling.initscope")], "symbolic link", None
    if case == "json-out-directory":
        (d / "adir").mkdir()
        return base + ["--json-out", str(d / "adir")], "is a directory", None
    if case == "save-run-missing-folder":
        return base + ["--save-run", str(d / "nope" / "r.initscope")], "does not exist", None
    if case == "save-config-fifo":
        return base + ["--save-config", str(fifo(d / "p"))], "FIFO", None
    if case == "json-out-same-as-save-run":
        return base + ["--json-out", str(keep), "--save-run", str(keep)], "the same file", keep
    if case == "json-out-readonly-folder":
        ro = d / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        return base + ["--json-out", str(ro / "x.json")], "not writable", None
    if case == "data-fifo":
        return ["--data", str(fifo(d / "w")), "--json-out", str(keep)], "FIFO", keep
    if case == "data-dev-zero":
        return ["--data", "/dev/zero", "--json-out", str(keep)], "is a device", keep
    if case == "data-directory":
        return ["--data", str(d)], "is a directory", None
    if case == "data-missing":
        return ["--data", str(d / "missing.txt")], "no such file", None
    if case == "data-unreadable":
        words.chmod(0)
        return base, "cannot read", None
    if case == "data-binary":
        words.write_bytes(b"ab\x00cd\n" * 50)
        return base, "binary", None
    if case == "data-latin1":
        words.write_bytes(("anna\n" * 12 + "jos\xe9\n").encode("latin-1"))
        return base, "not UTF-8", None
    if case == "data-few-words":
        words.write_text("a\nb\n")
        return base, "only 2 words", None
    if case == "data-empty":
        words.write_text("")
        return base, "file is empty", None
    if case == "data-bom-only":
        words.write_bytes(b"\xef\xbb\xbf")
        return base, "file is empty", None
    if case == "threads-huge":
        return base + ["--threads", "100000"], "--threads must be between 1", None
    if case == "threads-zero":
        return base + ["--threads", "0"], "--threads must be between 1", None
    if case == "threads-negative":
        return base + ["--threads", "-5"], "--threads must be between 1", None
    if case == "max-memory-tiny":
        return base + ["--max-memory", "1M", "--json-out", str(keep)], "needs about", keep
    if case == "max-memory-text":
        return base + ["--max-memory", "lots"], "memory size 'lots'", None
    if case == "max-memory-zero":
        return base + ["--max-memory", "0"], "must be positive", None
    if case in ("config-2000-layers", "config-huge-batch"):
        from initscope.core.config import LayerSpec, preset

        cfg = preset("kaiming")
        if case == "config-2000-layers":  # ~134 GB of weights, inside the schema's limits
            cfg.model.layers = [LayerSpec("linear", 4096), LayerSpec("tanh")] * 2000 + [LayerSpec("linear")]
            limit = []
        else:  # batch 65,536 at width 4,096
            cfg.model.layers = [LayerSpec("linear", 4096), LayerSpec("tanh")] * 4 + [LayerSpec("linear")]
            cfg.train.batch_size = 65536
            limit = ["--max-memory", "2G"]
        (d / "big.json").write_text(cfg.to_json())
        return base + ["--config", str(d / "big.json"), "--json-out", str(keep)] + limit, "needs about", keep
    if case == "config-nested":
        (d / "deep.json").write_text('{"model": ' * 100_000 + "1" + "}" * 100_000)
        return base + ["--config", str(d / "deep.json")], "nested too deeply", None
    if case == "config-nested-list":
        (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
        return base + ["--config", str(d / "deep.json")], "nested too deeply", None
    if case == "config-unreadable":
        (d / "c.json").write_text("{}")
        (d / "c.json").chmod(0)
        return base + ["--config", str(d / "c.json")], "cannot read", None
    if case == "config-fifo":
        return base + ["--config", str(fifo(d / "c.json"))], "FIFO", None
    if case == "config-directory":
        return base + ["--config", str(d)], "is a directory", None
    if case == "config-missing":
        return base + ["--config", str(d / "nope.json")], "no such file", None
    if case == "config-not-json":
        (d / "c.json").write_text("{model: ")
        return base + ["--config", str(d / "c.json")], "not valid JSON", None
    if case == "config-binary":
        (d / "c.json").write_bytes(b"\xff\xfe\x00garbage")
        return base + ["--config", str(d / "c.json")], "not a UTF-8 JSON file", None
    if case == "config-version-text":
        (d / "c.json").write_text('{"version": "1"}')
        return base + ["--config", str(d / "c.json")], "'version': expected an integer", None
    if case == "config-steps-text":
        (d / "c.json").write_text('{"train": {"steps": "abc"}}')
        return base + ["--config", str(d / "c.json")], "'train.steps': expected an integer", None
    if case == "config-lr-nan":
        (d / "c.json").write_text('{"train": {"lr": NaN}}')
        return base + ["--config", str(d / "c.json")], "must be finite", None
    if case == "config-layers-object":
        (d / "c.json").write_text('{"model": {"layers": {"kind": "linear"}}}')
        return base + ["--config", str(d / "c.json")], "expected a list of layers", None
    if case == "samples-negative":
        return base + ["--samples", "-1"], "--samples must be between", None
    if case == "steps-negative":
        return base + ["--steps", "-5"], "'train.steps'", None
    if case == "batch-size-one":
        return base + ["--batch-size", "1"], "'train.batch_size'", None
    if case == "preset-unknown":
        return base + ["--preset", "bogus"], "unknown preset", None
    raise AssertionError(case)


RUN_CASES = [
    "json-out-device", "json-out-symlink", "save-run-symlink", "save-run-dangling-symlink", "json-out-directory",
    "save-run-missing-folder", "save-config-fifo", "json-out-same-as-save-run",
    pytest.param("json-out-readonly-folder", marks=pytest.mark.skipif(ROOT, reason="root may write anywhere")),
    "data-fifo", "data-dev-zero", "data-directory", "data-missing",
    pytest.param("data-unreadable", marks=pytest.mark.skipif(ROOT, reason="root reads anything")),
    "data-binary", "data-latin1", "data-few-words", "data-empty", "data-bom-only",
    "threads-huge", "threads-zero", "threads-negative", "max-memory-tiny", "max-memory-text", "max-memory-zero",
    "config-2000-layers", "config-huge-batch", "config-nested", "config-nested-list",
    pytest.param("config-unreadable", marks=pytest.mark.skipif(ROOT, reason="root reads anything")),
    "config-fifo", "config-directory", "config-missing", "config-not-json", "config-binary", "config-version-text",
    "config-steps-text", "config-lr-nan", "config-layers-object", "samples-negative", "steps-negative",
    "batch-size-one", "preset-unknown",
]


@pytest.mark.parametrize("case", RUN_CASES)
def test_run_refuses_with_one_line_and_keeps_files(case, tmp_path, capsys):
    extra, expected, keep = _setup_run_case(case, tmp_path)
    t0 = time.perf_counter()
    rc = main(["run", "--steps", "5", "--quiet", "--samples", "0", *extra])
    assert rc == 2
    assert expected in one_line(capsys)
    assert time.perf_counter() - t0 < 10  # refused up front: no hang, no long allocation
    if keep is not None:
        assert keep.read_bytes() == KEEP
    assert Path("/dev/null").is_char_device()
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_a_bom_is_not_a_character(tmp_path):
    from initscope.core.data import load_words

    p = tmp_path / "bom.txt"
    p.write_bytes(b"\xef\xbb\xbf" + WORDS.encode())
    words = load_words(p)
    assert words[0] == "emma" and "\ufeff" not in "".join(words)


def test_word_lists_are_bounded_by_bytes_read_and_examples(tmp_path, monkeypatch):
    from initscope.core import data

    p = tmp_path / "w.txt"
    p.write_text(WORDS)
    monkeypatch.setattr(data, "MAX_EXAMPLES", 50)
    with pytest.raises(UserError, match="examples"):
        data.load_words(p)
    monkeypatch.setattr(data, "MAX_FILE_BYTES", 100)
    with pytest.raises(UserError, match="larger than"):
        data.load_words(p)


# --- sweeps -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,expected", [
    (["sweep", "gain", "--points", "10000000"], "--points must be between"),
    (["sweep", "gain", "--points", "1"], "--points must be between"),
    (["sweep", "gain", "--seeds", "0"], "--seeds must be between"),
    (["sweep", "gain", "--seeds", "100000"], "--seeds must be between"),
    (["sweep", "depth", "--json-out", "/dev/null"], "is a device"),
    (["sweep", "gain", "--max-memory", "1K"], "needs about"),
    (["sweep", "depth", "--width", "4096", "--max-depth", "20", "--max-memory", "1G"], "needs about 3"),
    (["sweep", "depth", "--max-depth", "50"], "--max-depth must be between"),
])
def test_sweep_bounds(argv, expected, capsys):
    assert main(argv) == 2
    assert expected in one_line(capsys)


# --- run files and `report` -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    (d / "w.txt").write_text(WORDS)
    path = d / "r.initscope"
    assert main(["run", "--preset", "deep-bn", "--data", str(d / "w.txt"), "--steps", "30", "--snapshot-every", "10",
                 "--quiet", "--samples", "2", "--save-run", str(path)]) == 0
    return path


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _write(members: dict[str, bytes], dst: Path) -> Path:
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in members.items():
            z.writestr(n, data)
    return dst


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


class Planted:
    """A pickle that would create a file if it were ever unpickled."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _damage(case: str, m: dict[str, bytes], d: Path) -> str:
    """Change the members of a good run file as `case` says; return the text the message must hold."""
    man = json.loads(m["manifest.json"])
    snaps = json.loads(m["snapshots.json"])
    with np.load(io.BytesIO(m["history.npz"])) as h:
        hist = {k: h[k] for k in h.files}

    def set_man(key, value):
        man[key] = value
        m["manifest.json"] = json.dumps(man).encode()

    def set_snaps(value):
        m["snapshots.json"] = json.dumps(value).encode()

    if case == "snapshots-empty-list":
        set_snaps([])
        return "snapshots.json"
    if case == "snapshots-object":
        set_snaps({})
        return "snapshots.json"
    if case == "snapshot-step-text":
        snaps[-1]["step"] = "200"
        set_snaps(snaps)
        return "step"
    if case == "snapshot-past-the-end":
        snaps[-1]["step"] = 10_000
        set_snaps(snaps)
        return "past the run"
    if case == "snapshot-empty-histogram":
        snaps[-1]["layers"][0]["hist"]["counts"] = []
        set_snaps(snaps)
        return "no bins"
    if case == "snapshot-negative-counts":
        snaps[-1]["layers"][0]["hist"]["counts"][0] = -5
        set_snaps(snaps)
        return "counts"
    if case == "snapshot-odd-layer-name":
        snaps[-1]["layers"][0]["name"] = "\u202e<script>"
        set_snaps(snaps)
        return "layers do not match"
    if case == "snapshot-wrong-param-shape":
        snaps[-1]["params"][1]["shape"] = [7, 7]
        set_snaps(snaps)
        return "parameters do not match"
    if case == "snapshot-layers-missing":
        del snaps[0]["layers"]
        set_snaps(snaps)
        return "no 'layers'"
    if case == "snap-steps-text":
        hist["snap_steps"] = np.array([str(s) for s in hist["snap_steps"]])
        m["history.npz"] = _npz(**hist)
        return "snap_steps"
    if case == "history-wrong-shape":
        hist["saturation"] = hist["saturation"][:, :1]
        m["history.npz"] = _npz(**hist)
        return "history saturation"
    if case == "history-unknown-array":
        hist["extra"] = np.zeros(3)
        m["history.npz"] = _npz(**hist)
        return "history.npz holds"
    if case == "history-decreasing-steps":
        hist["snap_steps"] = hist["snap_steps"][::-1].copy()
        m["history.npz"] = _npz(**hist)
        return "increasing"
    if case == "names-odd":
        set_man("names", {"layers": ["x"] * len(man["names"]["layers"]), "matrices": man["names"]["matrices"]})
        return "names"
    if case == "names-a-list":
        set_man("names", ["L2 Tanh"])
        return "manifest names"
    if case == "steps-text":
        set_man("steps", "abc")
        return "manifest steps"
    if case == "steps-null":
        set_man("steps", None)
        return "manifest steps"
    if case == "steps-too-many":
        set_man("steps", man["steps"] + 5)
        return "losses"
    if case == "vocab-number":
        set_man("vocab", 5)
        return "manifest vocab"
    if case == "vocab-words":
        set_man("vocab", ["ab"] * len(man["vocab"]))
        return "single characters"
    if case == "split-losses-text":
        set_man("split_losses", "low")
        return "split_losses"
    if case == "split-losses-list":
        set_man("split_losses", [1, 2])
        return "split_losses"
    if case == "split-loss-text":
        set_man("split_losses", {"val": "2.1"})
        return "split loss"
    if case == "samples-number":
        set_man("samples", 7)
        return "samples"
    if case == "hints-objects":
        set_man("hints", [{"a": 1}])
        return "hints"
    if case == "status-odd":
        set_man("status", "exploded")
        return "status"
    if case == "message-number":
        set_man("message", 3)
        return "message"
    if case == "version-text":
        set_man("version", "1")
        return "the number 1"
    if case == "version-newer":
        set_man("version", 99)
        return "newer initscope"
    if case == "manifest-nested":
        m["manifest.json"] = ('{"format": "initscope-run", "x": ' + "[" * 100_000 + "]" * 100_000 + "}").encode()
        return "nested too deeply"
    if case == "manifest-not-object":
        m["manifest.json"] = b"[1, 2]"
        return "not an initscope run file"
    if case == "losses-text":
        m["losses.npy"] = _npy(np.array(["1.0"] * man["steps"]))
        return "losses.npy"
    if case == "losses-2d":
        m["losses.npy"] = _npy(np.zeros((man["steps"], 2), np.float32))
        return "losses.npy"
    if case == "losses-nan-mid-run":
        arr = np.ones(man["steps"], np.float32)
        arr[3] = np.nan
        m["losses.npy"] = _npy(arr)
        return "NaN"
    if case == "losses-object-pickle":
        m["losses.npy"] = pickle.dumps(np.ones(3))
        return "losses.npy"
    if case == "zip-bomb":  # 100 MB of zeros in ~100 kB: refused from the declared size, before inflating
        with zipfile.ZipFile(d / "bomb.initscope", "w", zipfile.ZIP_DEFLATED) as z:
            for n, data in m.items():
                if n != "losses.npy":
                    z.writestr(n, data)
            with z.open("losses.npy", "w", force_zip64=True) as f:
                block = bytes(2**22)
                for _ in range(25):
                    f.write(block)
        return "would unpack"
    if case == "weights-nan":
        with np.load(io.BytesIO(m["weights.npz"])) as w:
            arrays = {k: w[k] for k in w.files}
        arrays["embedding.weight"][0, 0] = np.nan
        m["weights.npz"] = _npz(**arrays)
        return "NaN"
    if case == "weights-wrong-dtype":
        with np.load(io.BytesIO(m["weights.npz"])) as w:
            arrays = {k: w[k] for k in w.files}
        arrays["embedding.weight"] = arrays["embedding.weight"].astype("U8")
        m["weights.npz"] = _npz(**arrays)
        return "weights do not match"
    if case == "weights-pickled-object":
        buf = io.BytesIO()
        np.savez(buf, **{"embedding.weight": np.array([Planted(str(d / "pwned"))], dtype=object)})
        m["weights.npz"] = buf.getvalue()
        return "not plain numpy"
    if case == "weights-v1-malicious-pickle":
        set_man("version", 1)
        del m["weights.npz"]
        m["weights.pt"] = pickle.dumps({"embedding.weight": Planted(str(d / "pwned"))})
        return "weights.pt cannot be read safely"
    if case == "missing-member":
        del m["history.npz"]
        return "missing history.npz"
    if case == "too-many-members":
        for i in range(100):
            m[f"extra{i}"] = b""
        return "members"
    if case == "config-invalid":
        man["config"]["train"]["lr"] = -1
        set_man("config", man["config"])
        return "its config is invalid"
    if case == "config-other-stack":  # a config the weights and snapshots do not fit
        man["config"]["model"]["n_embd"] = 11
        set_man("config", man["config"])
        return "do not match"
    raise AssertionError(case)


DAMAGE_CASES = [
    "snapshots-empty-list", "snapshots-object", "snapshot-step-text", "snapshot-past-the-end",
    "snapshot-empty-histogram", "snapshot-negative-counts", "snapshot-odd-layer-name", "snapshot-wrong-param-shape",
    "snapshot-layers-missing", "snap-steps-text", "history-wrong-shape", "history-unknown-array",
    "history-decreasing-steps", "names-odd", "names-a-list", "steps-text", "steps-null", "steps-too-many",
    "vocab-number", "vocab-words", "split-losses-text", "split-losses-list", "split-loss-text", "samples-number",
    "hints-objects", "status-odd", "message-number", "version-text", "version-newer", "manifest-nested",
    "manifest-not-object", "losses-text", "losses-2d", "losses-nan-mid-run", "losses-object-pickle", "zip-bomb",
    "weights-nan", "weights-wrong-dtype", "weights-pickled-object", "weights-v1-malicious-pickle", "missing-member",
    "too-many-members", "config-invalid", "config-other-stack",
]


@pytest.mark.parametrize("case", DAMAGE_CASES)
def test_report_on_a_damaged_run_is_one_line_and_writes_nothing(case, saved, tmp_path, capsys):
    m = _members(saved)
    expected = _damage(case, m, tmp_path)
    bad = tmp_path / "bomb.initscope" if case == "zip-bomb" else _write(m, tmp_path / "bad.initscope")
    out = tmp_path / "report.html"
    out.write_bytes(KEEP)
    t0 = time.perf_counter()
    rc = main(["report", str(bad), "-o", str(out), "--csv", str(tmp_path / "m")])
    line = one_line(capsys)
    assert rc == 2 and str(bad) in line and expected in line, line
    assert time.perf_counter() - t0 < 10
    assert out.read_bytes() == KEEP and not list(tmp_path.glob("m_*.csv"))
    assert not (tmp_path / "pwned").exists()  # nothing planted ever ran


@pytest.mark.parametrize("case,expected", [
    ("fifo", "is a FIFO"), ("directory", "is a directory"), ("missing", "no such file"),
    ("text", "not a zip archive"), ("truncated", "not an initscope run file"), ("empty", "not a zip archive"),
    ("out-device", "is a device"), ("out-symlink", "symbolic link"), ("csv-missing-folder", "does not exist"),
    ("csv-directory", "is a directory"),
])
def test_report_paths(case, expected, saved, tmp_path, capsys):
    run, out, csv = str(saved), tmp_path / "out.html", []
    keep = tmp_path / "keep.html"
    keep.write_bytes(KEEP)
    if case == "fifo":
        run = str(fifo(tmp_path / "r.initscope"))
    elif case == "directory":
        run = str(tmp_path)
    elif case == "missing":
        run = str(tmp_path / "none.initscope")
    elif case in ("text", "truncated", "empty"):
        p = tmp_path / "t.initscope"
        p.write_bytes({"text": b"hello", "truncated": saved.read_bytes()[:500], "empty": b""}[case])
        run = str(p)
    elif case == "out-device":
        out = Path("/dev/null")
    elif case == "out-symlink":
        out = tmp_path / "link.html"
        out.symlink_to(keep)
    elif case == "csv-missing-folder":
        csv = ["--csv", str(tmp_path / "no" / "m")]
    elif case == "csv-directory":
        (tmp_path / "m_loss.csv").mkdir()
        csv = ["--csv", str(tmp_path / "m")]
    assert main(["report", run, "-o", str(out), *csv]) == 2
    assert expected in one_line(capsys)
    assert keep.read_bytes() == KEEP and Path("/dev/null").is_char_device()


def test_accepted_runs_render_and_export(saved):
    """What loading accepts, the Qt-free report, the CSV export and the GUI's history all take."""
    from initscope.core.runfile import history_from_run, load_run, metrics_csv
    from initscope.report import render_html

    run = load_run(saved)
    assert "<html" in render_html(run)
    loss_csv, layer_csv = metrics_csv(run)
    assert loss_csv.count("\n") == run.steps + 1
    assert layer_csv.count("\n") == 1 + len(run.history["snap_steps"]) * (len(run.names["layers"]) + len(run.names["matrices"]))
    h = history_from_run(run)
    assert len(h.snap_steps) == len(run.history["snap_steps"]) and h.layer_names == run.names["layers"]


# --- atomic writes -------------------------------------------------------------------------------------------

def test_a_full_disk_leaves_the_old_file(tmp_path, monkeypatch):
    import errno

    from initscope.core import files

    target = tmp_path / "keep.json"
    target.write_bytes(KEEP)

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(UserError, match="No space left"):
        files.atomic_write_text(target, "new")
    assert target.read_bytes() == KEEP and [p.name for p in tmp_path.iterdir()] == ["keep.json"]


@pytest.mark.parametrize("kind", ["symlink", "device", "directory"])
def test_atomic_write_never_replaces_anything_but_a_regular_file(kind, tmp_path):
    from initscope.core.files import atomic_write_text

    keep = tmp_path / "keep"
    keep.write_bytes(KEEP)
    target = {"symlink": tmp_path / "link", "device": Path("/dev/null"), "directory": tmp_path}[kind]
    if kind == "symlink":
        target.symlink_to(keep)
    with pytest.raises(UserError):
        atomic_write_text(target, "new")
    assert keep.read_bytes() == KEEP and Path("/dev/null").is_char_device()
    if kind == "symlink":
        assert target.is_symlink()


# --- configs and scenarios read by the GUI: the calls the lead wires --------------------------------------

@pytest.mark.parametrize("case", ["nested", "fifo", "directory", "unreadable", "huge"])
def test_config_and_scenario_files_are_one_line(case, tmp_path):
    from initscope.core.config import Config
    from initscope.core.scenario import load_scenario

    p = tmp_path / "c.json"
    if case == "nested":
        p.write_text('{"steps": [' + "{" * 1 + '"a": ' * 0 + "[" * 100_000 + "]" * 100_000 + "]}")
    elif case == "fifo":
        fifo(p)
    elif case == "directory":
        p = tmp_path
    elif case == "unreadable":
        if ROOT:
            pytest.skip("root reads anything")
        p.write_text("{}")
        p.chmod(0)
    elif case == "huge":
        p.write_bytes(b" " * (17 * 2**20))
    for load in (Config.load, load_scenario):
        with pytest.raises(ConfigError) as e:
            load(p)
        assert "\n" not in str(e.value) and str(p) in str(e.value)


def test_scenario_dict_nested_deeply_is_refused():
    from initscope.core.scenario import parse_scenario

    d: dict = {}
    node = d
    for _ in range(10_000):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_scenario({"steps": [{"caption": "c", "preset": "kaiming", "overrides": d}]})


# --- memory estimate ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["original", "batchnorm", "deep-bn", "deep-nobn"])
def test_parameter_count_matches_the_net(name):
    from initscope.core.budget import n_parameters
    from initscope.core.config import preset
    from initscope.core.model import Net

    cfg = preset(name)
    with torch.device("meta"):
        net = Net(cfg, 27)
    assert n_parameters(cfg, 27) == sum(p.numel() for p in net.parameters())


def test_memory_estimate_covers_the_big_tensors():
    """Independent lower bounds: the weights and gradients, one batch of layer outputs, the dataset."""
    from initscope.core.budget import check_memory, estimate_bytes
    from initscope.core.config import LayerSpec, preset

    cfg = preset("kaiming")
    cfg.model.layers = [LayerSpec("linear", 4096), LayerSpec("tanh")] * 2000 + [LayerSpec("linear")]
    weights = 2000 * 4096 * 4096 * 4
    assert estimate_bytes(cfg, 0) >= 2 * weights
    with pytest.raises(UserError, match=r"needs about .* GB"):
        check_memory(cfg, 200_000, limit=64 * 2**30)
    cfg = preset("kaiming")
    cfg.model.layers = [LayerSpec("linear", 4096), LayerSpec("tanh"), LayerSpec("linear")]
    cfg.train.batch_size = 65536
    assert estimate_bytes(cfg, 0) >= 65536 * 4096 * 4 * 2  # the hidden layer's output and its gradient
    small = preset("kaiming")
    assert estimate_bytes(small, 1_000_000) - estimate_bytes(small, 0) >= 1_000_000 * 4 * 8  # X and Y, int64
    assert check_memory(small, 228_000) < 512 * 2**20  # the lecture net on names.txt: the runtime plus ~25 MB


@pytest.mark.parametrize("text,n", [("4G", 4 * 2**30), ("512M", 512 * 2**20), ("1.5GB", int(1.5 * 2**30)),
                                    ("100000", 100000), ("2k", 2048), ("3 GiB", 3 * 2**30)])
def test_parse_size(text, n):
    from initscope.core.budget import parse_size

    assert parse_size(text) == n


# --- unlucky runs: divergence, interrupts, the final snapshot --------------------------------------------------

def test_a_runaway_loss_is_diverged_with_exit_1(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["run", "--preset", "batchnorm", "--lr", "1000", "--steps", "400", "--quiet", "--samples", "0",
               "--json-out", str(out)])
    d = json.loads(out.read_text())
    assert rc == 1 and d["status"] == "diverged" and d["steps"] < 400
    assert "diverged" in capsys.readouterr().err
    assert any("saturated" in h or "diverging" in h or "blown up" in h for h in d["hints"])


def test_runaway_check_thresholds():
    """The rule, checked against its definition: mean loss over 3 x ln V for 200 consecutive steps."""
    from initscope.core.runaway import LOSS_STEPS, RunawayCheck

    ref = math.log(27)
    c = RunawayCheck(ref)
    high = np.full(25, 3 * ref + 0.1, np.float32)
    results = [c.check(high, None, 25 * i) for i in range(LOSS_STEPS // 25)]
    assert all(r is None for r in results[:-1]) and "stayed above" in results[-1]
    c = RunawayCheck(ref)
    for i in range(20):  # a loss that dips below the line now and then is still learning
        assert c.check(high if i % 7 else np.full(25, 2.0, np.float32), None, 25 * i) is None


def test_original_preset_is_not_called_diverged(names_data):
    """The lecture's 'original' starts at loss ~27 by design and must not trip the runaway rule."""
    from initscope.core.config import preset
    from initscope.core.trainer import Trainer

    cfg = preset("original")
    cfg.train.steps = 400
    assert Trainer(cfg, names_data).train() == "finished"


def test_final_snapshot_and_until(small_data):
    from initscope.core.config import preset
    from initscope.core.trainer import Trainer

    cfg = preset("kaiming")
    cfg.train.steps, cfg.diag.snapshot_every = 300, 100
    t = Trainer(cfg, small_data)
    seen = []
    for k in range(25, 325, 25):  # the A/B pair's 25-step turns
        status = t.train(seen.append, until=k)
        assert status == ("finished" if k >= 300 else "running") and t.step == min(k, 300)
    assert all(p.total == 300 for p in seen) and [p.status for p in seen].count("finished") == 1
    steps = [p.snapshot.step for p in seen if p.snapshot is not None]
    assert steps == [0, 100, 200, 300] and len(t.losses) == 300
    # the same 300 steps in one call give the same losses: until= only cuts the run into turns
    t2 = Trainer(cfg, small_data)
    t2.train()
    assert np.array_equal(t.losses, t2.losses)


def _start_run(tmp_path: Path, extra: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-m", "initscope", "run", "--preset", "kaiming", "--steps", "1000000",
                          "--quiet", "--samples", "0", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, cwd=tmp_path)
    for line in p.stdout:  # the line printed just before training starts
        if line.startswith("initial loss"):
            break
    time.sleep(0.5)
    return p


@pytest.mark.slow  # a subprocess or a ray cluster: seconds, not in the quick loop
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_at_a_step_boundary_and_saves_a_whole_run(sig, tmp_path):
    from initscope.core.runfile import load_run

    target = tmp_path / "x.initscope"
    target.write_bytes(KEEP)
    p = _start_run(tmp_path, ["--save-run", str(target), "--json-out", str(tmp_path / "x.json")])
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 3, err
    run = load_run(target)
    assert run.status == "stopped" and 0 < run.steps < 1_000_000 and len(run.losses) == run.steps
    assert run.snapshots[-1].step == run.steps  # the final snapshot of a stopped run
    assert json.loads((tmp_path / "x.json").read_text())["status"] == "stopped"
    assert "Traceback" not in err


@pytest.mark.slow  # a subprocess or a ray cluster: seconds, not in the quick loop
def test_a_second_sigint_aborts_without_touching_the_target(tmp_path):
    target = tmp_path / "x.initscope"
    target.write_bytes(KEEP)
    p = _start_run(tmp_path, ["--save-run", str(target), "--data", str(_big_words(tmp_path))])
    p.send_signal(signal.SIGINT)
    time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130 and "Traceback" not in err
    assert target.read_bytes() == KEEP and [q.name for q in tmp_path.glob(".*")] == []


def _big_words(d: Path) -> Path:
    """A word list large enough that evaluating it after the stop outlasts the gap between two signals."""
    from initscope.core.data import default_data_path

    p = d / "big.txt"
    words = default_data_path().read_text().split()
    p.write_text("\n".join(w + s for s in ("", "a", "b", "c", "d", "e", "f", "g") for w in words) + "\n")
    return p


def test_check_dataset_memory_uses_the_datasets_size(small_data):
    from initscope.core.budget import check_dataset_memory, estimate_bytes
    from initscope.core.config import preset

    cfg = preset("kaiming")
    n = sum(small_data.counts().values())
    assert check_dataset_memory(cfg, small_data) == estimate_bytes(cfg, n, small_data.vocab.size)
    with pytest.raises(UserError, match="limit 1.0 MB"):
        check_dataset_memory(cfg, small_data, limit=2**20)


def test_a_member_that_lies_about_its_size_is_read_with_a_cap(saved, tmp_path, capsys):
    """A zip bomb whose central directory declares a small size: reading stops at the cap, it is never inflated."""
    import struct

    m = _members(saved)
    m["losses.npy"] = bytes(50 * 2**20)  # 50 MB of zeros, ~50 kB deflated
    bad = _write(m, tmp_path / "liar.initscope")
    raw = bytearray(bad.read_bytes())
    at = raw.rfind(b"PK\x01\x02", 0, raw.rfind(b"losses.npy") + 1)  # the central directory entry of losses.npy
    while raw[at + 46: at + 56] != b"losses.npy":
        at = raw.rfind(b"PK\x01\x02", 0, at)
    struct.pack_into("<I", raw, at + 24, 200)  # uncompressed size: 200 bytes, under the cap
    bad.write_bytes(bytes(raw))
    t0 = time.perf_counter()
    assert main(["report", str(bad), "-o", str(tmp_path / "r.html")]) == 2
    line = one_line(capsys)
    assert "damaged" in line and "CRC" in line and time.perf_counter() - t0 < 5


def test_the_final_snapshot_is_the_plain_loss_on_the_next_batch_and_leaves_the_run_alone(small_data):
    """Checked against plain torch: the loss of the net on the batch the next step would draw (train mode)."""
    import copy

    import torch.nn.functional as F

    from initscope.core.config import preset
    from initscope.core.trainer import Trainer

    cfg = preset("batchnorm")
    cfg.train.steps, cfg.diag.snapshot_every = 30, 100
    t = Trainer(cfg, small_data)
    seen = []
    t.train(seen.append)
    final = seen[-1].snapshot
    assert final is not None and final.step == 30 and seen[-1].status == "finished"
    g = torch.Generator()
    g.set_state(t.batch_gen.get_state())
    ix = torch.randint(0, t.xtr.shape[0], (cfg.train.batch_size,), generator=g)
    net = copy.deepcopy(t.net).train()
    with torch.no_grad():
        expected = F.cross_entropy(net(t.xtr[ix]), t.ytr[ix]).item()
    assert math.isclose(final.loss, expected, rel_tol=1e-5)
    # BatchNorm's running statistics and the batch generator are as they were: the run goes on unchanged
    bn = {k: v.clone() for k, v in t.net.named_buffers()}
    t.final_snapshot()
    assert all(torch.equal(v, dict(t.net.named_buffers())[k]) for k, v in bn.items())
    assert torch.equal(torch.randint(0, t.xtr.shape[0], (cfg.train.batch_size,), generator=t.batch_gen), ix)


# === Issue 20: round two ==================================================================================
# Each case failed before issue 20's change (a traceback, a lost file, or a refusal only after the training).

def _quick_run(argv: list[str], capsys, limit_s: float = 5) -> str:
    """`main(argv)` must refuse at once: exit 2, one line, in under `limit_s` (no training happened)."""
    t0 = time.perf_counter()
    assert main(argv) == 2
    line = one_line(capsys)
    assert time.perf_counter() - t0 < limit_s, line
    return line


def _round2_paths(case: str, d: Path, saved: Path) -> tuple[list[str], str, Path]:
    """(argv, expected text, the input file that must stay byte-identical)."""
    words = d / "words.txt"
    words.write_text(WORDS)
    cfg = d / "c.json"
    cfg.write_text('{"train": {"steps": 5}}')
    run = d / "r.initscope"
    run.write_bytes(saved.read_bytes())
    base = ["run", "--data", str(words), "--quiet", "--samples", "0", "--steps", "5"]
    if case == "report-o-run":
        return ["report", str(run), "-o", str(run)], "which this command reads", run
    if case == "report-csv-run":  # the csv's name is PREFIX_loss.csv: a run file named that way is overwritten
        target = d / "x_loss.csv"
        target.write_bytes(saved.read_bytes())
        return ["report", str(target), "--csv", str(d / "x"), "-o", str(d / "r.html")], "which this command reads", target
    if case == "json-out-words":
        return base + ["--json-out", str(words)], "--data", words
    if case == "save-run-config":
        return base + ["--config", str(cfg), "--save-run", str(cfg)], "--config", cfg
    if case == "save-config-config-dot-path":
        (d / "sub").mkdir()
        return base + ["--config", str(cfg), "--save-config", str(d / "." / "sub" / ".." / "c.json")], "--config", cfg
    if case == "json-out-hard-link-to-words":
        os.link(words, d / "hard.txt")
        return base + ["--json-out", str(d / "hard.txt")], "--data", words
    if case == "json-out-through-symlinked-folder":
        (d / "alias").symlink_to(d)
        return base + ["--json-out", str(d / "alias" / "words.txt")], "--data", words
    if case == "inspect-json-out-run":
        return ["inspect", str(run), "--json-out", str(run)], "which this command reads", run
    if case == "screenshot-out-config":
        return ["screenshot", str(cfg), "--config", str(cfg)], "which this command reads", cfg
    if case == "screenshot-png-is-the-data":
        png = d / "w.png"
        png.write_text(WORDS)
        return ["screenshot", str(png), "--data", str(png)], "which this command reads", png
    if case == "sweep-json-out-config":
        return ["sweep", "gain", "--config", str(cfg), "--data", str(words), "--json-out", str(cfg)], "--config", cfg
    if case == "theory-json-out-config":
        return ["theory", "--config", str(cfg), "--json-out", str(cfg)], "--config", cfg
    if case == "sweep-train-json-out-words":
        return ["sweep", "train", "--data", str(words), "--param", "lr", "--values", "0.1",
                "--json-out", str(words)], "--data", words
    raise AssertionError(case)


OUTPUT_IS_INPUT = ["report-o-run", "report-csv-run", "json-out-words", "save-run-config", "save-config-config-dot-path",
                   "json-out-hard-link-to-words", "json-out-through-symlinked-folder", "inspect-json-out-run",
                   "screenshot-out-config", "screenshot-png-is-the-data", "sweep-json-out-config",
                   "theory-json-out-config", "sweep-train-json-out-words"]


@pytest.mark.parametrize("case", OUTPUT_IS_INPUT)
def test_an_output_that_is_an_input_is_refused_before_any_work(case, saved, tmp_path, capsys):
    argv, expected, keep = _round2_paths(case, tmp_path, saved)
    before = keep.read_bytes()
    assert expected in _quick_run(argv, capsys)
    assert keep.read_bytes() == before


def test_the_shipped_word_list_is_an_input_too(tmp_path, capsys):
    from initscope.core.data import default_data_path

    line = _quick_run(["run", "--steps", "5", "--json-out", str(default_data_path())], capsys)
    assert "the shipped word list" in line


@pytest.mark.parametrize("case,expected", [
    ("name-250-bytes", "bytes long"),
    ("parent-is-a-file", "is a file, not a folder"),
    pytest.param("immutable", "read-only or immutable", marks=pytest.mark.skipif(not ROOT, reason="chattr needs root")),
    ("read-only-file", "read-only or immutable"),
    ("screenshot-missing-folder", "does not exist"),
    ("screenshot-unknown-suffix", "unknown picture format"),
    ("screenshot-symlink", "symbolic link"),
    ("screenshot-fifo", "FIFO"),
])
def test_every_output_is_checked_before_training(case, expected, tmp_path, capsys):
    words = tmp_path / "words.txt"
    words.write_text(WORDS)
    run = ["run", "--data", str(words), "--quiet", "--samples", "0", "--steps", "100000"]
    target = tmp_path / "t.json"
    if case == "name-250-bytes":
        argv = run + ["--json-out", str(tmp_path / ("x" * 245 + ".json"))]
    elif case == "parent-is-a-file":
        argv = run + ["--json-out", str(words / "x.json")]
    elif case in ("immutable", "read-only-file"):
        target.write_bytes(KEEP)
        if case == "immutable":
            if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode != 0:
                pytest.skip("this file system has no immutable attribute")
        else:
            target.chmod(0o444)
            if ROOT:
                pytest.skip("root may write a read-only file")
        argv = run + ["--json-out", str(target)]
    elif case == "screenshot-missing-folder":
        argv = ["screenshot", str(tmp_path / "nope" / "x.png"), "--data", str(words)]
    elif case == "screenshot-unknown-suffix":
        argv = ["screenshot", str(tmp_path / "x.gif"), "--data", str(words)]
    elif case == "screenshot-symlink":
        target.write_bytes(KEEP)
        (tmp_path / "x.png").symlink_to(target)
        argv = ["screenshot", str(tmp_path / "x.png"), "--data", str(words)]
    else:
        argv = ["screenshot", str(fifo(tmp_path / "x.png")), "--data", str(words)]
    try:
        assert expected in _quick_run(argv, capsys)
    finally:
        if case == "immutable":
            subprocess.run(["chattr", "-i", str(target)], capture_output=True)
    if target.exists():
        assert target.read_bytes() == KEEP


def _digits(n: int) -> str:
    return "1" + "0" * (n - 1)


@pytest.mark.parametrize("case,expected", [
    ("steps-5000-digits", "invalid int value"),
    ("steps-4000-digits", "an integer of about 3999 digits"),
    ("config-steps-5000-digits", "not valid JSON"),
    ("config-lr-10^400", "'train.lr': must be finite, got an integer of about 400 digits"),
    ("lr-minus-inf-spaced", "--lr: expected one argument"),
    ("sweep-gain-1e308", "above the largest gain"),
    ("config-name-lone-surrogate", "not valid Unicode"),
    ("theory-config-name-lone-surrogate", "not valid Unicode"),
    ("device-superscript-two", "'train.device': must be 'cpu', 'cuda' or 'cuda:N'"),
    ("sweep-bogus-axis", "invalid choice: 'bogus'"),
    ("sweep-train-bogus-backend", "argument --backend: invalid choice"),
])
def test_numbers_and_text_are_one_line(case, expected, tmp_path, capsys):
    words = tmp_path / "words.txt"
    words.write_text(WORDS)
    cfg = tmp_path / "c.json"
    run = ["run", "--data", str(words), "--quiet", "--samples", "0"]
    argv = {
        "steps-5000-digits": run + ["--steps", _digits(5000)],
        "steps-4000-digits": run + ["--steps", _digits(4000)],
        "config-steps-5000-digits": run + ["--config", str(cfg)],
        "config-lr-10^400": run + ["--config", str(cfg)],
        "lr-minus-inf-spaced": run + ["--lr", "-inf"],
        "sweep-gain-1e308": ["sweep", "gain", "--data", str(words), "--to", "1e308", "--seeds", "1"],
        "config-name-lone-surrogate": run + ["--config", str(cfg)],
        "theory-config-name-lone-surrogate": ["theory", "--config", str(cfg)],
        "device-superscript-two": run + ["--device", "cuda:\u00b2"],
        "sweep-bogus-axis": ["sweep", "bogus"],
        "sweep-train-bogus-backend": ["sweep", "train", "--param", "lr", "--values", "0.1", "--backend", "bogus"],
    }[case]
    if case == "config-steps-5000-digits":
        cfg.write_text('{"train": {"steps": %s}}' % _digits(5000))
    elif case == "config-lr-10^400":
        cfg.write_text('{"train": {"lr": %s}}' % _digits(401))
    elif "surrogate" in case:
        cfg.write_text('{"name": "a\\ud800b"}')
    try:
        line = _quick_run(argv, capsys)
    except SystemExit as e:  # argparse's errors leave through SystemExit(2), still one line
        assert e.code == 2
        line = one_line(capsys)
    assert expected in line and len(line) < 300


@pytest.mark.parametrize("change", ["lr-0", "gain-0", "output-factor-0"])
def test_a_run_whose_updates_are_zero_trains_and_saves(change, tmp_path, capsys):
    """log10 of a zero update:data is -inf: a diagnostic, stored and loaded as such (it refused the save before)."""
    from initscope.core.config import preset
    from initscope.core.runfile import load_run

    words = tmp_path / "w.txt"
    words.write_text(WORDS)
    cfg = preset("kaiming")
    cfg.train.steps, cfg.diag.snapshot_every = 20, 10
    if change == "lr-0":
        cfg.train.lr = 0.0
    elif change == "gain-0":
        cfg.init.gain = 0.0
    else:
        cfg.init.output_factor = 0.0
    (tmp_path / "c.json").write_text(cfg.to_json())
    target, js = tmp_path / "r.initscope", tmp_path / "r.json"
    assert main(["run", "--config", str(tmp_path / "c.json"), "--data", str(words), "--quiet", "--samples", "0",
                 "--save-run", str(target), "--json-out", str(js)]) == 0, capsys.readouterr().err
    run = load_run(target)
    assert run.status == "finished" and np.isfinite(run.losses).all()
    upd = run.history["update"]
    assert not np.isfinite(upd).all()  # the case this is about: some update:data is -inf or NaN
    if change == "lr-0":  # plain torch: lr 0 leaves every weight as it was, so every update is exactly zero
        assert np.all(np.isneginf(upd[1:]))
        snap0 = run.snapshots[0]
        w = torch.nn.Linear(1, 1)  # torch's SGD with lr 0 changes nothing: the zero update the -inf stands for
        before = w.weight.detach().clone()
        w(torch.ones(1, 1)).sum().backward()
        torch.optim.SGD(w.parameters(), lr=0.0).step()
        assert torch.equal(w.weight, before) and snap0.step == 0
    d = json.loads(js.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in --json-out"))  # strict JSON
    assert d["status"] == "finished"


def test_json_out_is_strict_json_with_null_for_nan_and_inf(tmp_path, capsys):
    words = tmp_path / "w.txt"
    words.write_text(WORDS)
    js = tmp_path / "r.json"
    assert main(["run", "--preset", "kaiming", "--data", str(words), "--steps", "5", "--lr", "0", "--quiet",
                 "--samples", "0", "--json-out", str(js)]) == 0
    text = js.read_text()
    d = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in --json-out"))
    # lr 0: every update is zero, log10 of it -inf in the snapshot and null in the file
    assert [p["update_data_log10"] for p in d["diagnostics"]["final"]["params"]] == [None] * 5
    assert "NaN" not in text and "Infinity" not in text


def test_a_full_disk_at_json_out_says_the_run_was_saved(tmp_path, monkeypatch, capsys):
    import initscope.core.files as files
    from initscope.core.runfile import load_run

    real = files.atomic_write_text

    def full(path, text):
        if str(path).endswith(".json"):
            raise UserError(f"cannot write {path}: No space left on device")
        return real(path, text)

    monkeypatch.setattr(files, "atomic_write_text", full)
    words = tmp_path / "w.txt"
    words.write_text(WORDS)
    assert main(["run", "--preset", "kaiming", "--data", str(words), "--steps", "5", "--quiet", "--samples", "0",
                 "--save-run", str(tmp_path / "r.initscope"), "--json-out", str(tmp_path / "r.json")]) == 2
    line = one_line(capsys)
    assert "No space left" in line and "the run itself was saved to" in line
    assert load_run(tmp_path / "r.initscope").steps == 5


def test_words_the_console_cannot_encode_do_not_lose_the_run(tmp_path):
    """Windows output redirected to a file is cp1252: Cyrillic samples printed "?" and the run is saved."""
    words = tmp_path / "ru.txt"
    words.write_text("\n".join(["анна", "иван", "ольга", "пётр", "мария", "сергей", "елена", "дмитрий"] * 4) + "\n")
    env = dict(os.environ, PYTHONIOENCODING="cp1252")
    p = subprocess.run([sys.executable, "-m", "initscope", "run", "--data", str(words), "--steps", "10", "--quiet",
                        "--samples", "3", "--save-run", str(tmp_path / "r.initscope")], capture_output=True, env=env,
                       timeout=120)
    assert p.returncode == 0, p.stderr.decode("cp1252", "replace")
    assert (tmp_path / "r.initscope").is_file() and b"samples: " in p.stdout and b"Traceback" not in p.stderr


def test_control_characters_in_words_never_reach_the_terminal_raw(tmp_path, capsys):
    words = tmp_path / "w.txt"
    words.write_text("\n".join(["a\x1b[31mb", "c\x07d", "emma", "olivia", "ava", "liam", "noah"] * 6) + "\n")
    assert main(["run", "--data", str(words), "--steps", "30", "--quiet", "--samples", "200"]) == 0
    out = capsys.readouterr().out
    samples = next(line for line in out.splitlines() if line.startswith("samples: "))
    assert "\\x1b" in samples or "\\x07" in samples  # the model learned them; shown as escapes
    assert "\x1b" not in out and "\x07" not in out


# --- signals (issue 20) -------------------------------------------------------------------------------------

def _patched_run(tmp_path: Path, patch: str, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """`initscope` in a child process after `patch` (Python text) ran in it: a signal sent from a chosen place."""
    code = ("import os, signal, sys, time\n" + patch +
            "\nfrom initscope.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=timeout,
                          cwd=tmp_path, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob("*.tmp"))


SIGNAL_AT_FSYNC = """
import initscope.core.files as files
_fsync = os.fsync
def fsync(fd):
    if not getattr(fsync, "sent", False):
        fsync.sent = True
        os.kill(os.getpid(), signal.{sig})
        time.sleep(0.3)
    _fsync(fd)
files.os.fsync = fsync
"""

SIGNAL_IN_EVALUATION = """
from initscope.core.trainer import Trainer
_split = Trainer.split_losses
def split_losses(self):
    os.kill(os.getpid(), signal.{sig})
    time.sleep(0.3)
    return _split(self)
Trainer.split_losses = split_losses
"""


def test_sigterm_while_the_run_file_is_written_finishes_it_and_leaves_no_temporary(tmp_path):
    from initscope.core.runfile import load_run

    (tmp_path / "w.txt").write_text(WORDS)
    target = tmp_path / "x.initscope"
    target.write_bytes(KEEP)
    p = _patched_run(tmp_path, SIGNAL_AT_FSYNC.format(sig="SIGTERM"),
                     ["run", "--data", "w.txt", "--steps", "20", "--quiet", "--samples", "0", "--save-run", target.name])
    assert p.returncode == 3, p.stderr  # stopped by a signal; the outputs were written
    assert load_run(target).steps == 20 and _leftovers(tmp_path) == [] and "Traceback" not in p.stderr


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_during_the_final_evaluation_saves_the_run(sig, tmp_path):
    from initscope.core.runfile import load_run

    (tmp_path / "w.txt").write_text(WORDS)
    p = _patched_run(tmp_path, SIGNAL_IN_EVALUATION.format(sig=sig),
                     ["run", "--data", "w.txt", "--steps", "20", "--quiet", "--samples", "0", "--save-run", "x.initscope",
                      "--json-out", "x.json"])
    assert p.returncode == 3 and "Traceback" not in p.stderr, p.stderr
    run = load_run(tmp_path / "x.initscope")
    assert run.steps == 20 and len(run.losses) == 20 and all(math.isnan(v) for v in run.split_losses.values())
    assert json.loads((tmp_path / "x.json").read_text())["final"] == {"train": None, "val": None, "test": None}
    assert _leftovers(tmp_path) == []


def test_sigint_then_sigterm_during_training_saves_a_stopped_run(tmp_path):
    from initscope.core.runfile import load_run

    target = tmp_path / "x.initscope"
    p = _start_run(tmp_path, ["--save-run", str(target), "--data", str(_big_words(tmp_path))])
    p.send_signal(signal.SIGINT)
    time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 3 and "Traceback" not in err, err
    assert load_run(target).status == "stopped" and _leftovers(tmp_path) == []


@pytest.mark.parametrize("delay", [0.2, 0.35, 0.8])
def test_ctrl_c_while_python_starts_is_one_line(delay, tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "initscope", "run", "--steps", "5", "--quiet", "--samples", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    if "init_import_site" in err:  # on a busy machine the signal can come before Python runs any of our code
        pytest.skip("the signal arrived while Python itself was starting")
    assert "Traceback" not in err and len([x for x in err.splitlines() if x.strip()]) <= 2, err
    assert p.returncode in (0, 3, 130)  # 0 / 3 only if the run outpaced the signal


def test_a_signal_during_report_is_one_line_and_writes_nothing(saved, tmp_path):
    patch = """
import initscope.gui.report_images as ri
_plot = ri.plot_images
def plot_images(*a, **k):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(2)
    return _plot(*a, **k)
ri.plot_images = plot_images
"""
    p = _patched_run(tmp_path, patch, ["report", str(saved), "-o", "r.html"])
    assert p.returncode == 130 and "Traceback" not in p.stderr, p.stderr
    assert len([x for x in p.stderr.splitlines() if x.strip()]) == 1
    assert not (tmp_path / "r.html").exists() and _leftovers(tmp_path) == []


# --- memory: the budget bounds what it promises (issue 20) --------------------------------------------------

PEAK = ("import sys\nfrom initscope.cli import main\nrc = main(sys.argv[1:])\n"
        "print('VmPeak', next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmPeak')))\n"
        "sys.exit(rc)\n")


def _capped(argv: list[str], cap: int | None, cwd: Path, timeout: float = 120) -> tuple[subprocess.CompletedProcess, int]:
    """`initscope argv` under an address-space cap (`prlimit --as`), and its peak address space in bytes. Going
    past the cap is a MemoryError or a kill, never a pass."""
    pre = ["prlimit", f"--as={cap}"] if cap else []
    p = subprocess.run([*pre, sys.executable, "-c", PEAK, *argv], capture_output=True, text=True, timeout=timeout,
                       cwd=cwd, env=dict(os.environ, OMP_NUM_THREADS="1"))
    peak = [int(line.split()[1]) * 1024 for line in p.stdout.splitlines() if line.startswith("VmPeak ")]
    return p, (peak[0] if peak else -1)


@pytest.fixture(scope="module")
def bare_peak(tmp_path_factory) -> int:
    """The address space of `run --steps 0` on the lecture's net: torch maps ~1.5 GB of libraries and arenas."""
    d = tmp_path_factory.mktemp("bare")
    (d / "w.txt").write_text(WORDS)
    p, peak = _capped(["run", "--preset", "kaiming", "--data", "w.txt", "--steps", "0", "--quiet", "--samples", "0"],
                      None, d)
    assert p.returncode == 0 and peak > 0, p.stderr
    return peak


def _deep_config(d: Path, n: int, width: int, name: str = "deep.json") -> Path:
    from initscope.core.config import LayerSpec, preset

    cfg = preset("kaiming")
    cfg.model.layers = [LayerSpec("linear", width), LayerSpec("tanh")] * n + [LayerSpec("linear")]
    (d / name).write_text(cfg.to_json())
    return d / name


def test_a_thousand_layers_fit_the_budget_under_a_memory_cap(tmp_path, bare_peak):
    """1000 x (Linear 100, Tanh) at --max-memory 1G: estimated 0.53 GB, it peaked at 2.69 GB through diagnostics'
    one-hot tables (2 x 100,000 x 1,000 float64). Now within an address-space cap of what the estimate allows."""
    from initscope.core.budget import estimate_bytes
    from initscope.core.config import Config

    (tmp_path / "w.txt").write_text(WORDS)
    cfg_path = _deep_config(tmp_path, 1000, 100)
    need = estimate_bytes(Config.load(cfg_path), 1000)
    assert need < 2**30  # the run is accepted at --max-memory 1G ...
    t0 = time.perf_counter()
    p, peak = _capped(["run", "--config", cfg_path.name, "--data", "w.txt", "--steps", "0", "--quiet", "--samples",
                       "0", "--max-memory", "1G"], bare_peak + 2**30, tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]  # ... and runs within 1 GB above the bare process's address space
    assert peak - bare_peak < need and time.perf_counter() - t0 < 60


def test_sums_by_index_equal_the_one_hot_sums_and_plain_torch(small_data, monkeypatch):
    import initscope.core.diagnostics as diagnostics
    from initscope.core.config import preset
    from initscope.core.trainer import Trainer

    cfg = preset("deep-bn")
    a = Trainer(cfg, small_data).init_snapshot()
    monkeypatch.setattr(diagnostics, "ONE_HOT_MAX", 0)  # every table "too large": the index_add_ path
    t = Trainer(cfg, small_data)
    b = t.init_snapshot()
    assert t.net._diag_layout.member is None and t.net._diag_layout.vec_member is None
    for la, lb in zip(a.layers, b.layers):
        assert la.name == lb.name and math.isclose(la.std, lb.std, rel_tol=1e-9)
        assert math.isclose(la.saturation, lb.saturation, rel_tol=1e-12) or math.isnan(la.saturation)
        assert math.isclose(la.grad_std, lb.grad_std, rel_tol=1e-9)
    params = dict(t.net.named_params())
    for pa, pb in zip(a.params, b.params):
        assert math.isclose(pa.data_std, pb.data_std, rel_tol=1e-9, abs_tol=1e-15)
        if not pb.is_matrix:  # 1-D parameters: by index sums now; plain torch's std of the parameter
            assert math.isclose(pb.data_std, params[pb.name].detach().double().std().item(), rel_tol=1e-9, abs_tol=1e-12)


def test_the_memory_estimate_counts_the_sum_tables():
    from initscope.core.budget import ONE_HOT_MAX, estimate_bytes
    from initscope.core.config import preset

    cfg = preset("kaiming")
    assert estimate_bytes(cfg, 1000) >= 2 * ONE_HOT_MAX * 8 + 2 * (10 * 27 + 30 * 200 + 200 + 200 * 27 + 27) * 4


@pytest.mark.parametrize("n,expected", [(100_000, "at most 4096 layers, got 200,001"), (2100, "at most 4096 layers")])
def test_the_number_of_layers_is_capped_at_once(n, expected, tmp_path, capsys):
    (tmp_path / "w.txt").write_text(WORDS)
    cfg_path = tmp_path / "c.json"
    layer = '{"kind": "linear", "width": 1}, {"kind": "tanh"}, '
    cfg_path.write_text('{"model": {"layers": [' + layer * n + '{"kind": "linear"}]}}')
    line = _quick_run(["run", "--config", str(cfg_path), "--data", str(tmp_path / "w.txt"), "--max-memory", "4G"],
                      capsys)
    assert expected in line
    assert expected in _quick_run(["theory", "--config", str(cfg_path)], capsys)


def _npz_with_zeros(arrays: dict[str, np.ndarray], key: str, shape: tuple[int, ...], dtype) -> bytes:
    """An .npz (deflated) of `arrays` plus `key`: an npy header declaring `shape` and that many zero bytes, written
    as a stream (never allocated here): a few hundred kB that inflate to hundreds of MB."""
    from numpy.lib import format as npf

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for k, a in arrays.items():
            if k != key:
                z.writestr(k + ".npy", _npy(a))
        with z.open(key + ".npy", "w", force_zip64=True) as f:
            header = io.BytesIO()
            npf.write_array_header_1_0(header, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
            f.write(header.getvalue())  # magic string and header
            left = int(np.prod(shape)) * np.dtype(dtype).itemsize
            block = bytes(2**22)
            while left > 0:
                f.write(block[:left])
                left -= len(block)
    return buf.getvalue()


def _inflating(case: str, saved: Path, d: Path) -> tuple[Path, str]:
    """Small run files whose arrays inflate to hundreds of MB, or claim to: (file, expected text)."""
    m = _members(saved)
    man = json.loads(m["manifest.json"])
    if case == "history-inflates":  # a 1.4 MB file took report to 1.55 GB
        with np.load(io.BytesIO(m["history.npz"])) as h:
            arrays = {k: h[k] for k in h.files}
        m["history.npz"] = _npz_with_zeros(arrays, "update", (8_000_000, 4), np.float64)  # 256 MB
        expected = "rows, more than the run's"
    elif case == "weights-inflate":  # 570 kB gave +380 MB: an array of the wrong, huge shape
        with np.load(io.BytesIO(m["weights.npz"])) as w:
            arrays = {k: w[k] for k in w.files}
        m["weights.npz"] = _npz_with_zeros(arrays, "embedding.weight", (64_000_000,), np.float32)  # 256 MB
        expected = "weights do not match its config"
    else:  # "losses-150M": the manifest claims 150 M steps; 10.3 GB and a traceback before
        man["steps"] = 150_000_000
        m["manifest.json"] = json.dumps(man).encode()
        expected = "losses.npy" if 12 * 150_000_000 <= _half_memory() else "need"
    return _write(m, d / f"{case}.initscope"), expected


def _half_memory() -> int:
    from initscope.core.budget import default_limit

    return default_limit() or 2**62


@pytest.mark.parametrize("case", ["history-inflates", "weights-inflate", "losses-150M"])
def test_a_run_file_is_checked_against_its_config_before_its_arrays_are_read(case, saved, tmp_path, bare_peak):
    bad, expected = _inflating(case, saved, tmp_path)
    assert bad.stat().st_size < 3 * 2**20
    t0 = time.perf_counter()
    p, peak = _capped(["inspect", str(bad)], bare_peak + 256 * 2**20, tmp_path)  # 256 MB above a bare process
    assert p.returncode == 2 and expected in p.stderr and "Traceback" not in p.stderr, p.stderr[-1500:]
    assert len(p.stderr.strip().splitlines()) == 1 and time.perf_counter() - t0 < 20
    assert peak - bare_peak < 256 * 2**20


# --- sweeps (issue 20) ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("case,expected", [
    ("train-seeds-10M", "--seeds must be from 1 to 1000"),
    ("train-depth-3M", "depth: 3,000,000 is not from 1 to 1024"),
    ("train-save-dir-under-a-file", "cannot write there (Not a directory)"),
    ("train-save-dir-cannot-create", "cannot write there"),
    pytest.param("train-save-dir-immutable", "cannot write there",
                 marks=pytest.mark.skipif(not ROOT, reason="chattr needs root")),
    ("width-seeds-10M", "seeds must be from 1 to 100"),
])
def test_sweeps_refuse_at_once(case, expected, tmp_path, capsys):
    words = tmp_path / "w.txt"
    words.write_text(WORDS)
    train = ["sweep", "train", "--data", str(words), "--param", "lr", "--values", "0.1", "--steps", "5"]
    folder = tmp_path / "runs"
    argv = {
        "train-seeds-10M": train + ["--seeds", "10000000"],
        "train-depth-3M": ["sweep", "train", "--data", str(words), "--param", "depth", "--values", "3000000"],
        "train-save-dir-under-a-file": train + ["--save-dir", str(words / "runs")],
        "train-save-dir-cannot-create": train + ["--save-dir", "/proc/initscope-runs"],
        "train-save-dir-immutable": train + ["--save-dir", str(folder)],
        "width-seeds-10M": ["sweep", "width", "--data", str(words), "--seeds", "10000000"],
    }[case]
    if case == "train-save-dir-immutable":  # read-only even for root: the runs could not be saved, one by one
        folder.mkdir()
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("this file system has no immutable attribute")
    try:
        assert expected in _quick_run(argv, capsys)
    finally:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)


# --- Ray: addresses, authentication, and a real `ray start --head` cluster (issue 20) ------------------------

def _sweep_cli(tmp_path: Path, extra: list[str], env: dict | None = None, timeout: float = 180):
    (tmp_path / "w.txt").write_text(WORDS)
    return subprocess.run([sys.executable, "-m", "initscope", "sweep", "train", "--data", "w.txt", "--param", "lr",
                           "--values", "0.1,0.05", "--steps", "20", "--quiet", *extra], capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path, env=env or dict(os.environ))


@pytest.mark.parametrize("address", ["bogus:99", "ray://x", "ray://h:0", "http://127.0.0.1:10001"])
def test_a_ray_address_that_is_not_auto_or_ray_url_is_one_line_at_once(address, tmp_path, capsys):
    line = _quick_run(["sweep", "train", "--data", str(_write_words(tmp_path)), "--param", "lr", "--values", "0.1",
                       "--backend", "ray", "--address", address], capsys)
    assert "use auto (on a node of the cluster) or ray://HOST:PORT" in line


def _write_words(d: Path) -> Path:
    (d / "w.txt").write_text(WORDS)
    return d / "w.txt"


@pytest.mark.parametrize("address,expected", [("auto", "Could not find any running Ray instance"),
                                              ("ray://127.0.0.1:1", "nothing answered within")])
@pytest.mark.ray
@pytest.mark.xdist_group("ray")  # fixed ports and one machine-wide Ray: these run in one worker, one at a time
def test_ray_with_nothing_to_reach_is_one_line_and_quick(address, expected, tmp_path):
    pytest.importorskip("ray")
    empty = tmp_path / "no-ray"
    empty.mkdir()
    env = dict(os.environ, RAY_TMPDIR=str(empty))  # where `auto` looks for a running cluster: none
    t0 = time.perf_counter()
    p = _sweep_cli(tmp_path, ["--backend", "ray", "--address", address], env)
    err = [x for x in p.stderr.splitlines() if x.strip()]
    assert p.returncode == 2 and len(err) == 2 and expected in err[-1], p.stderr  # the "N runs" line, then it
    if address.startswith("ray://"):  # the probe's own limit, said in the line
        from initscope.core.ray_auth import PROBE_TIMEOUT_S

        assert f"within {PROBE_TIMEOUT_S:g} s" in err[-1]
    assert "INFO" not in p.stderr and "Warning" not in p.stderr and time.perf_counter() - t0 < 30


def _port_busy(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """`ray start --head` with token authentication on (Ray 2.60), its token in a HOME of its own; stopped after."""
    pytest.importorskip("ray")
    import secrets

    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        pytest.skip("no ray command next to this Python")
    deadline = time.monotonic() + 30  # a local Ray of an earlier test in this worker can take seconds to let go
    while (_port_busy(6379) or _port_busy(10001)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if _port_busy(6379) or _port_busy(10001):
        pytest.skip("a Ray cluster (or something on 6379 / 10001) already runs on this machine")
    home = tmp_path_factory.mktemp("rayhome")
    token = secrets.token_hex(16)
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text(token)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), RAY_AUTH_MODE="token", RAY_USAGE_STATS_ENABLED="0")
    start = subprocess.run([str(ray_bin), "start", "--head", "--num-cpus", "2", "--include-dashboard", "false",
                            "--disable-usage-stats"], capture_output=True, text=True, env=env, timeout=180)
    if start.returncode != 0:
        pytest.fail(f"ray start --head failed: {start.stderr[-1500:]}")
    try:
        yield {"home": home, "token": token, "env": {k: v for k, v in env.items() if k != "RAY_AUTH_MODE"}}
    finally:
        subprocess.run([str(ray_bin), "stop", "--force"], capture_output=True, env=env, timeout=120)


def _table(stdout: str) -> list[str]:
    """The sweep's result table: the lines after the data line, without the timing line."""
    return [x for x in stdout.splitlines() if x.strip() and not x.startswith("data:") and " runs in " not in x]


@pytest.fixture(scope="module")
def local_sweep(ray_head, tmp_path_factory):
    """The same sweep on the local pool, run once for both addresses (a CLI process and two workers)."""
    local = _sweep_cli(tmp_path_factory.mktemp("local-sweep"), ["--workers", "2"], ray_head["env"])
    assert local.returncode == 0, local.stderr
    return local


@pytest.mark.ray
@pytest.mark.xdist_group("ray")  # fixed ports and one machine-wide Ray: these run in one worker, one at a time
@pytest.mark.slow
@pytest.mark.parametrize("address", ["auto", "ray://127.0.0.1:10001"])
def test_a_real_ray_cluster_with_a_token_gives_the_local_results(address, ray_head, local_sweep, tmp_path):
    local = local_sweep
    remote = _sweep_cli(tmp_path, ["--backend", "ray", "--address", address], ray_head["env"])
    assert remote.returncode == 0, remote.stderr
    assert _table(remote.stdout) == _table(local.stdout) and len(_table(local.stdout)) == 3
    assert "INFO" not in remote.stderr and "WARNING" not in remote.stderr  # Ray's own lines stay out


@pytest.mark.ray
@pytest.mark.xdist_group("ray")  # fixed ports and one machine-wide Ray: these run in one worker, one at a time
@pytest.mark.slow
@pytest.mark.parametrize("case", ["wrong-token-file", "no-token"])
def test_a_ray_client_the_head_refuses_says_what_the_head_answered_in_seconds(case, ray_head, tmp_path):
    env = dict(ray_head["env"])
    extra = ["--backend", "ray", "--address", "ray://127.0.0.1:10001"]
    if case == "wrong-token-file":
        (tmp_path / "token").write_text("not-the-token\n")
        extra += ["--ray-token-file", str(tmp_path / "token")]
        expected = "the token it was sent is not the head's"
    else:
        env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token, no RAY_AUTH_TOKEN
        expected = "it wants a token and none was found"
    t0 = time.perf_counter()
    p = _sweep_cli(tmp_path, extra, env)
    err = [x for x in p.stderr.splitlines() if x.strip()]
    assert p.returncode == 2 and len(err) == 2, p.stderr
    assert 'the head answered UNAUTHENTICATED: "Invalid or missing authentication token"' in err[-1] and expected in err[-1]
    assert time.perf_counter() - t0 < 20  # was a 30 s client timeout that said "ray client connection timeout"


# --- the window's training process: Stop never waits on it (issue 20) ---------------------------------------

def _hold_lock_and_die(flag) -> None:
    """In a helper process: take the flag's lock, if it has one (mp.Event's condition), and die holding it."""
    cond = getattr(flag, "_cond", None)
    if cond is not None:
        cond.acquire()
    os.kill(os.getpid(), signal.SIGKILL)


def test_stop_and_pause_return_at_once_while_the_trainer_is_stopped_or_a_holder_died(tmp_path):
    """Stop froze the window while the trainer process was SIGSTOPped (a debugger), or when a process died holding
    the mp.Event's lock. The flags are shared bytes now: no lock to wait for, ever."""
    import multiprocessing as mp
    import threading

    from initscope.core.config import preset
    from initscope.core.data import default_data_path
    from initscope.core.remote import RemoteTrainer

    remote = RemoteTrainer()
    try:
        cfg = preset("kaiming")
        cfg.train.steps = 1_000_000
        started, out = threading.Event(), {}
        th = threading.Thread(target=lambda: out.update(r=remote.train({"A": cfg}, str(default_data_path()),
                                                                         on_init=lambda t, s: started.set())))
        th.start()
        assert started.wait(120)
        # a process that dies holding the flags' lock (if they had one), then the trainer stopped by a debugger
        helper = mp.get_context("fork").Process(target=_hold_lock_and_die, args=(remote._stop,))
        helper.start()
        helper.join(10)
        os.kill(remote.proc.pid, signal.SIGSTOP)
        try:
            done = threading.Event()
            threading.Thread(target=lambda: (remote.pause(), remote.resume(), remote.stop(), done.set()),
                             daemon=True).start()
            assert done.wait(2), "pause / resume / stop blocked on the stopped trainer"
        finally:
            os.kill(remote.proc.pid, signal.SIGCONT)
        th.join(60)
        assert not th.is_alive() and out["r"]["A"].status == "stopped"
    finally:
        remote.close()


def test_report_draws_a_long_run_at_the_pictures_resolution(saved, tmp_path, capsys, monkeypatch):
    """A 10 M-step run took report 420 s and 1.66 GB (every step drawn); 3 M steps now draw in seconds."""
    m = _members(saved)
    man = json.loads(m["manifest.json"])
    n = 3_000_000
    man["steps"] = n
    man["config"]["train"]["steps"] = n
    m["manifest.json"] = json.dumps(man).encode()
    rng = np.random.default_rng(0)
    m["losses.npy"] = _npy((3.0 - np.log1p(np.arange(n)) / 10 + rng.normal(0, 0.01, n)).astype(np.float32))
    long_run = _write(m, tmp_path / "long.initscope")
    import pyqtgraph as pg

    drawn, plot = [], pg.PlotItem.plot

    def recording(self, *args, **kw):  # what each curve of the report is handed
        if len(args) >= 2:
            drawn.append((self.titleLabel.text, np.asarray(args[0]), np.asarray(args[1])))
        return plot(self, *args, **kw)

    monkeypatch.setattr(pg.PlotItem, "plot", recording)
    t0 = time.perf_counter()
    assert main(["report", str(long_run), "-o", str(tmp_path / "r.html")]) == 0, capsys.readouterr().err
    assert time.perf_counter() - t0 < 30
    loss = [(x, y) for title, x, y in drawn if title == "Loss"]
    assert len(loss) == 2 and all(len(x) <= 4 * 720 for x, _ in loss)  # the envelope, then the means
    (ex, ey), (mx, my) = loss
    losses = np.load(io.BytesIO(m["losses.npy"]))
    assert ex.max() < n and ey.min() == losses.min() and ey.max() == losses.max()  # every extreme is drawn
    smooth = -(-n // 1440)
    assert np.allclose(my, losses[: len(my) * smooth].reshape(-1, smooth).mean(1, dtype=np.float64), rtol=1e-6)


def test_ctrl_c_inside_a_class_body_is_still_one_line(monkeypatch, capsys):
    """Ctrl+C while a lazily imported module builds a dataclass arrives as RuntimeError from __set_name__ (CI saw it)."""
    import dataclasses

    from initscope import cli

    def dispatch(args):
        class Field:
            def __set_name__(self, owner, name):
                raise KeyboardInterrupt

        @dataclasses.dataclass
        class Info:  # noqa: F841 - building the class is the point
            layers: int = Field()

    monkeypatch.setattr(cli, "_dispatch", dispatch)
    assert cli.main(["run", "--steps", "1"]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip() == "initscope: interrupted"


def test_a_runtime_error_of_its_own_is_not_taken_for_ctrl_c(monkeypatch):
    from initscope import cli

    monkeypatch.setattr(cli, "_dispatch", lambda args: (_ for _ in ()).throw(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["run", "--steps", "1"])


def test_ctrl_c_is_raised_as_a_keyboardinterrupt_subclass_over_the_default_handler_only(tmp_path):
    """A plain KeyboardInterrupt that escaped a C extension's code during torch's import made CPython kill itself
    with SIGINT at exit (status -2, 2 in 20 here) after our one line; a subclass never sets that flag."""
    code = """
import os, signal, sys
from initscope import interrupt
interrupt.install()
assert signal.getsignal(signal.SIGINT) is interrupt._interrupt
try:
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(10**7):
        pass
except KeyboardInterrupt as e:
    print(type(e).__name__)
signal.signal(signal.SIGINT, signal.SIG_IGN)
interrupt.install()  # a handler someone set on purpose stays
print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.split() == ["Interrupted", "True"], p.stderr
