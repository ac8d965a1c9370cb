"""The wheel carries its data and works on its own: built, installed into a fresh venv with its declared
dependencies only (nothing borrowed from this environment), run from a temporary folder; every third-party import
is declared; the sdist builds a wheel with the same files. Also the .desktop entry and the asset lookup."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
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


# third-party imports that only an optional feature makes (inside the function that needs them, or in the pytest
# plugin): each must be declared in that extra; every other import must be a base dependency
OPTIONAL_IMPORTS = {"ray": "ray", "grpc": "ray", "pytest": "test", "imageio_ffmpeg": "video"}


def _requirements(wheel: Path) -> dict[str, set[str]]:
    """{extra ("" for the base): {normalised distribution names}} from the wheel's METADATA, as pip reads it."""
    (meta,) = [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA")]
    out: dict[str, set[str]] = {}
    for line in zipfile.ZipFile(wheel).read(meta).decode().splitlines():
        if line.startswith("Requires-Dist:"):
            req = line.split(":", 1)[1].strip()
            extra = re.search(r"extra\s*==\s*[\"']([^\"']+)", req)
            name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req).group(0)
            out.setdefault(extra.group(1) if extra else "", set()).add(_normal(name))
    return out


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _third_party_imports() -> dict[str, list[str]]:
    """{top-level module: [file:line, ...]} for every import in the package that is neither stdlib nor initscope."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "initscope").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top not in sys.stdlib_module_names and top != "initscope":
                    found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_third_party_import_is_declared(wheel):
    reqs = _requirements(wheel)
    provides = importlib.metadata.packages_distributions()  # module -> distributions, in this environment
    found = _third_party_imports()
    assert {"torch", "numpy", "PySide6", "pyqtgraph", "tqdm", "platformdirs"} <= set(found)  # the scan sees them
    missing = []
    for mod, where in sorted(found.items()):
        dists = {_normal(d) for d in provides.get(mod, [])} or {_normal(mod)}  # not installed: its own name
        extra = OPTIONAL_IMPORTS.get(mod, "")
        if not dists & reqs.get(extra, set()):
            missing.append(f"{mod} ({', '.join(sorted(dists)) or 'no installed distribution'}; {where[0]}) is not "
                           f"declared in {'the ' + extra + ' extra' if extra else 'the dependencies'}")
    assert not missing, "\n".join(missing)


def test_declared_dependency_check_catches_a_missing_one(wheel, tmp_path):
    # the check reads the wheel's metadata: a wheel whose METADATA lacks tqdm fails it
    bad = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith(".dist-info/METADATA"):
                data = b"\n".join(x for x in data.split(b"\n") if not x.startswith(b"Requires-Dist: tqdm"))
            dst.writestr(item, data)
    with pytest.raises(AssertionError, match=r"tqdm \(tqdm; initscope/"):
        test_every_third_party_import_is_declared(bad)


@pytest.mark.slow
def test_installed_wheel_runs_with_its_declared_dependencies_only(wheel, tmp_path):
    """A fresh venv (no system or parent site-packages) gets the wheel and what it declares, nothing else; every
    module of the package imports there and the commands run from a folder away from the checkout."""
    import torch

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=False)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # torch pinned to this environment's build: on our machines a CPU wheel on local disk (tools/bootstrap.sh)
    out = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", str(wheel),
                          f"torch=={torch.__version__}"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    probe = (
        "import importlib, pkgutil, sys, initscope\n"
        "from initscope.core.assets import names_path, icon_path\n"
        "from initscope.core.scenario import load_scenario, shipped_scenarios\n"
        "mods = [m.name for m in pkgutil.walk_packages(initscope.__path__, 'initscope.')]\n"
        "for m in mods:\n"
        "    if m != 'initscope.testing':  # the pytest plugin: pytest is the test extra's\n"
        "        importlib.import_module(m)\n"
        "print(len(mods))\n"
        "print(initscope.__file__)\n"
        "print(names_path())\n"
        "s = load_scenario([p for p in shipped_scenarios() if p.name == 'lecture.json'][0])\n"
        "print(len(s.steps), s.title)\n"
        "print(icon_path().is_file())\n"
        "print('__editable__' in ''.join(map(str, sys.meta_path)))\n"
        "print(sorted({p for p in sys.path if 'site-packages' in p}))\n"
    )
    got = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert got.returncode == 0, got.stderr[-3000:]
    n_mods, file, names, steps, icon_ok, editable, sites = got.stdout.strip().splitlines()
    assert int(n_mods) > 40  # every module of the package was imported
    assert Path(file).resolve().is_relative_to(env_dir.resolve())  # the wheel's copy, not the checkout
    assert Path(names).resolve().is_relative_to(env_dir.resolve())
    assert int(steps.split()[0]) >= 5 and icon_ok == "True" and editable == "False"
    assert all(Path(p).resolve().is_relative_to(env_dir.resolve()) for p in eval(sites))  # nothing borrowed

    exe = env_dir / ("Scripts/initscope.exe" if os.name == "nt" else "bin/initscope")
    presets = subprocess.run([str(exe), "presets"], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    assert presets.returncode == 0, presets.stderr[-2000:]
    assert "deep-bn" in presets.stdout
    run = subprocess.run([str(exe), "run", "--steps", "5", "--quiet", "--samples", "2"], capture_output=True,
                         text=True, cwd=cwd, env=env, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "val" in run.stdout


@pytest.mark.slow
def test_sdist_builds_and_its_wheel_matches(wheel, tmp_path):
    """The sdist (MANIFEST.in) carries everything the wheel is built from: a wheel built from the unpacked sdist
    holds the same files as the one built from the checkout."""
    src = _copy_tree(tmp_path / "src")
    out = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
                          "print(b.build_sdist(sys.argv[1]))", str(tmp_path / "sdist")],
                         cwd=src, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    sdist = tmp_path / "sdist" / out.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "unpacked", filter="data")
    top = names[0].split("/")[0]
    for need in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "names.txt",
                 "resources/scenarios/lecture.json", "initscope/cli.py"):
        assert f"{top}/{need}" in names, need
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(tmp_path / "unpacked" / top)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (again,) = (tmp_path / "dist").glob("initscope-*.whl")
    assert set(zipfile.ZipFile(again).namelist()) == set(zipfile.ZipFile(wheel).namelist())


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
