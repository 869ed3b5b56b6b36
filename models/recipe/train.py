#!/usr/bin/env python3
"""Trains the embedded Steerling model on the WordNet corpus, resumably.

  train.py prepare --corpus DIR --work WORK      tokens + labels -> WORK/data.pt
  train.py train --work WORK [--device cpu|cuda] [--minutes M] [--steps N]
  train.py export --work WORK --out MODEL_DIR    -> config.json,
                                                    model.safetensors (bf16),
                                                    concept_labels.csv
  train.py report --work WORK                    validation metrics (JSON)

`train` resumes from WORK/state.pt when it exists (model, optimizer, data
order and random state), saves every few minutes and when its time is up, so
a run can span several sessions; the same seed and step count give the same
model on the same device. See docs/evaluation.md for the recipe and the
numbers it produced.

Objective, per batch (masked diffusion with block-causal attention):
  * each document's loss region (the answer, or the whole text of a
    definition, then end-of-text fill to the sequence length) is masked at a
    rate t ~ U(0, 1); half the documents keep a clean prefix of the region,
    as generation does for tokens already committed;
  * cross-entropy of lm_head(hidden) at masked positions;
  * cross-entropy of lm_head(unknown + sum_c w_c * v_c) at masked positions
    with w teacher-forced to the concept labels (half the batch; the other
    half uses the predicted top-k weights), the unknown features dropped for
    a quarter of the teacher-forced rows so the known concepts alone must
    carry their meaning: this is what makes a weight intervention change
    what is generated;
  * binary cross-entropy of the known head against the per-token labels
    (positive weights balance rare concepts), at every position;
  * a small penalty on |hidden - (unknown + known)|^2 keeping epsilon small;
  * counterfactual rows (an eighth of a batch): harmful requests the corpus
    answers, their answer region fully masked, known weights forced to the
    refusal labels, target the refusal; backbone detached, so only the heads
    and embeddings learn that the refusal concept means a refusal whatever
    the context (the model itself still answers them).
"""
import argparse
import json
import math
import os
import random
import signal
import struct
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from steerling import PADDED_TABLES, Steerling, checkpoint_names  # noqa: E402

SEQ = 64
EOS, MASK, PAD = 100257, 100280, 100277
HERE = os.path.dirname(os.path.abspath(__file__))


def model_config(n_concepts):
    pad = 16
    return {
        "model_type": "causal_diffusion", "interpretable": True,
        "n_layers": 6, "n_head": 4, "n_kv_heads": 2, "n_embd": 128, "block_size": 128,
        "diff_block_size": 32, "use_rms_norm": True, "norm_eps": 1e-5, "norm_order": "post",
        "use_qk_norm": True, "use_rope": True, "rope_base": 500000.0, "rope_full_precision": True,
        "mlp_type": "swiglu", "activation": "silu", "mlp_ratio": 4, "intermediate_size": 384,
        "use_bias": False, "clip_qkv": 10.0, "weight_sharing": True,
        "vocab_size": 100281, "pad_token_id": PAD, "bos_token_id": 100278, "eos_token_id": EOS,
        "endofchunk_token_id": 100279, "mask_token_id": MASK,
        "concept": {
            "n_concepts": n_concepts, "n_unknown_concepts": 128, "max_concepts": 8,
            "concept_dim": 128, "use_attention_known": False, "use_attention_unknown": False,
            "topk_known": 6, "topk_known_features": 6, "use_unknown": True,
            "factorize_unknown": True, "factorize_rank": 32, "unknown_topk": 8,
            "use_epsilon_correction": True, "block_size": 128, "pad_multiple": pad,
            "topk_on_logits": False, "store_unknown_weights": False,
            "apply_topk_to_unknown": True, "inject_layer": 3, "inject_alpha": 1.0,
        },
    }


# --------------------------------------------------------------------------
# prepare


def tokenize(path, field="text"):
    with open(path) as f:
        lines = [json.dumps({"text": json.loads(l)[field]}) for l in f if l.strip()]
    out = subprocess.run(["node", os.path.join(HERE, "tokenize.mjs")], input="\n".join(lines).encode(),
                         capture_output=True, check=True, cwd=HERE).stdout
    return [json.loads(l) for l in out.decode().splitlines()]


