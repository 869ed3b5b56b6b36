"""Checks folded constants against an independent numpy computation.

  check_folds.py CHECKPOINT SPEC [SPEC ...] < steer-opt output

(bias and inject specs read CHECKPOINT's float32 weights.)

Each SPEC is one expected folded op, in the order of the printed resource
blobs:
  bias:ID:S[,ID:S...]   steer.logit_bias, bias[t] = sum S * max(0,
                        tok_emb[t] . concept_embedding[ID])
  inject:ID[,ID...][:T] steer.inject, direction = normalised sum of the
                        concept embeddings; with T (a normalised target in
                        logits), alpha = T / max(tok_emb . direction), read
                        from the op
  features:B:ID=V[,...] steer.fixed_features: sum_j row[j] *
                        concept_embedding[j], row = B everywhere but the
                        listed overrides
  profile:DUMP          steer.target_profile (printed dense, not a blob):
                        the mean over positions of forward.known_weights in
                        DUMP, a `steer-run forward --dump` of the response
Prints the largest relative error of each and exits 1 above 1e-5.
"""
import os
import re
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "Inputs"))
from golden_compare import read  # noqa: E402


def main():
    ckpt, specs = sys.argv[1], sys.argv[2:]
    text = sys.stdin.read()
    profiles = [s for s in specs if s.startswith("profile:")]
    specs = [s for s in specs if not s.startswith("profile:")]
    worst = 0.0
    printed = re.findall(r"profile = dense<\[([^\]]*)\]>", text)
    if len(printed) != len(profiles):
        print("expected %d profiles, found %d" % (len(profiles), len(printed)))
        return 1
    for values, spec in zip(printed, profiles):
        dump = read(spec.split(":", 1)[1])
        weights = np.array(dump["forward.known_weights"])
        rows = len(dump["forward.ids"])
        want = weights.reshape(rows, -1).mean(axis=0)
        got = np.array([float(v) for v in values.split(",")])
        err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-12)
        print("profile: %d concepts over %d tokens, max relative error %.2e" % (len(got), rows, err))
        worst = max(worst, err)
    blobs = re.findall(r'^\s*(\w+): "0x([0-9A-F]+)"', text, re.M)
    if specs:
        w = read(os.path.join(ckpt, "model.safetensors"))
        d = len(w["transformer.ln_f.weight"])
        cemb = np.array(w["known_head.concept_embedding.weight"], dtype=np.float64).reshape(-1, d)
        emb = np.array(w["transformer.tok_emb.weight"], dtype=np.float64).reshape(-1, d)
    alphas = [float(a) for a in re.findall(r"steer\.inject .*alpha = ([-0-9.e+]+) : f32.*direction", text)]
    if len(blobs) != len(specs):
        print("expected %d folded constants, found %d" % (len(specs), len(blobs)))
        return 1
    for (name, hexdata), spec in zip(blobs, specs):
        raw = bytes.fromhex(hexdata)[4:]  # the first word is the alignment
        got = np.array(struct.unpack("<%df" % (len(raw) // 4), raw))
        kind, rest = spec.split(":", 1)
        if kind == "features":
            base, _, over = rest.partition(":")
            row = np.full(cemb.shape[0], float(base))
            for item in filter(None, over.split(",")):
                cid, value = item.split("=")
                row[int(cid)] = float(value)
            want = row @ cemb
        elif kind == "bias":
            want = np.zeros(emb.shape[0])
            for item in rest.split(","):
                cid, strength = item.split(":")
                want += float(strength) * np.maximum(0.0, emb @ cemb[int(cid)])
        else:
            ids, _, target = rest.partition(":")
            v = sum(cemb[int(i)] for i in ids.split(","))
            want = v / np.linalg.norm(v)
            got_alpha = alphas.pop(0)
            if target:
                alpha = float(target) / max((emb @ want).max(), 1e-6)
                err = abs(got_alpha - alpha) / abs(alpha)
                print("%s alpha: %.6g (numpy %.6g), relative error %.2e" % (name, got_alpha, alpha, err))
                worst = max(worst, err)
        err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-12)
        print("%s (%s): %d values, max relative error %.2e" % (name, spec, len(got), err))
        worst = max(worst, err)
    return 0 if worst <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
