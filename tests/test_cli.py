import json
import subprocess
import sys
import textwrap

import pytest

from initscope.cli import main


def test_run_smoke_writes_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["run", "--preset", "deep-bn", "--steps", "300", "--snapshot-every", "100", "--quiet",
               "--samples", "3", "--json-out", str(out)])
    assert rc == 0
    d = json.loads(out.read_text())
    for key in ("config", "init_loss", "final", "steps", "steps_per_sec", "diagnostics"):
        assert key in d
    assert d["steps"] == 300 and d["steps_per_sec"] > 0
    assert set(d["final"]) == {"train", "val", "test"} and d["final"]["val"] < d["init_loss"]
    init, final = d["diagnostics"]["init"], d["diagnostics"]["final"]
    assert init["step"] == 0 and final["step"] == 300  # a snapshot at the final step (issue 9)
    bn, layer = init["layers"][0], init["layers"][1]  # every norm is listed too (no saturation defined)
    assert bn["name"] == "L1 BatchNorm" and bn["kind"] == "batchnorm" and bn["saturation"] is None
    assert abs(bn["std"] - 1) < 0.01
    assert layer["name"] == "L2 Tanh" and layer["kind"] == "tanh" and 0 <= layer["saturation"] <= 1
    assert {"index", "mean", "std", "grad_mean", "grad_std"} <= set(layer)
    assert {"name", "shape", "grad_data", "update_data_log10"} <= set(init["params"][0])
    printed = capsys.readouterr().out
    assert "split losses" in printed and "L2 Tanh" in printed


def test_steps_zero_is_init_only(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["run", "--preset", "deep-nobn", "--steps", "0", "--json-out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["steps"] == 0 and d["status"] == "init-only"
    assert 0.12 < d["diagnostics"]["init"]["layers"][0]["saturation"] < 0.3


def test_options_override_and_are_validated(capsys):
    assert main(["run", "--preset", "kaiming", "--steps", "0", "--lr", "-1"]) == 2
    assert "train.lr" in capsys.readouterr().err
    assert main(["run", "--steps", "0", "--json-out", "/nonexistent/dir/x.json"]) == 2


def test_presets_lists_all(capsys):
    from initscope.core.config import PRESETS

    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PRESETS)


@pytest.mark.slow  # a subprocess or a ray cluster: seconds, not in the quick loop
def test_headless_training_step_imports_no_qt():
    code = textwrap.dedent("""
        import sys
        from initscope.core.config import preset
        from initscope.core.data import load_dataset
        from initscope.core.trainer import Trainer
        from initscope.core.hints import hints
        from initscope.core.history import History
        cfg = preset("deep-bn"); cfg.train.steps = 3
        t = Trainer(cfg, load_dataset()); t.train(); hints(t.init_snapshot())
        from initscope.cli import main
        assert main(["run", "--steps", "2", "--quiet", "--samples", "0"]) == 0
        bad = [m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6")]
        assert not bad, bad
        print("qt-free")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "qt-free" in r.stdout


def test_gui_bad_input_is_one_line_before_any_window(capsys, monkeypatch, tmp_path):
    assert main(["gui", "--data", str(tmp_path / "missing.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.txt: no such file" in err[0]
    assert main(["gui", "--preset", "nope"]) == 2
    capsys.readouterr()
    assert main(["gui", "--follow", str(tmp_path)]) == 2  # a folder: refused; a file not there yet is waited for
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--follow" in err[0] and "not a run file" in err[0]
    import sys

    if sys.platform.startswith("linux"):
        for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
            monkeypatch.delenv(var, raising=False)
        assert main([]) == 2
        assert "no display found" in capsys.readouterr().err
