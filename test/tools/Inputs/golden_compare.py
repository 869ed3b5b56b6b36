"""Compares steer-run outputs with the reference's golden tensors.

  golden_compare.py dump GOLDEN DUMP TOL      every forward./intervene. tensor
                                              of GOLDEN within normwise
                                              relative error TOL in DUMP
  golden_compare.py sequence GOLDEN NAME JSON the "sequence" of a
                                              `generate --json` output equals
                                              GOLDEN's tensor NAME
Prints one line per check and exits 1 on any mismatch. Standard library only.
"""
import json
import struct
import sys

FORMATS = {"F32": ("f", 4), "I64": ("q", 8), "I32": ("i", 4)}


def read(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        fmt, size = FORMATS[info["dtype"]]
        begin, end = info["data_offsets"]
        raw = data[8 + n + begin : 8 + n + end]
        out[name] = list(struct.unpack("<%d%s" % (len(raw) // size, fmt), raw))
    return out


def main():
    mode = sys.argv[1]
    golden = read(sys.argv[2])
    failed = False
    if mode == "dump":
        dump, tol = read(sys.argv[3]), float(sys.argv[4])
        for name in sorted(golden):
            if not name.startswith(("forward.", "intervene.")):
                continue
            ref, ours = golden[name], dump.get(name)
            if ours is None or len(ours) != len(ref):
                print("%s MISSING or wrong size" % name)
                failed = True
                continue
            if name.endswith(("ids", "indices")):
                ok = ours == ref
                print("%s %s" % (name, "exact" if ok else "DIFFERS"))
            else:
                err = max(abs(a - b) for a, b in zip(ours, ref))
                scale = max(abs(b) for b in ref) or 1.0
                ok = err / scale <= tol
                print("%s %s" % (name, "ok" if ok else "FAIL rel=%g" % (err / scale)))
            failed |= not ok
    elif mode == "sequence":
        ours = json.load(open(sys.argv[4]))["sequence"]
        ok = ours == golden[sys.argv[3]]
        print("%s %s" % (sys.argv[3], "match" if ok else "DIFFERS: %s" % ours))
        failed = not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
