"""``ttfs energy MODEL``: operation counts and energy (Table 3, eq. 28) of a converted ViT, EVA or BERT."""
from __future__ import annotations

import json
import math

from ..conversion.presets import DEFAULT_PRESET, PRESETS, STRUCTURE, check_preset
from ..data.files import parse_model_kwargs
from ..energy import count_ops
from ..energy.bert import count_ops_bert, is_text_config
from ..energy.counts import E_AC_PJ, E_MAC_PJ
from .main import HELP

def register(subparsers) -> None:
    p = subparsers.add_parser(
        "energy", help=HELP["energy"],
        description="Per-layer neurons, SNN synaptic operations and ANN MACs of a timm "
                    "VisionTransformer (no weights needed), and E_SNN/E_ANN of eq. 28 with "
                    f"E_AC = {E_AC_PJ} pJ, E_MAC = {E_MAC_PJ} pJ.")
    p.add_argument("model", help="timm model name, e.g. vit_small_patch16_224 "
                                 "(list them with timm.list_models('vit_*')); or a BERT-family text model: "
                                 "bert-base-uncased, bert-large-uncased, roberta-base, all-MiniLM-L6-v2, "
                                 "or the path of a Hugging Face config.json")
    p.add_argument("--img-size", type=int, default=None, metavar="N",
                   help="input image size (default: the model's)")
    p.add_argument("--model-kwargs", nargs="+", action="extend", default=None, metavar="KEY=VALUE",
                   help="image models: keyword arguments for timm.create_model, as for ttfs convert "
                        "(e.g. depth=2 patch_size=8 img_size=32)")
    p.add_argument("--seq-len", type=int, default=None, metavar="T",
                   help="text models: tokens per sequence (default 128)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (totals and per-layer rows) instead of a table")
    p.add_argument("--preset", choices=tuple(PRESETS), default=DEFAULT_PRESET,
                   help=f"the network counted: the converter's default ({DEFAULT_PRESET}) or the paper's "
                        "(Table 2's counts); --product, --residual and --rsqrt override its settings")
    p.add_argument("--product", choices=("paper", "signed"), default=None,
                   help="multiplication network counted: the paper's (Table 3) or the signed construction "
                        "(default: the preset's)")
    p.add_argument("--residual", choices=("neuron", "synapses"), default=None,
                   help="residual sums counted as identity neurons (Table 3) or as synapses into "
                        "the next LayerNorm (convert(..., residual='synapses')) (default: the preset's)")
    p.add_argument("--rsqrt", choices=("neuron", "folded"), default=None,
                   help="LayerNorm's rsqrt as a neuron (Table 3) or folded into the product's synapses "
                        "(default: the preset's)")
    p.set_defaults(func=run)


def _json_safe(value):
    """``value`` with every non-finite float (NaN, inf) replaced by None, for strict JSON."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run(args) -> int:
    for flag, value, top in (("--img-size", args.img_size, 16384), ("--seq-len", getattr(args, "seq_len", None),
                                                                     1 << 20)):
        if value is not None and not 1 <= value <= top:   # (named by the flag, before any counting)
            raise ValueError(f"{flag} must be between 1 and {top}, got {value}")

    seq_len = getattr(args, "seq_len", None)
    preset = getattr(args, "preset", DEFAULT_PRESET)
    settings = check_preset(preset)
    shape = {k: getattr(args, k, None) or settings[k] for k in STRUCTURE}
    if any(getattr(args, k, None) not in (None, settings[k]) for k in STRUCTURE):
        preset = f"{preset} with overrides"
    # (screened as for ttfs convert: literals only, no key that loads files)
    kwargs = parse_model_kwargs(args.model_kwargs) if getattr(args, "model_kwargs", None) else {}
    if is_text_config(args.model):
        if kwargs:
            raise ValueError(f"--model-kwargs is for timm image models; {args.model} is a text model")
        if args.img_size is not None:
            raise ValueError(f"--img-size is for image models; {args.model} is a text model (use --seq-len)")
        report = count_ops_bert(args.model, seq_len=128 if seq_len is None else seq_len, preset=preset, **shape)
    elif seq_len is not None:
        raise ValueError(f"--seq-len is for text models; {args.model!r} is not a known text model or config.json")
    else:
        report = count_ops(args.model, img_size=args.img_size, preset=preset, model_kwargs=kwargs, **shape)
    if args.json:   # always valid JSON: a value that is not a finite number is written as null
        print(json.dumps(_json_safe(report.to_dict()), allow_nan=False))
    else:
        print(report.table())
    return 0


