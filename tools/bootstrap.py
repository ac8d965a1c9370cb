"""Set up .venv with initscope and its test tools, on Windows, macOS or Linux. Safe to run again.

    python tools/bootstrap.py            (py -3.11 tools\\bootstrap.py on Windows)

The same steps as tools/bootstrap.sh, without bash: a venv beside the project, torch (the 2.13 release
first, which on our workplace machines is a CPU build on local disk), then `pip install -e ".[test]"`.
On Linux it names the Qt system libraries that are missing (it never runs apt itself).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
# shared library -> Debian/Ubuntu package, as in bootstrap.sh
QT_LIBS = {"libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libxkbcommon.so.0": "libxkbcommon0",
           "libfontconfig.so.1": "libfontconfig1", "libdbus-1.so.3": "libdbus-1-3",
           "libglib-2.0.so.0": "libglib2.0-0", "libxcb-cursor.so.0": "libxcb-cursor0",
           "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxcb-icccm.so.4": "libxcb-icccm4",
           "libxcb-keysyms.so.1": "libxcb-keysyms1"}
# the PyPI torch wheel for Linux is the multi-GB CUDA build; this index has the CPU build
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def pip(*args: str) -> bool:
    cmd = [str(venv_python()), "-m", "pip", "--disable-pip-version-check", "-q", *args]
    return subprocess.run(cmd, cwd=ROOT).returncode == 0


def has_torch() -> bool:
    return subprocess.run([str(venv_python()), "-c", "import torch"], capture_output=True).returncode == 0


def install_torch() -> None:
    if has_torch():
        return
    if pip("install", "torch==2.13.*"):
        return
    if platform.system() == "Linux" and pip("install", "torch>=2.2,<3", "--index-url", TORCH_CPU_INDEX):
        return
    if not pip("install", "torch>=2.2,<3"):
        sys.exit("bootstrap: could not install torch")


def missing_qt_packages() -> list[str]:
    if platform.system() != "Linux":
        return []
    try:  # read the cache once (the shell version's pipefail lesson)
        libs = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    except OSError:
        return []
    return [pkg for lib, pkg in QT_LIBS.items() if lib not in libs]


def main() -> int:
    if sys.version_info < (3, 10):
        sys.exit(f"bootstrap: initscope needs Python 3.10 or newer (3.11 tested); this is {platform.python_version()}")
    if not venv_python().exists():
        venv.create(VENV, with_pip=True)
    install_torch()
    if not pip("install", "-e", ".[test]"):
        sys.exit("bootstrap: pip install -e .[test] failed")
    need = missing_qt_packages()
    if need:
        print(f"bootstrap: Qt needs these system packages: sudo apt-get install {' '.join(need)}", file=sys.stderr)
    exe = VENV / ("Scripts/initscope.exe" if os.name == "nt" else "bin/initscope")
    print(f"bootstrap: ready; start the app with {exe.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
