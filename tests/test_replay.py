"""Replay (issue 24), the core: every snapshot kept with its histograms, thinned evenly, saved in run format 4,
read by `inspect --step`, older and damaged files, and `initscope animate`'s frame count."""

import io
import json
import math
import zipfile

import numpy as np
import pytest
import torch

from initscope.cli import main
from initscope.core.history import History
from initscope.core.replay import SnapshotStore, pack_counts
from initscope.core.runfile import history_from_run, load_run, replay_arrays
from initscope.core.snapshot import Histogram, LayerStats, ParamStats, Snapshot
from initscope.core.trainer import Trainer

from conftest import tiny_config


@pytest.fixture(scope="module")
def acceptance(tmp_path_factory):
    """The issue's run: deep-nobn, 2,000 steps, a snapshot every 100 steps, saved by the CLI."""
    path = tmp_path_factory.mktemp("replay") / "deep.initscope"
    assert main(["run", "--preset", "deep-nobn", "--steps", "2000", "--snapshot-every", "100", "--quiet",
                 "--samples", "0", "--save-run", str(path)]) == 0
    return path


def _rewrite(src, dst, change):
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    change(members)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in members.items():
            z.writestr(n, data)


def _trained(small_data, steps=60, every=10):
    cfg = tiny_config(steps=steps)
    cfg.diag.snapshot_every = every
    t = Trainer(cfg, small_data)
    h = History()
    h.set_init(t.init_snapshot())
    seen = []

    def on_progress(p):
        h.add_losses(p.first_step, p.losses)
        if p.snapshot is not None:
            h.add_snapshot(p.snapshot)
            seen.append(p.snapshot)

    t.train(on_progress)
    return t, h, seen


def _same(a: Snapshot, b: Snapshot) -> None:
    """b (rebuilt from replay rows) is a (as collected) number for number, histograms bin for bin."""
    assert a.step == b.step and a.loss == b.loss and a.lr == b.lr and a.ref_loss == b.ref_loss
    for sa, sb in zip(a.layers, b.layers, strict=True):
        assert (sa.name, sa.kind, sa.width, sa.dead) == (sb.name, sb.kind, sb.width, sb.dead)
        for f in ("mean", "std", "saturation", "grad_mean", "grad_std"):
            x, y = getattr(sa, f), getattr(sb, f)
            assert x == y or (math.isnan(x) and math.isnan(y)), f
        for ha, hb in ((sa.hist, sb.hist), (sa.grad_hist, sb.grad_hist)):
            assert np.array_equal(ha.counts, hb.counts) and (ha.lo, ha.hi) == (hb.lo, hb.hi)
    for pa, pb in zip(a.params, b.params, strict=True):
        assert (pa.name, pa.shape, pa.is_matrix) == (pb.name, pb.shape, pb.is_matrix)
        for f in ("data_std", "grad_mean", "grad_std", "grad_data", "update_data_log10"):
            x, y = getattr(pa, f), getattr(pb, f)
            assert x == y or (math.isnan(x) and math.isnan(y)), f
        assert (pa.grad_hist is None) == (pb.grad_hist is None)
        if pa.grad_hist is not None:
            assert np.array_equal(pa.grad_hist.counts, pb.grad_hist.counts)
            assert (pa.grad_hist.lo, pa.grad_hist.hi) == (pb.grad_hist.lo, pb.grad_hist.hi)


def test_history_keeps_every_snapshot_whole(small_data):
    _, h, seen = _trained(small_data)
    assert len(h.replay) == len(seen) == 7 and list(h.replay.steps) == [s.step for s in seen]
    for row, snap in enumerate(seen):
        _same(snap, h.replay.snapshot(row))
    assert h.replay.arrays["act_counts"].data.dtype == np.uint16  # the compact form


