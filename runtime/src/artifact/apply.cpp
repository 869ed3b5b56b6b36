//===- apply.cpp - What an artifact does to one request -------------------===//
#include "steer/artifact/apply.h"

#include <algorithm>
#include <cstring>
#include <map>

namespace steer {
namespace {

StatusOr<std::vector<float>> floats(const Artifact &a, const std::string &name,
                                    int64_t want) {
  const TensorView *v = a.tensor(name);
  if (!v || v->dtype != DType::kF32 ||
      static_cast<int64_t>(v->bytes / 4) != want)
    return makeError(StatusCode::kDataLoss, a.path(), ": tensor '", name,
                     "' is missing or not ", want, " float32 values");
  std::vector<float> out(want);
  std::memcpy(out.data(), v->data, v->bytes);
  return out;
}

} // namespace

StatusOr<AppliedPolicy> applyArtifact(const Artifact &a, const Engine &engine,
                                      std::span<const int64_t> prompt) {
  const ModelConfig &c = engine.config();
  if (!c.concepts)
    return makeError(StatusCode::kInvalidArgument, a.path(),
                     ": the model has no concept heads");
  const int64_t C = c.concepts->nConcepts;
  // Prompt activations (each concept's largest known weight over the
  // prompt's tokens, after the head's top-k), computed only when some rule
  // has a guard.
  std::vector<float> activation;
  for (const schema::Rule &r : a.manifest().rules())
    if (r.has_guard() && activation.empty()) {
      ForwardRequest req;
      req.logits = false;
      req.knownWeights = true;
      STEER_ASSIGN_OR_RETURN(ForwardOutputs out, engine.forward(prompt, req),
                             "while evaluating guards on the prompt");
      activation.assign(C, 0.0f);
      for (int64_t t = 0; t < out.rows; ++t)
        for (int64_t k = 0; k < C; ++k)
          activation[k] = std::max(activation[k], out.knownWeights[t * C + k]);
    }

  AppliedPolicy applied;
  std::map<int64_t, float> overrides;
  for (const schema::Rule &r : a.manifest().rules()) {
    if (r.has_guard()) {
      bool fires = false;
      // Ids and thresholds were validated at load (validateManifest) against
      // the manifest's model; this model is that one (self-contained) or
      // verified by hash (thin), so an id out of range here is a bug, and
      // still an error rather than a guard that cannot fire.
      for (const schema::ConceptRef &g : r.guard().concepts()) {
        if (g.id() < 0 || g.id() >= C)
          return makeError(StatusCode::kInternal, a.path(), ": rule '",
                           r.name(), "': guard concept ", g.id(),
                           " is outside the model");
        fires |= activation[g.id()] >= r.guard().threshold();
      }
      if (!fires)
        continue;
    }
    applied.fired.push_back(r.name());
    for (const schema::ConceptRef &s : r.suppress())
      overrides[s.id()] = 0.0f;
    for (const schema::Clamp &cl : r.clamp())
      overrides[cl.target().id()] = cl.value();
    if (r.has_steer_to_response()) {
      STEER_ASSIGN_OR_RETURN(
          applied.steering.weights.profile,
          floats(a, r.steer_to_response().profile_tensor(), C));
      if (!r.steer_to_response().features_tensor().empty()) {
        STEER_ASSIGN_OR_RETURN(
            applied.steering.weights.features,
            floats(a, r.steer_to_response().features_tensor(), c.nEmbd));
      }
    }
    if (r.has_injection()) {
      const schema::Injection &in = r.injection();
      if (!applied.steering.direction.empty())
        return makeError(StatusCode::kInvalidArgument, a.path(),
                         ": two injecting rules fired; this runtime applies "
                         "one injection per request");
      STEER_ASSIGN_OR_RETURN(applied.steering.direction,
                             floats(a, in.direction_tensor(), c.nEmbd));
      applied.steering.baseAlpha = in.alpha();
      applied.steering.injectLayer = in.layer();
      applied.steering.schedule = in.schedule() == schema::HARD_CUTOFF
                                      ? InjectSchedule::kHardCutoff
                                      : InjectSchedule::kFixed;
      applied.steering.cutoffTokens = in.cutoff_tokens();
      if (!in.vocab_bias_tensor().empty()) {
        STEER_ASSIGN_OR_RETURN(applied.steering.vocabBias,
                               floats(a, in.vocab_bias_tensor(), c.vocabSize));
      }
    }
  }
  for (auto [id, v] : overrides) {
    applied.steering.weights.concepts.push_back(id);
    applied.steering.weights.values.push_back(v);
  }
  return applied;
}

} // namespace steer
