"""A run as an animation: one frame per kept snapshot, drawn offscreen by the window's own views (Overview,
Gradients, Over time) at that step, exactly as the time scrubber shows it. GIF through Pillow; MP4 through
imageio-ffmpeg (the optional extra `video`: it ships its own ffmpeg). Used by `initscope animate`
(initscope/animate_cli.py) and by File > Export animation… (with a progress bar).

A GIF's frames are held as 8-bit palette images until the file is written (Pillow merges and optimises them
then): width x height bytes a frame, 0.4 MB at the default 800x450. An MP4 is streamed to its encoder.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from initscope.core.errors import UserError

TABS = ("overview", "gradients", "over-time")
SUFFIXES = (".gif", ".mp4")
MAX_GIF_BYTES = 2 * 2**30  # frames held before a GIF is written; a longer animation: smaller --size or .mp4
DEFAULT_SIZE = (800, 450)


def check_target(out: str | Path) -> str:
    """The animation's format from OUT's suffix; MP4 only when imageio-ffmpeg is there (one line if not)."""
    suffix = Path(out).suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(f"{out}: an animation is written as .gif or .mp4, not {suffix or 'a file without a suffix'}")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise UserError(f"{out}: MP4 needs imageio-ffmpeg, the optional extra `video` "
                            "(pip install 'initscope[video]'); a .gif needs nothing more") from None
    return suffix[1:]


def check_gif_size(frames: int, size: tuple[int, int]) -> None:
    need = frames * size[0] * size[1]
    if need > MAX_GIF_BYTES:
        raise UserError(f"{frames:,} frames of {size[0]}x{size[1]} would hold {need / 2**30:.1f} GB before the GIF "
                        "is written; choose a smaller --size or write an .mp4")


class FrameRenderer:
    """A view of one record in a widget of its own, offscreen, drawn at any of its snapshot steps."""

    def __init__(self, rec, tab: str = "overview", size: tuple[int, int] = DEFAULT_SIZE, present: bool = False):
        import pyqtgraph as pg

        from initscope.gui.heatmap_view import HeatmapView
        from initscope.gui.views import GradientsView, OverviewView

        if tab not in TABS:
            raise UserError(f"--tab {tab!r}: one of {', '.join(TABS)}")
        self.rec = rec
        self.widget = QtWidgets.QWidget()
        self.widget.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen)  # drawn, never on a screen
        self.title = QtWidgets.QLabel()
        self.view = {"overview": OverviewView, "gradients": GradientsView, "over-time": HeatmapView}[tab]()
        lay = QtWidgets.QVBoxLayout(self.widget)
        lay.setContentsMargins(6, 4, 6, 6)
        lay.addWidget(self.title)
        lay.addWidget(self.view, 1)
        if present:  # presentation mode's sizes (gui/presentation.py)
            from initscope.gui.presentation import FONT_SCALE, LINE_SCALE

            font = QtGui.QFont(self.widget.font())
            font.setPointSizeF(font.pointSizeF() * FONT_SCALE)
            self.widget.setFont(font)
            for p in getattr(self.view, "panels", []):
                p.set_scale(LINE_SCALE, font.pointSizeF())
            if isinstance(self.view, HeatmapView):
                self.view.set_scale(LINE_SCALE, font.pointSizeF())
        self.lines = []
        if tab == "overview":  # the step axes mark the frame's step, as the scrubber does
            for p in (self.view.loss_panel, self.view.sat_panel, self.view.upd_panel):
                line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", width=1.5, style=QtCore.Qt.PenStyle.DotLine))
                p.plot.addItem(line, ignoreBounds=True)
                self.lines.append(line)
        for b in self.view.findChildren(QtWidgets.QToolButton):  # the "?" buttons: a slide has no use for them
            if getattr(b, "help_key", None):
                b.hide()
        self.size = size
        self.widget.resize(*size)
        self.widget.show()
        self.steps = rec.history.snapshot_steps()

    def frame(self, step: int) -> QtGui.QImage:
        h = self.rec.history.at(step)
        self.title.setText(f"<b>{self.rec.name}</b> — step {h.at_step:,} of {self.rec.steps_done:,}")
        self.view.render([replace(self.rec, history=h)])
        for line in self.lines:
            line.setValue(h.at_step)
        QtWidgets.QApplication.processEvents()
        img = self.widget.grab().toImage()
        if (img.width(), img.height()) != self.size:  # smaller than the views' minimum: drawn at it, then scaled
            img = img.scaled(*self.size, QtCore.Qt.AspectRatioMode.IgnoreAspectRatio,
                             QtCore.Qt.TransformationMode.SmoothTransformation)
        return img

    def close(self) -> None:
        self.widget.close()
        self.widget.deleteLater()


def to_rgb(img: QtGui.QImage) -> np.ndarray:
    img = img.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    return np.frombuffer(img.constBits(), np.uint8, bpl * h).reshape(h, bpl)[:, : 3 * w].reshape(h, w, 3).copy()


def write_animation(rec, out: str | Path, tab: str = "overview", size: tuple[int, int] = DEFAULT_SIZE,
                    fps: float = 4.0, present: bool = False,
                    progress: Callable[[int, int], bool] | None = None) -> int:
    """Draw one frame per snapshot of `rec` and write them to `out` (.gif or .mp4); returns the frame count.
    progress(done, total) -> False stops (nothing is written)."""
    kind = check_target(out)
    r = FrameRenderer(rec, tab, size, present)
    steps = r.steps
    if not len(steps):
        r.close()
        raise UserError("the run holds no snapshot: nothing to animate")
    first = to_rgb(r.frame(int(steps[0])))
    size = (first.shape[1], first.shape[0])
    if kind == "gif":
        check_gif_size(len(steps), size)
    try:
        frames = _frames(r, steps, first, progress)
        tmp = Path(out).with_name(f".{Path(out).name}.part")
        n = _write_gif(frames, tmp, fps) if kind == "gif" else _write_mp4(frames, tmp, fps, size)
        if n < len(steps):  # stopped by the progress callback
            tmp.unlink(missing_ok=True)
            return 0
        tmp.replace(out)
        return n
    finally:
        r.close()


def _frames(r: FrameRenderer, steps, first: np.ndarray, progress):
    for i, step in enumerate(steps):
        if progress is not None and progress(i, len(steps)) is False:
            return
        yield first if i == 0 else to_rgb(r.frame(int(step)))
    if progress is not None:
        progress(len(steps), len(steps))


def _write_gif(frames, path: Path, fps: float) -> int:
    from PIL import Image

    # palette images as they come (1 byte a pixel): what Pillow holds until it writes
    images = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE, colors=255) for f in frames]
    if images:
        images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps),
                       loop=0, disposal=1)
    return len(images)


def _write_mp4(frames, path: Path, fps: float, size: tuple[int, int]) -> int:
    import imageio_ffmpeg

    w, h = size[0] - size[0] % 2, size[1] - size[1] % 2  # yuv420p: even sides
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                                         output_params=["-f", "mp4"], macro_block_size=1)
    writer.send(None)
    n = 0
    try:
        for f in frames:
            writer.send(np.ascontiguousarray(f[:h, :w]))
            n += 1
    finally:
        writer.close()
    return n


# --- File > Export animation… ---------------------------------------------------------------------------------
def shown_tab(win) -> str:
    """The animation's view for the window's shown tab: Gradients, Over time (the Explorer's), else the Overview."""
    if win.tabs.currentWidget() is win.gradients:
        return "gradients"
    if win.tabs.currentWidget() is win.explorer.sweeps_tab and win.explorer.inner.currentWidget() is win.heatmaps:
        return "over-time"
    return "overview"


def export_animation(win) -> None:
    if win.files.one_run("Export animation") is None:
        return
    from initscope.gui.settings import get_save_file

    path = get_save_file(win, win.settings, "animation", "Export an animation (one frame per snapshot)", "run.gif",
                         "GIF (*.gif);;MP4 (*.mp4)")
    if path:
        export_animation_to(win, path)


def export_animation_to(win, path: str, fps: float = 4.0) -> int:
    """The shown run's snapshots as frames of the shown tab (Gradients, Over time, else the Overview) at the tab's
    size, with a progress bar that can cancel; returns the frames written (0: cancelled or refused)."""
    from initscope.core.files import check_output_path

    rec = win.files.one_run("Export animation")
    if rec is None:
        return 0
    tab = shown_tab(win)
    size = (max(win.tabs.width(), 320), max(win.tabs.height(), 200))
    dialog = QtWidgets.QProgressDialog("Drawing one frame per snapshot…", "Cancel", 0, 1, win)
    dialog.setWindowTitle("Export animation")
    dialog.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)

    def progress(done: int, total: int) -> bool:
        dialog.setMaximum(total)
        dialog.setValue(done)
        QtWidgets.QApplication.processEvents()
        return not dialog.wasCanceled()

    try:
        check_target(path)
        check_output_path(path, "animation")
        n = write_animation(rec, path, tab, size, fps, win.present_act.isChecked(), progress)
    except (OSError, UserError) as e:
        dialog.close()
        win.files.warn("Could not export the animation", str(e))
        return 0
    dialog.close()
    win.statusBar().showMessage(f"wrote {path}: {n} frames, one per snapshot" if n else "animation cancelled", 10_000)
    return n
