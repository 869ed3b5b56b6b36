//===- PolicyFrontend.cpp - Parse, resolve and check policy files ---------===//
#include "steer/Policy/PolicyFrontend.h"

#include "schema/policy.pb.h"
#include "steer/artifact/artifact.h"
#include "steer/exec/generate.h"
#include "steer/io/file.h"
#include "steer/model/checkpoint.h"
#include "steer/text/tokenizer.h"
#include "steer/text/utf8.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace steer::policy {

StatusOr<CheckedPolicy> checkPolicy(const std::string &path,
                                    const ModelConfig &config,
                                    const ConceptLabels *labels,
                                    const Engine *engine,
                                    const Tokenizer *tokenizer) {
  STEER_ASSIGN_OR_RETURN(std::string source, readFile(path),
                         "while reading the policy");
  STEER_ASSIGN_OR_RETURN(CheckedPolicy out,
                         checkPolicyText(path, std::move(source), config,
                                         labels));
  // Target profiles: the model's mean known weights over the response.
  for (Rule &rule : out.rules) {
    if (!rule.steerToResponse)
      continue;
    if (!engine || !tokenizer)
      return makeError(StatusCode::kInvalidArgument, path,
                       ": steer_to_response needs the model to compute the "
                       "response's concept profile");
    StatusOr<ResponseProfile> p =
        responseProfile(*engine, *tokenizer, rule.steerToResponse->response);
    if (!p.ok())
      return makeError(StatusCode::kInvalidArgument, rule.loc.file, ":",
                       rule.loc.line, ":", rule.loc.column, ": error: rule '",
                       rule.name,
                       "': the response's profile cannot be computed on this "
                       "model: ",
                       p.status().message());
    rule.steerToResponse->profile = std::move(p->weights);
    rule.steerToResponse->tokens = p->tokens;
  }
  return out;
}

namespace {

ArtifactTensor floatTensor(std::string name, const std::vector<float> &v) {
  return {std::move(name),
          DType::kF32,
          {static_cast<int64_t>(v.size())},
          std::string(reinterpret_cast<const char *>(v.data()),
                      v.size() * sizeof(float))};
}

} // namespace

StatusOr<ResponseProfile> responseProfile(const Engine &engine,
                                          const Tokenizer &tokenizer,
                                          const std::string &response) {
  const ModelConfig &config = engine.config();
  if (!config.concepts)
    return makeError(StatusCode::kInvalidArgument,
                     "a response profile needs a model with concept heads");
  STEER_ASSIGN_OR_RETURN(std::vector<int32_t> ids32,
                         tokenizer.encode(response));
  if (ids32.empty())
    return makeError(StatusCode::kInvalidArgument,
                     "the response has no tokens");
  std::vector<int64_t> ids(ids32.begin(), ids32.end());
  ForwardRequest req;
  req.logits = false;
  req.knownWeights = true;
  STEER_ASSIGN_OR_RETURN(ForwardOutputs fo, engine.forward(ids, req),
                         "while computing the response's profile");
  const int64_t C = config.concepts->nConcepts;
  ResponseProfile p;
  p.weights.assign(C, 0.0f);
  for (int64_t t = 0; t < fo.rows; ++t)
    for (int64_t c = 0; c < C; ++c)
      p.weights[c] += fo.knownWeights[t * C + c];
  for (float &v : p.weights)
    v /= static_cast<float>(fo.rows);
  p.tokens = fo.rows;
  return p;
}

Status writePolicyArtifact(
    const CompiledPolicy &policy, const Checkpoint &checkpoint,
    const std::string &optLevel, bool selfContained, const std::string &outPath,
    const std::function<void(const char *, uint64_t, uint64_t)> &progress,
    const SigningKey *signWith) {
  schema::Manifest m;
  for (const auto &[site, kernel] : policy.kernelPlan) {
    schema::KernelChoice *k = m.add_kernel_plan();
    k->set_site(site);
    k->set_kernel(kernel);
  }
  m.set_model_config_json(modelConfigToJson(checkpoint.config()));
  m.set_policy_source(policy.source);
  m.set_policy_xxh64(
      hashHex(XXH64(policy.source.data(), policy.source.size(), 0)));
  m.mutable_provenance()->set_compiler_version("steerc 0.1.0");
  m.mutable_provenance()->set_optimization_level(optLevel);
  STEER_ASSIGN_OR_RETURN(*m.mutable_checkpoint(),
                         describeCheckpoint(checkpoint, progress),
                         "while hashing the checkpoint");
  std::vector<ArtifactTensor> tensors;
  if (selfContained)
    for (const TensorSpec &spec : checkpoint.specs()) {
      const TensorView *v = checkpoint.tensor(spec.name);
      ArtifactTensor t;
      t.name = "weights." + spec.name;
      t.dtype = v->dtype;
      t.shape = v->shape;
      t.external =
          std::string_view(reinterpret_cast<const char *>(v->data), v->bytes);
      tensors.push_back(std::move(t));
    }
  for (const std::string &rule : policy.rulesProto)
    if (!m.add_rules()->ParseFromString(rule))
      return makeError(StatusCode::kInternal,
                       "a compiled rule does not parse (a bug in steerc)");
  if (!m.mutable_program()->ParseFromString(policy.programProto))
    return makeError(StatusCode::kInternal,
                     "the compiled program does not parse (a bug in steerc)");
  for (const auto &[name, values] : policy.tensors)
    tensors.push_back(floatTensor(name, values));
  return writeArtifact(outPath, std::move(m), std::move(tensors), selfContained,
                       progress, signWith);
}

