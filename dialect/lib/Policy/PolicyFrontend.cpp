//===- PolicyFrontend.cpp - Policy files in, artifacts and profiles out ---===//
#include "steer/Policy/PolicyFrontend.h"

#include "schema/policy.pb.h"
#include "steer/artifact/artifact.h"
#include "steer/exec/generate.h"
#include "steer/exec/program.h"
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

StatusOr<ParsedPolicy> parsePolicy(const std::string &path,
                                   const ModelConfig &config) {
  STEER_ASSIGN_OR_RETURN(std::string source, readFile(path),
                         "while reading the policy");
  return parsePolicyText(path, std::move(source), config);
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

std::string conceptName(const schema::ConceptRef &c) {
  return "#" + std::to_string(c.id()) + (c.label().empty() ? "" : " " + c.label());
}

std::string join(const google::protobuf::RepeatedPtrField<schema::ConceptRef> &v,
                 int from = 0) {
  std::string s;
  for (int i = from; i < v.size(); ++i)
    s += (i > from ? ", " : "") + conceptName(v[i]);
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

std::string formatProfile(const CompiledPolicy &compiled,
                          const std::string &policyPath,
                          const ModelConfig &config, const Engine *engine,
                          const Tokenizer *tokenizer,
                          const ConceptLabels *labels) {
  std::map<std::string, const std::vector<float> *> tensors;
  for (const auto &[name, values] : compiled.tensors)
    tensors[name] = &values;
  auto tensor = [&](const std::string &name) -> const std::vector<float> * {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : it->second;
  };
  std::string out = "# steer compiled profile\n";
  out += "policy: " + policyPath + "\n";
  if (!compiled.description.empty())
    out += "description: " + compiled.description + "\n";
  out += "model: " + std::to_string(config.nLayers) + " layers, n_embd " +
         std::to_string(config.nEmbd) + ", " +
         std::to_string(config.concepts ? config.concepts->nConcepts : 0) +
         " known concepts, vocab " + std::to_string(config.vocabSize) + "\n";
  for (const std::string &bytes : compiled.rulesProto) {
    schema::Rule r;
    if (!r.ParseFromString(bytes))
      continue;
    out += "\nrule '" + r.name() + "' (line " +
           std::to_string(r.location().line()) + ")\n";
    if (r.has_guard())
      out += "  when: any of [" + join(r.guard().concepts()) + "] " +
             fmt("above %.6g", r.guard().threshold()) + " on the prompt\n";
    if (r.suppress_size())
      out += "  suppress: " + join(r.suppress()) +
             " (weight 0 at generated positions)\n";
    for (const schema::Clamp &c : r.clamp())
      out += "  clamp: " + conceptName(c.target()) + fmt(" = %.4f\n", c.value());
    if (r.has_injection()) {
      const schema::Injection &in = r.injection();
      if (in.kind() == schema::Injection::AMPLIFY)
        out += "  amplify: [" + join(in.concepts()) + "]" +
               fmt(" target %.3g logits", in.target()) + " from layer " +
               std::to_string(in.layer()) + ", " +
               (in.schedule() == schema::FIXED
                    ? std::string("fixed")
                    : "hard_cutoff after " +
                          std::to_string(in.cutoff_tokens()) + " tokens") +
               "\n";
      else
        out += "  unlearn: " + conceptName(in.relu_focal()) +
               (in.concepts_size() > 1 ? " with [" + join(in.concepts(), 1) + "]"
                                       : "") +
               fmt(", alpha %.3g", in.alpha()) + " from layer " +
               std::to_string(in.layer()) +
               fmt(", relu mask strength %.3g\n", in.relu_strength());
      const std::vector<float> *dir = tensor(in.direction_tensor());
      if (engine && dir && in.kind() == schema::Injection::AMPLIFY)
        if (auto align = engine->vocabAlignment(*dir); align.ok())
          out += fmt("    alpha %.6g", in.alpha()) + "; promotes " +
                 topTokens(*align, tokenizer, 5) + "\n";
      if (const std::vector<float> *bias = tensor(in.vocab_bias_tensor()))
        out += "    masks " + topTokens(*bias, tokenizer, 5) + "\n";
    }
    if (r.has_steer_to_response()) {
      const schema::SteerToResponse &s = r.steer_to_response();
      out += "  steer to response: \"" + displayText(s.response(), false) +
             "\" (" + std::to_string(s.tokens()) + " tokens)\n";
      if (const std::vector<float> *profile = tensor(s.profile_tensor())) {
        const std::vector<float> &p = *profile;
        std::vector<int64_t> idx(p.size());
        for (size_t i = 0; i < idx.size(); ++i)
          idx[i] = static_cast<int64_t>(i);
        size_t n = std::min<size_t>(5, idx.size());
        std::partial_sort(idx.begin(), idx.begin() + n, idx.end(),
                          [&](int64_t a, int64_t b) {
                            return p[a] > p[b] || (p[a] == p[b] && a < b);
                          });
        out += "    profile top concepts:";
        for (size_t i = 0; i < n; ++i) {
          std::string name;
          if (labels)
            if (const ConceptLabel *l =
                    labels->find(ConceptHead::kKnown, idx[i]))
              name = " " + l->name;
          out += " #" + std::to_string(idx[i]) + name + fmt(" %.3f", p[idx[i]]);
        }
        out += "\n";
      }
    }
  }
  schema::Program program;
  if (program.ParseFromString(compiled.programProto))
    out += "\n" + formatProgram(program);
  // Labels and text come from files: printed escaped (docs/review.md).
  return displayText(out);
}

} // namespace steer::policy
