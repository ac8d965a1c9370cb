"""Property-based tests (Hypothesis): inputs that look valid but are wrong.

The one property: a UserError (one line) or success, never another exception; and on failure the output
target is untouched. On success, whatever loading accepted must render (report HTML, CSV, the GUI's history).
Examples are few per test (the suite runs on 2 cores); each run explores new ones, and a failure is shrunk
and kept in .hypothesis/ for the next run.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from initscope.cli import main
from initscope.core.config import Config, default_config
from initscope.core.errors import UserError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WORDS = "\n".join(["emma", "olivia", "ava", "isabella", "sophia", "mia", "liam", "noah", "logan", "lucas",
                   "mason", "ethan"] * 3) + "\n"
KEEP = b"keep me\n"

# values of every JSON type, the odd ones a hand-written file holds
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=8), st.sampled_from([0, 1, -1, 2**63, 1e308, "1", "", "nan"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=8)


def _paths(d, prefix=()):
    """Every key path of a nested dict/list, leaves and inner nodes."""
    out = []
    if isinstance(d, dict):
        items = d.items()
    elif isinstance(d, list):
        items = enumerate(d)
    else:
        return out
    for k, v in items:
        out.append(prefix + (k,))
        out.extend(_paths(v, prefix + (k,)))
    return out


def _set(d, path, value):
    node = d
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value


def _mutated(base: dict, data, n_max: int = 3) -> dict:
    d = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(1, n_max))):
        paths = _paths(d)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["set", "set", "delete", "add"]))
        try:
            if action == "set":
                _set(d, path, data.draw(json_values))
            elif action == "delete":
                node = d
                for k in path[:-1]:
                    node = node[k]
                del node[path[-1]]
            else:
                node = d
                for k in path[:-1]:
                    node = node[k]
                if isinstance(node, dict):
                    node[data.draw(st.text(max_size=6))] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            pass
    return d


# --- configs -------------------------------------------------------------------------------------------------

@FUZZ
@given(data=st.data())
def test_configs_parse_or_fail_with_a_config_error(data):
    d = _mutated(default_config().to_dict(), data)
    try:
        cfg = Config.from_dict(d)
    except UserError as e:
        assert "\n" not in str(e)
        return
    assert Config.from_dict(cfg.to_dict()) == cfg  # what is accepted round-trips


@FUZZ
@given(data=st.data())
def test_cli_run_with_a_fuzzed_config_is_one_line_or_runs(data, tmp_path_factory, capsys):
    d = tmp_path_factory.mktemp("cfg")
    (d / "w.txt").write_text(WORDS)
    cfg = default_config()
    cfg.train.steps = 3
    raw = _mutated(cfg.to_dict(), data, 2)
    (d / "c.json").write_text(json.dumps(raw))
    out = d / "out.json"
    out.write_bytes(KEEP)
    try:
        rc = main(["run", "--config", str(d / "c.json"), "--data", str(d / "w.txt"), "--steps", "3", "--quiet",
                   "--samples", "0", "--json-out", str(out), "--max-memory", "1G"])
    finally:
        err = capsys.readouterr().err
    if rc == 2:
        assert out.read_bytes() == KEEP and len([x for x in err.splitlines() if x.strip()]) == 1
    else:
        assert rc in (0, 1) and json.loads(out.read_text())["steps"] <= 3


# --- run files -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzzrun")
    (d / "w.txt").write_text(WORDS)
    path = d / "r.initscope"
    assert main(["run", "--preset", "kaiming", "--data", str(d / "w.txt"), "--steps", "20", "--snapshot-every", "5",
                 "--quiet", "--samples", "2", "--save-run", str(path)]) == 0
    with zipfile.ZipFile(path) as z:
        return Members({n: z.read(n) for n in z.namelist()})


class Members(dict):
    """A run file's members; a short repr, so a failing example's report stays readable."""

    def __repr__(self) -> str:
        return f"<run file members {sorted(self)}>"


def _check_load(members: dict[str, bytes], d) -> None:
    """Load a run file built from `members`: RunFileError, or a run that every consumer takes."""
    from initscope.core.runfile import history_from_run, load_run, metrics_csv
    from initscope.report import render_html

    path = d / "f.initscope"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in members.items():
            z.writestr(n, b)
    out = d / "report.html"
    out.write_bytes(KEEP)
    try:
        run = load_run(path)
    except UserError as e:
        assert "\n" not in str(e) and str(path) in str(e)
        assert out.read_bytes() == KEEP
        return
    render_html(run)
    metrics_csv(run)
    h = history_from_run(run)
    assert len(h.loss) == run.steps


@FUZZ
@given(data=st.data())
def test_fuzzed_manifests(data, saved, tmp_path_factory):
    m = dict(saved)
    m["manifest.json"] = json.dumps(_mutated(json.loads(saved["manifest.json"]), data)).encode()
    _check_load(m, tmp_path_factory.mktemp("man"))


@FUZZ
@given(data=st.data())
def test_fuzzed_snapshots(data, saved, tmp_path_factory):
    m = dict(saved)
    snaps = json.loads(saved["snapshots.json"])
    m["snapshots.json"] = json.dumps(_mutated({"s": snaps}, data).get("s")).encode()
    _check_load(m, tmp_path_factory.mktemp("snap"))


dtypes = st.sampled_from(["f4", "f8", "f2", "i8", "i4", "u1", "bool", "U3", "c8"])
shapes = st.lists(st.integers(0, 6), min_size=0, max_size=3).map(tuple)


def _array(data) -> np.ndarray:
    arr = np.zeros(data.draw(shapes), data.draw(dtypes))
    if arr.size and arr.dtype.kind == "f":
        arr.flat[0] = data.draw(st.floats(allow_nan=True, width=16))
    return arr


@FUZZ
@given(data=st.data())
def test_fuzzed_array_members(data, saved, tmp_path_factory):
    """losses.npy, history.npz and weights.npz replaced by plain arrays of plausible but wrong dtypes and shapes."""
    m = dict(saved)
    which = data.draw(st.sampled_from(["losses.npy", "history.npz", "weights.npz"]))
    if which == "losses.npy":
        buf = io.BytesIO()
        np.save(buf, _array(data), allow_pickle=False)
    else:
        with np.load(io.BytesIO(saved[which])) as z:
            arrays = {k: z[k] for k in z.files}
        key = data.draw(st.sampled_from(sorted(arrays)))
        if data.draw(st.booleans()):
            arrays[key] = _array(data)
        else:
            del arrays[key]
        buf = io.BytesIO()
        np.savez(buf, **arrays)
    m[which] = buf.getvalue()
    _check_load(m, tmp_path_factory.mktemp("arr"))


@FUZZ
@given(data=st.data())
def test_fuzzed_member_bytes(data, saved, tmp_path_factory):
    """A member truncated, or with bytes flipped."""
    m = dict(saved)
    which = data.draw(st.sampled_from(sorted(m)))
    b = bytearray(m[which])
    if data.draw(st.booleans()) and len(b) > 1:
        b = b[: data.draw(st.integers(0, len(b) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            if b:
                b[data.draw(st.integers(0, len(b) - 1))] ^= data.draw(st.integers(1, 255))
    m[which] = bytes(b)
    _check_load(m, tmp_path_factory.mktemp("bytes"))


# --- issue 20: an output that resolves to an input ------------------------------------------------------------

def _spell(d, name: str, how: str) -> str:
    """Another spelling of d/name that resolves to the same file."""
    import os

    if how == "plain":
        return str(d / name)
    if how == "dot":
        return str(d / "." / name)
    if how == "dotdot":
        (d / "sub").mkdir(exist_ok=True)
        return str(d / "sub" / ".." / name)
    if how == "double-slash":
        return str(d) + "//" + name
    if how == "folder-link":
        if not (d / "alias").exists():
            (d / "alias").symlink_to(d)
        return str(d / "alias" / name)
    if how == "relative":
        return os.path.relpath(d / name)
    # "hard-link": another name for the same inode
    other = d / f"hard-{name}"
    if not other.exists():
        os.link(d / name, other)
    return str(other)


SPELLINGS = ["plain", "dot", "dotdot", "double-slash", "folder-link", "relative", "hard-link"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(["run-config", "run-data", "report", "inspect", "theory", "sweep-gain"]),
       out_opt=st.sampled_from(["--json-out", "--save-run", "--save-config", "-o", "--csv"]),
       spelling=st.sampled_from(SPELLINGS))
def test_an_output_resolving_to_an_input_is_refused_before_any_work(command, out_opt, spelling, saved,
                                                                    tmp_path_factory, capsys):
    """Any pair of paths that resolve to the same file: the command refuses in one line, before any work, and the
    input is byte-identical afterwards."""
    import time

    d = tmp_path_factory.mktemp("same")
    (d / "w.txt").write_text(WORDS)
    (d / "c.json").write_text('{"train": {"steps": 3}}')
    run = d / "r.initscope"
    with zipfile.ZipFile(run, "w") as z:
        for n, b in saved.items():
            z.writestr(n, b)
    if command in ("run-config", "run-data"):
        name = "c.json" if command == "run-config" else "w.txt"
        if out_opt in ("-o", "--csv"):
            out_opt = "--json-out"
        argv = ["run", "--config", str(d / "c.json"), "--data", str(d / "w.txt"), "--quiet", "--samples", "0",
                out_opt, _spell(d, name, spelling)]
    elif command in ("report", "inspect"):
        name = "r.initscope"
        opt = {"report": ("-o", "--csv"), "inspect": ("--json-out",)}[command]
        out_opt = out_opt if out_opt in opt else opt[0]
        target = _spell(d, name, spelling)
        if out_opt == "--csv":  # PREFIX_loss.csv: make the run file carry that name
            run.rename(d / "x_loss.csv")
            name, target = "x_loss.csv", _spell(d, "x", "plain")
            if spelling == "hard-link":
                target = str(d / "x")
        argv = [command, str(d / name), out_opt, target]
    else:  # theory / sweep gain read a config
        name = "c.json"
        argv = (["theory"] if command == "theory" else ["sweep", "gain", "--data", str(d / "w.txt")]) + [
            "--config", str(d / "c.json"), "--json-out", _spell(d, name, spelling)]
    before = (d / name).read_bytes()
    t0 = time.perf_counter()
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "which this command reads" in err[0], (argv, err)
    assert time.perf_counter() - t0 < 5 and (d / name).read_bytes() == before
