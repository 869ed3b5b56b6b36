#!/usr/bin/env python3
"""Checks that the trainer's model and Steer's runtime compute the same thing.

  check_runtime.py MODEL_DIR DUMP.safetensors [TOL]

Loads an exported checkpoint (config.json + model.safetensors) back into the
trainer's PyTorch Steerling, runs the ids stored in DUMP (written by
`steer-run forward MODEL_DIR --ids ... --dump DUMP`) in float32, and compares
logits, hidden, known weights (after top-k), known features and unknown
features by normwise relative error. Exits 1 on any mismatch.
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from steerling import PADDED_TABLES, Steerling, checkpoint_names  # noqa: E402

torch.set_grad_enabled(False)


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = bytearray(data[8 + n + b:8 + n + e])
        dt = {"F32": torch.float32, "BF16": torch.bfloat16, "I64": torch.int64}[info["dtype"]]
        out[name] = torch.frombuffer(raw, dtype=dt).reshape(info["shape"])
    return out


def main():
    model_dir, dump_path = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    W = {k: v.float() for k, v in read_safetensors(os.path.join(model_dir, "model.safetensors")).items()}
    V, c = cfg["vocab_size"], cfg["concept"]
    # Every row is its own output row except the pad token's, which stands
    # in for the shared row (log 1 = 0 added: the full softmax exactly).
    pad = cfg["pad_token_id"]
    used = [i for i in range(V) if i != pad]
    m = Steerling(cfg, used)
    sd = {"emb": torch.cat([W["transformer.tok_emb.weight"][used], W["transformer.tok_emb.weight"][pad:pad + 1]]),
          "ln_f": W["transformer.ln_f.weight"]}
    for ours, theirs in checkpoint_names(cfg):
        sd[ours] = W[theirs]
    rows = {"known": c["n_concepts"], "unknown": c["n_unknown_concepts"]}
    for ours, theirs, head in PADDED_TABLES:
        sd[ours] = W[theirs][:rows[head]]
    m.load_state_dict(sd)

    dump = read_safetensors(dump_path)
    ids = dump["forward.ids"].long()[None]
    h = m.backbone(ids)
    _, kw = m.known(h)
    kf = m.features(kw)
    unk = m.unknown(h)
    lg = m.lm_logits(h)[0]
    logits = torch.empty(ids.shape[1], V)
    logits[:, used] = lg[:, :-1]
    logits[:, pad] = lg[:, -1]
    ours = {"forward.logits": logits, "forward.hidden": h[0], "forward.known_weights": kw[0],
            "forward.known_features": kf[0], "forward.unk_hat": unk[0]}
    failed = False
    for name, ref in ours.items():
        got = dump[name].float()
        rel = float((got - ref).abs().max() / ref.abs().max().clamp(min=1e-30))
        ok = rel <= tol
        print("%s %s (rel %.2e)" % (name, "ok" if ok else "FAIL", rel))
        failed |= not ok
    agree = bool((dump["forward.logits"].argmax(-1) == logits.argmax(-1)).all())
    print("argmax agrees: %s" % agree)
    sys.exit(1 if failed or not agree else 0)


if __name__ == "__main__":
    main()
