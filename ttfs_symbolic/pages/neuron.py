"""Derivation pages: a formula in, a Markdown page (LaTeX) and a Figure-2 style plot out.

``derivation_page(f, h, range=..., output_range=...)`` writes out, step by
step, what Theorem 4.1 (eq. 8-9) and Theorem 4.3 (eq. 13-14) give for one
neuron: the target function, its derivative or inverse, the substitution
``u = s/tau + a`` with ``tau = delta/(b - a)``, the integral identity
(eq. 30, 32), the constant C and the threshold theta, how the identity was
verified (the :class:`~ttfs_symbolic.symbolic.derive.ProofRecord`), and a
plot of the membrane potential through the receiving and the emitting stage
(as in the paper's Figure 2), simulated from the compiled kernels eta and
psi of :mod:`ttfs_symbolic.numeric.kernels`.

``ttfs derive`` (:mod:`ttfs_symbolic.cli.derive`) and ``scripts/gen_docs.py``
both call this module, so the command line, Python and the documentation site
show the same text. Pages are deterministic: the same input gives
byte-identical Markdown (the PNG need not be).
"""
from __future__ import annotations

import os
from pathlib import Path

import sympy

from ..symbolic.derive import InputTransform, OutputTransform, derive_input, derive_output
from ..symbolic.parse import S, X
from .dynamics_plot import companion_transforms, plot_dynamics
from .latex import tex, tex_approx, tex_num, tex_paren, tex_plain, tex_value


__all__ = [
    "tex",
    "derivation_page",
    "neuron_page",
    "derivation_summary",
    "derive_pair",
]


def _pair(value, what):
    if value is None:
        return None
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a pair [a, b], got {value!r}") from None
    return a, b


def derive_pair(f=None, h=None, range=None, output_range=None, delta=1, params=None):
    """(InputTransform or None, OutputTransform or None) as the page shows them.

    ``range`` is the sender's range of f (Theorem 4.1); ``output_range`` the
    emitting range of h (Theorem 4.3). With h alone, ``range`` may stand for
    the emitting range.
    """
    if f is None and h is None:
        raise ValueError("give an input transform f, an output transform h, or both")
    range = _pair(range, "range")
    output_range = _pair(output_range, "output_range")
    if h is not None and f is None and output_range is None:
        output_range, range = range, None
    it = ot = None
    if f is not None:
        if range is None:
            raise ValueError("the input transform f needs the sender's range [a, b]")
        it = derive_input(f, range[0], range[1], delta, params=params)
    if h is not None:
        if output_range is None:
            raise ValueError("the output transform h needs the emitting range [a, b] (output_range)")
        ot = derive_output(h, output_range[0], output_range[1], delta, params=params)
    return it, ot


def derivation_summary(it: InputTransform | None, ot: OutputTransform | None) -> str:
    """Plain-text kernels, constants and proof status (what ``ttfs derive`` prints)."""
    lines = []
    if it is not None:
        lines += [
            f"input transform (Theorem 4.1) f(x) = {tex_plain(it.f)} on the sender's range "
            f"[a, b] = [{tex_plain(it.a)}, {tex_plain(it.b)}], delta = {tex_plain(it.delta)}, "
            f"tau = delta/(b - a) = {tex_plain(it.tau)}",
            f"  eta(s) = {tex_plain(it.eta)}   for s >= 0 (0 before the input spike)",
            f"  C term per synapse (times w): f(a)/d = {tex_approx(it.const)}",
            f"  proof: {it.proof.summary()}",
        ]
    if ot is not None:
        inverse = (f"h^-1(y) = {tex_plain(ot.inverse)}" if ot.inverse is not None
                   else f"h^-1 by a monotone root finder on [{tex_num(ot.bracket[0])}, {tex_num(ot.bracket[1])}]")
        lines += [
            f"output transform (Theorem 4.3) h(x) = {tex_plain(ot.h)} on the emitting range "
            f"[a, b] = [{tex_plain(ot.a)}, {tex_plain(ot.b)}], delta = {tex_plain(ot.delta)}, "
            f"tau = delta/(b - a) = {tex_plain(ot.tau)}",
            f"  {inverse} ({ot.inverse_method}); h increasing ({ot.monotonicity} check)",
            f"  psi(s) = {tex_plain(ot.psi)}   for s in [0, delta)",
            f"  theta = h^-1(b) = {tex_approx(ot.theta)}",
            f"  proof: {ot.proof.summary()}",
        ]
    return "\n".join(lines)