def test_histogram_counts_match_plain_torch_at_a_replayed_step(small_data):
    """The replayed step-0 row holds what torch.histc makes of the layers' outputs on the first batch."""
    cfg = tiny_config(steps=1)
    t = Trainer(cfg, small_data)
    net = t.net
    peek = torch.Generator().manual_seed(0)
    peek.set_state(t.batch_gen.get_state())  # the batch step 0 will draw, without drawing it
    ix = t._batch_ix(peek)
    h = History()

    def on_progress(p):
        if p.snapshot is not None and p.snapshot.step == 0:
            h.add_snapshot(p.snapshot)

    outs = {}
    hooks = [m.register_forward_hook(lambda m, i, o, k=k: outs.__setitem__(k, o.detach().clone()))
             for k, m in enumerate(net.layers) if isinstance(m, torch.nn.Tanh)]
    x = t.xtr[ix]
    with torch.no_grad():
        net(x)
    for hk in hooks:
        hk.remove()
    t.train(on_progress)
    snap = h.replay.snapshot(0)
    tanhs = [s for s in snap.layers if s.kind == "tanh"]
    assert len(tanhs) == len(outs) == 2
    bins = cfg.diag.hist_bins
    for s, o in zip(tanhs, outs.values()):
        want = torch.histc(o.float(), bins=bins, min=-1.0, max=1.0).numpy()
        assert (s.hist.lo, s.hist.hi) == (-1.0, 1.0)
        assert np.abs(s.hist.counts - want).sum() <= 2  # a value on a bin edge may fall either side in float32
        assert s.hist.counts.sum() == o.numel()


def _snap(step: int, layers: int = 2, bins: int = 8, seed: int = 0) -> Snapshot:
    rng = np.random.default_rng(seed + step)
    snap = Snapshot(step=step, loss=3.0 - step * 1e-4, lr=0.1, ref_loss=math.log(27))
    for j in range(layers):
        counts = rng.integers(0, 500, bins).astype(np.float32)
        snap.layers.append(LayerStats(j * 2 + 1, f"L{j * 2 + 1} Tanh", "tanh", 0.0, 0.6, 0.05, 0, 100,
                                      Histogram(counts, -1.0, 1.0), 0.0, 1e-3, Histogram(counts[::-1].copy(), -0.01, 0.01)))
    snap.params.append(ParamStats("L0 Linear.weight", (10, 100), True, 0.1, 0.0, 1e-3, 1e-2, -3.0,
                                  Histogram(rng.integers(0, 9, bins).astype(np.float32), -0.02, 0.02)))
    snap.params.append(ParamStats("L0 Linear.bias", (100,), False, 0.1, 0.0, 1e-3, 1e-2, -3.0, None))
    return snap


def test_thinning_keeps_at_most_max_rows_evenly_spaced_first_and_latest():
    h = History(max_rows=16)
    made = {}
    for k in range(101):
        s = _snap(k * 10)
        made[s.step] = s
        h.add_snapshot(s)
        steps = h.snap_steps.data
        assert len(steps) <= 16 and steps[0] == 0 and steps[-1] == k * 10
        assert np.array_equal(h.replay.steps, steps)  # the histograms thin with the scalar rows
    steps = h.snap_steps.data
    gaps = np.diff(steps[:-1])
    assert len(set(gaps.tolist())) == 1  # evenly spaced (the latest rides on the end until the next comes)
    assert len(steps) >= 9  # never thinned below half the rows
    for row, step in enumerate(steps):
        _same(made[int(step)], h.replay.snapshot(row))


def test_counts_pack_exactly_up_to_65535_and_scaled_beyond():
    c = np.array([0, 1, 65535, 3200], np.float32)
    packed, scale = pack_counts(c)
    assert packed.dtype == np.uint16 and scale == 1 and np.array_equal(packed * scale, c)
    big = np.array([0, 10, 1_000_000, 500_000], np.float64)
    packed, scale = pack_counts(big)
    assert packed.max() == 65535 and np.allclose(packed * float(scale), big, atol=float(scale) / 2 + 1e-6)


def test_heatmap_shares_match_an_independent_rebinning():
    """The heatmap's share per grid bin, against overlaps computed bin by bin (no cumulative sums)."""
    s = SnapshotStore()
    a, b = _snap(0), _snap(10)
    b.layers[0].hist = Histogram(np.array([5, 0, 3, 0, 0, 1, 0, 1], np.float32), -0.5, 0.3)
    s.add(a)
    s.add(b)
    steps, img, lo, hi = s.heatmap("act", 0, bins=10)
    assert list(steps) == [0, 10] and (lo, hi) == (-1.0, 1.0)
    grid = np.linspace(lo, hi, 11)
    for row, snap in enumerate((a, b)):
        hist = snap.layers[0].hist
        edges = np.linspace(hist.lo, hist.hi, len(hist.counts) + 1)
        want = np.zeros(10)
        for k, c in enumerate(hist.counts):
            for g in range(10):
                overlap = max(0.0, min(edges[k + 1], grid[g + 1]) - max(edges[k], grid[g]))
                want[g] += c * overlap / (edges[k + 1] - edges[k])
        assert np.allclose(img[row], want / hist.counts.sum(), atol=1e-6)
        assert math.isclose(img[row].sum(), 1.0, rel_tol=1e-6)


