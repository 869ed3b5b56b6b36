#!/usr/bin/env python3
"""Rewrites a nested-layout Steerling checkpoint in the Hugging Face layout.

The config becomes the flat one the reference's build_hf_files.py writes
(model_type "steerling", the concept fields at the top level, the concept
head's block_size as concept_block_size, plus auto_map/architectures/
torch_dtype/transformers_version), and the weights are split into
model-0000N-of-0000M.safetensors shards with model.safetensors.index.json.
The tensor bytes are copied unchanged.

usage: to_hf_layout.py SRC_DIR DST_DIR [SHARDS]
"""
import json
import os
import struct
import sys


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    return {k: (v["dtype"], v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items()}


def write_safetensors(path, tensors):
    header, offset, chunks = {}, 0, []
    for name in sorted(tensors):
        dtype, shape, raw = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for c in chunks:
            f.write(c)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    shards = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(src, "config.json")) as f:
        nested = json.load(f)
    flat = {"model_type": "steerling",
            "auto_map": {"AutoConfig": "configuration_steerling.SteerlingConfig",
                         "AutoModelForCausalLM": "modeling_steerling.SteerlingForCausalLM"},
            "architectures": ["SteerlingForCausalLM"]}
    for k, v in nested.items():
        if k not in ("model_type", "concept"):
            flat[k] = v
    for k, v in nested.get("concept", {}).items():
        flat["concept_block_size" if k == "block_size" else k] = v
    flat["torch_dtype"] = "bfloat16"
    flat["transformers_version"] = "4.48.0"
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(flat, f, indent=2)

    tensors = read_safetensors(os.path.join(src, "model.safetensors"))
    names = sorted(tensors)
    weight_map = {}
    for i in range(shards):
        part = names[i::shards]
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
        write_safetensors(os.path.join(dst, fname), {k: tensors[k] for k in part})
        weight_map.update({k: fname for k in part})
    total = sum(len(t[2]) for t in tensors.values())
    with open(os.path.join(dst, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


if __name__ == "__main__":
    main()
