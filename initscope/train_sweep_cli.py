"""`initscope sweep train`: many full training runs across one or two fields, on a local process pool or Ray.

A progress bar over jobs (with ETA); Ctrl+C cancels the running jobs, stops every worker and keeps (prints and
writes) what finished.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from initscope.core.errors import UserError
from initscope.core.messages import RunStatus


def add_parser(ssub) -> argparse.ArgumentParser:
    from initscope.core.train_sweep import SWEEP_FIELDS

    st = ssub.add_parser("train", help="train one run per value (x value2 x seed) and compare the final losses",
                         description="Full training runs across one or two fields, several seeds each, in parallel "
                                     "(a local process pool, or Ray). Fields: " +
                                     "; ".join(f"{k} ({v})" for k, v in SWEEP_FIELDS.items()))
    src = st.add_mutually_exclusive_group()
    src.add_argument("--preset", help="start from a lecture preset (see `initscope presets`)")
    src.add_argument("--config", metavar="FILE.json", help="start from a saved config")
    st.add_argument("--data", metavar="PATH", help="word list, one word per line (default: the shipped names.txt)")
    st.add_argument("--param", required=True, choices=tuple(SWEEP_FIELDS), help="the swept field")
    st.add_argument("--values", required=True, help="comma-separated values, e.g. 0.25,0.5,1,5/3,2,3")
    st.add_argument("--param2", choices=tuple(SWEEP_FIELDS), help="a second swept field (one line per value)")
    st.add_argument("--values2", help="its values, e.g. off,on")
    st.add_argument("--seeds", type=int, default=1, help="seeds per point (the config's seed + 0, 1, ...; default 1)")
    st.add_argument("--steps", type=int, help="training steps per run (default: the config's)")
    st.add_argument("--workers", type=int, help="parallel jobs (default: the number of cores)")
    st.add_argument("--backend", choices=("local", "ray"), default="local", help="local process pool (default) or Ray")
    st.add_argument("--address", help="Ray cluster: auto or ray://host:port (default: start a local Ray)")
    st.add_argument("--ray-token-file", metavar="FILE", help="the Ray head's authentication token (Ray 2.60 "
                    "token auth; default: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, then ~/.ray/auth_token)")
    st.add_argument("--json-out", metavar="FILE", help="write the results as JSON")
    st.add_argument("--save-dir", metavar="DIR", help="save every run there (open one with `initscope gui --run`)")
    st.add_argument("--quiet", action="store_true", help="no progress bar")
    return st


def _check_out(path: str, opt: str) -> None:
    from initscope.core import files

    check = getattr(files, "check_output_path", None)
    if check is not None:
        check(path, opt)
    elif not Path(path).resolve().parent.is_dir():
        raise UserError(f"{opt} {path}: folder {Path(path).resolve().parent} does not exist")


def table(results) -> str:
    """One row per value, one column per variant: val mean ± std over seeds, or what went wrong."""
    spec = results.spec
    pts = results.points()
    variants = spec.variants
    head = f"{spec.param:>10}  " + "  ".join(
        f"{(f'{spec.param2}={v}' if spec.param2 else 'val loss'):>22}" for v in variants)
    rows = [head]
    for i, value in enumerate(spec.values):
        cells = []
        for j in range(len(variants)):
            p = pts[i * len(variants) + j]
            done = [r for _, r in p.runs if r is not None]
            if not done:
                cell = "not run"
            elif p.val_mean is None:
                cell = next(r.status for r in done if r.status != RunStatus.FINISHED) if any(
                    r.status != RunStatus.FINISHED for r in done) else "-"
            else:
                cell = f"{p.val_mean:.4f} ± {p.val_std:.4f}"
                bad = sum(r.status != RunStatus.FINISHED for r in done)
                if bad:
                    cell += f" ({bad} failed)"
            cells.append(f"{cell:>22}")
        label = f"{value:.4g}" if isinstance(value, float) else str(value)
        rows.append(f"{label:>10}  " + "  ".join(cells))
    return "\n".join(rows)


def _prepare_save_dir(d: Path) -> None:
    """The folder every run is saved to, made and tried once before the first run (a read-only one failed each
    run in turn, a read-only file system with a traceback)."""
    import tempfile

    if d.exists() and not d.is_dir():
        raise UserError(f"--save-dir {d}: exists and is not a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=d):
            pass
    except OSError as e:
        raise UserError(f"--save-dir {d}: cannot write there ({e.strerror or e})") from None


def cmd_sweep_train(args: argparse.Namespace, cfg) -> int:
    """`cfg`: the base config the command line chose (--preset / --config), loaded by cli.py."""
    from initscope.core.data import load_dataset
    from initscope.core.sweep_backends import make_backend, run_sweep
    from initscope.core.train_sweep import SweepSpec, parse_values

    if args.json_out:
        _check_out(args.json_out, "--json-out")
    if (args.param2 is None) != (args.values2 is None):
        raise UserError("--param2 and --values2 go together")
    spec = SweepSpec(cfg, args.param, parse_values(args.values), args.param2,
                     parse_values(args.values2) if args.values2 else [], args.seeds,
                     cfg.train.steps if args.steps is None else args.steps)
    spec.validate()
    if args.save_dir:
        _prepare_save_dir(Path(args.save_dir))
    data = load_dataset(args.data, cfg.model.block_size)
    backend = make_backend(args.backend, args.workers, args.address, args.ray_token_file)
    jobs_n = len(spec.values) * len(spec.variants) * spec.seeds
    print(f"data: {data.path}: {data.summary()}")
    print(f"{jobs_n} runs x {spec.steps:,} steps on {backend.name} ({backend.workers} workers)", file=sys.stderr)
    from tqdm import tqdm

    bar = tqdm(total=jobs_n, unit="run", disable=args.quiet, file=sys.stderr, dynamic_ncols=True)

    def on_result(results, res) -> None:
        bar.update(1)
        failed = sum(r.status != RunStatus.FINISHED for r in results.results.values())
        bar.set_postfix(failed=failed, refresh=False)
        if res.status == "error":
            tqdm.write(f"run {res.index}: {res.message}", file=sys.stderr)

    try:
        with backend:
            if args.backend == "ray":
                backend.start()
                print(f"Ray ready in {backend.startup_seconds:.1f} s", file=sys.stderr)
            results = run_sweep(spec, data, backend, args.save_dir, on_result)
    finally:
        bar.close()
    if results.interrupted:
        print(f"interrupted: kept {results.done} of {jobs_n} finished runs", file=sys.stderr)
    print(table(results))
    print(f"{results.done} runs in {results.wall_seconds:.1f} s")
    if args.json_out:
        from initscope.cli_safety import strict_json  # NaN / inf as null
        from initscope.core.files import atomic_write_text
        atomic_write_text(Path(args.json_out), strict_json(results.to_dict()))
    return 130 if results.interrupted else 0
