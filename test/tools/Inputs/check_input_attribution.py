"""Checks steer-run attribute-input --json output.

  check_input_attribution.py reference OURS.json REF.json BASELINE N_STEPS
      every target's attribution row equals the reference's (its own IG
      through PyTorch autograd) within 1e-4 of the row's largest |value|
  check_input_attribution.py same-tokens OURS.json GENERATE.json
      the attributed generation is the one steer-run generate gives
  check_input_attribution.py differs A.json B.json
      two attributions of the same prompt differ (steering changed them)
"""
import json
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    verb = sys.argv[1]
    ours = load(sys.argv[2])
    if verb == "reference":
        ref = load(sys.argv[3])
        run = next(r for r in ref["runs"]
                   if r["baseline"] == sys.argv[4] and r["n_steps"] == int(sys.argv[5]))
        assert ours["sequence"] == ref["tokens"], "the generation differs from the reference's"
        assert len(ours["targets"]) == len(run["targets"])
        worst = 0.0
        for o, r in zip(ours["targets"], run["targets"]):
            assert (o["position"], o["token"]) == (r["position"], r["token"])
            scale = max(abs(v) for v in r["attribution"])
            err = max(abs(a - b) for a, b in zip(o["attribution"], r["attribution"]))
            worst = max(worst, err / scale)
        print(f"targets {len(run['targets'])} within 1e-4: {worst < 1e-4}")
    elif verb == "same-tokens":
        gen = load(sys.argv[3])
        print("same tokens:", ours["sequence"] == gen["sequence"],
              "same rules:", ours.get("rules_fired") == gen.get("rules_fired"))
    elif verb == "differs":
        other = load(sys.argv[3])
        rows = [t["attribution"] for t in ours["targets"]]
        orows = [t["attribution"] for t in other["targets"]]
        print("differs:", rows != orows)


if __name__ == "__main__":
    main()
