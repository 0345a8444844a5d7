"""Benchmarks for text models: exact-mode time and memory against the ANN, and accuracy against p.

Random weights and a vocabulary written here: nothing is downloaded.

``--timing`` (default): a BERT of MiniLM's size (6 layers, hidden 384, 12
heads, intermediate 1536; random weights, float32, CPU) on a batch of
``--batch`` sequences of ``--seq-len`` tokens (random ids; the last half of
the batch padded to mixed lengths), the batch also the calibration set
(Algorithm 1). In ONE process the ANN forward (``model(**batch)``, eager
attention and torch's own SDPA kernel as two baselines) and the SNN
``exact`` forward are timed, interleaved round by round after a warm-up
call each (:func:`_common.interleaved_medians` method, paired ratios per
round); then a fresh process per mode (``ann``, ``exact``) reads the peak
resident set size of one warm forward (``VmHWM`` reset just before it, as
bench_snn.py does). Ratios SNN / ANN from the same run; the target is
<= 1.3x time (reported, never asserted).

``--sweep``: the accuracy-against-p sweep of a sentence-transformers model
(random BERT, mean pooling, normalisation): for each time precision p, in
quantized and kernel mode, the cosine similarity of every sentence
embedding with the ANN's (mean and minimum), and the agreement of the
nearest-neighbour rankings (for each sentence as a query against the
others: top-1 neighbour the same, and the overlap of the top-5 sets).
``--plot PATH`` draws both against p (matplotlib).

Run ``python benchmarks/bench_text.py --help``; see benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from _common import fmt_s, machine_info, table, timed, write_json  # noqa: E402

TAG = "BENCH_RESULT "
MINILM = dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
WORDS = ("the a cat dog sat on mat ran fast slow red blue big small house tree bird sang under over green old new "
         "sun moon river stone light dark cold warm city road ship sea sky rain snow wind fire hill field").split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS


def make_bert(seed: int, attn: str = "eager", vocab_size: int = 30522, **kw):
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=vocab_size, max_position_embeddings=512, hidden_act="gelu", **(kw or MINILM))
    torch.manual_seed(seed)
    model = BertModel(cfg, add_pooling_layer=False).eval()
    model.config._attn_implementation = attn
    return model


def make_batch(batch: int, seq_len: int, vocab_size: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (batch, seq_len), generator=g)
    ids[:, 0], mask = 2, torch.ones(batch, seq_len, dtype=torch.long)
    for i in range(batch // 2, batch):   # the last half padded to mixed lengths
        n = int(seq_len * (0.4 + 0.5 * (i - batch // 2) / max(1, batch - batch // 2)))
        ids[i, n:], mask[i, n:] = 0, 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def proc_status_kib(field: str):
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


# ------------------------------------------------------------------ timing

def child_timing(args) -> dict:
    from ttfs_symbolic.conversion.convert import convert
    from ttfs_symbolic.conversion.fileformat import save_conversion

    ann = make_bert(args.seed, "eager")
    batch = make_batch(args.batch, args.seq_len, ann.config.vocab_size, args.seed)
    t_conv, snn = timed(lambda: convert(ann, batch, progress=False))
    if args.conversion:
        save_conversion(snn, args.conversion)
    sdpa = make_bert(args.seed, "sdpa")
    m = batch["attention_mask"].bool()
    with torch.no_grad():
        ref = ann(**batch).last_hidden_state
        out = snn(batch)
    err = float((out - ref).abs()[m].max() / ref.abs()[m].max())

    def run_ann():
        with torch.no_grad():
            return ann(**batch).last_hidden_state

    def run_sdpa():
        with torch.no_grad():
            return sdpa(**batch).last_hidden_state

    fns = {"ann": run_ann, "ann_sdpa": run_sdpa, "exact": lambda: snn(batch)}
    names = list(fns)
    for n in names:   # warm-up
        fns[n]()
    per_round = {n: [] for n in names}
    for r in range(args.repeats):
        for n in (names if r % 2 == 0 else names[::-1]):
            dt, _ = timed(fns[n])
            per_round[n].append(dt)
    med = {n: statistics.median(v) for n, v in per_round.items()}
    paired = {n: statistics.median([a / b for a, b in zip(per_round[n], per_round["ann"])]) for n in names}
    paired_sdpa = statistics.median([a / b for a, b in zip(per_round["exact"], per_round["ann_sdpa"])])
    return {"convert_s": t_conv, "exact_rel_error_float32": err, "median_s": med, "runs_s": per_round,
            "ratio_vs_eager": paired, "exact_ratio_vs_sdpa": paired_sdpa, "threads": torch.get_num_threads()}


def child_memory(args) -> dict:
    mode = args.child
    if mode != "ann":
        import ttfs_symbolic.conversion.convert  # noqa: F401
    ann = make_bert(args.seed, "eager")
    batch = make_batch(args.batch, args.seq_len, ann.config.vocab_size, args.seed)
    snn = None
    if mode == "exact":
        from ttfs_symbolic.conversion.fileformat import load_conversion

        snn = load_conversion(ann, args.conversion)
        del ann
        ann = None
    gc.collect()

    def fn():
        with torch.no_grad():
            return ann(**batch).last_hidden_state if snn is None else snn(batch)

    fn()   # warm
    gc.collect()
    ok = reset_peak_rss()
    dt, _ = timed(fn)
    return {"mode": mode, "hwm_reset": ok, "warm_call_s": dt, "peak_kib": proc_status_kib("VmHWM")}


def run_timing(args) -> dict:
    res = child_timing(args) if args.conversion else None
    mem = {}
    if args.conversion and not args.no_memory:
        for mode in ("ann", "exact"):
            cmd = [sys.executable, __file__, "--child", mode, "--conversion", args.conversion,
                   "--batch", str(args.batch), "--seq-len", str(args.seq_len), "--seed", str(args.seed),
                   "--threads", str(args.threads)]
            p = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
            line = next((ln for ln in p.stdout.splitlines() if ln.startswith(TAG)), None)
            mem[mode] = json.loads(line[len(TAG):]) if line else {"error": p.stderr[-2000:]}
    res["memory"] = mem
    if "peak_kib" in mem.get("ann", {}) and "peak_kib" in mem.get("exact", {}):
        res["exact_memory_ratio"] = mem["exact"]["peak_kib"] / mem["ann"]["peak_kib"]
    rows = [[n, fmt_s(res["median_s"][n]), f"{res['ratio_vs_eager'][n]:.3f}x"] for n in res["median_s"]]
    print(f"BERT {MINILM} batch {args.batch} x {args.seq_len} tokens, float32, {res['threads']} thread(s)")
    print(table(rows, ["forward", "median", "/ ANN (eager)"]))
    print(f"exact / ANN (torch SDPA attention): {res['exact_ratio_vs_sdpa']:.3f}x;  exact float32 rel. error "
          f"{res['exact_rel_error_float32']:.2e};  conversion {fmt_s(res['convert_s'])}")
    if "exact_memory_ratio" in res:
        print(f"peak RSS: ANN {mem['ann']['peak_kib'] / 1024:.0f} MiB, exact {mem['exact']['peak_kib'] / 1024:.0f} MiB"
              f" -> {res['exact_memory_ratio']:.3f}x")
    verdict = "PASS" if res["ratio_vs_eager"]["exact"] <= 1.3 else "FAIL"
    print(f"target exact <= 1.3x ANN time: {verdict}")
    return res


# ------------------------------------------------------------------ sweep

def sweep(precisions, modes=("quantized", "kernel"), n_sentences: int = 48, layers: int = 2, hidden: int = 128,
          heads: int = 4, seed: int = 0, workdir=None) -> dict:
    """Cosine similarity and nearest-neighbour agreement of sentence embeddings against time precision p.

    Returns ``{"p": [...], mode: {"cos_mean", "cos_min", "top1", "top5"}: lists over p}``.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertTokenizerFast

    from ttfs_symbolic.conversion.convert import convert

    rng = torch.Generator().manual_seed(seed)
    sentences = [" ".join(WORDS[int(i)] for i in torch.randint(0, len(WORDS), (int(n),), generator=rng))
                 for n in torch.randint(3, 16, (n_sentences,), generator=rng)]
    with tempfile.TemporaryDirectory(dir=workdir) as d:
        (Path(d) / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
        tok = BertTokenizerFast(vocab=str(Path(d) / "vocab.txt"))
        model = make_bert(seed, "eager", vocab_size=len(VOCAB), hidden_size=hidden, num_hidden_layers=layers,
                          num_attention_heads=heads, intermediate_size=4 * hidden)
        model.save_pretrained(d)
        tok.save_pretrained(d)
        st = SentenceTransformer(modules=[Transformer(d), Pooling(hidden, "mean"), Normalize()], device="cpu")
    st = st.double().eval()
    feats = (getattr(st, "preprocess", None) or st.tokenize)(sentences)
    snn = convert(st, feats, progress=False)
    ref = st.encode(sentences, convert_to_tensor=True, batch_size=len(sentences))

    def ranks(e):
        s = e @ e.T
        s.fill_diagonal_(-float("inf"))
        return s.topk(5, dim=-1).indices

    r_ref = ranks(ref)
    out = {"p": list(precisions), "sentences": n_sentences, "layers": layers, "hidden": hidden}
    for mode in modes:
        res = {"cos_mean": [], "cos_min": [], "top1": [], "top5": []}
        for p in precisions:
            e = snn.encode(feats, mode=mode, precision=p, dtype=torch.float64)
            cos = torch.nn.functional.cosine_similarity(e, ref, dim=-1)
            r = ranks(e)
            res["cos_mean"].append(float(cos.mean()))
            res["cos_min"].append(float(cos.min()))
            res["top1"].append(float((r[:, 0] == r_ref[:, 0]).double().mean()))
            overlap = [len(set(a.tolist()) & set(b.tolist())) / 5 for a, b in zip(r, r_ref)]
            res["top5"].append(float(sum(overlap) / len(overlap)))
        out[mode] = res
    exact = snn.encode(feats, dtype=torch.float64)
    out["exact_cos_min"] = float(torch.nn.functional.cosine_similarity(exact, ref, dim=-1).min())
    return out


def plot_sweep(res: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for mode in ("quantized", "kernel"):
        if mode not in res:
            continue
        r = res[mode]
        a1.semilogx(res["p"], [1 - c for c in r["cos_mean"]], "o-", base=2, label=f"{mode}: mean")
        a1.semilogx(res["p"], [1 - c for c in r["cos_min"]], "s--", base=2, label=f"{mode}: worst")
        a2.semilogx(res["p"], r["top1"], "o-", base=2, label=f"{mode}: top-1 neighbour")
        a2.semilogx(res["p"], r["top5"], "s--", base=2, label=f"{mode}: top-5 overlap")
    a1.set_yscale("log")
    a1.set_xlabel("time precision p")
    a1.set_ylabel("1 - cosine(SNN, ANN embedding)")
    a2.set_xlabel("time precision p")
    a2.set_ylabel("agreement with the ANN's ranking")
    a2.set_ylim(0, 1.05)
    for a in (a1, a2):
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(f"sentence embeddings: random BERT ({res['layers']} layers, hidden {res['hidden']}), "
                 f"{res['sentences']} sentences")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweep", action="store_true", help="the accuracy-against-p sweep instead of the timing")
    ap.add_argument("--precisions", default="8,16,32,64,128,256,512,1024", help="p values of the sweep")
    ap.add_argument("--plot", default=None, metavar="PATH", help="sweep: write the plot here (PNG)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    ap.add_argument("--json", default=None, metavar="PATH")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--conversion", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        print(TAG + json.dumps(child_memory(args)))
        return 0
    info = machine_info()
    if args.sweep:
        res = sweep([int(p) for p in args.precisions.split(",")], seed=args.seed)
        rows = []
        for mode in ("quantized", "kernel"):
            for i, p in enumerate(res["p"]):
                r = res[mode]
                rows.append([mode, p, f"{1 - r['cos_mean'][i]:.2e}", f"{1 - r['cos_min'][i]:.2e}",
                             f"{r['top1'][i]:.3f}", f"{r['top5'][i]:.3f}"])
        print(table(rows, ["mode", "p", "1-cos mean", "1-cos worst", "top-1 NN", "top-5 overlap"]))
        print(f"exact (float64): 1 - cos worst = {1 - res['exact_cos_min']:.2e}")
        if args.plot:
            plot_sweep(res, args.plot)
    else:
        with tempfile.TemporaryDirectory() as d:
            args.conversion = str(Path(d) / "conv.json")
            res = run_timing(args)
    write_json(args.json, {"machine": info, "args": vars(args), "result": res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
