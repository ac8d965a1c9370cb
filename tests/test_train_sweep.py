"""Training sweeps: jobs from a spec, the local pool and Ray agree bit for bit with sequential runs, failures stay
in their cell, cancel leaves no process behind, and the CLI writes the issue's JSON."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import threading
import time

import numpy as np
import pytest
import torch

from initscope.core.config import Config, preset
from initscope.core.data import default_data_path, load_words, make_dataset
from initscope.core.errors import ConfigError, UserError
from initscope.core.sweep_backends import (
    LocalPool,
    RayBackend,
    SweepBackend,
    make_backend,
    run_sweep,
)
from initscope.core.train_sweep import (
    SweepSpec,
    apply_field,
    coerce_value,
    decimate,
    parse_values,
    run_job,
)
from initscope.core.trainer import Trainer

TINY = {"model": {"n_embd": 4, "layers": [{"kind": "linear", "width": 16}, {"kind": "relu"},
                                          {"kind": "linear", "width": None}]},
        "train": {"steps": 60, "lr_decay_step": 0}, "diag": {"snapshot_every": 20}}


@pytest.fixture(scope="module")
def data():
    return make_dataset(load_words(default_data_path())[:3000], 3)


@pytest.fixture(scope="module")
def spec():
    # lr 300 diverges, width 5000 is not a valid config: both must stay in their own cells
    return SweepSpec(Config.from_dict(TINY), "lr", [0.1, 0.05, 300], "width", [16, 5000], seeds=2, steps=60)


@pytest.fixture(scope="module")
def sequential(spec, data):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as every worker runs
    try:
        return {job.index: run_job(job, data) for job in spec.jobs()}
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def local(spec, data):
    return run_sweep(spec, data, LocalPool(2))


def _same(a, b) -> None:
    assert (a.status, a.train, a.val, a.init_loss, a.steps) == (b.status, b.train, b.val, b.init_loss, b.steps)
    np.testing.assert_array_equal(a.curve, b.curve)
    np.testing.assert_array_equal(a.curve_steps, b.curve_steps)


# --- spec -------------------------------------------------------------------------

def test_values_parse_as_numbers_or_strings():
    assert parse_values("0.25,0.5,1,5/3") == [0.25, 0.5, 1, 5 / 3]
    assert parse_values(" off, on ") == ["off", "on"]
    assert parse_values("kaiming,naive") == ["kaiming", "naive"]
    assert coerce_value("batchnorm", "off") is False and coerce_value("batchnorm", "ON") is True
    assert coerce_value("depth", 3.0) == 3
    for name, bad in (("gain", "abc"), ("depth", 2.5), ("scheme", "xavier"), ("batchnorm", "maybe"), ("nope", 1)):
        with pytest.raises(UserError):
            coerce_value(name, bad)
    with pytest.raises(UserError):
        parse_values(" , ")


def test_apply_field_matches_the_config_built_by_hand():
    base = preset("deep-nobn")
    assert apply_field(base, "gain", 0.5).init.gain == 0.5
    assert apply_field(base, "lr", 0.01).train.lr == 0.01
    assert apply_field(base, "scheme", "naive").init.scheme == "naive"
    out = apply_field(Config.from_dict({**base.to_dict(), "init": {**base.to_dict()["init"], "output_scaling": False}}),
                      "output_factor", 0.5).init
    assert (out.output_scaling, out.output_factor) == (True, 0.5)
    bn = apply_field(base, "batchnorm", "on")
    assert bn.model.layers == base.with_batchnorm(True).model.layers and bn.has_batchnorm
    assert not apply_field(preset("deep-bn"), "batchnorm", "off").has_batchnorm
    deep = apply_field(base, "depth", 2)
    assert [s.kind for s in deep.model.layers] == ["linear", "tanh", "linear", "tanh", "linear"]
    wide = apply_field(base, "width", 32)
    assert [s.width for s in wide.model.layers if s.kind == "linear"] == [32] * 5 + [None]


def test_norm_scheme_and_residual_scaling_are_sweepable():
    base = preset("deep-nobn")
    for norm in ("layernorm", "rmsnorm", "batchnorm", "none"):
        assert apply_field(base, "norm", norm).model.layers == base.with_norm(norm).model.layers
    assert apply_field(preset("deep-bn"), "norm", "layernorm").model.layers == preset("deep-ln").model.layers
    for scheme in ("torch-default", "xavier-normal", "xavier-uniform", "orthogonal", "lsuv"):
        assert apply_field(base, "scheme", scheme).init.scheme == scheme
    res = preset("resnet-preln")
    assert apply_field(res, "residual_scaling", "gpt2").init.residual_scaling == "gpt2"
    deeper = apply_field(res, "depth", 3)  # rebuilt with the same norm, activation and residual blocks
    assert [s.kind for s in deeper.model.layers] == ["linear"] + ["residual"] * 3 + ["layernorm", "linear"]
    assert [t.kind for t in deeper.model.layers[1].layers] == ["layernorm", "linear", "gelu", "linear"]
    with pytest.raises(ConfigError, match="no residual block"):  # a point that is no valid config: its cell says so
        apply_field(base, "residual_scaling", "zero")
    for name, bad in (("norm", "groupnorm"), ("scheme", "he"), ("residual_scaling", "fixup")):
        with pytest.raises(UserError, match=f"{name}: '{bad}' is not one of"):
            apply_field(base, name, bad)


def test_jobs_cover_every_value_variant_and_seed(spec):
    jobs = spec.jobs()
    assert len(jobs) == 3 * 2 * 2
    assert [(j.value, j.value2, j.seed - spec.base.train.seed) for j in jobs[:4]] == [
        (0.1, 16, 0), (0.1, 16, 1), (0.1, 5000, 0), (0.1, 5000, 1)]
    cfg = jobs[1].config()
    assert (cfg.train.lr, cfg.train.steps, cfg.train.seed) == (0.1, 60, spec.base.train.seed + 1)
    with pytest.raises(UserError):
        SweepSpec(spec.base, "gain", [1], "gain", [2]).validate()
    with pytest.raises(UserError):
        SweepSpec(spec.base, "gain", [1], None, [2]).validate()


def test_decimate_is_bin_means():
    x = np.arange(1, 11, dtype=np.float32)
    steps, means = decimate(x, points=4)  # bins of 3: [1,2,3] [4,5,6] [7,8,9] [10]
    np.testing.assert_array_equal(steps, [3, 6, 9, 10])
    np.testing.assert_allclose(means, [2, 5, 8, 10])
    assert np.isnan(decimate(np.array([1.0, np.nan, 2.0]), points=1)[1][0])


# --- one job is an ordinary run ------------------------------------------------------

def test_a_job_is_the_trainers_run(spec, data, sequential):
    job = spec.jobs()[0]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t = Trainer(job.config(), data)
        assert t.train() == "finished"
        train, val = t.split_loss("train"), t.split_loss("val")
    finally:
        torch.set_num_threads(before)
    r = sequential[0]
    assert (r.train, r.val, r.init_loss) == (train, val, float(t.losses[0]))
    assert r.curve_steps[-1] == 60


# --- backends --------------------------------------------------------------------

def test_local_pool_matches_sequential_runs_bit_for_bit(local, sequential):
    assert set(local.results) == set(sequential)
    for k, r in local.results.items():
        _same(r, sequential[k])
    assert local.backend == "local" and local.workers == 2 and not local.interrupted


def test_a_failing_job_stays_in_its_cell(local):
    by = {(p.value, p.value2): p for p in local.points()}
    assert all(r.status == "finished" for _, r in by[(0.1, 16)].runs)
    assert all(r.status == "diverged" for _, r in by[(300, 16)].runs) and by[(300, 16)].diverged
    assert by[(300, 16)].val_mean is None
    bad = [r for _, r in by[(0.1, 5000)].runs]
    assert all(r.status == "error" and "width" in r.message and "4096" in r.message for r in bad)


def test_aggregation_against_numpy(local):
    d = local.to_dict()
    for p, point in zip(local.points(), d["points"]):
        vals = [r.val for _, r in p.runs if r.val is not None]
        trains = [r.train for _, r in p.runs if r.train is not None]
        if vals:
            assert point["val_mean"] == pytest.approx(np.mean(vals)) and point["val_std"] == pytest.approx(np.std(vals))
            assert point["train_mean"] == pytest.approx(np.mean(trains))
            assert point["val_std"] > 0  # two seeds, two different runs
        else:
            assert point["val_mean"] is None
    assert json.loads(json.dumps(d)) == d  # plain JSON, no NaN


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_cancel_leaves_no_process_behind(data):
    long = SweepSpec(Config.from_dict(TINY), "lr", [0.1, 0.05, 0.02], seeds=1, steps=10_000_000)
    pool = LocalPool(2)
    got = []
    t = threading.Thread(target=lambda: got.extend(pool.run(long.jobs(), data)))
    t.start()
    deadline = time.monotonic() + 60
    while not pool.running and time.monotonic() < deadline:  # until a worker is inside a run
        time.sleep(0.05)
    assert pool.running and not any(_gone(p) for p in pool.pids)
    pool.cancel()
    t.join(15)
    assert not t.is_alive() and got == []
    assert all(_gone(p) for p in pool.pids)
    assert mp.active_children() == []


class ListBackend(SweepBackend):
    """Yields prepared results; records how it was left. For run_sweep's own logic, without processes."""

    name = "list"

    def __init__(self, results):
        super().__init__(1)
        self.results, self.closed = results, False

    def run(self, jobs, data):
        try:
            yield from self.results
        finally:
            self.closed = True