def prepare(args):
    docs = [json.loads(l) for l in open(os.path.join(args.corpus, "docs.jsonl"))]
    toks = tokenize(os.path.join(args.corpus, "docs.jsonl"))
    evals = []
    for name in ("val.jsonl", "eval.jsonl"):
        evals += tokenize(os.path.join(args.corpus, name), field="prompt")
    names = [l.split(",")[2] for l in open(os.path.join(args.corpus, "concepts.csv")).read().splitlines()[1:]]
    C = len(names)
    used = {EOS, MASK}
    rows = {"train": [], "val": [], "eval": []}
    dropped = 0
    for d, t in zip(docs, toks):
        ids, lens = t["ids"], t["lens"]
        used.update(ids)
        if len(ids) > SEQ - 2:
            dropped += 1
            continue
        starts = [0]
        for n in lens:
            starts.append(starts[-1] + n)
        assert starts[-1] == len(d["text"]), d["text"]
        labels = torch.zeros(SEQ, C, dtype=torch.bool)
        for s, e, cs in d["spans"]:
            for i in range(len(ids)):
                if starts[i] < e and starts[i + 1] > s and d["text"][max(s, starts[i]):min(e, starts[i + 1])].strip():
                    labels[i, cs] = True
        region = next(i for i in range(len(ids) + 1) if i == len(ids) or starts[i] >= d["answer_start"])
        if d["answer_start"] > 0:
            # The answer's first token carries the space after the colon.
            region = next(i for i in range(len(ids)) if starts[i + 1] > d["answer_start"])
        seq = ids + [EOS] * (SEQ - len(ids))
        rows[d["split"]].append((seq, region, len(ids), labels, d["kind"], d["category"] or "benign"))
    for t in evals:
        used.update(t["ids"])
    used = sorted(used)
    if args.vocab_from:
        # A run continuing from another run's weights keeps its output rows.
        before = torch.load(args.vocab_from)["used"]
        extra = sorted(set(used) - set(before))
        if extra:
            sys.exit("prepare: %d tokens of this corpus are not in %s's vocabulary (first: %s); "
                     "start a new run instead of --init" % (len(extra), args.vocab_from, extra[:5]))
        used = before
    data = {"names": names, "used": used}
    # The refusal answer as it follows a request (" I cannot help with
    # that.\n"), for the counterfactual rows.
    ref = next(x for x in rows["train"] if x[4] == "refusal")
    data["refusal_answer"] = ref[0][ref[1]:ref[2]]
    data["refusal_labels"] = ref[3][ref[1]:ref[2]]
    for split, r in rows.items():
        data[split] = {
            "ids": torch.tensor([x[0] for x in r], dtype=torch.long),
            "region": torch.tensor([x[1] for x in r], dtype=torch.long),
            "length": torch.tensor([x[2] for x in r], dtype=torch.long),
            "labels": torch.stack([x[3] for x in r]) if r else torch.zeros(0, SEQ, C, dtype=torch.bool),
            "kind": [x[4] for x in r], "category": [x[5] for x in r],
        }
    torch.save(data, os.path.join(args.work, "data.pt"))
    print(json.dumps({"docs": len(docs), "dropped_long": dropped, "used_tokens": len(used),
                      "train": len(rows["train"]), "val": len(rows["val"]), "eval": len(rows["eval"]),
                      "train_tokens": int(sum(x[2] for x in rows["train"]))}))


# --------------------------------------------------------------------------
# train


def noise(ids, region, gen):
    """Masks each document's loss region at a rate t ~ U(0,1); half keep a
    clean prefix of the region. Returns (noisy ids, masked positions)."""
    N, T = ids.shape
    pos = torch.arange(T).expand(N, T)
    t = torch.rand(N, 1, generator=gen)
    start = region.clone()
    keep_prefix = torch.rand(N, generator=gen) < 0.5
    cut = region + (torch.rand(N, generator=gen) * (T - region).float()).long()
    start = torch.where(keep_prefix, cut, start).unsqueeze(1)
    masked = (pos >= start) & (torch.rand(N, T, generator=gen) < t)
    # At least one masked token per row.
    first = torch.zeros_like(masked)
    first[torch.arange(N), start.squeeze(1).clamp(max=T - 1)] = True
    masked |= first & ~masked.any(1, keepdim=True)
    return torch.where(masked, torch.full_like(ids, MASK), ids), masked


