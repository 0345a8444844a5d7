"""Every ``from ttfs_symbolic... import ...`` line in the README and docs names something that exists.

A user copies these lines first; a moved function (``save_conversion`` lives in
``conversion.fileformat``) used to leave a guide with an ImportError in its first lines.
"""
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^\s*from\s+(ttfs_symbolic[\w.]*)\s+import\s+\(?([\w\s,]+?)\)?\s*(?:#.*)?$")


def _imports():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = LINE.match(line)
            if m:
                names = [x.strip() for x in m.group(2).split(",") if x.strip()]
                yield pytest.param(m.group(1), names, id=f"{path.relative_to(ROOT)}:{n}")


IMPORTS = list(_imports())


def test_the_docs_have_import_lines_to_check():
    assert len(IMPORTS) >= 10


@pytest.mark.parametrize("module, names", IMPORTS)
def test_documented_import_resolves(module, names):
    mod = importlib.import_module(module)
    for name in names:
        name = name.split(" as ")[0].strip()
        assert hasattr(mod, name) or importlib.util.find_spec(f"{module}.{name}") is not None, \
            f"{module} has no {name}"
