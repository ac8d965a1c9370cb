import base64
import io
import json
import math
import re
import zipfile

import numpy as np
import pytest
import torch

from initscope.cli import main
from initscope.core.errors import RunFileError, UserError
from initscope.core.runfile import load_run, save_run


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "r.initscope"
    assert main(["run", "--preset", "deep-bn", "--steps", "300", "--snapshot-every", "100", "--quiet",
                 "--samples", "3", "--save-run", str(path)]) == 0
    return path


def test_round_trip_is_exact(saved, tmp_path):
    run = load_run(saved)
    assert run.config.name == "deep-bn" and run.config.train.steps == 300 and run.steps == 300
    assert run.losses.shape == (300,) and run.status == "finished" and len(run.samples) == 3
    # step-0 preview, then the run's snapshots, the last at the final step (issue 9)
    assert [s.step for s in run.snapshots] == [0, 0, 100, 200, 300]
    assert list(run.history["snap_steps"]) == [0, 100, 200, 300] and run.history["saturation"].shape == (4, 5)
    again = tmp_path / "again.initscope"
    save_run(again, run)
    back = load_run(again)
    assert back.config == run.config and np.array_equal(back.losses, run.losses)
    for k in run.history:
        assert np.array_equal(back.history[k], run.history[k])
    for k, v in run.state_dict.items():
        assert torch.equal(back.state_dict[k], v)
    a, b = run.snapshots[-1], back.snapshots[-1]
    assert [s.kind for s in a.layers] == [s.kind for s in b.layers] == ["batchnorm", "tanh"] * 5 + ["batchnorm"]
    for sa, sb in zip(a.layers, b.layers):  # a norm's saturation is NaN (none defined) and reads back as NaN
        assert (sa.saturation == sb.saturation or math.isnan(sa.saturation) and math.isnan(sb.saturation))
        assert sa.std == sb.std and np.array_equal(sa.hist.counts, sb.hist.counts)
    assert run.split_losses == back.split_losses and run.net()(torch.zeros(2, 3, dtype=torch.long)).shape == (2, 27)


def _rewrite(src, dst, change):
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    change(members)
    with zipfile.ZipFile(dst, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)


def test_files_from_before_norm_layers_were_listed_still_load(saved, tmp_path):
    """Run files written before snapshots listed norms (activations only) read, as do today's; a snapshot that
    drops one activation does not."""
    def keep(pred):
        def change(members):
            snaps = json.loads(members["snapshots.json"])
            for snap in snaps:
                snap["layers"] = [x for x in snap["layers"] if pred(x)]
            members["snapshots.json"] = json.dumps(snaps).encode()
        return change

    old = tmp_path / "old.initscope"
    _rewrite(saved, old, keep(lambda x: x["kind"] == "tanh"))
    run = load_run(old)
    assert [s.kind for s in run.snapshots[0].layers] == ["tanh"] * 5
    bad = tmp_path / "bad.initscope"
    _rewrite(saved, bad, keep(lambda x: x["name"] != "L2 Tanh"))
    with pytest.raises(RunFileError, match="layers do not match its config"):
        load_run(bad)


@pytest.mark.parametrize("case,expected", [
    ("truncated", "not an initscope run file"),
    ("text", "not an initscope run file"),
    ("foreign", "no manifest.json"),
    ("newer", "newer initscope"),
    ("missing", "missing weights.npz"),
    ("badconfig", "its config is invalid"),
    ("weights", "weights do not match"),
    ("losses", "damaged"),
])
def test_damaged_files_get_a_message(saved, tmp_path, case, expected):
    bad = tmp_path / f"{case}.initscope"
    raw = saved.read_bytes()
    if case == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif case == "text":
        bad.write_text("hello")
    elif case == "foreign":
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("something.txt", "x")
    else:
        def change(m):
            manifest = json.loads(m["manifest.json"])
            if case == "newer":
                manifest["version"] = 99
            elif case == "missing":
                del m["weights.npz"]
            elif case == "badconfig":
                manifest["config"]["train"]["lr"] = -1
            elif case == "weights":
                buf = io.BytesIO()
                np.savez(buf, **{"embedding.weight": np.zeros((3, 3), np.float32)})
                m["weights.npz"] = buf.getvalue()
            elif case == "losses":
                m["losses.npy"] = b"garbage"
            m["manifest.json"] = json.dumps(manifest).encode()
        _rewrite(saved, bad, change)
    with pytest.raises(RunFileError) as e:
        load_run(bad)
    assert expected in str(e.value) and str(bad) in str(e.value)


def test_a_crash_mid_save_leaves_the_old_file(saved, tmp_path, monkeypatch):
    import os

    target = tmp_path / "keep.initscope"
    target.write_bytes(saved.read_bytes())
    before = target.read_bytes()
    run = load_run(saved)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(UserError, match="disk full"):
        save_run(target, run)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["keep.initscope"]


def test_report_embeds_the_panels(saved, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(saved), "-o", str(out)]) == 0
    text = out.read_text()
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(pngs) >= 4 and all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "L2 Tanh" in text and "Split losses" in text and "Sampled names" in text
    bad = tmp_path / "bad.initscope"
    bad.write_text("nope")
    assert main(["report", str(bad), "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an initscope run file" in err[-1]


def test_weights_are_stored_without_pickle_and_version_1_files_still_load(saved, tmp_path):
    with zipfile.ZipFile(saved) as z:
        assert "weights.pt" not in z.namelist()
        with np.load(io.BytesIO(z.read("weights.npz")), allow_pickle=False) as w:  # plain arrays only
            assert "embedding.weight" in w.files
    run = load_run(saved)
    v1 = tmp_path / "v1.initscope"

    def to_v1(m):
        manifest = json.loads(m["manifest.json"])
        manifest["version"] = 1
        m["manifest.json"] = json.dumps(manifest).encode()
        buf = io.BytesIO()
        torch.save(dict(run.state_dict), buf)
        m["weights.pt"] = buf.getvalue()
        del m["weights.npz"]

    _rewrite(saved, v1, to_v1)
    back = load_run(v1)
    for k, v in run.state_dict.items():
        assert torch.equal(back.state_dict[k], v)


def test_an_invalid_run_is_never_saved_over_a_good_file(saved, tmp_path):
    from dataclasses import replace

    from initscope.core.runfile import validate_run

    target = tmp_path / "keep.initscope"
    target.write_bytes(saved.read_bytes())
    before = target.read_bytes()
    run = load_run(saved)
    assert validate_run(run).steps == run.steps
    for bad in (replace(run, losses=run.losses[:-5]), replace(run, status="weird"),
                replace(run, names={"layers": ["x"] * 5, "matrices": run.names["matrices"]})):
        with pytest.raises(RunFileError, match="not saved to"):
            save_run(target, bad)
        with pytest.raises(RunFileError):
            validate_run(bad)
    assert target.read_bytes() == before
