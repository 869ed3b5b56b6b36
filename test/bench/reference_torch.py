"""The reference's generation algorithm in PyTorch, for speed comparison.

Steer cannot run guidelabs/steerling here (no PyPI), so this script runs the
same algorithm the reference's SteerlingGenerator runs, written for this
repository: the model in bfloat16 (the reference's default load dtype), and
at every step a forward over the whole sequence (prompt + all positions,
masked or not) through the blocks, both concept heads and lm_head on every
row, then the confidence-ordered commit. Greedy settings, steps = tokens.

  reference_torch.py CKPT NEW_TOKENS PROMPT_TOKENS THREADS

Prints tokens/s and the generated sequence's first ids.
"""
import json
import math
import struct
import sys
import time

import torch

torch.set_grad_enabled(False)
ckpt, new, plen, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
DT = torch.bfloat16

cfg = json.load(open(ckpt + "/config.json"))
try:
    files = sorted(set(json.load(open(ckpt + "/model.safetensors.index.json"))["weight_map"].values()))
except FileNotFoundError:
    files = ["model.safetensors"]
W = {}
for f in files:
    data = open(ckpt + "/" + f, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    for name, info in json.loads(data[8 : 8 + n]).items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = bytearray(data[8 + n + b : 8 + n + e])
        dt = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}[info["dtype"]]
        W[name] = torch.frombuffer(raw, dtype=dt).reshape(info["shape"]).to(DT)
pre = "transformer." if cfg["interpretable"] else ""
D, H = cfg["n_embd"], cfg["n_head"]
KV = cfg.get("n_kv_heads") or H
hd, B = D // H, cfg["diff_block_size"]
eps = cfg.get("norm_eps", 1e-5)
C = cfg["concept"]


def rms(x, w):
    xf = x.float()
    return (w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps))).to(x.dtype)


def forward(ids):
    T = ids.shape[0]
    x = W[pre + "tok_emb.weight"][ids]
    inv = 1.0 / (cfg["rope_base"] ** (torch.arange(0, hd, 2).float() / hd))
    ang = torch.outer(torch.arange(T).float(), inv)
    pos = torch.cat([ang, ang], -1)
    cos, sin = pos.cos().to(DT), pos.sin().to(DT)
    qi = torch.arange(T)[:, None]
    mask = torch.zeros(T, T, dtype=DT).masked_fill(~((qi // B) >= (qi.T // B)), float("-inf"))
    for l in range(cfg["n_layers"]):
        p = pre + "blocks.%d." % l
        qkv = (x @ W[p + "attn.c_attn.weight"].T).clamp(-cfg["clip_qkv"], cfg["clip_qkv"])
        q = qkv[:, :D].reshape(T, H, hd).transpose(0, 1)
        k = qkv[:, D : D + KV * hd].reshape(T, KV, hd).transpose(0, 1)
        v = qkv[:, D + KV * hd :].reshape(T, KV, hd).transpose(0, 1)
        q, k = rms(q, W[p + "attn.q_norm.weight"]), rms(k, W[p + "attn.k_norm.weight"])
        rot = lambda t: t * cos + torch.cat([-t[..., hd // 2 :], t[..., : hd // 2]], -1) * sin
        q, k = rot(q), rot(k)
        k, v = k.repeat_interleave(H // KV, 0), v.repeat_interleave(H // KV, 0)
        # torch 1.13 has no scaled_dot_product_attention; the same math.
        att = torch.softmax((q @ k.transpose(-1, -2)).float() / math.sqrt(hd) + mask.float(), -1)
        y = att.to(DT) @ v
        x = x + rms(y.transpose(0, 1).reshape(T, D) @ W[p + "attn.c_proj.weight"].T, W[p + "ln_1.weight"])
        up, gate = (x @ W[p + "mlp.c_fc.weight"].T).chunk(2, -1)
        x = x + rms((torch.nn.functional.silu(gate) * up) @ W[p + "mlp.c_proj.weight"].T, W[p + "ln_2.weight"])
    h = rms(x, W[pre + "ln_f.weight"])
    # Concept heads on every row (minimal_output: features only).
    n = C["n_concepts"]
    kl = (h @ W["known_head.concept_predictor.weight"][:n].T).float().clamp(-15, 15)
    tv, ti = torch.sigmoid(kl).topk(C["topk_known_features"] or C["topk_known"], -1)
    kf = torch.einsum("tk,tkd->td", tv.to(DT), W["known_head.concept_embedding.weight"][ti])
    u = C["n_unknown_concepts"]
    ul = ((h @ W["unknown_head.predictor_down.weight"].T).float() @ W["unknown_head.predictor_up.weight"][:u].float().T).clamp(-15, 15)
    uv, ui = ul.topk(C["unknown_topk"], -1)
    wc = torch.einsum("tk,tkr->tr", torch.sigmoid(uv).to(DT), W["unknown_head.embedding_coef.weight"][ui])
    unk = wc @ W["unknown_head.embedding_basis.weight"].T
    composed = unk + (h - (unk + kf)) + kf
    return composed @ W[pre + "tok_emb.weight"].T


mask_id, eos, pad = cfg["mask_token_id"], cfg["eos_token_id"], cfg["pad_token_id"]
prompt = [(i * 7919 + 13) % (cfg["vocab_size"] - 8) for i in range(plen)]
x = torch.tensor(prompt + [mask_id] * new)
t0 = time.time()
for b in range(new // B):
    bs = plen + b * B
    for s in range(B):
        logits = forward(x)
        mpos = (x[bs : bs + B] == mask_id).nonzero().squeeze(1) + bs
        lg = logits[mpos].float()
        lg[:, eos] = float("-inf")
        lg[:, [mask_id, pad]] = float("-inf")
        conf = torch.softmax(lg, -1).max(-1).values
        i = int(conf.argmax())
        x[mpos[i]] = int(lg[i].argmax())
secs = time.time() - t0
print("reference algorithm (torch %s, bf16, %d threads): %.3f tokens/s, %.1f ms/step"
      % (torch.__version__, threads, new / secs, secs / new * 1e3))
print("sequence:", x[plen : plen + 12].tolist())
