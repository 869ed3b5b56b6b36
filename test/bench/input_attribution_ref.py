"""The reference's own input attribution (FaithfulOutputToInputAttributor:
integrated gradients through PyTorch autograd, float32 as its attribution
runs here), timed on the same checkpoint, prompt and generation as
steer-bench-input-attribution, for scripts/bench-input-attribution.sh.

  input_attribution_ref.py REFCHECK_DIR CKPT NEW_TOKENS STEPS IG_STEPS GROUPS [PROMPT=11] [THREADS=2]

The trace is recorded by the reference's own callback during generate_full;
the first GROUPS commit groups (all: 0) are attributed by
attribute_from_trace, which alone is timed. Prints one JSON line.
"""
import json
import sys
import time
from pathlib import Path

refcheck_dir, ckpt = sys.argv[1], sys.argv[2]
gen_n, steps, ig_steps, groups = (int(x) for x in sys.argv[3:7])
plen = int(sys.argv[7]) if len(sys.argv) > 7 else 11
threads = int(sys.argv[8]) if len(sys.argv) > 8 else 2
sys.path.insert(0, str(Path(refcheck_dir).resolve()))
import refcheck  # noqa: E402  (installs the shims)
import torch  # noqa: E402

import steerling.attribution.input_attribution as ia  # noqa: E402
import steerling.inference.causal_diffusion as cd  # noqa: E402
from steerling.configs.generation import GenerationConfig  # noqa: E402
from steerling.inference.causal_diffusion import SteerlingGenerator  # noqa: E402

torch.set_num_threads(threads)
cfg = json.loads((Path(ckpt) / "config.json").read_text())
tok = refcheck.FakeTok(cfg)
cd.SteerlingTokenizer = lambda instruct=False: tok
gen = SteerlingGenerator.from_pretrained(ckpt, device="cpu", dtype=torch.float32)
gcfg = GenerationConfig(max_new_tokens=gen_n, steps=steps, temperature=0.0, top_p=0.0,
                        repetition_penalty=1.0, use_entropy_sampling=False, seed=0)
att = ia.FaithfulOutputToInputAttributor(gen)
prompt = torch.tensor([[11 + i for i in range(plen)]], dtype=torch.long)
recorder = ia._TraceRecorder()
gen.generate_full(prompt, gcfg, step_callback=recorder)
kept = recorder.groups if groups <= 0 else recorder.groups[:groups]
trace = att._build_trace(prompt, gcfg, kept)
t0 = time.perf_counter()
r = att.attribute_from_trace(trace, n_steps=ig_steps)
secs = time.perf_counter() - t0
full = att._build_trace(prompt, gcfg, recorder.groups)
n = int(r.attributions.shape[0])
print(json.dumps({"groups": len(kept), "targets": n, "ig_steps": ig_steps, "seconds": secs,
                  "ms_per_target": secs * 1e3 / n, "ms_per_target_step": secs * 1e3 / (n * ig_steps),
                  "tokens": full.committed_tokens().tolist(),
                  "first_row": r.attributions[0].tolist()}))
