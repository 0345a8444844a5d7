"""The results of the property checks: :class:`CheckResult`, :class:`VerifyReport` and the checks' names.

No hypothesis here: importing :mod:`ttfs_symbolic.verify` for these types does not load it.
"""
from __future__ import annotations

from dataclasses import dataclass, field


# names of the checks (CheckResult.name)
POTENTIAL = "accumulated potential"
POTENTIAL_SUBRANGES = "accumulated potential, sub-ranges"
CLIPPING = "clipping"
ORDER = "order and encoding"
KERNEL = "kernel convergence"
MAX = "max aggregate"


@dataclass
class CheckResult:
    """One property: whether it held on every example tried, with a counterexample if not.

    ``measured`` holds what the check measured (largest errors, per p for the
    kernel convergence).
    """

    name: str
    holds: bool
    tried: int
    detail: str
    counterexample: dict | None = None
    measured: dict = field(default_factory=dict)


@dataclass
class VerifyReport:
    """All checks of one neuron; ``str(report)`` is a readable table."""

    neuron: str
    results: list[CheckResult]
    description: str = ""

    @property
    def passed(self) -> bool:
        return all(r.holds for r in self.results)

    def __getitem__(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"no check {name!r} in this report; checks: {', '.join(r.name for r in self.results)}")

    def __str__(self) -> str:
        head = f"neuron {self.neuron}" + (f": {self.description}" if self.description else "")
        width = max([len(r.name) for r in self.results] + [5])
        lines = [head, "", f"{'check':<{width}}  result  tried  detail", f"{'-' * width}  ------  -----  ------"]
        for r in self.results:
            lines.append(f"{r.name:<{width}}  {'holds' if r.holds else 'FAILS':<6}  {r.tried:>5}  {r.detail}")
        failed = [r for r in self.results if not r.holds and r.counterexample is not None]
        if failed:
            lines += ["", "counterexamples:"]
            for r in failed:
                lines.append(f"  {r.name}:")
                for key, value in r.counterexample.items():
                    lines.append(f"    {key} = {value}")
        n_ok = sum(r.holds for r in self.results)
        lines += ["", f"{'PASSED' if self.passed else 'FAILED'}: {n_ok} of {len(self.results)} checks hold"]
        return "\n".join(lines)
