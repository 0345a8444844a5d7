"""Build step for the neuron catalogue: copy ``neurons/*.toml`` into the wheel.

The metadata is in pyproject.toml. The catalogue the user edits stays in the
top-level ``neurons/`` folder; a (non-editable) build copies it into the
package as ``ttfs_symbolic/neurons_data/``, which ``ttfs_symbolic.catalogue``
reads when no source checkout is around. An editable install reads
``neurons/`` itself, so nothing is copied there. An sdist carries
``neurons/`` (MANIFEST.in), so a wheel built from it gets the copy too.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
CATALOGUE = ROOT / "neurons"
PACKAGED = ("ttfs_symbolic", "neurons_data")


class build_py_with_catalogue(build_py):
    """build_py, then the catalogue's TOML files into <build_lib>/ttfs_symbolic/neurons_data/."""

    def _catalogue_files(self) -> list[Path]:
        files = sorted(CATALOGUE.glob("*.toml"))
        if not files:
            raise SystemExit(f"no neuron definitions (*.toml) in {CATALOGUE}: the wheel needs the catalogue")
        return files

    def _target(self) -> Path:
        return Path(self.build_lib, *PACKAGED)

    def run(self) -> None:
        super().run()
        if self.editable_mode:          # an editable install reads neurons/ in place
            return
        target = self._target()
        if target.exists():             # no stale definitions from an earlier build
            shutil.rmtree(target)
        self.mkpath(str(target))
        for path in self._catalogue_files():
            self.copy_file(str(path), str(target / path.name))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [os.path.join(self._target(), p.name) for p in self._catalogue_files()]


setup(cmdclass={"build_py": build_py_with_catalogue})
