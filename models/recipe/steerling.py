"""The Steerling architecture in PyTorch, for training the embedded model.

Written for this repository from the facts in docs/ and the reference's
semantics (see ../shared/docs/steerling-reference.md): post-norm blocks with
block-causal GQA attention, qk-norm, RoPE (rotate-half, float32), clip_qkv,
SwiGLU; a linear known-concept head (clamped logits, sigmoid weights, top-k
over weights); a factorized unknown head with top-k over logits; epsilon
correction; tied embedding and lm_head.

Training-only additions, none of which exist in the exported checkpoint:
  * the output layer is trained over the tokens the corpus uses; every other
    vocabulary row shares one learned vector, so the training softmax equals
    the full 100281-way softmax of the exported model exactly;
  * `composed_logits` takes known weights from the caller (the labels, for
    teacher forcing), as an intervention does at inference.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def rms_norm(x, w, eps):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, h, kv = cfg["n_embd"], cfg["n_head"], cfg["n_kv_heads"]
        self.d, self.h, self.kv, self.hd = d, h, kv, d // h
        self.eps, self.clip, self.B = cfg["norm_eps"], cfg["clip_qkv"], cfg["diff_block_size"]
        self.c_attn = nn.Linear(d, d + 2 * kv * self.hd, bias=False)
        self.c_proj = nn.Linear(d, d, bias=False)
        self.q_norm = nn.Parameter(torch.ones(self.hd))
        self.k_norm = nn.Parameter(torch.ones(self.hd))
        self.ln_1 = nn.Parameter(torch.ones(d))
        self.ln_2 = nn.Parameter(torch.ones(d))
        hidden = cfg["intermediate_size"]
        self.c_fc = nn.Linear(d, 2 * hidden, bias=False)
        self.mlp_proj = nn.Linear(hidden, d, bias=False)

    def forward(self, x, cos, sin, mask, inject=None):
        N, T, D = x.shape
        qkv = self.c_attn(x).clamp(-self.clip, self.clip)
        q, k, v = qkv.split([D, self.kv * self.hd, self.kv * self.hd], -1)
        q = rms_norm(q.view(N, T, self.h, self.hd), self.q_norm, self.eps).transpose(1, 2)
        k = rms_norm(k.view(N, T, self.kv, self.hd), self.k_norm, self.eps).transpose(1, 2)
        v = v.view(N, T, self.kv, self.hd).transpose(1, 2)

        def rope(t):
            half = self.hd // 2
            rot = torch.cat([-t[..., half:], t[..., :half]], -1)
            return (t.float() * cos + rot.float() * sin).to(t.dtype)

        q, k = rope(q), rope(k)
        rep = self.h // self.kv
        k = k.repeat_interleave(rep, 1)
        v = v.repeat_interleave(rep, 1)
        att = (q @ k.transpose(-1, -2)).float() / math.sqrt(self.hd) + mask
        y = torch.softmax(att, -1).to(v.dtype) @ v
        y = y.transpose(1, 2).reshape(N, T, D)
        x = x + rms_norm(self.c_proj(y), self.ln_1, self.eps)
        up, gate = self.c_fc(x).chunk(2, -1)
        x = x + rms_norm(self.mlp_proj(F.silu(gate) * up), self.ln_2, self.eps)
        return x


class Steerling(nn.Module):
    def __init__(self, cfg, used_tokens):
        """used_tokens: sorted vocabulary ids that get their own output row."""
        super().__init__()
        self.cfg = cfg
        c = cfg["concept"]
        d = cfg["n_embd"]
        self.V = cfg["vocab_size"]
        self.register_buffer("used", torch.tensor(used_tokens, dtype=torch.long), persistent=False)
        # Global id -> row of `emb` (the last row is the shared "other" row).
        lookup = torch.full((self.V,), len(used_tokens), dtype=torch.long)
        lookup[self.used] = torch.arange(len(used_tokens))
        self.register_buffer("lookup", lookup, persistent=False)
        other = torch.zeros(len(used_tokens) + 1)
        other[-1] = math.log(self.V - len(used_tokens))
        self.register_buffer("other_bias", other, persistent=False)
        self.emb = nn.Parameter(torch.randn(len(used_tokens) + 1, d) * 0.02)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg["n_layers"]))
        self.ln_f = nn.Parameter(torch.ones(d))
        n, u, r = c["n_concepts"], c["n_unknown_concepts"], c["factorize_rank"]
        self.n_concepts = n
        self.concept_predictor = nn.Linear(d, n, bias=False)
        self.concept_embedding = nn.Parameter(torch.randn(n, d) * 0.02)
        self.predictor_down = nn.Linear(d, r, bias=False)
        self.predictor_up = nn.Linear(r, u, bias=False)
        self.embedding_coef = nn.Parameter(torch.randn(u, r) * 0.02)
        self.embedding_basis = nn.Parameter(torch.randn(d, r) * 0.02)
        self.topk_known = c["topk_known_features"]
        self.topk_unknown = c["unknown_topk"]
        hd = d // cfg["n_head"]
        inv = 1.0 / (cfg["rope_base"] ** (torch.arange(0, hd, 2).float() / hd))
        self.register_buffer("inv_freq", inv, persistent=False)
        for b in self.blocks:
            for lin in (b.c_attn, b.c_proj, b.c_fc, b.mlp_proj):
                nn.init.normal_(lin.weight, std=0.02)
        for lin in (self.concept_predictor, self.predictor_down, self.predictor_up):
            nn.init.normal_(lin.weight, std=0.02)

    def backbone(self, ids):
        N, T = ids.shape
        x = self.emb[self.lookup[ids]]
        pos = torch.arange(T, device=ids.device).float()
        ang = torch.outer(pos, self.inv_freq)
        ang = torch.cat([ang, ang], -1)
        cos, sin = ang.cos(), ang.sin()
        B = self.cfg["diff_block_size"]
        qb = torch.arange(T, device=ids.device) // B
        mask = torch.zeros(T, T, device=ids.device).masked_fill(qb[:, None] < qb[None, :], float("-inf"))
        for b in self.blocks:
            x = b(x, cos, sin, mask)
        return rms_norm(x, self.ln_f, self.cfg["norm_eps"])

    def known(self, h):
        logits = self.concept_predictor(h).float().clamp(-15, 15)
        w = torch.sigmoid(logits)
        top, idx = w.topk(self.topk_known, -1)
        sparse = torch.zeros_like(w).scatter(-1, idx, top)
        return logits, sparse

    def unknown(self, h):
        logits = self.predictor_up(self.predictor_down(h)).float().clamp(-15, 15)
        top, idx = logits.topk(self.topk_unknown, -1)
        coef = torch.einsum("...k,...kr->...r", torch.sigmoid(top).to(h.dtype), self.embedding_coef[idx])
        return coef @ self.embedding_basis.T

    def features(self, weights):
        return weights.to(self.concept_embedding.dtype) @ self.concept_embedding

    def lm_logits(self, x):
        """Logits over [used tokens..., other]; `other` stands for every
        unused vocabulary row at once (log of their count added)."""
        return x @ self.emb.T + self.other_bias

    def target_index(self, targets):
        return self.lookup[targets]


def checkpoint_names(cfg):
    """(trainer state_dict key, checkpoint key) for every tensor that maps
    one to one; the embedding (restricted rows) and the padded concept
    tables (first n rows) are the callers' to reshape."""
    out = []
    for i in range(cfg["n_layers"]):
        p, q = "blocks.%d." % i, "transformer.blocks.%d." % i
        out += [(p + "c_attn.weight", q + "attn.c_attn.weight"), (p + "c_proj.weight", q + "attn.c_proj.weight"),
                (p + "q_norm", q + "attn.q_norm.weight"), (p + "k_norm", q + "attn.k_norm.weight"),
                (p + "ln_1", q + "ln_1.weight"), (p + "ln_2", q + "ln_2.weight"),
                (p + "c_fc.weight", q + "mlp.c_fc.weight"), (p + "mlp_proj.weight", q + "mlp.c_proj.weight")]
    out += [("ln_f", "transformer.ln_f.weight"),
            ("predictor_down.weight", "unknown_head.predictor_down.weight"),
            ("embedding_basis", "unknown_head.embedding_basis.weight")]
    return out


# Padded concept tables: (trainer key, checkpoint key, "known" or "unknown").
PADDED_TABLES = [
    ("concept_predictor.weight", "known_head.concept_predictor.weight", "known"),
    ("concept_embedding", "known_head.concept_embedding.weight", "known"),
    ("predictor_up.weight", "unknown_head.predictor_up.weight", "unknown"),
    ("embedding_coef", "unknown_head.embedding_coef.weight", "unknown"),
]