def test_history_at_a_step_shows_that_snapshot_and_shares_the_buffers():
    h = History()
    for k in range(5):
        h.add_snapshot(_snap(k * 100))
    h.add_losses(0, np.arange(401, dtype=np.float32))
    v = h.at(250)
    assert v.latest.step == 200 and v.at_step == 200 and v.loss is h.loss and v.replay is h.replay
    assert h.latest.step == 400 and v.version != h.version
    assert h.at(-5).latest.step == 0


@pytest.mark.slow  # the 2,000-step run (module fixture, ~6 s once)
def test_acceptance_run_holds_21_snapshots_inspect_returns_each(acceptance, tmp_path):
    run = load_run(acceptance)
    steps = list(range(0, 2001, 100))
    assert list(run.replay["steps"]) == steps and run.replay["act_counts"].shape[:2] == (21, 5)
    h = history_from_run(run)
    for k in steps:
        out = tmp_path / f"at{k}.json"
        assert main(["inspect", str(acceptance), "--step", str(k + 50 if k < 2000 else k), "--json-out", str(out)]) == 0
        d = json.loads(out.read_text())
        assert d["snapshot_step"] == k and d["snapshot_steps"] == steps
        snap = h.replay.snapshot(h.replay.row_at(k))
        for layer, s in zip(d["layers"], snap.layers, strict=True):
            assert layer["hist_counts"] == [int(c) for c in s.hist.counts]
            assert len(layer["hist_edges"]) == len(layer["hist_counts"]) + 1 == 51
            assert layer["hist_edges"][0] == s.hist.lo and layer["hist_edges"][-1] == s.hist.hi
            assert sum(layer["hist_counts"]) == 32 * 100  # every output of the batch, once
    _same(run.snapshots[-1], h.replay.snapshot(20))  # the stored final snapshot and its replay row agree


@pytest.mark.slow  # the 2,000-step run (module fixture, ~6 s once)
def test_round_trip_and_a_file_saved_again_keeps_the_replay(acceptance, tmp_path):
    from initscope.core.runfile import save_run

    run = load_run(acceptance)
    again = tmp_path / "again.initscope"
    save_run(again, run)
    back = load_run(again)
    assert set(back.replay) == set(run.replay)
    for k, v in run.replay.items():
        assert np.array_equal(v, back.replay[k], equal_nan=True) and v.dtype == back.replay[k].dtype
    # a history rebuilt from the file gives the same arrays back (the GUI's File > Save run)
    arrays = replay_arrays(history_from_run(back))
    for k, v in run.replay.items():
        assert np.array_equal(v, arrays[k], equal_nan=True)


@pytest.mark.slow  # the 2,000-step run (module fixture, ~6 s once)
def test_files_of_format_3_still_open_and_inspect_their_two_snapshots(acceptance, tmp_path, capsys):
    old = tmp_path / "v3.initscope"

    def to_v3(m):
        manifest = json.loads(m["manifest.json"])
        manifest["version"] = 3
        m["manifest.json"] = json.dumps(manifest).encode()
        del m["replay.npz"]

    _rewrite(acceptance, old, to_v3)
    run = load_run(old)
    assert run.replay == {} and run.replay_problem == ""
    h = history_from_run(run)
    kept = sorted({s.step for s in run.snapshots})  # step 0 and the ring of the latest 16 (500..2000)
    assert list(h.snapshot_steps()) == kept and kept[0] == 0 and kept[-1] == 2000 and 100 not in kept
    assert h.at(450).latest.step == 0 and h.at(1550).latest.step == 1500
    out = tmp_path / "old.json"
    assert main(["inspect", str(old), "--step", "450", "--json-out", str(out)]) == 0
    assert json.loads(out.read_text())["snapshot_step"] == 0


