"""Generated documentation: up to date, paper check verdicts, and the site builds with --strict.

The Markdown regeneration (``scripts/gen_docs.py --no-png``) and ``mkdocs
build --strict`` run as two subprocesses started together (two cores), each
test waiting for the one it needs.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sympy

from ttfs_symbolic.pages import papercheck as pc
from ttfs_symbolic.pages import readings as rd
from ttfs_symbolic.catalogue import load_catalogue
from ttfs_symbolic.symbolic.derive import derive_input, derive_output

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REGEN = "python scripts/gen_docs.py"
HAVE_MKDOCS = importlib.util.find_spec("mkdocs") is not None and importlib.util.find_spec("mkdocstrings") is not None


class _Job:
    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._out = None

    def result(self, timeout=900):
        if self._out is None:
            self._out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, self._out


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    gen_dir = tmp_path_factory.mktemp("generated")
    site = tmp_path_factory.mktemp("site")
    out = {"gen_dir": gen_dir,
           "gen": _Job([sys.executable, "scripts/gen_docs.py", "--no-png", "--quiet", "--out", str(gen_dir)])}
    if HAVE_MKDOCS:
        out["mkdocs"] = _Job([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml",
                              "-d", str(site)])
    yield out
    for job in out.values():
        if isinstance(job, _Job) and job.proc.poll() is None:
            job.proc.kill()


def _generated(jobs) -> Path:
    rc, log = jobs["gen"].result()
    assert rc == 0, f"scripts/gen_docs.py failed:\n{log}"
    return jobs["gen_dir"]


def test_generated_pages_are_up_to_date(jobs):
    gen = _generated(jobs)
    files = sorted(p.relative_to(gen) for p in gen.rglob("*.md"))
    assert Path("paper_check.md") in files and Path("neurons/index.md") in files
    stale = []
    for rel in files:
        committed = DOCS / rel
        if not committed.is_file() or committed.read_text() != (gen / rel).read_text():
            stale.append(str(Path("docs") / rel))
    # pages of neurons no longer in the catalogue
    extra = sorted(str(p.relative_to(ROOT)) for p in (DOCS / "neurons").glob("*.md")
                   if not (gen / "neurons" / p.name).is_file())
    assert not stale and not extra, (
        f"generated documentation is out of date ({', '.join(stale + extra)}): run `{REGEN}` and commit the result")


def test_every_catalogue_neuron_has_a_page_a_plot_and_a_nav_entry():
    nav = (ROOT / "mkdocs.yml").read_text()
    for name in load_catalogue():
        assert (DOCS / "neurons" / f"{name}.md").is_file(), f"no page for {name}: run `{REGEN}`"
        assert (DOCS / "neurons" / f"{name}.png").is_file(), f"no plot for {name}: run `{REGEN}`"
        assert f"neurons/{name}.md" in nav, f"add neurons/{name}.md to the nav of mkdocs.yml"


@pytest.mark.skipif(not HAVE_MKDOCS, reason="mkdocs / mkdocstrings not installed (pip install -e '.[docs]')")
def test_mkdocs_build_strict(jobs):
    rc, log = jobs["mkdocs"].result()
    assert rc == 0, f"mkdocs build --strict failed:\n{log[-4000:]}"


# --------------------------------------------------------------------------
# the paper check
# --------------------------------------------------------------------------

def test_paper_check_reports_a_verdict_per_equation(jobs):
    covered = {r.equation for r in pc.READINGS}
    assert set(pc.EQUATIONS) <= covered
    text = (_generated(jobs) / "paper_check.md").read_text()
    rows = re.findall(r"^\| (\d+|C\.1)[^|]* \| [^|]+ \| (equal|differs)[^|]* \|", text, flags=re.M)
    seen = {eq for eq, _ in rows}
    assert set(pc.EQUATIONS) <= seen
    assert len(rows) == len(pc.READINGS)
    for eq in pc.EQUATIONS:
        assert f"## Eq. {eq}:" in text


def _case(reading_key, index=0):
    reading = next(r for r in pc.READINGS if r.key == reading_key)
    v = rd.case_values(reading.cases[index])
    return reading, v, reading.derived(v)


def test_wrong_transcription_is_reported_as_different():
    reading, v, derived = _case("26", 1)  # eta of layer II: exp(s/tau1 + a1), case a1 = 1/2
    assert v[rd.a1] != 0
    right = sympy.exp(rd.s / pc.tau1 + rd.a1).subs(v)
    assert pc.compare(right, derived, reading.domain(v)).equal
    # the same function written differently is still equal
    assert pc.compare((sympy.exp(rd.a1) * sympy.exp(rd.s / pc.tau1)).subs(v), derived, reading.domain(v)).equal
    # a sign error, a wrong time constant, and a relative error of 1e-12 (far above the 1e-20
    # tolerance of the 30-digit comparison) are all reported
    for wrong in (sympy.exp(rd.s / pc.tau1 - rd.a1), sympy.exp(rd.s * pc.tau1 + rd.a1),
                  (1 + sympy.Rational(1, 10 ** 12)) * sympy.exp(rd.s / pc.tau1 + rd.a1)):
        verdict = pc.compare(wrong.subs(v), derived, reading.domain(v))
        assert not verdict.equal and verdict.text() == "differs"
        assert verdict.at and float(verdict.difference_value) != 0


def test_known_verdicts():
    """Facts checked by hand: eq. 22's C is one synapse's share, eq. 27's threshold has the wrong sign,
    eq. 36 matches with T_ref - T_emit = b tau."""
    results = {r.key: pc.run_reading(r) for r in pc.READINGS if r.key in ("22/C", "22/C1", "27/theta", "36/psi")}
    assert not results["22/C"].equal and results["22/C1"].equal
    th = results["27/theta"]
    assert not th.equal
    for cr in th.cases:  # printed b - c^2, derived b + c^2: difference -2 c^2
        c = 1 - sympy.sympify(cr.case["a0"])
        assert sympy.simplify(cr.verdict.difference + 2 * c ** 2) == 0
    assert results["36/psi"].equal


def test_compare_numeric_route_and_domain_errors():
    # equal, but only after combining logarithms, which needs positivity: numeric route or symbolic
    x1, x2 = rd.x1, rd.x2
    v = pc.compare(sympy.log(x1 * x2 + 3 * x1 + 3 * x2 + 9), sympy.log(x1 + 3) + sympy.log(x2 + 3),
                   {x1: (-2, 2), x2: (-2, 2)})
    assert v.equal and v.method in ("symbolic", "numeric")
    with pytest.raises(ValueError, match="no sampling interval"):
        pc.compare(x1, x2, {x1: (0, 1)})


def test_derived_forms_come_from_the_library():
    """The derived side is what derive_input / derive_output give, not a copy of the printed form."""
    reading, v, derived = _case("23/eta")
    assert derived == derive_input("1/sqrt(x + eps)", v[rd.a1], v[rd.b1], v[rd.delta],
                                   params={"eps": v[rd.eps]}).eta
    reading, v, derived = _case("36/theta")
    assert derived == derive_output("exp(x)", v[rd.a2], v[rd.b2], v[rd.delta]).theta
