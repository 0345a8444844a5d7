"""The neuron catalogue: one TOML definition per neuron in ``neurons/``.

A definition is what a user could have written: an input transform ``f``
(Theorem 4.1), an output transform ``h`` (Theorem 4.3), the ranges it is
usually derived on, optional ``params`` (numbers, or formulas in ``a`` and
``b`` such as ``c = "1 - a"``) and where the paper has it. Adding a neuron
means adding a file, not code::

    name = "mish"
    f = "x * tanh(softplus(x))"
    h = "x"
    range = [-4.0, 4.0]
    output_range = [-0.4, 4.0]

``aggregate = "max"`` marks the one neuron that is not a sum of kernels
(softmax layer 0 fires at its earliest input).

Where the catalogue is read from (:func:`catalogue_dir`): the folder named by
``TTFS_NEURONS``; else the repository's ``neurons/`` in a source checkout or
an editable install; else the copy a regular install carries in
``ttfs_symbolic/neurons_data/`` (setup.py copies ``neurons/`` there at build
time). Each folder is parsed once and cached (:func:`load_catalogue`).
"""
from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .symbolic.derive import InputTransform, OutputTransform, derive_input, derive_output

#: the repository's top-level ``neurons/``: the catalogue a user edits, read in a source checkout
#: (and an editable install)
SOURCE_DIR = Path(__file__).resolve().parents[1] / "neurons"
#: the copy of ``neurons/`` that the build puts into the wheel (setup.py), read by a regular install
PACKAGED_DIR = Path(__file__).resolve().parent / "neurons_data"

_KEYS = {"name", "title", "paper", "description", "f", "h", "range", "output_range", "params", "aggregate", "delta"}


class DefinitionError(ValueError):
    """A neuron definition file that is malformed."""


@dataclass(frozen=True)
class NeuronDef:
    name: str
    f: str = "x"
    h: str = "x"
    range: tuple[float, float] = (-1.0, 1.0)
    output_range: tuple[float, float] = (-1.0, 1.0)
    params: dict = field(default_factory=dict, hash=False, compare=False)
    title: str = ""
    paper: str = ""
    description: str = ""
    aggregate: str = "sum"
    delta: float = 1.0
    path: str | None = None

    def input_transform(self, a=None, b=None, delta=None) -> InputTransform:
        """Theorem 4.1 on the sender range [a, b] (default: the definition's ``range``)."""
        a = self.range[0] if a is None else a
        b = self.range[1] if b is None else b
        return derive_input(self.f, a, b, self.delta if delta is None else delta, params=self.params or None)

    def output_transform(self, a=None, b=None, delta=None) -> OutputTransform:
        """Theorem 4.3 on the emitting range [a, b] (default: ``output_range``)."""
        a = self.output_range[0] if a is None else a
        b = self.output_range[1] if b is None else b
        return derive_output(self.h, a, b, self.delta if delta is None else delta, params=self.params or None)


def _pair(data, key, where):
    value = data[key]
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise DefinitionError(f"{where}: '{key}' must be a list of two numbers [a, b], got {value!r}")
    a, b = float(value[0]), float(value[1])
    if not (math.isfinite(a) and math.isfinite(b)):
        raise DefinitionError(f"{where}: '{key}' must be finite numbers, got [{a}, {b}]")
    if not a < b:
        raise DefinitionError(f"{where}: '{key}' is an empty range: need a < b, got [{a}, {b}]")
    return (a, b)


def parse_definition(data: dict, where: str = "<definition>") -> NeuronDef:
    """A NeuronDef from a TOML table, with errors that name the file and key."""
    unknown = set(data) - _KEYS
    if unknown:
        raise DefinitionError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_KEYS))}")
    if "name" not in data or not isinstance(data["name"], str) or not data["name"].isidentifier():
        raise DefinitionError(f"{where}: 'name' must be an identifier string")
    for key in ("f", "h", "title", "paper", "description"):
        if key in data and not isinstance(data[key], str):
            raise DefinitionError(f"{where}: '{key}' must be a string")
    if "f" not in data and "h" not in data:
        raise DefinitionError(f"{where}: a neuron needs an input transform 'f' or an output transform 'h'")
    aggregate = data.get("aggregate", "sum")
    if aggregate not in ("sum", "max"):
        raise DefinitionError(f"{where}: 'aggregate' must be 'sum' or 'max', got {aggregate!r}")
    if aggregate == "max":   # it emits max_j x_j: a transform written beside it would be checked by nothing
        for key in ("f", "h"):
            if "".join(str(data.get(key, "x")).split()) != "x":
                raise DefinitionError(f"{where}: aggregate = \"max\" emits the earliest input's value, max_j x_j, "
                                      f"with f = h = x; got {key} = {data[key]!r}")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise DefinitionError(f"{where}: 'params' must be a table")
    delta = data.get("delta", 1.0)
    if (isinstance(delta, bool) or not isinstance(delta, (int, float)) or not math.isfinite(delta)
            or not delta > 0):
        raise DefinitionError(f"{where}: 'delta' (the time step) must be a positive finite number, got {delta!r}")
    return NeuronDef(
        name=data["name"],
        f=data.get("f", "x"),
        h=data.get("h", "x"),
        range=_pair(data, "range", where) if "range" in data else (-1.0, 1.0),
        output_range=_pair(data, "output_range", where) if "output_range" in data else (-1.0, 1.0),
        params=dict(params),
        title=data.get("title", data["name"]),
        paper=data.get("paper", ""),
        description=data.get("description", ""),
        aggregate=aggregate,
        delta=float(delta),
        path=None if where.startswith("<") else where,
    )


