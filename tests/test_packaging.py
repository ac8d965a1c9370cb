"""The wheel carries its data and works on its own: built, installed into a fresh venv with the checkout
out of reach, run from a temporary folder. Also the .desktop entry and the asset lookup."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from initscope.core import assets

ROOT = Path(__file__).resolve().parents[1]


def _copy_tree(dst: Path) -> Path:
    """The checkout without .venv, .git or build leftovers: the wheel is built from what the repo holds."""
    skip = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                  "out", "*.png")
    shutil.copytree(ROOT, dst, ignore=skip)
    return dst


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = _copy_tree(tmp / "src")
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    (whl,) = (tmp / "dist").glob("initscope-*.whl")
    return whl


def test_wheel_holds_names_and_resources(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "initscope/_data/names.txt" in names
    assert "initscope/_data/resources/scenarios/lecture.json" in names
    assert "initscope/_data/resources/initscope.svg" in names
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "resources").rglob("*") if p.is_file()}
    assert {f"initscope/_data/{p}" for p in shipped} <= names  # every shipped resource, help texts included
    data = zipfile.ZipFile(wheel).read("initscope/_data/names.txt")
    assert data == (ROOT / "names.txt").read_bytes()  # one source: the copy is the top-level file


def test_installed_wheel_runs_without_the_checkout(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # install before the third-party packages are visible, so pip sees no other initscope
    out = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    # torch, Qt etc. from this environment's site-packages: a plain path line, so .pth files there (the
    # editable install's finder) are not executed
    (site / "zz_parent_site.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    probe = (
        "import initscope, sys\n"
        "from initscope.core.assets import names_path, icon_path\n"
        "from initscope.core.scenario import load_scenario, shipped_scenarios\n"
        "print(initscope.__file__)\n"
        "print(names_path())\n"
        "s = load_scenario([p for p in shipped_scenarios() if p.name == 'lecture.json'][0])\n"
        "print(len(s.steps), s.title)\n"
        "print(icon_path().is_file())\n"
        "print('__editable__' in ''.join(map(str, sys.meta_path)))\n"
    )
    got = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    assert got.returncode == 0, got.stderr[-2000:]
    file, names, steps, icon_ok, editable = got.stdout.strip().splitlines()
    assert Path(file).resolve().is_relative_to(env_dir.resolve())  # the wheel's copy, not the checkout
    assert Path(names).resolve().is_relative_to(env_dir.resolve())
    assert int(steps.split()[0]) >= 5 and icon_ok == "True" and editable == "False"

    exe = env_dir / ("Scripts/initscope.exe" if os.name == "nt" else "bin/initscope")
    presets = subprocess.run([str(exe), "presets"], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    assert presets.returncode == 0, presets.stderr[-2000:]
    assert "deep-bn" in presets.stdout
    run = subprocess.run([str(exe), "run", "--steps", "5", "--quiet", "--samples", "2"], capture_output=True,
                         text=True, cwd=cwd, env=env, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "val" in run.stdout


def test_assets_fall_back_to_the_checkout():
    # in this (editable) environment nothing is packaged, so the repository's own files are used
    assert assets.names_path() == ROOT / "names.txt"
    assert (assets.scenarios_dir() / "lecture.json").is_file()
    assert assets.icon_path().is_file()


def test_install_desktop_entry(tmp_path, monkeypatch):
    if sys.platform.startswith(("win", "darwin")):
        pytest.skip("freedesktop entries are Linux-only")
    from initscope.cli import main

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert main(["--install-desktop-entry"]) == 0
    entry = tmp_path / "data" / "applications" / "initscope.desktop"
    lines = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert lines["Type"] == "Application" and lines["Name"] == "initscope"
    exe = Path(lines["Exec"])
    assert exe.name == "initscope" and exe.is_file() and os.access(exe, os.X_OK)
    assert Path(lines["Icon"]) == assets.icon_path() and Path(lines["Icon"]).is_file()


def test_desktop_entry_bad_folder_is_one_line(tmp_path, monkeypatch, capsys):
    if sys.platform.startswith(("win", "darwin")):
        pytest.skip("freedesktop entries are Linux-only")
    from initscope.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))  # a file where the data folder should be
    assert main(["--install-desktop-entry"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("initscope: error:") and len(err.strip().splitlines()) == 1


def test_bootstrap_py_names_missing_qt_libraries_from_one_ldconfig_read(monkeypatch):
    import importlib.util
    import platform
    import types

    spec = importlib.util.spec_from_file_location("bootstrap_py", ROOT / "tools" / "bootstrap.py")
    boot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(boot)
    calls = []
    cache = "\n".join(f"\t{lib} (libc6,x86-64) => /usr/lib/{lib}" for lib in boot.QT_LIBS if lib != "libxcb-cursor.so.0")

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return types.SimpleNamespace(stdout=cache, returncode=0)

    monkeypatch.setattr(boot.subprocess, "run", fake_run)
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    assert boot.missing_qt_packages() == ["libxcb-cursor0"]
    assert calls == [["ldconfig", "-p"]]  # read once, no pipe that can die of SIGPIPE
    assert boot.venv_python().parent.parent == ROOT / ".venv"
