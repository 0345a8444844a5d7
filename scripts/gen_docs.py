#!/usr/bin/env python
"""Regenerate the generated documentation pages: one command, all of them.

    python scripts/gen_docs.py              # docs/neurons, docs/constructions, docs/paper_check.md (+ PNGs)
    python scripts/gen_docs.py --no-png     # Markdown only (what tests/pages/test_docs.py compares)
    python scripts/gen_docs.py --out DIR    # write into DIR instead of docs/

Writes ``neurons/<name>.md`` and ``neurons/<name>.png`` for every catalogue
neuron (:func:`ttfs_symbolic.pages.neuron.neuron_page`), ``neurons/index.md``,
``constructions/{softmax,layernorm,multiplication}.md``
(:func:`ttfs_symbolic.pages.constructions.construction_pages`) and ``paper_check.md``
(:func:`ttfs_symbolic.pages.papercheck.paper_check_page`). Stale neuron pages (of
definitions no longer in the catalogue) are removed.

The derivations bound each SymPy step by a time limit and fall back to a
numeric route when it runs out; here the limit is raised
(``SYMPY_SECONDS``) so that the pages do not depend on the speed of the
machine that generates them.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: time limit of one SymPy step while generating the docs (limits.SYMPY_SECONDS is 8 s by default;
#: the slowest catalogue step takes ~4 s on 2 cores)
SYMPY_SECONDS = 120.0


def generate(out: Path, png: bool = True, log=print) -> list[Path]:
    """Write every generated page under ``out``; returns the Markdown files written."""
    from ttfs_symbolic.pages import constructions, neuron, papercheck
    from ttfs_symbolic.catalogue import load_catalogue
    from ttfs_symbolic.symbolic import limits

    limits.SYMPY_SECONDS = SYMPY_SECONDS
    written = []
    neurons_dir = out / "neurons"
    cons_dir = out / "constructions"
    neurons_dir.mkdir(parents=True, exist_ok=True)
    cons_dir.mkdir(parents=True, exist_ok=True)
    catalogue = load_catalogue()
    keep = {"index.md"}
    for name, nd in catalogue.items():
        t0 = time.time()
        page = neurons_dir / f"{name}.md"
        page.write_text(neuron.neuron_page(nd, plot_path=neurons_dir / f"{name}.png", draw=png))
        keep |= {page.name, f"{name}.png"}
        written.append(page)
        log(f"  neurons/{name}.md{' + .png' if png else ''}  ({time.time() - t0:.1f} s)")
    for stale in sorted(neurons_dir.iterdir()):
        if stale.suffix in (".md", ".png") and stale.name not in keep:
            stale.unlink()
            log(f"  removed stale {stale.relative_to(out)}")
    index = neurons_dir / "index.md"
    index.write_text(neuron.neuron_index(catalogue.values()))
    written.append(index)
    for fname, text in constructions.construction_pages().items():
        (cons_dir / fname).write_text(text)
        written.append(cons_dir / fname)
        log(f"  constructions/{fname}")
    t0 = time.time()
    check = out / "paper_check.md"
    check.write_text(papercheck.paper_check_page())
    written.append(check)
    log(f"  paper_check.md  ({time.time() - t0:.1f} s)")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="docs folder (default: docs/)")
    parser.add_argument("--no-png", action="store_true", help="Markdown only, no plots")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.time()
    files = generate(args.out, png=not args.no_png, log=(lambda *a: None) if args.quiet else print)
    if not args.quiet:
        print(f"wrote {len(files)} pages under {args.out} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
