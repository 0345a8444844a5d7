"""``ttfs derive`` and ``ttfs verify``: define a neuron from a formula, check a definition.

``ttfs derive "x*tanh(softplus(x))" --range -4 4`` applies Theorem 4.1
(eq. 8-9) to f on the sender's range; ``ttfs derive --output "log(x)" --range
0.5 4`` applies Theorem 4.3 (eq. 13-14) to h on the emitting range; both
together give a whole neuron (``--output-range`` then names the emitting
range). It prints the kernels eta / psi, the constant of C and the threshold
theta with the proof status, and writes the derivation page
(:func:`ttfs_symbolic.pages.neuron.derivation_page`) with its Figure-2 plot.

``ttfs verify DEFINITION`` runs the property checks of
:func:`ttfs_symbolic.verify.check_neuron` on a catalogue name or a TOML file:
exit 0 when every property holds, 1 when one fails (its counterexample is
printed), 2 for bad input.

``ttfs verify --self-test`` checks the checker: it runs the corpus of broken
neurons (:mod:`ttfs_symbolic.verify.broken`) through verify and prints, per broken
neuron, its fault and the check that rejected it; exit 1 when a broken
neuron is accepted, or rejected by another check (or for another fault) than
the one that names its fault, or when the proof record of a broken derivation
says it holds.

On a terminal, a derivation that runs longer than :data:`PROGRESS_SECONDS` (a numeric-inverse h of
three pieces takes one to two minutes) shows which step it is in, on one status line of stderr that is
cleared when it ends (:func:`step_progress`); piped or captured output gets no such line.

Bad input (a malformed or unsafe formula, a missing or empty range, a
non-monotone h, a missing file) ends in one line on stderr and exit code 2,
never a traceback: the dispatcher (:mod:`ttfs_symbolic.cli`) prints every
``ValueError``, and this module turns the other errors a user can cause into
one.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import math
import re
import shutil
import sys
import threading
import time
from pathlib import Path

from ..symbolic import limits
from .main import HELP

__all__ = ["register", "run_derive", "run_verify", "run_self_test", "parse_param", "step_progress",
           "PROGRESS_SECONDS"]

#: how often (seconds) the status line of a running derivation is written, the first time included
PROGRESS_SECONDS = 5.0

# argparse (3.11) treats "-1e-3" or "-.5e2" as an option; accept any float literal as a number
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-inf$")


def _one_line_errors(parser: argparse.ArgumentParser, prog: str) -> None:
    """Make argparse errors of this subparser one line on stderr (exit 2), without the usage block."""

    def error(message, _prog=prog):
        print(f"{_prog}: error: {message} (see '{_prog} --help')", file=sys.stderr)
        sys.exit(2)

    parser.error = error  # type: ignore[method-assign]
    if hasattr(parser, "_negative_number_matcher"):
        parser._negative_number_matcher = _NEGATIVE_NUMBER


def register(subparsers) -> None:
    """Add the ``derive`` and ``verify`` subcommands to the ``ttfs`` dispatcher."""
    p = subparsers.add_parser(
        "derive", help=HELP["derive"],
        description="Derive the input transform kernel eta and the constant C of f (Theorem 4.1, eq. 8) "
                    "or the output transform kernel psi and threshold theta of h (Theorem 4.3, eq. 13), "
                    "print them with the proof status and write a Markdown page with a plot of the "
                    "membrane potential (Figure 2).")
    p.add_argument("formula", nargs="?", default=None,
                   help="input transform f(x), e.g. 'x*tanh(softplus(x))' (Theorem 4.1)")
    p.add_argument("--output", metavar="H", default=None,
                   help="output transform h(x), e.g. 'log(x)' (Theorem 4.3); alone, --range is its emitting range")
    p.add_argument("--range", nargs=2, type=float, metavar=("A", "B"), default=None,
                   help="range [a, b] (required): the sender's range of f, or the emitting range of h given alone")
    p.add_argument("--output-range", nargs=2, type=float, metavar=("A", "B"), default=None,
                   help="emitting range of h, needed when f is given too")
    p.add_argument("--delta", type=float, default=1.0, help="time step delta of a window (default 1)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a constant of the formula: a number (eps=1e-5) or a formula in a and b (c='1 - a'); "
                        "repeatable")
    p.add_argument("--name", default=None, help="name of the page (default: from the formula)")
    p.add_argument("--title", default=None, help="title of the page")
    p.add_argument("--out", default=None, metavar="FILE.md", help="Markdown page to write (default: NAME.md)")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="where to write the plot (default: the page's path with .png)")
    p.add_argument("--no-plot", action="store_true", help="write no plot")
    p.add_argument("--no-page", action="store_true",
                   help="write no page (with --plot FILE.png: the plot alone)")
    p.set_defaults(func=run_derive)
    _one_line_errors(p, "ttfs derive")

    v = subparsers.add_parser(
        "verify", help=HELP["verify"],
        description="Run the property checks of ttfs_symbolic.verify.check_neuron on a neuron "
                    "definition. Exit 0: every property holds; 1: a property failed (the "
                    "counterexample is printed); 2: bad input. With --self-test, check the checker "
                    "instead: every broken neuron of ttfs_symbolic.verify.broken must be rejected by the "
                    "check that names its fault (exit 1 if one is not).")
    v.add_argument("definition", nargs="?", default=None,
                   help="a catalogue name (e.g. gelu) or a path to a TOML definition")
    v.add_argument("--self-test", action="store_true",
                   help="run the corpus of broken neurons through the checks instead of checking a definition")
    v.add_argument("--max-examples", type=int, default=50, help="examples per property (default 50)")
    v.add_argument("--seed", type=int, default=None,
                   help="seed of the property search (default: random; 0 with --self-test)")
    v.set_defaults(func=run_verify)
    _one_line_errors(v, "ttfs verify")


def parse_param(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` -> (name, float or formula string in a, b); ValueError otherwise."""
    if "=" not in text:
        raise ValueError(f"--param {text!r}: expected NAME=VALUE, e.g. eps=1e-5")
    name, value = (part.strip() for part in text.split("=", 1))
    if not name.isidentifier():
        raise ValueError(f"--param {text!r}: {name!r} is not a valid name")
    if not value:
        raise ValueError(f"--param {text!r}: no value")
    try:
        num = float(value)
    except ValueError:
        return name, value  # a formula in a and b, parsed by the whitelist parser
    if not math.isfinite(num):
        raise ValueError(f"--param {text!r}: the value must be finite")
    return name, num


