"""The command line: `initscope run | presets | gui | screenshot`. No arguments opens the GUI.

User mistakes (bad data, config, options) print one line and exit 2; Qt is imported only by the GUI commands.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from initscope import __version__
from initscope.core.errors import UserError
from initscope.core.messages import RunStatus
from initscope.gui.texts import TABS

EXIT_USAGE = 2


def _add_config_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", help="start from a lecture preset (see `initscope presets`)")
    src.add_argument("--config", metavar="FILE.json", help="start from a saved config")
    p.add_argument("--data", metavar="PATH", help="word list, one word per line (default: the shipped names.txt)")


class _OneLineParser(argparse.ArgumentParser):
    """argparse's errors as one line, like every other user mistake (it printed 7-10 lines of usage); a value of
    5,000 digits is shortened, and `--help` still shows the whole usage."""

    def error(self, message: str):
        from initscope.cli_safety import printable

        message = printable(message)
        if len(message) > 200:
            message = message[:160] + " ... " + message[-30:]
        self.exit(EXIT_USAGE, f"initscope: error: {self.prog}: {message} (see {self.prog} --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="initscope", description="See what weight initialisation and BatchNorm "
                                     "do to a neural network while it trains. No command opens the app.")
    parser.add_argument("--version", action="version", version=f"initscope {__version__}")
    parser.add_argument("--install-desktop-entry", action="store_true",
                        help="add initscope to the Linux desktop's app menu (a .desktop file in your data folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="train headless and print diagnostics",
                         description="Train headless with a progress bar, then print split losses, per-layer "
                                     "diagnostics at init and at the end, health hints and sampled names.")
    _add_config_args(run)
    run.add_argument("--steps", type=int, help="training steps (0: the at-init snapshot only)")
    run.add_argument("--seed", type=int, help="torch generator seed (weights and minibatches)")
    run.add_argument("--device", help="cpu (default), cuda or cuda:N")
    run.add_argument("--snapshot-every", type=int, metavar="K", help="full diagnostics every K steps")
    run.add_argument("--lr", type=float, help="learning rate")
    run.add_argument("--batch-size", type=int, help="minibatch size")
    run.add_argument("--threads", type=int, default=None, help="torch threads (default 1: fastest for this net size)")
    run.add_argument("--calibrate", action="store_true", help="recompute BatchNorm statistics over the training set before evaluating")
    run.add_argument("--samples", type=int, default=10, metavar="K", help="names to sample at the end (default 10)")
    run.add_argument("--json-out", metavar="FILE", help="write results as JSON")
    run.add_argument("--save-config", metavar="FILE", help="write the effective config as JSON")
    run.add_argument("--save-run", metavar="FILE.initscope", help="save the whole run (config, losses, "
                     "snapshots, weights) to one file; `initscope report` turns it into HTML")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--max-memory", metavar="SIZE", help="refuse a run estimated to need more (e.g. 4G; "
                     "default: half of physical memory)")

    sub.add_parser("presets", help="list the lecture presets")
    from initscope.theory_cli import add_parser as add_theory

    add_theory(sub)  # `theory`: the mean-field prediction per layer (issue 13)

    rep = sub.add_parser("report", help="a self-contained HTML report of a saved run",
                         description="Write one HTML file (images embedded) from a run saved with --save-run.")
    rep.add_argument("run_file", metavar="RUN.initscope")
    rep.add_argument("-o", "--out", default="report.html", help="output file (default report.html)")
    rep.add_argument("--csv", metavar="PREFIX", help="also write PREFIX_loss.csv (every step) and PREFIX_layers.csv "
                     "(per snapshot, per layer and weight matrix)")

    ins = sub.add_parser("inspect", help="one snapshot of a run file (app or watched) as a table or JSON",
                         description="Print the per-layer statistics of a run file's snapshot at or before a step "
                                     "(default: the last), and write them as JSON with --json-out.")
    ins.add_argument("run_file", metavar="RUN.initscope")
    ins.add_argument("--step", type=int, metavar="K", help="the latest snapshot at or before step K (default: the last)")
    ins.add_argument("--json-out", metavar="FILE", help="write the snapshot as JSON (histogram edges and counts included)")

    sweep = sub.add_parser("sweep", help="at-init statistics across gains or depths (init explorer); "
                           "full training runs across a field (train); coordinate checks across widths (width)",
                           description="gain, depth: per-layer tanh saturation, activation std and gradient std at "
                                       "init, averaged over several init seeds. train: many full training runs, "
                                       "in parallel, compared by their final losses.")
    ssub = sweep.add_subparsers(dest="axis", metavar="AXIS", required=True)
    sg = ssub.add_parser("gain", help="sweep the gain of the current stack")
    sd = ssub.add_parser("depth", help="repeat a Linear+activation block to depth 1..N, without and with BatchNorm")
    for q in (sg, sd):
        _add_config_args(q)
        q.add_argument("--seeds", type=int, default=10, help="init seeds averaged per point (default 10)")
        q.add_argument("--json-out", metavar="FILE", help="write the curves as JSON")
        q.add_argument("--max-memory", metavar="SIZE", help="refuse a sweep estimated to need more (e.g. 4G)")
    from initscope.core.config import GAIN_RANGE  # torch-free: the parser stays quick

    lo, hi, n = GAIN_RANGE
    sg.add_argument("--from", dest="lo", type=float, default=lo, help=f"first gain (default {lo:g})")
    sg.add_argument("--to", dest="hi", type=float, default=hi, help=f"last gain (default {hi:g})")
    sg.add_argument("--points", type=int, default=n, help=f"number of gains (default {n})")
    sd.add_argument("--max-depth", type=int, default=10, help="deepest stack, up to 20 (default 10)")
    sd.add_argument("--width", type=int, default=100, help="hidden width (default 100)")
    sd.add_argument("--activation", choices=("tanh", "relu", "gelu", "silu", "sigmoid"), default="tanh")
    sd.add_argument("--norms", default="none,batchnorm", metavar="LIST",
                    help="normalisations to compare, comma-separated from none,batchnorm,layernorm,rmsnorm "
                         "(default none,batchnorm)")
    sd.add_argument("--residual", action="store_true", help="also the residual version of each (pre-norm blocks)")
    from initscope.train_sweep_cli import add_parser as add_sweep_train

    add_sweep_train(ssub)  # `sweep train`: full training runs, in parallel (issue 14)
    from initscope.width_cli import add_parser as add_sweep_width

    add_sweep_width(ssub)  # `sweep width`: coordinate checks, standard parametrisation against muP (issue 25)

    from initscope.animate_cli import add_parser as add_animate

    add_animate(sub)  # `animate`: a saved run as a GIF / MP4, one frame per snapshot (issue 24)

    gui = sub.add_parser("gui", help="open the app (the default)")
    _add_config_args(gui)
    gui.add_argument("--scenario", metavar="FILE.json", help="open at the first step of a workshop scenario "
                     "(resources/scenarios/lecture.json is the lecture's walkthrough)")
    gui.add_argument("--run", metavar="RUN.initscope", help="open a run saved with --save-run or File > Save run")
    gui.add_argument("--follow", metavar="RUN.initscope", help="show a run that a script writes with "
                     "initscope.watch(save=RUN.initscope) live, as it trains (the file may not exist yet)")
    gui.add_argument("--present", action="store_true", help="start in presentation mode (large fonts and lines)")
    gui.add_argument("--reset-settings", action="store_true", help="forget the remembered settings, window layout "
                     "and folders, and start from the defaults")

    shot = sub.add_parser("screenshot", help="render the main window after N training steps to a PNG")
    shot.add_argument("out", metavar="OUT.png")
    _add_config_args(shot)
    shot.add_argument("--steps", type=int, default=2000, help="steps to train before the picture (default 2000)")
    shot.add_argument("--size", default="1366x768", help="window size WxH (default 1366x768)")
    shot.add_argument("--present", action="store_true", help="in presentation mode (large fonts and lines)")
    shot.add_argument("--tab", choices=[k for k, _ in TABS], default="overview",
                      help="the tab to show (default overview)")
    shot.add_argument("--log-y", action="store_true", help="the loss panel with a log y axis")
    shot.add_argument("--scenario", metavar="FILE.json", help="a workshop scenario (with --step: which step)")
    shot.add_argument("--step", type=int, default=1, metavar="K", help="the scenario's step K, from 1 (default 1)")
    return parser


def load_config(args: argparse.Namespace):
    from initscope.core.config import config_from_args

    return config_from_args(getattr(args, "preset", None), getattr(args, "config", None))


def _apply_overrides(cfg, args):
    from initscope.core.config import Config

    over = {"steps": args.steps, "seed": args.seed, "device": args.device, "lr": args.lr, "batch_size": args.batch_size}
    d = cfg.to_dict()
    for k, v in over.items():
        if v is not None:
            d["train"][k] = v
    if args.snapshot_every is not None:
        d["diag"]["snapshot_every"] = args.snapshot_every
    return Config.from_dict(d)  # validates the overridden fields like any config


def _fmt(x: float, spec: str = ".3f") -> str:
    return format(x, spec) if math.isfinite(x) else str(x)


def _layer_table(init, final) -> str:
    rows = [f"{'layer':<12} {'sat@init':>9} {'sat@end':>8} {'std@init':>9} {'std@end':>8} {'gstd@init':>10} {'gstd@end':>9}"]
    for a in init.layers:
        b = final.layer(a.name) if final else None
        sat0 = "-" if math.isnan(a.saturation) else f"{a.saturation:.1%}"  # norms, residual streams: none defined
        sat1 = "-" if not b or math.isnan(b.saturation) else _fmt(b.saturation * 100, ".1f") + "%"
        rows.append(f"{a.name:<12} {sat0:>9} {sat1:>8} "
                    f"{a.std:>9.3f} {_fmt(b.std) if b else '-':>8} {a.grad_std:>10.2e} {format(b.grad_std, '.2e') if b else '-':>9}")
    rows.append("")
    rows.append(f"{'weight matrix':<20} {'shape':>10} {'grad:data@init':>15} {'grad:data@end':>14} {'log10 upd:data@end':>19}")
    for p in init.params:
        if not p.is_matrix:
            continue
        q = final.param(p.name) if final else None
        rows.append(f"{p.name:<20} {'x'.join(map(str, p.shape)):>10} {p.grad_data:>15.2e} "
                    f"{format(q.grad_data, '.2e') if q else '-':>14} {_fmt(q.update_data_log10, '.2f') if q else '-':>19}")
    return "\n".join(rows)


def cmd_run(args: argparse.Namespace) -> int:
    from initscope.cli_safety import (
        EXIT_DIVERGED,
        EXIT_STOPPED,
        EvaluationStopped,
        StopOnSignal,
        check_outputs,
        check_threads,
        load_data_within_budget,
    )
    from initscope.core.hints import hints
    from initscope.core.history import History
    from initscope.core.trainer import Trainer, set_threads

    check_outputs(("--json-out", args.json_out), ("--save-config", args.save_config), ("--save-run", args.save_run))
    if not 0 <= args.samples <= 10_000:
        raise UserError(f"--samples must be between 0 and 10000, got {args.samples}")
    set_threads(check_threads(args.threads))
    cfg = _apply_overrides(load_config(args), args)
    data = load_data_within_budget(args.data, cfg, args.max_memory)
    trainer = Trainer(cfg, data)
    print(f"data: {data.path}: {data.summary()}")
    print(f"model: {trainer.net.n_params():,} parameters; {' -> '.join(s.label() for s in cfg.model.layers)}")
    if args.save_config:
        cfg.save(args.save_config)
    init = trainer.init_snapshot()
    if cfg.train.steps > 0:
        _ = trainer.opt  # made now: its first use imports torch._dynamo (~1 s), before "initial loss", not in step 1
    history = History()  # what a saved run keeps: the loss curve, per-snapshot scalars, recent snapshots
    history.set_init(init)
    print(f"initial loss {init.loss:.4f} (uniform guess: ln {data.vocab.size} = {init.ref_loss:.4f})")

    final = None
    steps_per_sec = 0.0
    guard = StopOnSignal(trainer, quiet=args.quiet)
    with guard:  # from the first step to the last byte written, a first signal never loses the run (issue 20)
        if cfg.train.steps > 0:
            from tqdm import tqdm

            last: dict = {}
            bar = tqdm(total=cfg.train.steps, unit="step", disable=args.quiet, file=sys.stderr, dynamic_ncols=True)

            def on_progress(p) -> None:
                bar.update(p.step - bar.n)
                if len(p.losses):
                    bar.set_postfix(loss=f"{float(p.losses[-1]):.4f}", lr=f"{p.lr:g}", refresh=False)
                if p.snapshot is not None:
                    last["snap"] = p.snapshot
                history.add_progress(p)  # losses, snapshot and the per-step tier (saved with the run)
                last["speed"] = p.steps_per_sec

            try:
                status = trainer.train(on_progress)  # a second Ctrl+C raises KeyboardInterrupt: nothing saved
            finally:
                bar.close()
            final = last.get("snap")
            steps_per_sec = last.get("speed", 0.0)
            if status == RunStatus.DIVERGED:
                print(f"run {trainer.message}", file=sys.stderr)
            else:
                print(f"{status} {trainer.step:,} steps at {steps_per_sec:,.0f} steps/s")
        guard.phase = "evaluate"  # a first signal now cuts the evaluation short; the run is saved without the rest
        losses = {s: float("nan") for s in ("train", "val", "test")}
        said = hints(final or init)
        names: list[str] = []
        try:
            _evaluate(args, cfg, data, trainer, init, final, losses, said, names)
        except EvaluationStopped:
            pass
        guard.phase = "save"
        _save_outputs(args, cfg, data, trainer, history, init, final, losses, said, names, steps_per_sec)
    if guard.signalled and trainer.status != RunStatus.DIVERGED:
        return EXIT_STOPPED
    return {RunStatus.DIVERGED: EXIT_DIVERGED, RunStatus.STOPPED: EXIT_STOPPED}.get(trainer.status, 0)


def _evaluate(args, cfg, data, trainer, init, final, losses: dict, said: list, names: list) -> None:
    """The final evaluation and what `run` prints of it; fills `losses`, `said` and `names` as it goes, so that
    what was measured before a signal is saved."""
    from initscope.cli_safety import printable

    if args.calibrate:
        trainer.calibrate_batchnorm()
    losses.update(trainer.split_losses())
    print("split losses: " + "  ".join(f"{k} {_fmt(v, '.4f')}" for k, v in losses.items()))
    print()
    print(_layer_table(init, final))
    if final is None:  # at init: the prediction beside the measurement, and where they part (issue 13)
        from initscope.theory_cli import measured_vs_predicted, theory_hint_lines

        print("\nat init, measured vs predicted by wide-net theory (`initscope theory` explains):")
        print(measured_vs_predicted(init, cfg, data.vocab.size))
        said += theory_hint_lines(init, cfg, data.vocab.size)
    if said:
        print("\nhints:")
        for h in said:
            print(f"  - {printable(h)}")
    if args.samples and trainer.status != RunStatus.DIVERGED:
        names += trainer.sample(args.samples)


def _save_outputs(args, cfg, data, trainer, history, init, final, losses, said, names, steps_per_sec) -> None:
    if args.save_run:
        from initscope.core.runfile import SavedRun, save_run

        save_run(args.save_run, SavedRun.from_history(
            history, config=cfg, vocab=data.vocab.itos, data_path=data.path, status=trainer.status,
            message=trainer.message, split_losses=losses, samples=names, hints=said,
            state_dict=trainer.net.state_dict()))
        print(f"saved the run to {args.save_run}")
    if names:  # after the save: a terminal that cannot show a word must not lose the run (issue 20)
        from initscope.cli_safety import printable

        print("\nsamples: " + ", ".join(printable(n) for n in names))
    if args.json_out:
        from initscope.core.files import atomic_write_text
        from initscope.theory_cli import add_predictions

        out = {
            "config": cfg.to_dict(),
            "data": {"path": data.path, "words": len(data.words), "vocab_size": data.vocab.size, **data.counts()},
            "init_loss": init.loss,
            "final": {k: (v if math.isfinite(v) else None) for k, v in losses.items()},
            "steps": trainer.step,
            "status": trainer.status if cfg.train.steps > 0 else "init-only",
            "steps_per_sec": steps_per_sec,
            "diagnostics": {"init": add_predictions(init.to_dict(), cfg, data.vocab.size),
                            "final": (final or init).to_dict()},
            "hints": said,
            "samples": names,
        }
        from initscope.cli_safety import strict_json  # NaN / inf as null
        try:
            atomic_write_text(Path(args.json_out), strict_json(out))
        except UserError as e:  # a full disk after the run was saved: say what is there
            raise UserError(f"{e}; the run itself was saved to {args.save_run}" if args.save_run else str(e)) from None


def cmd_inspect(args: argparse.Namespace) -> int:
    from initscope.cli_safety import check_outputs
    from initscope.core.files import atomic_write_text
    from initscope.core.inspect_run import inspect_dict, snapshot_at
    from initscope.core.runfile import load_run
    from initscope.scope import layer_table

    check_outputs(("--json-out", args.json_out))
    if args.json_out and os.path.exists(args.json_out) and os.path.samefile(args.json_out, args.run_file):
        raise UserError(f"--json-out {args.json_out}: that is the run file itself; give the JSON its own name")
    run = load_run(args.run_file)
    if run.replay_problem:  # one line; the step-0 and latest snapshots still answer
        print(f"initscope: warning: {args.run_file}: {run.replay_problem}", file=sys.stderr)
    out = inspect_dict(run, args.run_file, args.step)
    snap = snapshot_at(run, args.step)
    print(f"{out['name']} ({out['source']} run, {out['status']}, {out['steps']:,} steps): snapshot at step "
          f"{snap.step:,}, loss {_fmt(snap.loss, '.4f')}")
    print(layer_table(snap))
    if args.json_out:
        from initscope.cli_safety import strict_json  # NaN / inf as null
        atomic_write_text(Path(args.json_out), strict_json(out))
        print(f"wrote {args.json_out}")
    return 0


def cmd_presets(_args) -> int:
    from initscope.core.config import PRESET_INFO

    for name, info in PRESET_INFO.items():
        print(f"{name:<12} {info}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from initscope.cli_safety import (
        MAX_SWEEP_POINTS,
        MAX_SWEEP_SEEDS,
        check_count,
        check_outputs,
        load_data_within_budget,
    )
    from initscope.core.sweeps import depth_sweep, gain_sweep, gain_values
    from initscope.core.trainer import set_threads

    check_outputs(("--json-out", args.json_out))
    check_count("--seeds", args.seeds, 1, MAX_SWEEP_SEEDS)
    if args.axis == "gain":
        check_count("--points", args.points, 2, MAX_SWEEP_POINTS)
    set_threads(1)
    cfg = load_config(args)
    if args.axis == "depth":
        from dataclasses import replace

        from initscope.core.config import deep_stack

        if not 1 <= args.width <= 4096:
            raise UserError(f"--width must be between 1 and 4096, got {args.width}")
        check_count("--max-depth", args.max_depth, 1, 20)
        from initscope.core.sweeps import parse_norms

        norms = parse_norms(args.norms)
        # the biggest net it builds
        deepest = deep_stack(args.max_depth, args.width, activation=args.activation, norm="batchnorm",
                             residual=args.residual)
        data = load_data_within_budget(args.data, replace(cfg, model=replace(cfg.model, layers=deepest)),
                                       args.max_memory)
    else:
        data = load_data_within_budget(args.data, cfg, args.max_memory)
    if args.axis == "gain":
        res = gain_sweep(cfg, data, gain_values(args.lo, args.hi, args.points), args.seeds)
    else:
        res = depth_sweep(cfg, data, args.max_depth, args.width, args.activation, args.seeds, norms,
                          (False, True) if args.residual else (False,))
    d = res.to_dict()
    axis = d[res.axis]
    print(f"{res.axis[:-1]:>6}  " + "  ".join(f"{layer['name']:>12}" for layer in d["layers"]))
    print(f"{'':>6}  " + "  ".join(f"{'sat%  std':>12}" for _ in d["layers"]))
    for i, v in enumerate(axis):
        cells = []
        for layer in d["layers"]:
            sat, std = layer["saturation"][i], layer["std"][i]
            cells.append(f"{'-':>12}" if sat is None or std is None else f"{sat * 100:5.1f} {std:6.3f}")
        print(f"{v:>6.3g}  " + "  ".join(cells))
    if args.json_out:
        from initscope.cli_safety import strict_json  # NaN / inf as null
        from initscope.core.files import atomic_write_text
        atomic_write_text(Path(args.json_out), strict_json(d))
    return 0


def main(argv: list[str] | None = None) -> int:
    from initscope import interrupt

    interrupt.install()  # the console script starts here, before torch's import
    argv = sys.argv[1:] if argv is None else argv
    for stream in (sys.stdout, sys.stderr):  # a word the console's encoding lacks (cp1252) prints as "?", never raises
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    try:
        parser = _build_parser()
        args = parser.parse_args(argv)
        from initscope.cli_safety import CommandSignals, Terminated
    except (KeyboardInterrupt, Exception) as e:  # Ctrl+C during the start-up imports
        if not interrupt.caused_by_ctrl_c(e):
            raise
        print("\ninitscope: interrupted", file=sys.stderr)
        return 130
    try:
        # SIGTERM like Ctrl+C (a temporary file is removed, a sweep keeps its finished runs); the commands that
        # run Qt leave at once in one line (an exception inside Qt aborted with a traceback, exit 134)
        with CommandSignals(hard=args.command in ("report", "screenshot")):
            return _dispatch(args)
    except UserError as e:
        print(f"initscope: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        print("\ninitscope: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except (KeyboardInterrupt, Exception) as e:
        if not interrupt.caused_by_ctrl_c(e):
            raise
        print("\ninitscope: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    """Run the command; user mistakes raise UserError, which main() turns into one line."""
    from initscope.cli_safety import check_command_paths

    check_command_paths(args)  # outputs that are inputs, or cannot be written: refused before any work
    if args.install_desktop_entry:
        from initscope.desktop import install_desktop_entry

        print(f"wrote {install_desktop_entry()}")
        return 0
    if args.command in (None, "gui"):
        from initscope.gui.app import run_app

        return run_app(args)
    if args.command == "screenshot":
        from initscope.gui.app import run_screenshot

        return run_screenshot(args)
    if args.command == "presets":
        return cmd_presets(args)
    if args.command == "theory":
        from initscope.theory_cli import cmd_theory

        return cmd_theory(args)
    if args.command == "sweep" and args.axis == "train":
        from initscope.train_sweep_cli import cmd_sweep_train

        return cmd_sweep_train(args, load_config(args))
    if args.command == "sweep" and args.axis == "width":
        from initscope.width_cli import cmd_sweep_width

        return cmd_sweep_width(args, load_config(args))
    if args.command == "sweep":
        return cmd_sweep(args)
    if args.command == "inspect":
        return cmd_inspect(args)
    if args.command == "animate":
        from initscope.animate_cli import cmd_animate

        return cmd_animate(args)
    if args.command == "report":
        from initscope.cli_safety import check_outputs
        from initscope.report import write_report

        check_outputs(("-o", args.out), *((("--csv", args.csv + suffix) for suffix in ("_loss.csv", "_layers.csv"))
                                          if args.csv else ()))
        import numpy as np

        from initscope.gui.report_images import plot_images  # the pictures are drawn by the GUI package

        with np.errstate(all="ignore"):  # a diagnostic of -inf (a zero update) is a gap in a plot, not a warning
            write_report(args.run_file, args.out, plot_images)
        print(f"wrote {args.out}")
        if args.csv:
            from initscope.core.files import atomic_write_text
            from initscope.core.runfile import load_run, metrics_csv

            loss_csv, layers_csv = metrics_csv(load_run(args.run_file))
            for suffix, text in (("_loss.csv", loss_csv), ("_layers.csv", layers_csv)):
                atomic_write_text(Path(args.csv + suffix), text)
            print(f"wrote {args.csv}_loss.csv and {args.csv}_layers.csv")
        return 0
    return cmd_run(args)


