"""Build hook: put the repository's one copy of names.txt and resources/ into the built package.

The files stay where the layout wants them (top level); the wheel gets them as initscope/_data/, which
initscope.core.assets finds through importlib.resources. Nothing is duplicated in the repository.
Everything else is declared in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ["names.txt", "resources"]


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the checkout directly (assets.py falls back to it)
            return
        dest = Path(self.build_lib) / "initscope" / "_data"
        shutil.rmtree(dest, ignore_errors=True)  # a reused build/ must not keep files deleted since
        for name in SHIPPED:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, dest / name, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / name)


setup(cmdclass={"build_py": BuildPyWithData})
