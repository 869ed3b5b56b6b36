"""An independent NumPy implementation of a Steerling forward pass and of
greedy block-diffusion generation with steering, written from the facts in
docs (not from the reference's code), used to check Steer's C++ runtime on
shapes the golden cases do not cover.

  steerling_numpy.py forward CKPT IDS OUT.npz
  steerling_numpy.py generate CKPT IDS NEW STEPS [--amplify C,C:TARGET:LAYER:CUTOFF]
                     [--unlearn C,C:ALPHA:LAYER:RELU] > sequence (comma-separated)

It recomputes the whole sequence at every step, as the reference does.
Float32 throughout, like the reference on CPU.
"""
import json
import struct
import sys

import numpy as np

F32 = np.float32


def load(ckpt):
    cfg = json.load(open(ckpt + "/config.json"))
    files = []
    try:
        index = json.load(open(ckpt + "/model.safetensors.index.json"))
        files = sorted(set(index["weight_map"].values()))
    except FileNotFoundError:
        files = ["model.safetensors"]
    w = {}
    for f in files:
        data = open(ckpt + "/" + f, "rb").read()
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        for name, info in header.items():
            if name == "__metadata__":
                continue
            b, e = info["data_offsets"]
            raw = data[8 + n + b : 8 + n + e]
            if info["dtype"] == "F32":
                a = np.frombuffer(raw, dtype=F32)
            elif info["dtype"] == "BF16":
                a = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(F32)
            elif info["dtype"] == "F16":
                a = np.frombuffer(raw, dtype=np.float16).astype(F32)
            w[name] = a.reshape(info["shape"]).astype(F32)
    pre = "transformer." if cfg.get("interpretable") else ""
    if pre + "lm_head.weight" in w:
        w[pre + "tok_emb.weight"] = w.pop(pre + "lm_head.weight")
    return cfg, w, pre


def rms(x, weight, eps):
    var = np.mean(x * x, axis=-1, keepdims=True, dtype=F32)
    return (weight * (x / np.sqrt(var + F32(eps)))).astype(F32)


def sigmoid(x):
    return (1.0 / (1.0 + np.exp(-x))).astype(F32)


def act(name, x):
    if name == "relu":
        return np.maximum(x, 0)
    if name == "silu":
        return x * sigmoid(x)
    c = F32(np.sqrt(2.0 / np.pi))
    return F32(0.5) * x * (1 + np.tanh(c * (x + F32(0.044715) * x ** 3)))