def _input_section(it: InputTransform) -> list[str]:
    a, b, delta, tau, d = it.a, it.b, it.delta, it.tau, it.d
    u = sympy.Symbol("u", real=True)
    eta_u = it.derivative.subs(X, u)
    integral = sympy.Integral(it.eta, (S, 0, tau * (X - a)))
    f_a = it.f_a
    out = [
        "## Input transform (Theorem 4.1)",
        "",
        "Target function on the sender's range "
        f"$[a, b] = [{tex(a)}, {tex(b)}]$, $d = b - a = {tex(d)}$:",
        "",
        f"$$f(x) = {tex(it.f)}$$",
        "",
        "Its derivative:",
        "",
        f"$$f'(x) = {tex(it.derivative)}$$",
        "",
        "An input spike at $t_j$ in the sender's window stands for "
        r"$x_j = (T_{ref} - t_j)/\tau$ (eq. 7). The kernel is a function of the time since that "
        r"spike, $s = t - t_j$, and substitutes $u = \frac{s}{\tau} + a$ into $f'$, with the "
        r"**sender's** time constant",
        "",
        rf"$$\tau = \frac{{\delta}}{{b - a}} = {tex_value(tau)}\qquad(\delta = {tex(delta)})$$",
        "",
        "so that (eq. 8)",
        "",
        r"$$\eta(s) = \begin{cases} f'\left(\frac{s}{\tau} + a\right) = " + tex(it.eta)
        + r" & s \ge 0 \\ 0 & s < 0 \end{cases}$$",
        "",
        "### The integral identity",
        "",
        r"The receiving stage ends at the end of the sender's window, $T_{end} = T_{ref} - a\tau$, "
        r"so the kernel of an input $x$ acts for $T_{end} - t_j = \tau(x - a)$. With "
        r"$u = \frac{s}{\tau} + a$, $\mathrm{d}s = \tau\,\mathrm{d}u$, the limits $s = 0$ and "
        r"$s = \tau(x - a)$ become $u = a$ and $u = x$:",
        "",
        r"$$\frac{1}{\tau}\int_0^{\tau(x - a)} \eta(s)\,\mathrm{d}s"
        r" = \frac{1}{\tau}\int_0^{\tau(x - a)} f'\left(\frac{s}{\tau} + a\right)\mathrm{d}s"
        r" = \int_a^x f'(u)\,\mathrm{d}u = f(x) - f(a)$$",
        "",
        "Here, with the derived kernel:",
        "",
        f"$$\\frac{{1}}{{\\tau}}\\int_0^{{\\tau(x - a)}} \\eta(s)\\,\\mathrm{{d}}s = {tex(integral / tau)}"
        f" = \\int_{{{tex(a)}}}^{{x}} {tex_paren(eta_u)}\\,\\mathrm{{d}}u = {tex(it.f)} - \\left({tex_value(f_a)}\\right)$$",
        "",
        "### The constant C",
        "",
        "Each synapse adds $w_j f(a)/d$ to C (eq. 8):",
        "",
        rf"$$C = \sum_j w_j \frac{{f(a)}}{{d}},\qquad \frac{{f(a)}}{{d}} = {tex_value(it.const)}$$",
        "",
        r"Over the receiving stage the constant adds $\frac{1}{\tau}\int_{T_{recv}}^{T_{emit}} C\,"
        r"\mathrm{d}t = \frac{\delta}{\tau} C = d\,C = \sum_j w_j f(a)$, so the accumulated potential is",
        "",
        r"$$V(T_{emit}) = \sum_j w_j \left(f(x_j) - f(a)\right) + \sum_j w_j f(a) = \sum_j w_j f(x_j)"
        r"\qquad\text{(eq. 9)}$$",
        "",
        "and a silent input (value $a$, no spike) contributes exactly $w_j f(a)$, through C alone.",
        "",
    ]
    return out


