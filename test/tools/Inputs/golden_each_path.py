"""Runs the golden forward and greedy generation on every kernel path this
CPU runs (STEER_ISA=<path>, the paths `steer-run devices` lists) and
compares each with the reference's golden outputs.

  golden_each_path.py STEER_RUN GOLDEN_DIR COMPARE_PY WORKDIR

Prints "<path>: forward ok" and "<path>: greedy match" per path, or the
failing comparison; exits 1 on any mismatch.
"""
import os
import re
import subprocess
import sys

steer_run, golden, compare, work = sys.argv[1:5]
devices = subprocess.run([steer_run, "devices"], capture_output=True,
                         text=True, check=True).stdout
m = re.search(r"\(runs:([a-z0-9 ]+)\)", devices)
if not m:
    sys.exit("no kernel paths in `steer-run devices`:\n" + devices)
paths = m.group(1).split()
print("paths:", " ".join(paths))
failed = False
for path in paths:
    env = dict(os.environ, STEER_ISA=path)
    dump = os.path.join(work, path + ".safetensors")
    subprocess.run([steer_run, "forward", golden + "/tiny-f32/checkpoint",
                    "--ids", "1,2,3,4,5,6,7,8,9,10,11", "--intervene",
                    "3:0.0,7:1.0", "--dump", dump], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    r = subprocess.run([sys.executable, compare, "dump",
                        golden + "/tiny-f32/golden.safetensors", dump, "1e-4"],
                       capture_output=True, text=True)
    print(f"{path}: forward {'ok' if r.returncode == 0 else 'FAIL'}")
    if r.returncode:
        print(r.stdout, r.stderr)
        failed = True
    gen = os.path.join(work, path + ".json")
    with open(gen, "w") as f:
        subprocess.run([steer_run, "generate", golden + "/tiny-f32/checkpoint",
                        "--ids", "1,2,3,4,5,6,7,8,9,10,11",
                        "--max-new-tokens", "16", "--greedy", "--json"],
                       env=env, check=True, stdout=f)
    r = subprocess.run([sys.executable, compare, "sequence",
                        golden + "/tiny-f32/golden.safetensors",
                        "generate.greedy", gen], capture_output=True, text=True)
    print(f"{path}: greedy {'match' if r.returncode == 0 else 'FAIL'}")
    if r.returncode:
        print(r.stdout, r.stderr)
        failed = True
sys.exit(1 if failed else 0)
