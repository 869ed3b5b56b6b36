"""Asserts that steer-run generate --json outputs agree on what was
generated and which rules fired: same_generation.py A.json B.json ...
Prints "same N" for N files; exits 1 naming the first that differs."""
import json
import sys

runs = [json.load(open(p)) for p in sys.argv[1:]]
first = runs[0]
for path, run in zip(sys.argv[1:], runs):
    for key in ("sequence", "generated", "rules_fired", "text"):
        if run[key] != first[key]:
            sys.exit("%s differs from %s in %r:\n%r\n%r"
                     % (path, sys.argv[1], key, run[key], first[key]))
print("same", len(runs))