@contextlib.contextmanager
def step_progress(stream=None, every: float | None = None):
    """While the block runs, every ``every`` seconds (:data:`PROGRESS_SECONDS`), write the derivation step
    this thread is in (:func:`ttfs_symbolic.symbolic.limits.active_steps`, the innermost) and the time so
    far to ``stream`` (stderr) as one status line, rewritten in place and cleared at the end. Only when the
    stream is a terminal: a pipe, a file or a test's capture gets nothing, so a failing command's stderr
    is still its one line."""
    stream = sys.stderr if stream is None else stream
    every = PROGRESS_SECONDS if every is None else every
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()):
        yield
        return
    tid, start, done, shown = threading.get_ident(), time.monotonic(), threading.Event(), []

    def tick():
        while not done.wait(every):
            running = limits.active_steps(tid)
            if running:   # cut to the terminal's width: a wrapped line would not be cleared by the next
                width = shutil.get_terminal_size().columns - 1
                stream.write("\r\033[K" + f"  {time.monotonic() - start:.0f} s: {running[-1]}"[:width])
                stream.flush()
                shown.append(True)

    thread = threading.Thread(target=tick, name="ttfs-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if shown:
            stream.write("\r\033[K")
            stream.flush()


def _derive_errors(exc: Exception, what: str) -> ValueError:
    """Any failure of a derivation on user input, as one line."""
    if isinstance(exc, ValueError):
        return exc
    if isinstance(exc, ArithmeticError):
        return ValueError(f"{what}: {exc}")
    return ValueError(f"{what}: {type(exc).__name__}: {exc}")


def run_derive(args) -> int:
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..pages import neuron as pages
    from ..pages.latex import slug

    f, h = args.formula, args.output
    f, h = (None if t is None else t.strip() for t in (f, h))   # " -x**2": see cli.protect_formulas
    if f is None and h is None:
        raise ValueError("give a formula f (input transform) and/or --output H (output transform)")
    if args.range is None:
        raise ValueError("--range A B is required: the sender's range of f, or the emitting range of h")
    if not args.delta > 0 or not math.isfinite(args.delta):
        raise ValueError(f"--delta must be a positive number, got {args.delta}")
    pairs = [parse_param(p) for p in args.param]
    twice = sorted(n for n, k in collections.Counter(n for n, _ in pairs).items() if k > 1)
    if twice:   # the last would win silently
        raise ValueError(f"--param {', '.join(twice)} given more than once: give each parameter one value")
    params = dict(pairs) or None
    unused = [n for n, _ in pairs if not any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", t)
                                             for t in (f or "", h or ""))]
    if unused:   # a misspelt name would leave the formula's own symbol unset, or the value unused
        raise ValueError(f"--param {', '.join(unused)}: no formula given uses {'it' if len(unused) == 1 else 'them'}")
    ignored = [o for o, v in (("--out", args.out), ("--name", args.name), ("--title", args.title)) if v is not None]
    if args.no_page and ignored:
        raise ValueError(f"{', '.join(ignored)} name{'s' if len(ignored) == 1 else ''} the page, which --no-page "
                         "does not write")
    output_range = args.output_range
    if f is not None and h is not None and output_range is None:
        raise ValueError("with both f and --output H, give --output-range A B: the emitting range of h")
    if output_range is not None and (f is None or h is None):
        raise ValueError("--output-range applies only when both f and --output H are given")

    what = "cannot derive " + ", ".join(x for x in (f and f"f(x) = {f}", h and f"h(x) = {h}") if x)
    name = args.name or slug(f if f is not None else "output_" + h)
    if args.name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", args.name):
        raise ValueError(f"--name {args.name!r}: use letters, digits, '_', '-' and '.' only")
    page = None if args.no_page else (Path(args.out) if args.out else Path(f"{name}.md"))
    if page is not None and page.suffix.lower() != ".md":
        raise ValueError(f"--out {page}: the page must be a .md file")
    if page is not None and page.exists() and page.is_dir():
        raise ValueError(f"--out {page} is a folder")
    targets = [(w, p) for w, p in (("--out", page), ("--plot", None if args.plot is None else Path(args.plot)))
               if p is not None]
    for option, path in targets:
        if any(q.exists() and not q.is_dir() for q in (path.parent, *path.parent.parents)):
            raise ValueError(f"{option} {path}: a file stands where its folder should be")
    try:
        with step_progress():
            it, ot = pages.derive_pair(f, h, args.range, output_range, args.delta, params)
    except Exception as exc:  # noqa: BLE001  every derivation error here comes from user input
        raise _derive_errors(exc, what) from None
    print(pages.derivation_summary(it, ot))
    if args.no_page:
        if args.plot is None or args.no_plot:
            return 0
        return _plot_only(it, ot, Path(args.plot), args.title)
    try:
        for _, path in targets:   # the derivation succeeded: make the folders of what is written
            path.parent.mkdir(parents=True, exist_ok=True)
        page, png, _, _ = pages.write_derivation(page, f, h, args.range, output_range, args.delta, params,
                                                  title=args.title, plot_path=args.plot,
                                                  plot=not args.no_plot)
    except OSError as exc:
        raise ValueError(f"cannot write the page: {exc.strerror or exc}: {exc.filename or page}") from None
    except Exception as exc:  # noqa: BLE001  e.g. a kernel the plot cannot evaluate on this range
        raise _derive_errors(exc, f"cannot write the page {page}") from None
    print(f"wrote {page}" + (f" and {png}" if png is not None else ""))
    return 0


