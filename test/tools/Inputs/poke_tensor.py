#!/usr/bin/env python3
"""Writes VALUE (nan, inf, or a number) into element INDEX of TENSOR of a
safetensors file in place, in the tensor's own dtype (F32, F16 or BF16).

usage: poke_tensor.py FILE TENSOR INDEX VALUE
"""
import json
import struct
import sys

path, name, index, value = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
with open(path, "r+b") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    entry = json.loads(f.read(n))[name]
    start = 8 + n + entry["data_offsets"][0]
    dtype = entry["dtype"]
    if dtype == "F32":
        raw, width = struct.pack("<f", value), 4
    elif dtype == "F16":
        raw, width = struct.pack("<e", value), 2
    elif dtype == "BF16":
        raw, width = struct.pack("<f", value)[2:], 2
    else:
        sys.exit("unsupported dtype " + dtype)
    f.seek(start + index * width)
    f.write(raw)