namespace {

std::string conceptName(const ConceptUse &u) {
  return "#" + std::to_string(u.id) + (u.label.empty() ? "" : " " + u.label);
}

std::string join(const std::vector<ConceptUse> &v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + conceptName(v[i]);
  return s;
}

std::string fmt(const char *f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

/// The tokens a vocabulary vector ranks highest, as 'text'(value).
std::string topTokens(const std::vector<float> &v, const Tokenizer *tok,
                      size_t n) {
  std::vector<int64_t> idx(v.size());
  for (size_t i = 0; i < idx.size(); ++i)
    idx[i] = static_cast<int64_t>(i);
  n = std::min(n, idx.size());
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(),
                    [&](int64_t a, int64_t b) {
                      return v[a] > v[b] || (v[a] == v[b] && a < b);
                    });
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    std::string text = "<" + std::to_string(idx[i]) + ">";
    if (tok)
      if (auto t = tok->decode(std::span<const int64_t>(&idx[i], 1)); t.ok())
        text = *t;
    s += (i ? " " : "") + std::string("'") + displayText(text, false) + "'" +
         fmt("(%.3g)", v[idx[i]]);
  }
  return s;
}

} // namespace

std::string formatProfile(const CheckedPolicy &policy,
                          const ModelConfig &config, const Engine *engine,
                          const Tokenizer *tokenizer,
                          const ConceptLabels *labels) {
  std::string out = "# steer compiled profile\n";
  out += "policy: " + policy.path + "\n";
  if (!policy.description.empty())
    out += "description: " + policy.description + "\n";
  out += "model: " + std::to_string(config.nLayers) + " layers, n_embd " +
         std::to_string(config.nEmbd) + ", " +
         std::to_string(config.concepts ? config.concepts->nConcepts : 0) +
         " known concepts, vocab " + std::to_string(config.vocabSize) + "\n";
  for (const Rule &r : policy.rules) {
    out +=
        "\nrule '" + r.name + "' (line " + std::to_string(r.loc.line) + ")\n";
    if (r.guard)
      out += "  when: any of [" + join(r.guard->concepts) + "] " +
             fmt("above %.6g", r.guard->threshold) + " on the prompt\n";
    if (!r.suppress.empty())
      out += "  suppress: " + join(r.suppress) +
             " (weight 0 at generated positions)\n";
    for (const ClampSpec &c : r.clamps)
      out += "  clamp: " + conceptName(c.concept_) + fmt(" = %.4f\n", c.value);
    if (r.amplify) {
      const AmplifySpec &a = *r.amplify;
      out += "  amplify: [" + join(a.concepts) + "]" +
             fmt(" target %.3g logits", a.targetLogit) + " from layer " +
             std::to_string(a.layer) + ", " +
             (a.schedule == Schedule::kFixed
                  ? std::string("fixed")
                  : "hard_cutoff after " + std::to_string(a.cutoffTokens) +
                        " tokens") +
             "\n";
      if (engine) {
        SteeringOptions so;
        for (const ConceptUse &u : a.concepts)
          so.injectConcepts.push_back(u.id);
        so.target = a.targetLogit;
        so.injectLayer = a.layer;
        if (auto res = resolveSteering(*engine, so);
            res.ok() && res->injections.size() == 1) {
          const ResolvedInjection &in = res->injections.front();
          if (auto align = engine->vocabAlignment(in.direction); align.ok())
            out += fmt("    alpha %.6g", in.baseAlpha) + "; promotes " +
                   topTokens(*align, tokenizer, 5) + "\n";
        }
      }
    }
    if (r.unlearn) {
      const UnlearnSpec &u = *r.unlearn;
      out += "  unlearn: " + conceptName(u.focal) +
             (u.group.empty() ? "" : " with [" + join(u.group) + "]") +
             fmt(", alpha %.3g", u.alpha) + " from layer " +
             std::to_string(u.layer) +
             fmt(", relu mask strength %.3g\n", u.reluStrength);
      if (engine) {
        SteeringOptions so;
        so.reluMask = {{u.focal.id, u.reluStrength}};
        if (auto res = resolveSteering(*engine, so);
            res.ok())
          out += "    masks " + topTokens(res->vocabBias, tokenizer, 5) + "\n";
      }
    }
    if (r.steerToResponse) {
      const ResponseSpec &s = *r.steerToResponse;
      out += "  steer to response: \"" + displayText(s.response, false) +
             "\" (" +
             std::to_string(s.tokens) + " tokens)\n";
      std::vector<int64_t> idx(s.profile.size());
      for (size_t i = 0; i < idx.size(); ++i)
        idx[i] = static_cast<int64_t>(i);
      size_t n = std::min<size_t>(5, idx.size());
      std::partial_sort(idx.begin(), idx.begin() + n, idx.end(),
                        [&](int64_t a, int64_t b) {
                          return s.profile[a] > s.profile[b] ||
                                 (s.profile[a] == s.profile[b] && a < b);
                        });
      out += "    profile top concepts:";
      for (size_t i = 0; i < n; ++i) {
        std::string name;
        if (labels)
          if (const ConceptLabel *l = labels->find(ConceptHead::kKnown, idx[i]))
            name = " " + l->name;
        out += " #" + std::to_string(idx[i]) + name +
               fmt(" %.3f", s.profile[idx[i]]);
      }
      out += "\n";
    }
  }
  // Labels and text come from files: printed escaped (docs/review.md).
  return displayText(out);
}

} // namespace steer::policy
