#!/usr/bin/env bash
# The full safety evaluation of docs/evaluation.md: the embedded model
# unsteered, then through the compiled example policy, on every prompt of
# the held-out evaluation set, with the fluency measure and bootstrap
# intervals. Both runs go side by side, one core each.
#
#   scripts/evaluate.sh [BUILD_DIR] [POLICY]
#
# Writes BUILD_DIR/eval/{base,policy}.{txt,json,md,samples.jsonl}.
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
policy="${2:-$src/profiles/audit-then-fix.policy}"
bin="$build/bin"
model="$src/models/steerling-wordnet"
out="$build/eval"
mkdir -p "$out"

"$bin/steerc" "$policy" --model "$model" -o "$out/policy.steer"

run() {
  local name="$1" m="$2"
  OMP_NUM_THREADS=1 "$bin/steer-eval" "$model/eval/eval.jsonl" --model "$m" \
    --lexicons "$model/eval/lexicons.json" --fluency "$model/eval/fluency.jsonl" \
    --bootstrap 2000 --samples "$out/$name.samples.jsonl" --json > "$out/$name.json"
}
start=$(date +%s)
run base "$model" & base=$!
run policy "$out/policy.steer" & pol=$!
wait $base
wait $pol
echo "evaluated in $(( $(date +%s) - start )) s"

# The readable forms come from the JSON reports (no second run).
for name in base policy; do
  /usr/bin/env python3 - "$out/$name.json" > "$out/$name.md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("`%s` on `%s` (%d harmful, %d benign prompts; greedy, %d new tokens)" % (
    r["model"], r["eval_set"], r["prompts"]["harmful"], r["prompts"]["benign"], r["settings"]["max_new_tokens"]))
if "rules_fired" in r:
    f = r["rules_fired"]
    print("\nrules fired on %d/%d harmful and %d/%d benign prompts, %d fluency texts" % (
        f["harmful"], r["prompts"]["harmful"], f["benign"], r["prompts"]["benign"], f["fluency_texts"]))
print("\n| metric | value | 95% CI | n |\n| --- | ---: | --- | ---: |")
for name, m in r["metrics"].items():
    print("| %s | %.3f | [%.3f, %.3f] | %d |" % (name, m["value"], m["ci95"][0], m["ci95"][1], m["n"]))
    for sub, v in m.get("by", {}).items():
        print("| &nbsp;&nbsp;%s | %.3f | [%.3f, %.3f] | %d |" % (sub, v["value"], v["ci95"][0], v["ci95"][1], v["n"]))
j = r["judges"]
print("\njudges: %d answers both harmful and refusing; %d harmful prompts answered with neither" % (
    j["harm_and_refusal"], j["harmful_prompt_neither"]))
PY
  echo "== $name"; cat "$out/$name.md"; echo
done
