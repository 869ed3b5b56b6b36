#!/usr/bin/env python3
"""Reference input attributions for the golden cases, computed by the public
Steerling reference's own integrated-gradients code and PyTorch autograd.

For every case in test/golden/ this records a greedy generation with the
reference's FaithfulOutputToInputAttributor (the commit trace, one snapshot per
commit group) and its attributions for n_steps 1 and 32 and each baseline:
mask (the reference's faithful default), pad and zero (the reference's
OutputToInputAttributor primitive with a per-position pad or zero baseline).
It also records, per target, the target logit at the input and at the
baseline (two forwards through the same hidden -> lm_head function the IG
differentiates), so the test can check completeness.

Writes test/golden/input-attribution/<case>.json. Needs Debian's python3-torch
and the reference tree (see ../shared/tools/refcheck/README.md):

  STEERLING_REF=/tmp/steerling /usr/bin/python3 test/golden/make_input_attribution.py \
      --refcheck ../shared/tools/refcheck
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--refcheck", required=True, help="directory of refcheck.py and shims.py")
    p.add_argument("--ids", default="1,2,3,4,5,6,7,8,9,10,11")
    p.add_argument("--gen", type=int, default=16)
    p.add_argument("--cases", default="tiny-f32,tiny-bf16")
    a = p.parse_args()

    sys.path.insert(0, str(Path(a.refcheck).resolve()))
    import refcheck  # noqa: F401  (installs the shims)
    import torch

    import steerling.attribution.input_attribution as ia
    import steerling.inference.causal_diffusion as cd
    from steerling.attribution.utils import _backbone_forward_fn
    from steerling.configs.generation import GenerationConfig
    from steerling.inference.causal_diffusion import SteerlingGenerator

    torch.set_num_threads(2)
    ids = [int(x) for x in a.ids.split(",")]
    for case in a.cases.split(","):
        ckpt = HERE / case / "checkpoint"
        cfg = json.loads((ckpt / "config.json").read_text())
        tok = refcheck.FakeTok(cfg)
        cd.SteerlingTokenizer = lambda instruct=False, _t=tok: _t
        gen = SteerlingGenerator.from_pretrained(str(ckpt), device="cpu", dtype=torch.float32)
        gcfg = GenerationConfig(max_new_tokens=a.gen, steps=a.gen, temperature=0.0, top_p=0.0,
                                repetition_penalty=1.0, use_entropy_sampling=False, seed=0)
        model = gen.model
        emb = model.transformer.tok_emb
        forward_fn = _backbone_forward_fn(model)
        out = {"case": case, "prompt": ids, "max_new_tokens": a.gen, "steps": a.gen,
               "mask_token_id": cfg["mask_token_id"], "pad_token_id": cfg["pad_token_id"],
               "runs": []}
        trace_tokens = None
        for baseline in ("mask", "pad", "zero"):
            for n_steps in (1, 32):
                att = ia.FaithfulOutputToInputAttributor(gen)

                def base_fn(trace, _b=baseline):
                    T = trace.seq_length
                    with torch.no_grad():
                        if _b == "zero":
                            return torch.zeros(T, cfg["n_embd"])
                        tid = cfg["mask_token_id"] if _b == "mask" else cfg["pad_token_id"]
                        return emb(torch.full((T,), tid, dtype=torch.long))

                att._baseline_embedding = base_fn
                r = att.attribute(ids, gcfg, n_steps=n_steps)
                tokens = r.trace.committed_tokens().tolist()
                if trace_tokens is None:
                    trace_tokens = tokens
                assert tokens == trace_tokens, "the greedy generation changed between runs"
                targets = []
                for n in range(len(r.target_positions)):
                    order = int(r.target_orders[n])
                    pos = int(r.target_positions[n])
                    tid = int(r.target_token_ids[n])
                    x = r.trace.reconstruct(order)
                    with torch.no_grad():
                        e_in = emb(x.unsqueeze(0))
                        e_base = base_fn(r.trace).unsqueeze(0)
                        l_in = float(forward_fn(x.unsqueeze(0), e_in)[0][0, pos, tid])
                        l_base = float(forward_fn(x.unsqueeze(0), e_base)[0][0, pos, tid])
                    targets.append({"order": order, "position": pos, "token": tid,
                                    "logit": float(r.target_logits[n]),
                                    "logit_input": l_in, "logit_baseline": l_base,
                                    "snapshot": x.tolist(),
                                    "attribution": [float(v) for v in r.attributions[n].tolist()]})
                out["runs"].append({"baseline": baseline, "n_steps": n_steps, "targets": targets})
        out["tokens"] = trace_tokens
        dest = HERE / "input-attribution" / f"{case}.json"
        dest.parent.mkdir(exist_ok=True)
        dest.write_text(json.dumps(out, indent=None) + "\n")
        print(f"wrote {dest}: {len(out['runs'])} runs of {len(out['runs'][0]['targets'])} targets")


if __name__ == "__main__":
    main()
