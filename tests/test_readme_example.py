"""The README's example test (section "Testing with the real window") runs here as written, on the public
initscope_window fixture: the documentation cannot drift from what the plugin does."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Testing with the real window"):]
    section = section[:section.index("\n## ", 1)]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)  # the section's one example
    return code


def test_the_readme_example_is_a_test_of_the_fixture():
    code = _example()
    assert re.search(r"^def (test_\w+)\(initscope_window\):", code, re.M)


def test_the_readme_example_passes(initscope_window):
    code = _example()
    name = re.search(r"^def (test_\w+)\(", code, re.M).group(1)
    namespace: dict = {}
    exec(compile(code, f"{README}:example", "exec"), namespace)
    namespace[name](initscope_window)