def backbone(cfg, w, pre, ids, inject=None):
    D, H = cfg["n_embd"], cfg["n_head"]
    KV = cfg.get("n_kv_heads") or H
    hd, B, T = D // H, cfg["diff_block_size"], len(ids)
    eps = cfg.get("norm_eps", 1e-5)
    x = w[pre + "tok_emb.weight"][ids]
    pos = np.arange(T, dtype=F32)
    inv = (1.0 / (F32(cfg.get("rope_base", 500000.0)) ** (np.arange(0, hd, 2, dtype=F32) / F32(hd)))).astype(F32)
    ang = np.outer(pos, inv).astype(F32)
    cos, sin = np.cos(np.concatenate([ang, ang], 1)), np.sin(np.concatenate([ang, ang], 1))
    qi, ki = np.arange(T)[:, None], np.arange(T)[None, :]
    allowed = (qi // B) >= (ki // B)
    for l in range(cfg["n_layers"]):
        p = pre + "blocks.%d." % l
        post = cfg.get("norm_order", "post") == "post"
        h = x if post else rms(x, w[p + "ln_1.weight"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"].T
        if cfg.get("clip_qkv") is not None:
            qkv = np.clip(qkv, -cfg["clip_qkv"], cfg["clip_qkv"])
        q = qkv[:, :D].reshape(T, H, hd)
        k = qkv[:, D : D + KV * hd].reshape(T, KV, hd)
        v = qkv[:, D + KV * hd :].reshape(T, KV, hd)
        if cfg.get("use_qk_norm", True):
            q = rms(q, w[p + "attn.q_norm.weight"], eps)
            k = rms(k, w[p + "attn.k_norm.weight"], eps)
        if cfg.get("use_rope", True):
            def rot(t):
                half = hd // 2
                r = np.concatenate([-t[..., half:], t[..., :half]], -1)
                return (t * cos[:, None, :] + r * sin[:, None, :]).astype(F32)
            q, k = rot(q), rot(k)
        k = np.repeat(k, H // KV, axis=1)
        v = np.repeat(v, H // KV, axis=1)
        s = np.einsum("thd,shd->hts", q, k).astype(F32) / F32(np.sqrt(hd))
        s = np.where(allowed[None], s, -np.inf)
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        y = np.einsum("hts,shd->thd", s.astype(F32), v).reshape(T, D)
        a = y @ w[p + "attn.c_proj.weight"].T
        x = x + (rms(a, w[p + "ln_1.weight"], eps) if post else a)
        h = x if post else rms(x, w[p + "ln_2.weight"], eps)
        f = h @ w[p + "mlp.c_fc.weight"].T
        if cfg.get("mlp_type", "swiglu") == "swiglu":
            up, gate = np.split(f, 2, axis=-1)
            f = gate * sigmoid(gate) * up
        else:
            f = act(cfg.get("activation", "gelu"), f)
        m = f @ w[p + "mlp.c_proj.weight"].T
        x = (x + (rms(m, w[p + "ln_2.weight"], eps) if post else m)).astype(F32)
        if inject is not None and l + 1 >= inject[2]:
            x = x + inject[1] * inject[0][None, :] * inject[3][:, None]
    return rms(x, w[pre + "ln_f.weight"], eps)


def topk_rows(v, k):
    # Largest first; ties keep the lower index.
    return np.argsort(-v, axis=-1, kind="stable")[:, :k]


def heads(cfg, w, hidden, intervene=None):
    c = cfg["concept"]
    C = c["n_concepts"]
    logits = np.clip(hidden @ w["known_head.concept_predictor.weight"][:C].T, -15, 15)
    E = w["known_head.concept_embedding.weight"][:C]
    rank = logits if c.get("topk_on_logits") else sigmoid(logits)
    kt = c.get("topk_known")
    weights = sigmoid(logits)
    if kt is not None:
        sel = topk_rows(rank, min(kt, C))
        dense = np.zeros_like(weights)
        np.put_along_axis(dense, sel, np.take_along_axis(weights, sel, -1), -1)
        if c.get("topk_on_logits"):
            dense = np.full_like(weights, 0.5)
            np.put_along_axis(dense, sel, np.take_along_axis(weights, sel, -1), -1)
    else:
        dense = weights
    if intervene:
        for cid, val in intervene.items():
            dense[:, cid] = val
        known = dense @ E
    else:
        kf = c.get("topk_known_features") or kt
        sel = topk_rows(rank, min(kf, C)) if kf else np.tile(np.arange(C), (len(hidden), 1))
        known = np.einsum("tk,tkd->td", np.take_along_axis(weights, sel, -1), E[sel])
    out = {"known_features": known.astype(F32), "known_weights": dense.astype(F32)}
    lm = hidden - known
    if c.get("use_unknown", True):
        U = c["n_unknown_concepts"]
        hc = hidden @ w["unknown_head.predictor_down.weight"].T
        ul = np.clip(hc @ w["unknown_head.predictor_up.weight"][:U].T, -15, 15)
        if c.get("unknown_topk") and c.get("apply_topk_to_unknown", True):
            sel = topk_rows(ul, min(c["unknown_topk"], U))
        else:
            sel = np.tile(np.arange(U), (len(hidden), 1))
        wc = np.einsum("tk,tkr->tr", sigmoid(np.take_along_axis(ul, sel, -1)),
                       w["unknown_head.embedding_coef.weight"][sel])
        lm = wc @ w["unknown_head.embedding_basis.weight"].T
        out["unk_hat"] = lm.astype(F32)
        out["unknown_topk_indices"] = sel
    if c.get("use_epsilon_correction", True) and not intervene:
        lm = lm + (hidden - (lm + known))
    out["composed"] = (lm + known).astype(F32)
    return out


def forward(cfg, w, pre, ids, intervene=None):
    hidden = backbone(cfg, w, pre, ids)
    out = {"hidden": hidden}
    composed = hidden
    if cfg.get("interpretable"):
        out.update(heads(cfg, w, hidden, intervene))
        composed = out["composed"]
    out["logits"] = composed @ w[pre + "tok_emb.weight"].T
    return out


def generate(cfg, w, pre, prompt, new, steps, amplify=None, unlearn=None):
    mask, eos, pad, B = cfg["mask_token_id"], cfg["eos_token_id"], cfg["pad_token_id"], cfg["diff_block_size"]
    P = len(prompt)
    x = np.array(list(prompt) + [mask] * new)
    blocks = new // B
    per = steps // blocks
    E = w.get("known_head.concept_embedding.weight")
    lmw = w[pre + "tok_emb.weight"]
    direction = alpha = layer = None
    bias = None
    schedule, cutoff = "fixed", 0
    spec = amplify or unlearn
    if spec:
        ids, a, layer = spec[0], spec[1], spec[2]
        v = E[ids].sum(0)
        direction = (v / (np.linalg.norm(v) + 1e-12)).astype(F32)
        if amplify:
            alpha = F32(a / max(float((lmw @ direction).max()), 1e-6))
            schedule, cutoff = "hard_cutoff", spec[3]
        else:
            alpha = F32(a)
            bias = spec[3] * np.maximum(lmw @ E[ids[0]], 0)
    for b in range(blocks):
        bs, be = P + b * B, P + (b + 1) * B
        n = int((x[bs:be] == mask).sum())
        sched = [n // per + (1 if i < n % per else 0) for i in range(per)]
        for s in range(per):
            cur = alpha
            if direction is not None and schedule == "hard_cutoff":
                if new - int((x == mask).sum()) >= cutoff:
                    cur = None
            inj = None
            if direction is not None and cur is not None:
                inj = (direction, cur, layer, (x == mask).astype(F32))
            hidden = backbone(cfg, w, pre, x, inj)
            composed = heads(cfg, w, hidden)["composed"] if cfg.get("interpretable") else hidden
            mpos = [p for p in range(bs, be) if x[p] == mask]
            if not mpos:
                continue
            lg = composed[mpos] @ lmw.T
            if bias is not None:
                lg = lg - bias
            lg[:, eos] = -np.inf
            lg[:, mask] = -np.inf
            lg[:, pad] = -np.inf
            mx = lg.max(-1, keepdims=True)
            conf = 1.0 / np.exp(lg - mx).sum(-1)
            order = np.argsort(-conf, kind="stable")[: sched[s]]
            for i in order:
                x[mpos[i]] = int(np.argmax(lg[i]))
    return x


def main():
    cmd, ckpt = sys.argv[1], sys.argv[2]
    cfg, w, pre = load(ckpt)
    ids = [int(t) for t in sys.argv[3].split(",")]
    if cmd == "forward":
        out = forward(cfg, w, pre, ids)
        if len(sys.argv) > 5:
            iv = {int(a): float(b) for a, b in (e.split(":") for e in sys.argv[5].split(","))}
            ivo = forward(cfg, w, pre, ids, iv)
            out["intervene.logits"] = ivo["logits"]
            out["intervene.known_features"] = ivo["known_features"]
        np.savez(sys.argv[4], **out)
    else:
        new, steps = int(sys.argv[4]), int(sys.argv[5])
        amplify = unlearn = None
        for arg in sys.argv[6:]:
            kind, spec = arg.split("=", 1)
            parts = spec.split(":")
            cs = [int(c) for c in parts[0].split(",")]
            nums = [float(p) for p in parts[1:]]
            if kind == "--amplify":
                amplify = (cs, nums[0], int(nums[1]), int(nums[2]))
            else:
                unlearn = (cs, nums[0], int(nums[1]), nums[2])
        print(",".join(str(int(t)) for t in generate(cfg, w, pre, ids, new, steps, amplify, unlearn)))


main()