def _plot_only(it, ot, png: Path, title) -> int:
    """``--no-page --plot FILE.png``: the Figure-2 plot alone (an asked-for file is never skipped)."""
    # start-up time: a subcommand loads only what it runs (matplotlib among it)
    from ..pages.dynamics_plot import plot_dynamics

    try:
        png.parent.mkdir(parents=True, exist_ok=True)
        plot_dynamics(it, ot, png, title=title or "")
    except OSError as exc:
        raise ValueError(f"cannot write the plot: {exc.strerror or exc}: {exc.filename or png}") from None
    print(f"wrote {png}")
    return 0


def _load(definition: str):
    """A NeuronDef from a catalogue name or a TOML path, errors as ValueError."""
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..catalogue import get, load_definition

    looks_like_path = definition.endswith(".toml") or "/" in definition or "\\" in definition
    try:
        if looks_like_path or Path(definition).is_file():
            return load_definition(definition)
        return get(definition)
    except KeyError as exc:
        raise ValueError(exc.args[0] if exc.args else f"no neuron {definition!r}") from None
    except OSError as exc:
        raise ValueError(f"cannot read {definition}: {exc.strerror or exc}") from None


def _hypothesis_home_outside_cwd() -> None:
    """hypothesis keeps a cache (``.hypothesis/constants``) in the current folder even without an example
    database; the command line's runs keep it in a private temporary folder removed at exit, unless
    ``HYPOTHESIS_STORAGE_DIRECTORY`` names one."""
    # start-up time: a subcommand loads only what it runs
    import atexit
    import os
    import shutil
    import tempfile

    # hypothesis loads only where the property checks run
    from hypothesis.configuration import set_hypothesis_home_dir

    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        home = tempfile.mkdtemp(prefix="ttfs-hypothesis-")
        atexit.register(shutil.rmtree, home, True)
        set_hypothesis_home_dir(home)


