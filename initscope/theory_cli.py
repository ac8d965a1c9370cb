"""`initscope theory`: the mean-field prediction per layer, and the predicted column of `run --steps 0`.

The numbers come from initscope.core.theory; this module only parses, formats and writes them.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from initscope.core.errors import ConfigError

NAMES_VOCAB = 27  # the shipped names.txt: '.' and a-z


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("theory", help="what mean-field theory predicts at init, per layer",
                       description="Per layer of the stack at init (activations, norms, residual streams), as wide-net (mean-field) theory "
                                   "predicts it: the pre-activation variance q, the output's mean and std, the "
                                   "saturation, the backward factor chi and the gradient std relative to the last "
                                   "layer; and the critical gain (chi = 1), the edge between order and chaos.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", help="start from a lecture preset (see `initscope presets`)")
    src.add_argument("--config", metavar="FILE.json", help="start from a saved config")
    p.add_argument("--gain", type=float, help="the hidden layers' gain (default: the config's)")
    p.add_argument("--vocab-size", type=int, default=NAMES_VOCAB,
                   help=f"output width when the config says 'vocab' (default {NAMES_VOCAB}, names.txt)")
    p.add_argument("--json-out", metavar="FILE", help="write the prediction as JSON")
    return p


def _with_gain(cfg, gain: float | None):
    if gain is None:
        return cfg
    from initscope.core.config import Config

    if not math.isfinite(gain):
        raise ConfigError(f"--gain must be a finite number, got {gain}")
    d = cfg.to_dict()
    d["init"]["gain"] = gain
    try:
        return Config.from_dict(d)  # the config's own bounds
    except ConfigError as e:
        raise ConfigError(f"--gain {gain:g}: {e}") from None


def theory_table(preds, gc: float | None, regime: str) -> str:
    rows = [f"{'layer':<14} {'q':>8} {'mean':>8} {'std':>7} {'sat':>7} {'chi':>7} {'grad ratio':>11}"]
    for p in preds:
        mean = f"{p.mean:>8.3f}".replace("-0.000", " 0.000")  # rounding noise of a zero mean
        sat = "-" if math.isnan(p.saturation) else f"{p.saturation:.1%}"  # norms and streams: none defined
        rows.append(f"{p.name:<14} {p.q:>8.4g} {mean} {p.std:>7.3f} {sat:>7} {p.chi:>7.3f} "
                    f"{p.grad_ratio:>11.3f}")
    rows.append("")
    rows.append(f"critical gain: {'none' if gc is None else format(gc, '.4g')}")
    rows.append(regime)
    return "\n".join(rows)


def cmd_theory(args: argparse.Namespace) -> int:
    from initscope.core.config import config_from_args
    from initscope.core.files import atomic_write_text, check_output_path
    from initscope.core.theory import critical_gain, predict, regime

    if args.json_out:
        check_output_path(args.json_out, "--json-out")
    if not 2 <= args.vocab_size <= 4096:
        raise ConfigError(f"--vocab-size must be between 2 and 4096, got {args.vocab_size}")
    cfg = _with_gain(config_from_args(args.preset, args.config), args.gain)
    cfg.model.resolve(args.vocab_size)  # one line for a stack that cannot be built (ConfigError)
    preds = predict(cfg, args.vocab_size, every_layer=True)
    gc = critical_gain(cfg)
    say = regime(cfg)
    print(f"{cfg.name or 'config'}: {' -> '.join(s.label() for s in cfg.model.layers)}; "
          f"{cfg.init.scheme} gain {cfg.init.gain:.4g}")
    print(theory_table(preds, gc, say))
    if args.json_out:
        out = {"config": cfg.to_dict(), "vocab_size": args.vocab_size, "layers": [p.to_dict() for p in preds],
               "critical_gain": gc, "regime": say}
        from initscope.cli_safety import strict_json  # NaN / inf as null
        atomic_write_text(Path(args.json_out), strict_json(out))
    return 0


# --- `run --steps 0`: measured beside predicted ---------------------------------------------------------------

def _by_name(cfg, vocab_size: int) -> dict:
    from initscope.core.theory import predict

    return {p.name: p for p in predict(cfg, vocab_size, every_layer=True)}


def measured_vs_predicted(snap, cfg, vocab_size: int) -> str:
    """The at-init table with the prediction beside each measurement."""
    preds = _by_name(cfg, vocab_size)
    from initscope.core.config import ACTIVATIONS

    acts = [s for s in snap.layers if s.kind in ACTIVATIONS]
    last = (acts or snap.layers)[-1].grad_std if snap.layers else math.nan  # the prediction's reference
    rows = [f"{'layer':<14} {'sat':>7} {'(pred)':>7} {'std':>7} {'(pred)':>7} {'grad ratio':>10} {'(pred)':>7}"]
    pct = lambda x: "-" if math.isnan(x) else f"{x:.1%}"  # noqa: E731
    for s in snap.layers:
        p = preds.get(s.name)
        if p is None:
            continue
        ratio = s.grad_std / last if last > 0 else math.nan
        rows.append(f"{s.name:<14} {pct(s.saturation):>7} {pct(p.saturation):>7} {s.std:>7.3f} {p.std:>7.3f} "
                    f"{ratio:>10.3f} {p.grad_ratio:>7.3f}")
    return "\n".join(rows)


def add_predictions(snap_dict: dict, cfg, vocab_size: int) -> dict:
    """diagnostics.init.layers[].predicted = {"saturation", "std", "grad_ratio"} in a snapshot's JSON."""
    preds = _by_name(cfg, vocab_size)
    for layer in snap_dict.get("layers", []):
        p = preds.get(layer["name"])
        if p is not None:
            layer["predicted"] = {k: (v if math.isfinite(v) else None) for k, v in
                                  (("saturation", p.saturation), ("std", p.std), ("grad_ratio", p.grad_ratio))}
    return snap_dict



def theory_hint_lines(snap, cfg, vocab_size: int) -> list[str]:
    """The hints where the at-init snapshot departs from the prediction (core.hints.theory_hints)."""
    from initscope.core.hints import theory_hints
    from initscope.core.theory import predict

    return theory_hints(snap, predict(cfg, vocab_size))
