"""`initscope sweep width`: a coordinate check. Every width of the hidden Linears trains T steps from the same seeds
on the same minibatches, under the standard parametrisation or muP, and mean |x| of every layer's output is
printed as a log-log slope against width per step (0 = flat: the layer's coordinates do not grow with width)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from initscope.core.messages import RunStatus

DEFAULT_WIDTHS = "64,128,256,512,1024"


def add_parser(ssub) -> argparse.ArgumentParser:
    from initscope.core.width import DEFAULT_BASE_WIDTH

    sw = ssub.add_parser("width", help="coordinate check: mean |activation| per layer against width, standard vs muP",
                         description="Train every width of the hidden Linears for a few steps from the same seeds on "
                                     "identical minibatches, under the standard parametrisation or muP (as the mup "
                                     "package defines it), and report each layer's mean |output| per step and its "
                                     "log-log slope against width (0: flat).")
    src = sw.add_mutually_exclusive_group()
    src.add_argument("--preset", help="start from a lecture preset (see `initscope presets`)")
    src.add_argument("--config", metavar="FILE.json", help="start from a saved config")
    sw.add_argument("--data", metavar="PATH", help="word list, one word per line (default: the shipped names.txt)")
    sw.add_argument("--widths", default=DEFAULT_WIDTHS, help=f"comma-separated widths (default {DEFAULT_WIDTHS})")
    sw.add_argument("--parametrization", choices=("standard", "mup"), default="standard",
                    help="standard (default) or mup: hidden learning rates and the readout scaled by base/width")
    sw.add_argument("--optimizer", choices=("sgd", "adam"), default="adam", help="adam (default) or sgd")
    sw.add_argument("--lr", type=float,
                    help="learning rate at the base width (default: 0.01 for adam, the config's for sgd)")
    sw.add_argument("--steps", type=int, default=5, help="training steps T; steps 0..T are measured (default 5)")
    sw.add_argument("--seeds", type=int, default=2, help="seeds per width (the config's seed + 0, 1, ...; default 2)")
    sw.add_argument("--base-width", type=int, default=DEFAULT_BASE_WIDTH,
                    help=f"the width at which muP equals the standard parametrisation (default {DEFAULT_BASE_WIDTH})")
    sw.add_argument("--readout", choices=("scaled", "zero"), default="scaled",
                    help="muP's output layer at init: scaled (mup's MuReadout, default) or zero")
    sw.add_argument("--workers", type=int, help="parallel jobs (default: the number of cores)")
    sw.add_argument("--backend", choices=("local", "ray"), default="local", help="local process pool (default) or Ray")
    sw.add_argument("--address", help="Ray cluster: auto or ray://host:port (default: start a local Ray)")
    sw.add_argument("--ray-token-file", metavar="FILE", help="the Ray head's authentication token (Ray 2.60 "
                    "token auth; default: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, then ~/.ray/auth_token)")
    sw.add_argument("--json-out", metavar="FILE", help="write the curves as JSON")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    return sw


def _slope(x: float) -> str:
    return f"{'-':>6}" if not math.isfinite(x) else f"{x:+6.2f}"


def table(results) -> str:
    """Per layer: its log-log slope against width at each step, then its mean |x| at the last step per width."""
    s = results.spec
    slopes, m = results.slopes(), results.mean_abs()
    shown = list(range(s.steps + 1)) if s.steps <= 8 else [0, 1, 2, s.steps // 2, s.steps]
    rows = [f"log-log slope of mean |x| against width ({s.parametrization}, {s.optimizer} lr {s.lr:g}; 0 = flat)",
            f"{'layer':<13} {'role':<8} " + " ".join(f"{'t=' + str(t):>6}" for t in shown)]
    for li, name in enumerate(results.names):
        rows.append(f"{name:<13} {results.roles[li]:<8} " + " ".join(_slope(slopes[li, t]) for t in shown))
    rows += ["", f"mean |x| at step {s.steps}", f"{'layer':<13} " + " ".join(f"{w:>9}" for w in s.widths)]
    for li, name in enumerate(results.names):
        rows.append(f"{name:<13} " + " ".join(f"{v:9.4g}" if math.isfinite(v) else f"{'-':>9}" for v in m[li, :, -1]))
    return "\n".join(rows)


def make_spec(args: argparse.Namespace, cfg):
    from initscope.core.width import WidthSpec, parse_widths

    lr = args.lr if args.lr is not None else (0.01 if args.optimizer == "adam" else cfg.train.lr)
    spec = WidthSpec(cfg, parse_widths(args.widths), args.parametrization, args.optimizer, lr, args.steps, args.seeds,
                     args.base_width, args.readout)
    spec.validate()
    return spec


def cmd_sweep_width(args: argparse.Namespace, cfg) -> int:
    """`cfg`: the base config the command line chose (--preset / --config), loaded by cli.py."""
    from initscope.cli_safety import check_outputs
    from initscope.core.data import load_dataset
    from initscope.core.sweep_backends import make_backend
    from initscope.core.width import run_width_sweep

    check_outputs(("--json-out", args.json_out))
    spec = make_spec(args, cfg)
    data = load_dataset(args.data, cfg.model.block_size)
    backend = make_backend(args.backend, args.workers, args.address, args.ray_token_file)
    n = len(spec.widths) * spec.seeds
    print(f"data: {data.path}: {data.summary()}")
    print(f"{n} runs ({len(spec.widths)} widths x {spec.seeds} seeds) x {spec.steps:,} steps on {backend.name} "
          f"({backend.workers} workers)", file=sys.stderr)
    from tqdm import tqdm

    bar = tqdm(total=n, unit="run", disable=args.quiet, file=sys.stderr, dynamic_ncols=True)

    def on_result(_results, res) -> None:
        bar.update(1)
        if res.status != RunStatus.FINISHED:
            tqdm.write(f"run {res.index}: {res.status}: {res.message}", file=sys.stderr)

    try:
        with backend:
            if args.backend == "ray":
                backend.start()
            results = run_width_sweep(spec, data, backend, None, on_result)
    finally:
        bar.close()
    if results.interrupted:
        print(f"interrupted: kept {results.done} of {n} finished runs", file=sys.stderr)
    print(table(results))
    print(f"{results.done} runs in {results.wall_seconds:.1f} s")
    if args.json_out:
        from initscope.cli_safety import strict_json  # NaN / inf as null
        from initscope.core.files import atomic_write_text
        atomic_write_text(Path(args.json_out), strict_json(results.to_dict()))
    return 130 if results.interrupted else 0
