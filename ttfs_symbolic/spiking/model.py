"""The base class of every family's spiking model: the hooks the converter calls, declared in one place.

A family (:mod:`ttfs_symbolic.families`) builds a :class:`SpikingModel`
subclass from its source model. The converter (calibration, evaluation,
the conversion file) reaches the model only through the methods below;
the defaults are those of an image model, and a text model overrides the
input hooks.
"""
from __future__ import annotations

import torch
from torch import nn

from ..data.inputs import batches, check_dtype, check_images, count_batches, run_dtype
from .context import Ctx, finish_call, make_ctx
from .population import Population
from .product import Product


class SpikingModel(nn.Module):
    """A converted model: populations of TTFS neurons and a spiking forward pass.

    Subclasses implement :meth:`run` and, for an image model, set
    ``in_chans`` and ``img_size``; every other hook has a default.
    """

    in_chans: int = 3
    img_size: tuple[int, int] = (224, 224)

    # ---- the spiking network ----------------------------------------------
    def populations(self) -> list[Population]:
        """Every spiking layer, in the order of the forward pass.

        Once calibrated (or loaded), that is the order of the emitting windows,
        which :func:`~ttfs_symbolic.conversion.convert.calibrate` numbers by first
        emission; before, the order in which the layers are built.
        """
        pops = [m for m in self.modules() if isinstance(m, Population)]
        return sorted(pops, key=lambda p: p.window)   # stable: all windows are 0 before calibration

    def run(self, x, ctx: Ctx):
        """The spiking forward pass on a prepared batch (:meth:`prepare_input`) under ``ctx``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement run(x, ctx)")

    def residual_synapses_unsupported(self) -> str | None:
        """Why ``residual="synapses"`` cannot carry this model's sums (None: it can)."""
        return None

    def layer_rates(self) -> dict[str, float]:
        """Firing rate of each layer's output, by layer name, from the counters of the recorded calls."""
        return {p.pname: p.stats.spikes / p.stats.neurons for p in self.populations() if p.stats.neurons}

    def value_rates(self) -> dict[str, float]:
        """Spikes per value of each layer's output, by layer name, from the counters of the recorded calls.

        A synaptic operation is one input spike reaching one synapse, so an energy row's operations scale
        with the spikes per value of its input layer: a log-coded value of either sign has two neurons of
        which at most one fires, and its layer fires at most half its neurons (:meth:`layer_rates`) even
        where every value sends a spike. Layers that count no values (the products' layer I) keep their
        rate per neuron."""
        return {p.pname: p.stats.spikes_per_value for p in self.populations() if p.stats.neurons}

    def spike_rates_for_energy(self) -> dict[str, float]:
        """Measured firing rate of the input of each row of the energy count (run with ``record=True``)."""
        raise NotImplementedError(f"{type(self).__name__} has no energy rate map")

    # ---- the input protocol (images by default) ---------------------------
    def check_images(self, images) -> torch.Tensor:
        """The images as a floating tensor of shape (batch, C, H, W), or a one-line error (issue 12).

        Refused: anything but a tensor or a NumPy array (TypeError); integer,
        boolean or complex dtypes (raw 0-255 pixels must be scaled and
        normalised as the ANN expects first); other shapes; NaN or inf pixels
        (the ANN would give NaN, the SNN a finite, confident, meaningless answer).
        """
        return check_images(images, self.in_chans, self.img_size)

    def prepare_input(self, batch, dtype):
        """One checked batch in the form :meth:`run` takes (images: a float tensor of ``dtype``)."""
        return self.check_images(batch).to(dtype)

    def input_batches(self, data, batch_size: int):
        """Iterate over calibration or evaluation data (images: :func:`~ttfs_symbolic.data.inputs.batches`)."""
        return batches(data, batch_size)

    def count_batches(self, data, batch_size: int) -> int:
        """How many batches :meth:`input_batches` yields (0 when unknown), for the progress display."""
        return count_batches(data, batch_size)

    def blank_input(self):
        """A prepared batch of one blank item whose shapes are those of every input (images: zeros), to
        check per-channel ranges against the layers when a conversion is loaded; None where shapes vary."""
        dev = next(iter(self.parameters()), torch.empty(0)).device
        # (float32, as the model is usually run: the check's temporaries and the layers' per-dtype caches
        # are those of the calls that follow, not a float64 set beside them)
        return torch.zeros(1, int(self.in_chans), *map(int, self.img_size), dtype=torch.float32, device=dev)

    def batch_len(self, x) -> int:
        """The number of items (images, sentences) in a prepared batch."""
        return x.shape[0]

    # ---- comparison with the ANN (ttfs_symbolic.evaluation.report.evaluate) ----
    #: True: the outputs are class logits, compared by argmax and with labels when given
    classifier: bool = True

    def check_data(self, data):
        """The evaluation data, checked as a whole where it can be (images: one tensor)."""
        return self.check_images(data)

    def outputs(self, x, ctx: Ctx):
        """The SNN's output of a prepared batch and the mask of its meaningful rows (None: all rows)."""
        return self.run(x, ctx), None

    def reference(self, ann, x):
        """The ANN's output for the same prepared batch."""
        return ann(x)

    def input_length(self, x) -> int:
        """Tokens per item of a prepared batch where it varies (text); 0 where the model fixes it (images)."""
        return 0

    def count_energy(self, ann, length: int):
        """The energy count (:mod:`ttfs_symbolic.energy`) with the measured firing rates; ``length``: the
        longest :meth:`input_length` seen."""
        raise NotImplementedError(f"{type(self).__name__} has no energy count")

    # ---- calling the model ------------------------------------------------
    @torch.no_grad()
    def forward(self, images, mode: str | None = None, precision: int | None = None, dtype=None,
                record: bool = False, only=None, warn: bool = True, check_clipping: str = "full"):
        """Decoded outputs (logits for a classifier). ``only``: names of the layers that run in ``mode``,
        the rest exact (:func:`~ttfs_symbolic.evaluation.report.error_budget`). Neurons driven outside
        their range are counted in every mode (``self.last_clipping``) and warned about once per call;
        ``check_clipping``: ``"full"`` (every neuron), ``"sample"`` or ``"off"``
        (:data:`~ttfs_symbolic.spiking.CHECK_MODES`; the neurons clip in every setting). ``dtype``: float32 or
        float64; by default the images' own if they are float64, else float32
        (:func:`~ttfs_symbolic.data.inputs.run_dtype`)."""
        x = self.prepare_input(images, check_dtype(run_dtype(images, dtype)))
        ctx = make_ctx(self, mode, precision, record, only, check_clipping)
        out = self.run(x, ctx)
        finish_call(self, ctx, warn=warn)
        return out

    @torch.no_grad()
    def predict(self, images, **kw):
        """Index of the earliest output spike = argmax of the decoded logits (Appendix A.2). A model without a
        classification head (``classifier`` False) has no class to predict: ValueError."""
        if not self.classifier:
            raise ValueError(f"predict is for classifiers: this {type(self).__name__} has no classification head, "
                             "so its outputs are features (call the model for them)")
        return self.forward(images, **kw).argmax(-1)