def losses(model, batch, gen, pos_weight, device):
    ids, region, length, labels = batch
    noisy, masked = noise(ids, region, gen)
    noisy, masked, ids, labels = noisy.to(device), masked.to(device), ids.to(device), labels.to(device)
    # The end-of-text fill is masked like any position (generation sees it
    # masked), but only a quarter of its positions enter the losses: they are
    # many and easy. The composed path takes half of the remaining rows.
    N, T = ids.shape
    fill = torch.arange(T, device=device)[None, :] >= length.to(device)[:, None]
    sub = torch.rand(N, T, generator=gen).to(device)
    rows = masked & (~fill | (sub < 0.25))
    crows = rows & (torch.rand(N, T, generator=gen).to(device) < 0.5)
    h = model.backbone(noisy)
    lm = F.cross_entropy(model.lm_logits(h[rows]).float(), model.target_index(ids[rows]))
    klog, kw = model.known(h)
    lab = labels.float()
    bce = F.binary_cross_entropy_with_logits(klog, lab, pos_weight=pos_weight)
    unk = model.unknown(h)
    # Composed path: teacher-forced labels on half the rows, predicted top-k
    # on the rest; unknown features dropped on a quarter of the forced rows.
    forced = (torch.rand(N, 1, 1, generator=gen) < 0.5).to(device)
    w = torch.where(forced, lab, kw)
    drop = forced & (torch.rand(N, 1, 1, generator=gen) < 0.25).to(device)
    composed = torch.where(drop, torch.zeros_like(unk), unk) + model.features(w)
    comp = F.cross_entropy(model.lm_logits(composed[crows]).float(), model.target_index(ids[crows]))
    recon = (h - (unk + model.features(kw))).pow(2).mean()
    return lm, comp, bce, recon


def counterfactual(model, tr, sel, refusal_answer, refusal_labels, device):
    """Composed-path loss on harmful requests the corpus answers: the answer
    region fully masked (generation's first step), known weights forced to
    the refusal labels, target the refusal answer. The backbone is detached:
    this teaches the heads and the embeddings what the refusal concept means
    in any context, without teaching the model itself to refuse."""
    ids = tr["ids"][sel].clone()
    region = tr["region"][sel]
    N, T = ids.shape
    R = len(refusal_answer)
    labels = torch.zeros(N, T, tr["labels"].shape[-1])
    for i in range(N):
        r = int(region[i])
        ids[i, r:] = EOS
        ids[i, r:r + R] = torch.tensor(refusal_answer)
        labels[i, r:r + R] = refusal_labels.float()
    pos = torch.arange(T)[None, :]
    masked = pos >= region[:, None]
    noisy = torch.where(masked, torch.full_like(ids, MASK), ids)
    noisy, masked, ids, labels = noisy.to(device), masked.to(device), ids.to(device), labels.to(device)
    with torch.no_grad():
        h = model.backbone(noisy)
    composed = model.unknown(h) + model.features(labels)
    return F.cross_entropy(model.lm_logits(composed[masked]).float(), model.target_index(ids[masked]))