def load_definition(path) -> NeuronDef:
    """Read one neuron definition file (TOML)."""
    path = Path(path)
    if not path.is_file():
        hint = ""
        try:
            if path.suffix == ".toml" and path.stem in load_catalogue():
                hint = f" (the catalogue's neuron of that name is `ttfs verify {path.stem}`)"
        except DefinitionError:
            pass
        raise DefinitionError(f"no neuron definition file at {path}{hint}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DefinitionError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    return parse_definition(data, str(path))


def _is_source_checkout() -> bool:
    """True when this package runs from the repository (a checkout or an editable install)."""
    root = SOURCE_DIR.parent
    return SOURCE_DIR.is_dir() and (root / "pyproject.toml").is_file()


def catalogue_dir() -> Path:
    """The catalogue folder: ``TTFS_NEURONS`` if set; else the repository's ``neurons/`` in a source
    checkout or editable install; else the copy installed with the package (``ttfs_symbolic/neurons_data``)."""
    env = os.environ.get("TTFS_NEURONS")
    if env:
        return Path(env)
    if _is_source_checkout():
        return SOURCE_DIR
    return PACKAGED_DIR


def _missing_folder(directory: Path) -> DefinitionError:
    env = os.environ.get("TTFS_NEURONS")
    if env and Path(env) == directory:
        return DefinitionError(f"no neuron catalogue folder at {directory} (from TTFS_NEURONS; "
                               "point it at a folder of neuron .toml files, or unset it)")
    if directory == PACKAGED_DIR:
        return DefinitionError(f"no neuron catalogue folder at {directory}: this installation of ttfs-symbolic "
                               f"lacks its packaged catalogue and there is no source checkout at {SOURCE_DIR.parent} "
                               "(reinstall the package, or set TTFS_NEURONS to a folder of neuron .toml files)")
    return DefinitionError(f"no neuron catalogue folder at {directory} (set TTFS_NEURONS)")


#: parsed catalogues by folder, each with the (file name, mtime, size) of its TOML files when read
_CACHE: dict[tuple[Path, Path], tuple[tuple, dict[str, NeuronDef]]] = {}


def reload() -> None:
    """Forget the parsed catalogues: the next call reads every definition file again.

    Not needed after editing, adding or removing a file in the folder (each call compares the files'
    names, modification times and sizes with those it parsed); for a change those do not show."""
    _CACHE.clear()


def load_catalogue(directory=None) -> dict[str, NeuronDef]:
    """All definitions in the catalogue folder, by name.

    Parsed once per folder and cached; a file added, removed or modified (mtime or size) since is
    noticed and the folder parsed again. :func:`reload` empties the cache."""
    directory = Path(directory) if directory is not None else catalogue_dir()
    if not directory.is_dir():
        raise _missing_folder(directory)
    paths = sorted(directory.glob("*.toml"))
    stamp = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:     # vanished or unreadable: load_definition names it
            stamp = None
            break
        stamp.append((path.name, st.st_mtime_ns, st.st_size))
    key = (directory, directory.resolve())   # as given (NeuronDef.path keeps it) and where it leads
    if stamp is not None:
        stamp = tuple(stamp)
        cached = _CACHE.get(key)
        if cached is not None and cached[0] == stamp:
            return dict(cached[1])
    out = {}
    for path in paths:
        neuron = load_definition(path)
        if neuron.name in out:
            raise DefinitionError(f"{path}: neuron name {neuron.name!r} is defined twice")
        out[neuron.name] = neuron
    if stamp is not None:
        _CACHE[key] = (stamp, out)
    return dict(out)


def get(name: str) -> NeuronDef:
    """One catalogue neuron by name (from the cached catalogue, :func:`load_catalogue`)."""
    cat = load_catalogue()
    if name not in cat:
        raise KeyError(f"no neuron {name!r} in the catalogue; known: {', '.join(sorted(cat))}")
    return cat[name]
