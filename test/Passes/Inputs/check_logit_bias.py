"""Checks folded logit biases against an independent computation.

  check_logit_bias.py CHECKPOINT SPEC [SPEC ...] < steer-opt output

Each SPEC is one expected steer.logit_bias, in the order of the printed
resource blobs: "id:strength[,id:strength...]", meaning
bias[t] = sum strength * max(0, tok_emb[t] . concept_embedding[id]).
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
    w = read(os.path.join(ckpt, "model.safetensors"))
    emb = np.array(w["transformer.tok_emb.weight"], dtype=np.float64).reshape(-1, 64)
    cemb = np.array(w["known_head.concept_embedding.weight"], dtype=np.float64).reshape(-1, 64)
    text = sys.stdin.read()
    blobs = re.findall(r'vocab_bias[_0-9]*: "0x([0-9A-F]+)"', text)
    if len(blobs) != len(specs):
        print("expected %d biases, found %d" % (len(specs), len(blobs)))
        return 1
    worst = 0.0
    for hexdata, spec in zip(blobs, specs):
        raw = bytes.fromhex(hexdata)[4:]  # the first word is the alignment
        got = np.array(struct.unpack("<%df" % (len(raw) // 4), raw))
        want = np.zeros(emb.shape[0])
        for item in spec.split(","):
            cid, strength = item.split(":")
            want += float(strength) * np.maximum(0.0, emb @ cemb[int(cid)])
        err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-12)
        print("bias %s: %d tokens, max relative error %.2e" % (spec, len(got), err))
        worst = max(worst, err)
    return 0 if worst <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