def _output_section(ot: OutputTransform) -> list[str]:
    a, b, tau, d = ot.a, ot.b, ot.tau, ot.d
    hprime = sympy.diff(ot.h, X)
    out = [
        "## Output transform (Theorem 4.3)",
        "",
        f"Target function on the emitting range $[a, b] = [{tex(a)}, {tex(b)}]$, $d = {tex(d)}$:",
        "",
        f"$$h(x) = {tex(ot.h)},\\qquad h'(x) = {tex(hprime)}$$",
        "",
        f"h is increasing where the theorem needs it ({ot.monotonicity} check on "
        f"$[{tex_num(ot.bracket[0])}, {tex_num(ot.bracket[1])}]$, the preimage of $[a, b]$ widened on both sides).",
        "",
    ]
    if ot.inverse is not None:
        out += [
            "Its inverse, found **symbolically** (SymPy's real, increasing branch, checked on $(a, b]$):",
            "",
            f"$$h^{{-1}}(y) = {tex(ot.inverse)}$$",
            "",
        ]
    else:
        out += [
            "SymPy found no closed-form real, increasing branch of the inverse: $h^{-1}$ is computed "
            "**numerically**, by a monotone root finder on "
            f"$[{tex_num(ot.bracket[0])}, {tex_num(ot.bracket[1])}]$, and psi below is written with it.",
            "",
        ]
    theta_low = ot.theta_low
    low_txt = (r"$-\infty$ (h never reaches a)" if theta_low == -sympy.oo
               else f"${tex_value(theta_low)}$")
    out += [
        "With the **receiver's** time constant "
        rf"$\tau = \frac{{\delta}}{{b - a}} = {tex_value(tau)}$ (eq. 13):",
        "",
        r"$$\psi(s) = \frac{1}{\tau\,h'\left(h^{-1}\left(b - \frac{s}{\tau}\right)\right)} = "
        + tex(ot.psi) + r",\qquad s \in [0, \delta)$$",
        "",
        rf"$$\theta = h^{{-1}}(b) = {tex_value(ot.theta)}$$",
        "",
        "### The integral identity",
        "",
        r"A spike at $t = T_{emit} + \tau(b - x)$ stands for $x$ (eq. 7). Between $T_{emit}$ and $t$ the "
        r"potential rises by (substituting $y = b - \frac{s}{\tau}$ and using "
        r"$g'(y)\,h'(g(y)) = 1$ for $g = h^{-1}$, eq. 31-32)",
        "",
        r"$$\int_0^{\tau(b - x)} \psi(s)\,\mathrm{d}s = \int_x^b \frac{\mathrm{d}y}{h'(h^{-1}(y))}"
        r" = h^{-1}(b) - h^{-1}(x) = \theta - h^{-1}(x)$$",
        "",
        r"so the potential reaches $\theta$ exactly when $h^{-1}(x) = V(T_{emit})$: the spike encodes "
        r"$x = h(V(T_{emit}))$ (eq. 33-34). If $V(T_{emit}) \ge \theta$ the neuron fires at $T_{emit}$ "
        r"(value $b$); if $V(T_{emit}) < h^{-1}(a)$ = " + low_txt + r" the potential is still below "
        r"$\theta$ at $T_{end}$ and the neuron stays silent (value $a$), eq. 35. Altogether",
        "",
        r"$$x = \mathrm{clip}\left(h(V(T_{emit})), a, b\right)\qquad\text{(eq. 14)}$$",
        "",
    ]
    return out


def _proof_lines(record) -> list[str]:
    verdict = "holds" if record.holds else "FAILS"
    out = [f"- **{record.theorem}**, {record.method}: `{record.identity}` {verdict}."]
    if not getattr(record, "parts", ()):
        out.append(f"    - how: {record.detail}")
    for part in getattr(record, "parts", ()):
        out.append(f"    - `{part.statement}`: {'holds' if part.holds else 'FAILS'}, {part.method} ({part.how})")
    if record.method == "numeric":
        out.append(f"    - mpmath at {record.dps} digits on {record.points} points; largest relative error "
                   f"{record.max_error:.1e}, required below {record.tolerance:.0e}")
    return out