# ---- what a converted network is made of (read from its layers) -----------

def rsqrt_mode(snn: nn.Module) -> str:
    """How the (v + eps)^(-1/2) of ``snn`` are formed (:func:`set_rsqrt`)."""
    return "folded" if any(isinstance(m, Population) and m.kind in ("ln_rsqrt", "l2_rsqrt") and m.relay
                           for m in snn.modules()) else "neuron"


def configuration(snn: nn.Module) -> dict:
    """The configuration ``snn`` was converted with: its preset, structure and calibration settings
    (what the conversion report and the energy count state)."""
    cal = getattr(snn, "calibration", {}) or {}
    return {"preset": cal.get("preset"), "product": product_construction(snn), "residual": residual_mode(snn),
            "rsqrt": rsqrt_mode(snn), "range_kind": cal.get("range_kind"), "codes": cal.get("codes", "linear"),
            "variance_end": cal.get("variance_end"), "calibrated_at": cal.get("precision")}


def structure(snn: nn.Module) -> dict:
    """The settings that shape ``snn``'s network, as the energy counts take them (product, residual, rsqrt)."""
    return {"product": product_construction(snn), "residual": residual_mode(snn), "rsqrt": rsqrt_mode(snn)}


def product_construction(snn: nn.Module) -> str:
    """The multiplication-network construction of a converted model ("signed" or "paper")."""
    kinds = {m.construction for m in snn.modules() if isinstance(m, Product)}
    return kinds.pop() if len(kinds) == 1 else "signed" if "signed" in kinds else "paper"


def residual_mode(snn: nn.Module) -> str:
    """How the residual sums of ``snn`` are carried (:func:`set_residual`)."""
    return "synapses" if any(isinstance(m, Population) and m.kind == "residual" and m.relay
                             for m in snn.modules()) else "neuron"
