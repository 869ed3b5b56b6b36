"""Rewrites a safetensors file with one tensor renamed (for the tied-embedding
alias test). Usage: rename_tensor.py FILE OLD NEW > OUT"""
import json
import struct
import sys

path, old, new = sys.argv[1:4]
data = open(path, "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8 : 8 + n])
header[new] = header.pop(old)
text = json.dumps(header).encode()
text += b" " * ((8 - (8 + len(text)) % 8) % 8)
sys.stdout.buffer.write(struct.pack("<Q", len(text)) + text + data[8 + n :])