def derivation_page(f=None, h=None, range=None, output_range=None, delta=1, params=None, title=None,
                    plot_path=None, *, plot_link=None, paper: str = "", description: str = "",
                    aggregate: str = "sum", name: str | None = None) -> str:
    """Markdown (with LaTeX) of the derivation of one neuron; optionally the plot.

    ``f`` (Theorem 4.1) is derived on ``range`` (the sender's range), ``h``
    (Theorem 4.3) on ``output_range`` (with h alone, ``range`` may stand for
    it). ``params`` names constants of the formulas. When ``plot_path`` is
    given, the Figure-2 plot is written there and linked from the page as
    ``plot_link`` (default: its file name, i.e. the PNG sits next to the
    page). Errors of the derivations (FormulaError, RangeError, DomainError,
    MonotonicityError, all ValueError) propagate.
    """
    it, ot = derive_pair(f, h, range, output_range, delta, params)
    return _page(it, ot, title=title, plot_path=plot_path, plot_link=plot_link, paper=paper,
                 description=description, aggregate=aggregate, params=params, name=name)


def _page(it, ot, *, title=None, plot_path=None, plot_link=None, paper="", description="",
          aggregate="sum", params=None, name=None, draw=True) -> str:
    if title is None:
        parts = []
        if it is not None:
            parts.append(f"f(x) = {tex_plain(it.f)}")
        if ot is not None:
            parts.append(f"h(x) = {tex_plain(ot.h)}")
        title = "Neuron " + ", ".join(parts)
    lines = [f"# {title}", ""]
    if name:
        lines += [f"Catalogue name: `{name}`", ""]
    if description:
        lines += [description, ""]
    if paper:
        lines += [f"**Paper:** {paper}", ""]
    lines += ["| | |", "|---|---|"]
    if it is not None:
        lines.append(f"| input transform | $f(x) = {tex(it.f)}$ on the sender's range "
                     f"$[{tex(it.a)}, {tex(it.b)}]$ |")
    if ot is not None:
        lines.append(f"| output transform | $h(x) = {tex(ot.h)}$ on the emitting range "
                     f"$[{tex(ot.a)}, {tex(ot.b)}]$ |")
    delta = (it or ot).delta
    lines.append(rf"| time step | $\delta = {tex(delta)}$ |")
    if params:
        shown = ", ".join(f"`{k} = {v!r}`" if not isinstance(v, str) else f"`{k} = {v}`"
                          for k, v in sorted(params.items()))
        lines.append(f"| parameters | {shown} |")
    if it is not None:
        lines.append(rf"| kernel | $\eta(s) = {tex(it.eta)}$ for $s \ge 0$ |")
        lines.append(f"| C per synapse | $w\\,f(a)/d = w \\cdot \\left({tex_value(it.const)}\\right)$ |")
    if ot is not None:
        lines.append(rf"| kernel | $\psi(s) = {tex(ot.psi)}$ on $[0, \delta)$ |")
        lines.append(rf"| threshold | $\theta = {tex_value(ot.theta)}$ |")
    proofs = [t.proof for t in (it, ot) if t is not None]
    lines.append("| proof | " + "; ".join(f"{p.theorem}: {p.method}" for p in proofs) + " |")
    lines.append("")
    if aggregate == "max":
        lines += [
            "!!! note \"Not a sum of kernels\"",
            "    This neuron's aggregate is the earliest input spike, not a sum of kernels: it fires at "
            "its first input, so it emits $\\max_j x_j$ (Appendix C.2, layer 0). The transforms below "
            "are the identity ones of its definition.",
            "",
        ]
    if it is not None:
        lines += _input_section(it)
    if ot is not None:
        lines += _output_section(ot)
    if it is not None and ot is not None and aggregate == "sum":
        lines += [
            "## The whole neuron",
            "",
            r"$$x_{out} = \mathrm{clip}\left(h(V), a', b'\right) = "
            r"\mathrm{clip}\left(" + tex(ot.h.subs(X, sympy.Symbol("V", real=True)))
            + rf", {tex(ot.a)}, {tex(ot.b)}\right),\qquad V = \sum_j w_j f(x_j)$$",
            "",
            "with $[a', b']$ the emitting range and $f$ derived on the sender's range.",
            "",
        ]
    lines += ["## How it was verified", ""]
    for p in proofs:
        lines += _proof_lines(p)
    lines.append("")
    if plot_path is not None:
        _, _, note = companion_transforms(it, ot)
        if draw:
            plot_dynamics(it, ot, plot_path, title=title, aggregate=aggregate)
        link = plot_link or Path(plot_path).name
        lines += [
            "## Membrane potential",
            "",
            f"![membrane potential]({link})",
            "",
        ]
        if aggregate == "max":
            lines += ["Input spikes in the sender's window and the output spike one window later, at the "
                      "earliest input's position: the maximum.", ""]
        else:
            lines += [
                "As in the paper's Figure 2: one input of weight 1 at a time (values listed in the legend "
                "with the value the output spike encodes), simulated from the compiled kernels. "
                r"Receiving stage $[T_{recv}, T_{emit})$: $V(t) = \frac{1}{\tau}\left(\int_0^{t - t_j}"
                r"\eta(s)\,\mathrm{d}s + C\,(t - T_{recv})\right)$; emitting stage $[T_{emit}, T_{end})$: "
                r"$V(T_{emit}) + \int_0^{t - T_{emit}} \psi(s)\,\mathrm{d}s$ up to the threshold $\theta$ "
                "(dashed); a star marks the output spike, a bar the input spike.",
                "",
            ]
            if note:
                lines += [note, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def neuron_page(neuron, plot_path=None, plot_link=None, draw: bool = True) -> str:
    """The derivation page of a catalogue :class:`~ttfs_symbolic.catalogue.NeuronDef`.

    With ``plot_path`` the page links the plot (``plot_link``, default its
    file name) and, unless ``draw=False``, draws it there; the Markdown is the
    same either way.
    """
    it = neuron.input_transform()
    ot = neuron.output_transform()
    return _page(it, ot, title=neuron.title or neuron.name, plot_path=plot_path, plot_link=plot_link,
                 paper=neuron.paper, description=neuron.description, aggregate=neuron.aggregate,
                 params=neuron.params or None, name=neuron.name, draw=draw)


def proof_methods(neuron) -> str:
    """'symbolic' / 'numeric' per transform of a catalogue neuron, e.g. ``f: symbolic, h: numeric``."""
    return f"f: {neuron.input_transform().proof.method}, h: {neuron.output_transform().proof.method}"


def neuron_index(neurons) -> str:
    """``docs/neurons/index.md``: the catalogue as a table (name, title, f, h, paper, proof method)."""
    lines = ["# Neuron catalogue", "",
             "<!-- generated by scripts/gen_docs.py: do not edit -->", "",
             "Every definition in `neurons/` (TOML, one formula each), derived with Theorem 4.1 (f) on its "
             "`range` and Theorem 4.3 (h) on its `output_range`. Each page shows the derivation step by "
             "step, how it was verified, and the membrane potential (Figure 2). Add a neuron by adding a "
             "file; see [Define a neuron](../guide/define.md).", "",
             "| neuron | title | f | h | paper | proof |", "|---|---|---|---|---|---|"]
    for nd in neurons:
        lines.append(f"| [`{nd.name}`]({nd.name}.md) | {nd.title} | `{nd.f}` | `{nd.h}` | {nd.paper or '—'} | "
                     f"{proof_methods(nd)} |")
    return "\n".join(lines) + "\n"


def write_derivation(page_path, f=None, h=None, range=None, output_range=None, delta=1, params=None,
                     title=None, plot_path=None, plot: bool = True):
    """Write the page (and its PNG next to it, or at ``plot_path``); returns (page, png or None, it, ot)."""
    page_path = Path(page_path)
    it, ot = derive_pair(f, h, range, output_range, delta, params)
    png = None
    link = None
    if plot:
        png = Path(plot_path) if plot_path is not None else page_path.with_suffix(".png")
        link = os.path.relpath(png.resolve(), page_path.resolve().parent).replace(os.sep, "/")
    text = _page(it, ot, title=title, plot_path=png, plot_link=link, params=params)
    page_path.write_text(text)
    return page_path, png, it, ot
