"""LaTeX printing for the generated pages: SymPy expressions and numbers as the pages show them."""
from __future__ import annotations

import re

import sympy
from sympy.printing.latex import LatexPrinter


__all__ = ["tex", "slug", "tex_num", "tex_value", "tex_paren", "tex_plain", "tex_approx"]


class _Printer(LatexPrinter):
    """SymPy's LaTeX printer with the paper's names kept free.

    SymPy prints Heaviside as ``\\theta``, which is the paper's threshold: print
    it as H (the paper's eq. 3 writes a calligraphic H). The unevaluated
    ``h_inv`` of a numeric inverse prints as ``h^{-1}``.
    """

    def _print_Heaviside(self, expr, exp=None):
        out = r"\mathcal{H}\left(%s\right)" % self._print(expr.args[0])
        return out if exp is None else r"\left(%s\right)^{%s}" % (out, exp)

    def _print_h_inv(self, expr, exp=None):
        out = r"h^{-1}\left(%s\right)" % self._print(expr.args[0])
        return out if exp is None else r"\left(%s\right)^{%s}" % (out, exp)


def tex(expr) -> str:
    """LaTeX of a SymPy expression, safe inside a Markdown table (no ``|``)."""
    return _Printer().doprint(sympy.sympify(expr)).replace("|", r"\vert ")


def tex_num(value) -> str:
    """A float with 6 significant digits, deterministic."""
    v = float(value)
    if v == 0:
        return "0"
    return f"{v:.6g}"


def tex_value(expr) -> str:
    """Exact LaTeX, followed by ``\\approx`` the float when that adds anything."""
    expr = sympy.sympify(expr)
    out = tex(expr)
    if expr.is_number and not (expr.is_Integer or expr.is_infinite):
        try:
            approx = tex_num(sympy.N(expr, 20))
        except (TypeError, ValueError):
            return out
        if approx != out:
            out += r" \approx " + approx
    return out


def tex_paren(expr) -> str:
    """LaTeX of expr, in parentheses when it is a sum (an integrand)."""
    expr = sympy.sympify(expr)
    return rf"\left({tex(expr)}\right)" if expr.is_Add else tex(expr)


def tex_plain(expr) -> str:
    return str(sympy.sympify(expr))


def tex_approx(expr) -> str:
    """Plain text of a number, with ``~ float`` unless it is an integer."""
    expr = sympy.sympify(expr)
    if expr.is_Integer or not expr.is_number:
        return str(expr)
    return f"{expr} ~ {tex_num(sympy.N(expr, 20))}"


def slug(text: str, limit: int = 60) -> str:
    """A file-name-safe name from a formula: ``x*tanh(softplus(x))`` -> ``x_tanh_softplus_x``."""
    out = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:limit].strip("_")
    return out or "neuron"
