"""`initscope animate FILE OUT.(gif|mp4)`: a saved run as an animation, one frame per kept snapshot, drawn
offscreen by the window's own views (initscope/gui/animation.py). OUT is checked before any work: its suffix,
its folder, that it is not the run file itself, and for MP4 that imageio-ffmpeg is installed."""

from __future__ import annotations

import argparse
import os
import sys

from initscope.core.errors import UserError

MAX_SIDE = 4096


def add_parser(sub) -> None:
    an = sub.add_parser("animate", help="a saved run as a GIF or MP4: one frame per snapshot",
                        description="Draw a saved run's panels at each of its snapshots, as the window's time "
                                    "scrubber shows them, and write them as an animated GIF (Pillow) or an MP4 "
                                    "(needs the optional extra: pip install 'initscope[video]').")
    an.add_argument("run_file", metavar="RUN.initscope")
    an.add_argument("out", metavar="OUT.gif|OUT.mp4")
    an.add_argument("--tab", choices=("overview", "gradients", "over-time"), default="overview",
                    help="what each frame shows (default overview; over-time: the heatmaps with the step marked)")
    an.add_argument("--size", default="800x450", help="frame size WxH (default 800x450)")
    an.add_argument("--fps", type=float, default=4.0, help="frames a second (default 4)")
    an.add_argument("--present", action="store_true", help="presentation mode's sizes (large fonts and lines)")


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--size {text!r}: expected WxH, e.g. 800x450") from None
    if not (64 <= w <= MAX_SIDE and 64 <= h <= MAX_SIDE):
        raise UserError(f"--size {text}: each side must be between 64 and {MAX_SIDE} pixels")
    return w, h


def cmd_animate(args: argparse.Namespace) -> int:
    from initscope.cli_safety import check_outputs
    from initscope.core.errors import RunFileError
    from initscope.core.files import check_input_file
    from initscope.gui.animation import check_target

    # everything about OUT and the options first: a bad path costs a second, not the frames
    check_target(args.out)
    check_outputs(("OUT", args.out))
    check_input_file(args.run_file, RunFileError, "saved run")
    if os.path.exists(args.out) and os.path.samefile(args.out, args.run_file):
        raise UserError(f"{args.out}: that is the run file itself; give the animation its own name")
    size = parse_size(args.size)
    if not 0.1 <= args.fps <= 60:
        raise UserError(f"--fps must be between 0.1 and 60, got {args.fps:g}")
    from initscope.core.runfile import load_run

    run = load_run(args.run_file)
    if run.replay_problem:
        print(f"initscope: warning: {args.run_file}: {run.replay_problem}", file=sys.stderr)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from initscope.gui.animation import write_animation
    from initscope.gui.qapp import make_app
    from initscope.gui.run_controller import record_from_run

    _app = make_app()  # noqa: F841 - held while the frames are drawn
    rec = record_from_run(run, args.run_file)
    n = write_animation(rec, args.out, args.tab, size, args.fps, args.present)
    print(f"wrote {args.out}: {n} frames (one per snapshot) at {args.fps:g} frames a second")
    return 0