def run_verify(args) -> int:
    try:
        # start-up time: a subcommand loads only what it runs (torch among it)
        from ..verify import check_neuron
    except ImportError as exc:
        raise ValueError(f"the property checks are not available: {exc}") from None
    if args.max_examples < 1:
        raise ValueError(f"--max-examples must be at least 1, got {args.max_examples}")
    _hypothesis_home_outside_cwd()
    if getattr(args, "self_test", False):
        if args.definition is not None:
            raise ValueError(f"--self-test checks the checker on its own corpus; do not give a definition "
                             f"({args.definition!r})")
        return run_self_test(args)
    if args.definition is None:
        raise ValueError("give a definition (a catalogue name or a TOML file), or --self-test")
    neuron = _load(args.definition)
    try:
        with step_progress():
            report = check_neuron(neuron, max_examples=args.max_examples, seed=args.seed)
    except Exception as exc:  # noqa: BLE001  a definition's formula or range is user input
        raise _derive_errors(exc, f"cannot check {args.definition}") from None
    print(report)  # the table, and the counterexample of every failed property
    if report.passed:
        return 0
    failed = [r.name for r in report.results if not r.holds]
    print(f"ttfs verify: {len(failed)} of {len(report.results)} properties failed: {', '.join(failed)}",
          file=sys.stderr)
    return 1


def _self_test_row(entry, result, ok: bool, proof_ok) -> list[str]:
    """Two or three lines for one broken neuron: its fault, the check that rejected it (or what went wrong)."""
    lines = [f"{'ok  ' if ok and proof_ok is not False else 'FAIL'} {entry.name}: {entry.fault}"]
    detail = " ".join(result.detail.split())
    detail = detail if len(detail) <= 110 else detail[:107] + "..."
    if ok:
        lines.append(f"     rejected by '{result.name}': {detail}")
    elif result.holds:
        lines.append(f"     ACCEPTED by '{result.name}' (it must reject it, naming '{entry.words}')")
    elif result.name != entry.check:
        lines.append(f"     rejected by '{result.name}', expected '{entry.check}': {detail}")
    else:
        lines.append(f"     rejected by '{result.name}' for another fault (expected '{entry.words}'): {detail}")
    if proof_ok is not None:
        lines.append("     proof record of the broken derivation: " +
                     ("FAILS, as it must" if proof_ok else "HOLDS (it must fail)"))
    return lines


def run_self_test(args) -> int:
    """``ttfs verify --self-test``: every broken neuron rejected by the check that names its fault?"""
    # start-up time: a subcommand loads only what it runs (torch among it)
    from ..verify.broken import self_test

    seed = 0 if args.seed is None else args.seed
    report = self_test(max_examples=args.max_examples, seed=seed)
    print(f"self-test of ttfs verify: {len(report.rows)} broken neurons, {args.max_examples} examples per "
          f"check, seed {seed}")
    print()
    for row in report.rows:
        print("\n".join(_self_test_row(*row)))
    bad = [(entry, result) for entry, result, ok, proof_ok in report.rows if not (ok and proof_ok is not False)]
    n = len(report.rows)
    print()
    print(f"{'PASSED' if report.passed else 'FAILED'}: {n - len(bad)} of {n} broken neurons rejected by the "
          "check that names their fault")
    if not bad:
        return 0
    names = ", ".join(f"{entry.name} (check '{entry.check}')" for entry, _ in bad)
    print(f"ttfs verify --self-test: {len(bad)} of {n} broken neurons not rejected as they must be: {names}",
          file=sys.stderr)
    return 1
