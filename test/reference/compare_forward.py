"""Compares a `steer-run forward --dump` file with steerling_numpy.py's .npz.

  compare_forward.py DUMP.safetensors REF.npz TOL

Every tensor both hold is compared by normwise relative error
max|ours - ref| / max|ref| (index tensors exactly); prints a line per tensor
and exits 1 on any mismatch.
"""
import json
import struct
import sys

import numpy as np

dump_path, ref_path, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
data = open(dump_path, "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8 : 8 + n])
ours = {}
for name, info in header.items():
    if name == "__metadata__":
        continue
    b, e = info["data_offsets"]
    dt = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
    ours[name] = np.frombuffer(data[8 + n + b : 8 + n + e], dtype=dt).reshape(info["shape"])
ref = np.load(ref_path)
failed = False
for key in sorted(ref.files):
    name = key if key.startswith("intervene.") else "forward." + key
    if name not in ours:
        print("%s MISSING" % name)
        failed = True
        continue
    a, b = ours[name], ref[key]
    if a.shape != b.shape:
        print("%s SHAPE %s vs %s" % (name, a.shape, b.shape))
        failed = True
    elif key.endswith("indices"):
        ok = bool((a == b).all())
        print("%s %s" % (name, "exact" if ok else "DIFFERS"))
        failed |= not ok
    else:
        rel = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
        ok = rel <= tol
        print("%s %s" % (name, "ok" if ok else "FAIL rel=%g" % rel))
        failed |= not ok
sys.exit(1 if failed else 0)