@pytest.mark.slow  # the 2,000-step run (module fixture, ~6 s once)
@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong-shape", "bad-crc"])
def test_a_damaged_history_is_one_line_and_the_rest_opens(acceptance, tmp_path, capsys, damage):
    bad = tmp_path / f"{damage}.initscope"
    if damage == "bad-crc":  # a flipped byte inside replay.npz's compressed data: zip's CRC check fails
        raw = bytearray(acceptance.read_bytes())
        with zipfile.ZipFile(acceptance) as z:
            info = z.getinfo("replay.npz")
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        raw[start + info.compress_size // 2] ^= 0xFF
        bad.write_bytes(bytes(raw))
    else:
        def change(m):
            if damage == "truncated":
                m["replay.npz"] = m["replay.npz"][: len(m["replay.npz"]) // 2]
            elif damage == "garbage":
                m["replay.npz"] = b"not numpy at all"
            else:
                with np.load(io.BytesIO(m["replay.npz"])) as z:
                    arrays = {k: z[k] for k in z.files}
                arrays["act_counts"] = arrays["act_counts"][:, :2]
                buf = io.BytesIO()
                np.savez(buf, **arrays)
                m["replay.npz"] = buf.getvalue()
        _rewrite(acceptance, bad, change)
    run = load_run(bad)
    assert run.replay == {} and "replay.npz" in run.replay_problem and "\n" not in run.replay_problem
    assert run.steps == 2000 and len(run.losses) == 2000 and run.snapshots[-1].step == 2000
    capsys.readouterr()
    assert main(["inspect", str(bad), "--step", "700"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged" in err[0] and str(bad) in err[0]


@pytest.mark.slow  # the 2,000-step run (module fixture, ~6 s once)
def test_animate_writes_one_gif_frame_per_snapshot(acceptance, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "deep.gif"
    assert main(["animate", str(acceptance), str(out), "--size", "320x200", "--fps", "10"]) == 0
    with Image.open(out) as im:
        assert im.n_frames == 21 and im.size == (320, 200)
        assert im.info["duration"] == 100
    assert "21 frames" in capsys.readouterr().out


@pytest.mark.slow  # the 2,000-step run (module fixture, ~6 s once)
@pytest.mark.parametrize("args, expected", [
    (["OUT.png"], "as .gif or .mp4"),
    (["{run}"], "that is the run file"),  # the run file itself: refused as an input (issue 20), before its suffix
    (["{dir}/missing/x.gif"], "missing"),
    (["x.gif", "--fps", "0"], "--fps must be between"),
    (["x.gif", "--size", "10x10"], "between 64 and"),
    (["x.gif", "--size", "big"], "expected WxH"),
])
def test_animate_refuses_bad_targets_and_options_with_one_line(acceptance, tmp_path, capsys, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    argv = [a.format(run=acceptance, dir=tmp_path) for a in args]
    assert main(["animate", str(acceptance), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]
    assert not (tmp_path / "x.gif").exists()


@pytest.mark.slow  # the 2,000-step run (module fixture, ~6 s once)
def test_animate_mp4_without_imageio_ffmpeg_says_how_to_get_it(acceptance, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if the extra were not installed
    assert main(["animate", str(acceptance), str(tmp_path / "x.mp4")]) == 2
    assert "initscope[video]" in capsys.readouterr().err


@pytest.mark.slow  # the 2,000-step run (module fixture, ~6 s once)
def test_animate_mp4_with_imageio_ffmpeg(acceptance, tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="MP4 needs the optional extra `video`")
    out = tmp_path / "deep.mp4"
    assert main(["animate", str(acceptance), str(out), "--size", "320x180"]) == 0
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    assert meta["size"] == (320, 180) and sum(1 for _ in reader) == 21


@pytest.mark.slow  # the 2,000-step run (module fixture, ~6 s once)
def test_the_report_gains_the_heatmaps(acceptance, tmp_path):
    import base64
    import re

    out = tmp_path / "r.html"
    assert main(["report", str(acceptance), "-o", str(out)]) == 0
    html = out.read_text()
    figures = re.findall(r"<figure><img alt='([^']*)' src='data:image/png;base64,([^']+)'>", html)
    over_time = [(cap, png) for cap, png in figures if "over time" in cap]
    assert [cap.split(" over time")[0] for cap, _ in over_time] == ["Activations", "Gradients at layer outputs"]
    for _, png in over_time:
        assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_watched_run_keeps_its_replay_rows_too(tmp_path):
    from torch import nn

    import initscope

    path = tmp_path / "watched.initscope"
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.LayerNorm(16), nn.Linear(16, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 5), torch.randint(0, 4, (32,))
    with initscope.watch(model, opt, save=path, every=10, classes=4) as scope:
        for _ in range(35):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            scope.step(loss)
    run = load_run(path)
    assert run.watched and list(run.replay["steps"]) == [s.step for s in run.snapshots] == [0, 10, 20, 30]
    h = history_from_run(run)
    for row, snap in enumerate(run.snapshots):
        _same(snap, h.replay.snapshot(row))
