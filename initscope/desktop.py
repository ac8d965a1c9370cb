"""`initscope --install-desktop-entry`: a freedesktop .desktop file so the app shows up in the Linux menu.

Written into the user's data directory (platformdirs: $XDG_DATA_HOME/applications, by default
~/.local/share/applications), pointing at the installed `initscope` executable and the shipped icon.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from initscope.core.assets import icon_path
from initscope.core.errors import UserError
from initscope.core.files import atomic_write_text

DESKTOP_FILE = "initscope.desktop"


def initscope_executable() -> Path:
    """The `initscope` console script of this installation (next to the running interpreter), else on PATH."""
    bindir = Path(sys.executable).parent
    for name in ("initscope", "initscope.exe"):
        if (bindir / name).is_file():
            return (bindir / name).resolve()
    found = shutil.which("initscope")
    if found:
        return Path(found).resolve()
    raise UserError("the 'initscope' executable was not found next to this Python or on PATH; "
                    "install the package (pip install .) first")


def _quote(arg: str) -> str:
    """Quote an Exec argument as the Desktop Entry spec asks (double quotes; \\ " ` $ escaped)."""
    if all(c.isalnum() or c in "/._-+" for c in arg):
        return arg
    return '"' + "".join("\\" + c if c in '\\"`$' else c for c in arg) + '"'


def desktop_entry(exe: Path, icon: Path) -> str:
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.5",
        "Name=initscope",
        "GenericName=Neural network init explorer",
        "Comment=See what weight initialisation and BatchNorm do to a neural network while it trains",
        f"Exec={_quote(str(exe))}",
        f"Icon={icon}",
        "Terminal=false",
        "Categories=Education;Science;",
        "StartupWMClass=initscope",
        "",
    ])


def install_desktop_entry() -> Path:
    """Write the .desktop file; returns its path. Linux/BSD desktops only."""
    if sys.platform.startswith(("win", "darwin")):
        raise UserError("--install-desktop-entry is for Linux desktops; on Windows and macOS start `initscope` "
                        "from a terminal (or pin it)")
    from platformdirs import user_data_path

    icon = icon_path()
    if not icon.is_file():
        raise UserError(f"the icon {icon} is missing from this installation; reinstall initscope")
    folder = user_data_path() / "applications"  # user_data_path() honours $XDG_DATA_HOME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / DESKTOP_FILE
        atomic_write_text(path, desktop_entry(initscope_executable(), icon))
    except OSError as e:
        raise UserError(f"cannot write the desktop entry in {folder}: {e.strerror or e}") from None
    return path
