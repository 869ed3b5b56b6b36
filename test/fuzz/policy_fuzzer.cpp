// libFuzzer target: the policy front end (parse) must return a parsed
// policy or an error on any text, and every accepted policy must hold what
// the parser promises (values inside their bounds, finite, references
// written); each reference then goes through the resolution
// steer-resolve-concepts runs, which must give an id in range or an error.
#include "steer/Policy/PolicyFrontend.h"
#include "steer/policy/bounds.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

namespace {

const steer::ModelConfig &model() {
  static const steer::ModelConfig config = [] {
    steer::ModelConfig c;
    c.nLayers = 4;
    c.nEmbd = 64;
    c.nHead = 4;
    c.nKvHeads = 2;
    c.vocabSize = 512;
    c.interpretable = true;
    steer::ConceptConfig k;
    k.nConcepts = 48;
    k.conceptDim = 64;
    c.concepts = k;
    return c;
  }();
  return config;
}

const steer::ConceptLabels &labels() {
  static const steer::ConceptLabels table = [] {
    auto t = steer::ConceptLabels::parseCsv(
        "concept_idx,head,concept_name\n0,known,weapons\n1,known,poison\n"
        "2,known,refusal\n3,known,polite tone\n",
        "fuzz.csv");
    if (!t.ok())
      __builtin_trap();
    return std::move(*t);
  }();
  return table;
}

void require(bool ok) {
  if (!ok)
    __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  auto parsed = steer::policy::parsePolicyText("fuzz.policy", text, model());
  if (!parsed.ok())
    return 0;
  using namespace steer::policy;
  const int64_t C = model().concepts->nConcepts;
  auto inRange = [&](const ConceptUse &u) {
    ConceptResolution r = resolveConcept(u.written, C, &labels());
    require(!r.error.empty() || (r.id >= 0 && r.id < C));
  };
  for (const Rule &r : parsed->rules) {
    require(!r.name.empty());
    if (r.guard) {
      require(kGuardThreshold.contains(r.guard->threshold));
      for (const ConceptUse &u : r.guard->concepts)
        inRange(u);
    }
    for (const ConceptUse &u : r.suppress)
      inRange(u);
    for (const ClampSpec &c : r.clamps) {
      inRange(c.concept_);
      require(kClampValue.contains(c.value));
    }
    if (r.amplify) {
      require(kTargetLogit.contains(r.amplify->targetLogit));
      require(r.amplify->layer >= 0);
    }
    if (r.unlearn) {
      inRange(r.unlearn->focal);
      require(kUnlearnAlpha.contains(r.unlearn->alpha));
      require(kReluStrength.contains(r.unlearn->reluStrength));
    }
  }
  return 0;
}