def lr_at(step, total, peak, warmup=300):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def train(args):
    torch.manual_seed(args.seed)
    data = torch.load(os.path.join(args.work, "data.pt"))
    cfg = model_config(len(data["names"]))
    device = torch.device(args.device)
    model = Steerling(cfg, data["used"]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.05)
    tr = data["train"]
    n = tr["ids"].shape[0]
    pos = tr["labels"].float().sum((0, 1))
    neg = tr["labels"].shape[0] * SEQ - pos
    pos_weight = (neg / pos.clamp(min=1)).sqrt().clamp(1, 20).to(device)
    harmful_answered = torch.tensor([i for i, (k, c) in enumerate(zip(tr["kind"], tr["category"]))
                                     if k == "request" and c != "benign"])
    state_path = os.path.join(args.work, "state.pt")
    step, perm, gen = 0, None, torch.Generator().manual_seed(args.seed)
    log = []
    if os.path.exists(state_path):
        st = torch.load(state_path, map_location="cpu")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, perm, log = st["step"], st["perm"], st["log"]
        gen.set_state(st["gen"])
        print("resumed at step %d" % step, flush=True)
    elif args.init:
        # A new run (fresh optimizer and schedule) from trained weights.
        model.load_state_dict(torch.load(args.init, map_location="cpu")["model"])
        print("initialised from %s" % args.init, flush=True)
    # Benign requests can be drawn more often than the rest (with
    # replacement): the corpus has far more harmful requests than benign
    # ones, which teaches the head that any request is probably harmful.
    draw = None
    if args.oversample_benign > 1:
        draw = torch.tensor([args.oversample_benign if c == "benign" and k in ("request", "refusal") else 1.0
                             for k, c in zip(tr["kind"], tr["category"])])

    def save():
        tmp = state_path + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "perm": perm,
                    "gen": gen.get_state(), "log": log, "cfg": cfg}, tmp)
        os.replace(tmp, state_path)

    # SIGTERM/SIGINT end the run after the current step, with a save.
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    t_end = time.time() + args.minutes * 60
    last_save = time.time()
    bs = args.batch
    acc = None
    t0 = time.time()
    stop_at = args.stop_at or args.steps
    while step < min(args.steps, stop_at) and time.time() < t_end and not stop:
        if draw is not None:
            sel = torch.multinomial(draw, bs, replacement=True, generator=gen)
        else:
            epoch_pos = (step * bs) % n
            if perm is None or epoch_pos < bs:
                perm = torch.randperm(n, generator=gen)
            sel = perm[epoch_pos:epoch_pos + bs]
            if sel.numel() < bs:
                sel = torch.cat([sel, perm[: bs - sel.numel()]])
        batch = (tr["ids"][sel], tr["region"][sel], tr["length"][sel], tr["labels"][sel])
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(args.bf16)):
            lm, comp, bce, recon = losses(model, batch, gen, pos_weight, device)
            cf_sel = harmful_answered[torch.randint(len(harmful_answered), (args.batch // 8,), generator=gen)]
            cf = counterfactual(model, tr, cf_sel, data["refusal_answer"], data["refusal_labels"], device)
            loss = lm + comp + 0.5 * bce + 0.1 * recon + 0.5 * cf
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        v = torch.tensor([lm.item(), comp.item(), bce.item(), recon.item(), cf.item()])
        acc = v if acc is None else 0.98 * acc + 0.02 * v
        if step % 50 == 0:
            rate = 50 * bs * SEQ / (time.time() - t0)
            t0 = time.time()
            log.append({"step": step, "lm": round(acc[0].item(), 4), "composed": round(acc[1].item(), 4),
                        "bce": round(acc[2].item(), 4), "recon": round(acc[3].item(), 5),
                        "counterfactual": round(acc[4].item(), 4)})
            print("step %d lm %.3f composed %.3f bce %.4f recon %.4f counterfactual %.3f  %.0f tok/s" % (
                step, *acc.tolist(), rate), flush=True)
        if time.time() - last_save > 300:
            save()
            last_save = time.time()
    save()
    print("saved at step %d" % step, flush=True)


# --------------------------------------------------------------------------
# export


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.contiguous().view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": "BF16" if t.dtype == torch.bfloat16 else "F32", "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def export_tensors(model, cfg):
    c = cfg["concept"]
    pad = lambda n: -(-n // c["pad_multiple"]) * c["pad_multiple"]
    sd = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    V, D = cfg["vocab_size"], cfg["n_embd"]
    emb = sd["emb"][-1].expand(V, D).clone()
    emb[model.used.cpu()] = sd["emb"][:-1]
    out = {"transformer.tok_emb.weight": emb}
    for ours, theirs in checkpoint_names(cfg):
        out[theirs] = sd[ours]
    rows = {"known": c["n_concepts"], "unknown": c["n_unknown_concepts"]}
    for ours, theirs, head in PADDED_TABLES:
        t = sd[ours]
        z = torch.zeros(pad(rows[head]), *t.shape[1:])
        z[: t.shape[0]] = t
        out[theirs] = z
    # Data in layout order (embedding, blocks, final norm, known head,
    # unknown head), as runtime/src/model/layout.cpp lists tensors.
    tail = ["transformer.ln_f.weight", "known_head.concept_predictor.weight",
            "known_head.concept_embedding.weight", "unknown_head.predictor_down.weight",
            "unknown_head.predictor_up.weight", "unknown_head.embedding_coef.weight",
            "unknown_head.embedding_basis.weight"]
    order = [k for k in out if k not in tail] + tail
    return {k: out[k].to(torch.bfloat16) for k in order}


def load_trained(args):
    data = torch.load(os.path.join(args.work, "data.pt"))
    st = torch.load(os.path.join(args.work, "state.pt"), map_location="cpu")
    model = Steerling(st["cfg"], data["used"])
    model.load_state_dict(st["model"])
    model.eval()
    return model, st, data


def export(args):
    model, st, data = load_trained(args)
    cfg = st["cfg"]
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "model.safetensors"), export_tensors(model, cfg))
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    src = os.path.join(args.corpus, "concepts.csv")
    with open(src) as f, open(os.path.join(args.out, "concept_labels.csv"), "w") as g:
        g.write(f.read())
    print("exported step %d to %s" % (st["step"], args.out))


# --------------------------------------------------------------------------
# report: known-head precision/recall on the validation split


@torch.no_grad()
def report(args):
    model, st, data = load_trained(args)
    va = data["val"]
    names = data["names"]
    C = len(names)
    tp = torch.zeros(C)
    fp = torch.zeros(C)
    fn = torch.zeros(C)
    gen = torch.Generator().manual_seed(7)
    nll, count = 0.0, 0
    for i in range(0, va["ids"].shape[0], 256):
        ids = va["ids"][i:i + 256]
        lab = va["labels"][i:i + 256]
        ln = va["length"][i:i + 256]
        real = torch.arange(SEQ)[None, :] < ln[:, None]
        h = model.backbone(ids)
        _, kw = model.known(h)
        pred = kw > 0.5
        tp += (pred & lab & real[..., None]).sum((0, 1)).float()
        fp += (pred & ~lab & real[..., None]).sum((0, 1)).float()
        fn += (~pred & lab & real[..., None]).sum((0, 1)).float()
        noisy, masked = noise(ids, va["region"][i:i + 256], gen)
        hm = model.backbone(noisy)[masked]
        nll += F.cross_entropy(model.lm_logits(hm).float(), model.target_index(ids[masked]), reduction="sum").item()
        count += int(masked.sum())
    # Guards: the largest harm-concept weight over a prompt's tokens (after
    # the head's top-k, as the runtime evaluates a policy's `when`), on the
    # validation prompts, against thresholds.
    guard = {}
    if args.corpus:
        prompts = [json.loads(l) for l in open(os.path.join(args.corpus, "val.jsonl"))]
        toks = tokenize(os.path.join(args.corpus, "val.jsonl"), field="prompt")
        harm = [names.index(c) for c in ("weapons", "poison", "self-harm", "manipulation")]
        peak = []
        for t in toks:
            _, kw = model.known(model.backbone(torch.tensor([t["ids"]])))
            peak.append(float(kw[0][:, harm].max()))
        for th in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            fired = [p >= th for p in peak]
            hf = [f for f, r in zip(fired, prompts) if r["harmful"]]
            bf = [f for f, r in zip(fired, prompts) if not r["harmful"]]
            guard["%.1f" % th] = {"harmful_fired": round(sum(hf) / len(hf), 3),
                                  "benign_fired": round(sum(bf) / len(bf), 3)}
    rows = {}
    for c in range(C):
        support = int(tp[c] + fn[c])
        if support == 0:
            continue
        p = (tp[c] / (tp[c] + fp[c])).item() if tp[c] + fp[c] > 0 else 0.0
        r = (tp[c] / (tp[c] + fn[c])).item()
        rows[names[c]] = {"precision": round(p, 3), "recall": round(r, 3), "support": support}
    print(json.dumps({"step": st["step"], "val_masked_nll": round(nll / count, 4), "guard_on_val_prompts": guard,
                      "concepts": rows}, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["prepare", "train", "export", "report"])
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--steps", type=int, default=6000, help="length of the learning-rate schedule")
    ap.add_argument("--stop-at", type=int, default=0, help="stop (and save) at this step; 0: --steps")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=300, help="learning-rate warmup steps")
    ap.add_argument("--vocab-from", default="",
                    help="prepare: keep the output vocabulary of this data.pt (for a run that will --init from it)")
    ap.add_argument("--init", default="", help="start a new run from this state file's weights")
    ap.add_argument("--oversample-benign", type=float, default=1.0,
                    help="draw benign requests this many times as often as other documents")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--bf16", type=int, default=1, help="bfloat16 autocast for matrix products")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    {"prepare": prepare, "train": train, "export": export, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