def test_interrupt_keeps_finished_results(data, sequential, spec):
    def on_result(results, res):
        raise KeyboardInterrupt  # what Ctrl+C does while the loop waits or reports

    backend = ListBackend([sequential[0], sequential[1]])
    out = run_sweep(spec, data, backend, on_result=on_result)
    assert out.interrupted and backend.cancelled and backend.closed  # the backend stopped its jobs
    assert list(out.results) == [0] and out.to_dict()["points"][0]["runs"][0]["status"] == "finished"


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'initscope[ray]')")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)  # its own, never a running cluster
    yield ray
    ray.shutdown()


@pytest.mark.ray
@pytest.mark.xdist_group("ray")  # fixed ports and one machine-wide Ray: these run in one worker, one at a time
@pytest.mark.slow  # a subprocess or a ray cluster: seconds, not in the quick loop
def test_ray_matches_local_bit_for_bit(ray_session, spec, data, local):
    out = run_sweep(spec, data, RayBackend(2))
    assert out.backend == "ray" and set(out.results) == set(local.results)
    for k, r in out.results.items():
        _same(r, local.results[k])


def test_backend_choice_errors():
    with pytest.raises(UserError):
        make_backend("local", 2, "auto")
    with pytest.raises(UserError):
        make_backend("slurm")
    with pytest.raises(UserError):
        LocalPool(0)


