"""The package's import graph and its problems (issue 20).

Prints, for ``ttfs_symbolic`` (or the folder given):

* **cycles**: strongly connected sets of modules, counting every import,
  those inside functions too (``from .x import y`` is an arrow to ``x``, or
  to ``x.y`` when that is a module; the implicit import of a parent package
  is not an arrow);
* **private imports**: a name starting with one ``_`` imported from another
  module (``from .limits import _Timeout``), or read off an imported module
  (``checks._real_value``);
* **function imports without a reason**: an import inside a function without
  a comment on its line or on the line above (or above its block of imports).

Exits 1 when there are cycles or private imports, else 0 (function imports
without a comment are reported, not fatal). ``--only symbolic numeric`` keeps
the problems whose module lies under those subpackages (for cycles: any
member). ``--sizes`` also lists files over 600 lines and functions over 100.

    python scripts/import_graph.py [--only symbolic numeric verify pages catalogue] [--sizes] [root]
"""
from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 100


@dataclass
class Module:
    name: str
    path: Path
    lines: list[str]
    tree: ast.Module
    imports: set = field(default_factory=set)       # module names this one imports
    private: list = field(default_factory=list)     # (line, text)
    uncommented: list = field(default_factory=list)  # (line, text)


def module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def load(root: Path) -> dict[str, Module]:
    mods = {}
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        mods[module_name(root, path)] = Module(module_name(root, path), path, text.split("\n"), ast.parse(text))
    return mods


def _resolve(mod: Module, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = mod.name.split(".")
    if mod.path.name != "__init__.py":
        base = base[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _has_reason(mod: Module, node: ast.AST) -> bool:
    """A comment on the import's line, or on the line above it or above its block of imports."""
    i = node.lineno - 1
    if "#" in mod.lines[i]:
        return True
    j = i - 1
    while j >= 0 and mod.lines[j].strip().startswith(("import ", "from ")):
        if "#" in mod.lines[j]:
            return True
        j -= 1
    return j >= 0 and mod.lines[j].strip().startswith("#")


def analyse(mods: dict[str, Module]) -> None:
    for mod in mods.values():
        aliases = {}   # local name -> module, for attribute reads of private names
        functions = [n for n in ast.walk(mod.tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        inside = {id(n) for f in functions for n in ast.walk(f) if n is not f}
        for node in ast.walk(mod.tree):
            targets = []
            if isinstance(node, ast.Import):
                for alias in node.names:
                    targets.append((alias.name, None))
                    if alias.name in mods:
                        aliases[alias.asname or alias.name.split(".")[0]] = alias.name
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, node.level, node.module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in mods:
                        targets.append((sub, None))
                        aliases[alias.asname or alias.name] = sub
                    else:
                        targets.append((base, alias.name))
            else:
                continue
            for target, name in targets:
                if target in mods and target != mod.name:
                    mod.imports.add(target)
                    if name and name.startswith("_") and not name.startswith("__"):
                        mod.private.append((node.lineno, f"{name} from {target}"))
            if id(node) in inside and not _has_reason(mod, node):
                mod.uncommented.append((node.lineno, mod.lines[node.lineno - 1].strip()))
        for node in ast.walk(mod.tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and aliases[node.value.id] != mod.name):
                mod.private.append((node.lineno, f"{node.attr} of {aliases[node.value.id]}"))


def cycles(mods: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(mods[v].imports):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(mods):
        if v not in index:
            visit(v)
    return out


def sizes(mods: dict[str, Module]) -> tuple[list, list]:
    """(files over MAX_FILE_LINES, functions over MAX_FUNCTION_LINES): (module, name, lines)."""
    files, functions = [], []
    for mod in mods.values():
        n = len(mod.lines) - (1 if mod.lines and mod.lines[-1] == "" else 0)
        if n > MAX_FILE_LINES:
            files.append((mod.name, mod.path.name, n))
        for node in ast.walk(mod.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    functions.append((mod.name, node.name, length))
    return files, functions


def report(root: Path, only: list[str] | None = None, with_sizes: bool = False) -> tuple[dict, str]:
    """The problems (a dict of lists) and their printed form."""
    mods = load(root)
    analyse(mods)
    pkg = root.name

    def mine(name: str) -> bool:
        return not only or any(name == f"{pkg}.{o}" or name.startswith(f"{pkg}.{o}.") for o in only)

    found = {
        "cycles": [c for c in cycles(mods) if any(mine(m) for m in c)],
        "private": [(m.name, line, text) for m in mods.values() if mine(m.name) for line, text in m.private],
        "uncommented": [(m.name, line, text) for m in mods.values() if mine(m.name) for line, text in m.uncommented],
        "files": [], "functions": [],
    }
    if with_sizes:
        files, functions = sizes(mods)
        found["files"] = [f for f in files if mine(f[0])]
        found["functions"] = [f for f in functions if mine(f[0])]
    out = [f"{len(mods)} modules, {sum(len(m.imports) for m in mods.values())} import arrows"
           + (f" (problems shown for: {', '.join(only)})" if only else "")]
    out.append(f"cycles: {len(found['cycles'])}")
    out += ["  " + " <-> ".join(c) for c in found["cycles"]]
    out.append(f"imports of private names across modules: {len(found['private'])}")
    out += [f"  {m}:{line}: {text}" for m, line, text in found["private"]]
    out.append(f"imports inside functions without a comment: {len(found['uncommented'])}")
    out += [f"  {m}:{line}: {text}" for m, line, text in found["uncommented"]]
    if with_sizes:
        out.append(f"files over {MAX_FILE_LINES} lines: {len(found['files'])}")
        out += [f"  {m} ({p}): {n}" for m, p, n in found["files"]]
        out.append(f"functions over {MAX_FUNCTION_LINES} lines: {len(found['functions'])}")
        out += [f"  {m}.{f}: {n}" for m, f, n in found["functions"]]
    return found, "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[1] / "ttfs_symbolic"))
    parser.add_argument("--only", nargs="*", default=None, help="subpackages or modules whose problems count")
    parser.add_argument("--sizes", action="store_true", help="also list long files and functions")
    args = parser.parse_args(argv)
    found, text = report(Path(args.root).resolve(), args.only, args.sizes)
    print(text)
    return 1 if found["cycles"] or found["private"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
