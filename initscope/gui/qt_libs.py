"""Qt's X11 platform plugin and the system libraries it needs, checked before Qt is started.

Without them Qt prints its own error, which names only the first library it missed (libxcb-cursor0), and
aborts; a user then installs one package after another. `missing()` asks the dynamic linker (`ldd`) about the
plugin and Qt's XCB library and names every library it cannot find, with the one apt line that installs them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.util import find_spec

PLUGIN = ("Qt", "plugins", "platforms", "libqxcb.so")


def parse_ldd(text: str) -> list[str]:
    """The sonames ldd reports as "not found", in order, each once."""
    out: list[str] = []
    for m in re.finditer(r"^\s*(\S+)\s+=>\s+not found", text, re.M):
        if m.group(1) not in out:
            out.append(m.group(1))
    return out


def debian_package(soname: str) -> str:
    """Debian's package for a soname, by its naming rule: libxcb-icccm.so.4 -> libxcb-icccm4,
    libxkbcommon-x11.so.0 -> libxkbcommon-x11-0 (a dash when the name ends in a digit)."""
    m = re.match(r"(lib[\w.+-]+?)\.so\.(\d+)", soname)
    if not m:
        return soname
    name, major = m.group(1).lower(), m.group(2)
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def missing() -> list[str]:
    """Sonames the X11 plugin needs and cannot load here ([] where it can, or where this cannot be told)."""
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        return []
    spec = find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = list(spec.submodule_search_locations)[0]
    files = [os.path.join(root, *PLUGIN), os.path.join(root, "Qt", "lib", "libQt6XcbQpa.so.6")]
    found: list[str] = []
    for f in files:
        if not os.path.exists(f):
            continue
        try:
            text = subprocess.run(["ldd", f], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return []
        found += [s for s in parse_ldd(text) if s not in found]
    return found


def message(libs: list[str]) -> str:
    pkgs = " ".join(dict.fromkeys(debian_package(s) for s in libs))
    return (f"Qt's X11 platform cannot start: missing system librar{'ies' if len(libs) > 1 else 'y'} "
            f"{', '.join(libs)}; install them with: sudo apt-get install {pkgs}")