# --- CLI ----------------------------------------------------------------------------

def test_cli_writes_the_issue_json(tmp_path, capsys):
    from initscope.cli import main

    cfg = tmp_path / "tiny.json"
    Config.from_dict(TINY).save(cfg)
    words = tmp_path / "words.txt"
    words.write_text("\n".join(load_words(default_data_path())[:2000]))
    out = tmp_path / "sweep.json"
    rc = main(["sweep", "train", "--config", str(cfg), "--data", str(words), "--param", "gain", "--values", "1,5/3",
               "--param2", "batchnorm", "--values2", "off,on", "--seeds", "1", "--steps", "30", "--workers", "1",
               "--json-out", str(out), "--quiet"])
    assert rc == 0
    d = json.loads(out.read_text())
    assert set(d) == {"param", "values", "param2", "values2", "steps", "seeds", "points", "backend", "workers",
                      "wall_seconds"}
    assert (d["param"], d["values"], d["param2"], d["values2"]) == ("gain", [1, 5 / 3], "batchnorm", ["off", "on"])
    assert (d["steps"], d["seeds"], d["backend"], d["workers"]) == (30, 1, "local", 1)
    assert [(p["value"], p["value2"]) for p in d["points"]] == [(1, "off"), (1, "on"), (5 / 3, "off"), (5 / 3, "on")]
    p = d["points"][0]
    assert set(p) == {"value", "value2", "train_mean", "val_mean", "val_std", "init_loss", "diverged", "runs"}
    assert set(p["runs"][0]) == {"seed", "train", "val", "status", "seconds"}
    assert "batchnorm=on" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["--param", "gain", "--values", "abc"],
    ["--param", "gain", "--values", "1", "--values2", "on"],
    ["--param", "gain", "--values", "1", "--workers", "0"],
    ["--param", "gain", "--values", "1", "--address", "auto"],
    ["--param", "gain", "--values", "1", "--json-out", "/no/such/dir/x.json"],
])
def test_cli_user_mistakes_exit_2(argv, capsys):
    from initscope.cli import main

    assert main(["sweep", "train", "--preset", "deep-nobn", "--steps", "5", *argv]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_target_step_is_the_first_bin_at_or_below_the_target(local):
    p = next(p for p in local.points() if p.value == 0.1 and p.value2 == 16)
    target = 3.0
    firsts = []
    for _, r in p.runs:  # by hand, from each run's curve
        k = next(i for i, v in enumerate(r.curve) if v <= target)
        firsts.append(int(r.curve_steps[k]))
    assert p.target_step(target) == round(np.mean(firsts))
    assert p.target_step(0.0) is None and p.target_step(None) is None
    local.spec.target_loss = target
    try:
        assert local.to_dict()["points"][0]["target_step"] == p.target_step(target)
    finally:
        local.spec.target_loss = None


def test_memory_is_checked_before_any_job_starts(data, monkeypatch):
    from initscope.core import budget

    s = SweepSpec(Config.from_dict(TINY), "width", [16, 4096, 5000], seeds=1, steps=10)
    jobs = s.jobs()
    one = budget.estimate_bytes(jobs[1].config(), sum(int(x.shape[0]) for x, _ in data.splits.values()),
                                data.vocab.size)  # the biggest valid job (width 5000 is invalid: its own cell)
    monkeypatch.setattr(budget, "default_limit", lambda: int(one * 1.5))
    pool = LocalPool(2)
    with pytest.raises(UserError, match="2 runs at once need"):
        run_sweep(s, data, pool)  # two of the biggest at once do not fit
    assert pool.pids == []  # refused before a process started
    run_sweep_one = SweepSpec(Config.from_dict(TINY), "width", [16], seeds=1, steps=10)
    monkeypatch.setattr(budget, "default_limit", lambda: 1000)
    with pytest.raises(UserError, match="needs about"):
        run_sweep(run_sweep_one, data, LocalPool(1))


def test_saving_a_run_changes_nothing_and_the_file_loads(data, tmp_path):
    from initscope.core.runfile import load_run

    s = SweepSpec(Config.from_dict(TINY), "batchnorm", ["on"], seeds=1, steps=60)  # BatchNorm: running stats
    plain = run_job(s.jobs()[0], data)
    saved = run_job(s.jobs(tmp_path)[0], data)
    _same(saved, plain)
    run = load_run(saved.run_path)
    assert run.steps == 60 and run.config.has_batchnorm and run.status == "finished"
    np.testing.assert_allclose(decimate(run.losses)[1], plain.curve)
    assert run.split_losses["val"] == plain.val
