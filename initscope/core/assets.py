"""Where the shipped files are: names.txt and resources/ (scenarios, help texts, the icon).

One copy lives in the repository (top-level names.txt and resources/). A built wheel carries it as
package data under `initscope/_data/` (setup.py's build_py copies it there), found with
importlib.resources; an editable install or a plain checkout has no such copy, so we fall back to the
repository root next to the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGED = "_data"  # folder inside the installed initscope package (see setup.py)
CHECKOUT_ROOT = Path(__file__).resolve().parents[2]  # the repository root, when running from a checkout


def _packaged_root() -> Path | None:
    try:
        root = resources.files("initscope") / PACKAGED
    except (ModuleNotFoundError, TypeError):
        return None
    # a wheel installs plain files, so the Traversable is a real path; a zip import would need as_file()
    return Path(str(root)) if root.is_dir() else None


def data_root() -> Path:
    """The folder holding names.txt and resources/: the installed package data, else the checkout."""
    return _packaged_root() or CHECKOUT_ROOT


def asset_path(*parts: str) -> Path:
    """A shipped file or folder by its path in the repository, e.g. asset_path("resources", "scenarios")."""
    return data_root().joinpath(*parts)


def names_path() -> Path:
    """The shipped word list (29,910 US first names)."""
    return asset_path("names.txt")


def scenarios_dir() -> Path:
    return asset_path("resources", "scenarios")


def icon_path() -> Path:
    """The app icon (SVG): the window icon and the .desktop entry's Icon."""
    return asset_path("resources", "initscope.svg")
