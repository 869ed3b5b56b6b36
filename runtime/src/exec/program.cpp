//===- program.cpp - The executor of an artifact's steering program -------===//
#include "steer/exec/program.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

namespace steer {
namespace {

std::string opWhere(const schema::ProgramOp &op, int index) {
  std::string s = "program op " + std::to_string(index);
  if (op.locations_size() > 0)
    s += " (" + op.locations(0).file() + ":" +
         std::to_string(op.locations(0).line()) + ")";
  return s;
}

} // namespace

StatusOr<SteeringProgram> SteeringProgram::bind(const Artifact &a,
                                                const Engine &engine) {
  STEER_ASSIGN_OR_RETURN(SteeringProgram out, bind(a, engine.config()));
  // The result is checked as the generation loop will use it: with every
  // guard true, every op applies (weights, sizes, layers).
  std::vector<uint8_t> allOn(out.guardValues_, 1);
  STEER_RETURN_IF_ERROR(checkSteering(engine, out.run(allOn).steering),
                        "in ", a.path(), "'s program");
  return out;
}

StatusOr<SteeringProgram> SteeringProgram::bind(const Artifact &a,
                                                const ModelConfig &c) {
  const schema::Program &p = a.manifest().program();
  const int64_t C = c.concepts ? c.concepts->nConcepts : 0;
  SteeringProgram out;
  out.path_ = a.path();
  out.guardValues_ = p.guard_values();
  // Everything below was validated at open (validateManifest); what the
  // executor indexes with is checked again here, so that a bug in either
  // place is an error and never an out-of-bounds read.
  auto bad = [&](int index, auto &&...why) {
    return makeError(StatusCode::kInternal, a.path(), ": ",
                     opWhere(p.ops(index), index), ": ", why...);
  };
  auto floats = [&](int index, const std::string &name,
                    int64_t n) -> StatusOr<std::vector<float>> {
    const TensorView *v = a.tensor(name);
    if (!v || v->dtype != DType::kF32 ||
        v->bytes != static_cast<size_t>(n) * 4)
      return bad(index, "tensor '", name, "' is missing or not ", n,
                 " float32 values");
    std::vector<float> values(n);
    std::memcpy(values.data(), v->data, v->bytes);
    return values;
  };
  auto guardOf = [&](const schema::ProgramOp &op) -> int64_t {
    return op.has_guard() ? static_cast<int64_t>(op.guard()) : -1;
  };

  std::vector<int64_t> all;
  for (const schema::ProgramOp &op : p.ops())
    if (op.has_detect())
      all.insert(all.end(), op.detect().concepts().begin(),
                 op.detect().concepts().end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  out.guardConcepts_ = all;

  for (int i = 0; i < p.ops_size(); ++i) {
    const schema::ProgramOp &op = p.ops(i);
    if (op.has_guard() && op.guard() >= p.guard_values())
      return bad(i, "guard value ", op.guard(), " is not defined");
    Op o;
    o.guard = guardOf(op);
    switch (op.op_case()) {
    case schema::ProgramOp::kDetect: {
      ++out.detects_;
      const schema::Detect &d = op.detect();
      for (int64_t id : d.concepts())
        if (id < 0 || id >= C)
          return bad(i, "detect concept ", id, " is outside the model");
      for (const schema::Detect::Test &t : d.tests()) {
        Test test;
        for (uint32_t m : t.members()) {
          if (m >= static_cast<uint32_t>(d.concepts_size()))
            return bad(i, "a test's member ", m, " is outside its list");
          test.members.push_back(static_cast<uint32_t>(
              std::lower_bound(all.begin(), all.end(), d.concepts(m)) -
              all.begin()));
        }
        if (t.result() >= p.guard_values())
          return bad(i, "a test defines value ", t.result(),
                     " beyond the program's ", p.guard_values());
        test.threshold = t.threshold();
        test.result = t.result();
        out.tests_.push_back(std::move(test));
      }
      continue;
    }
    case schema::ProgramOp::kTargetProfile: {
      o.kind = Kind::kTargetProfile;
      STEER_ASSIGN_OR_RETURN(
          o.values, floats(i, op.target_profile().profile_tensor(), C));
      break;
    }
    case schema::ProgramOp::kOverrideWeights: {
      o.kind = Kind::kOverrideWeights;
      const schema::OverrideWeights &w = op.override_weights();
      if (w.concepts_size() != w.values_size())
        return bad(i, w.concepts_size(), " concepts but ", w.values_size(),
                   " values");
      for (int64_t id : w.concepts())
        if (id < 0 || id >= C)
          return bad(i, "override concept ", id, " is outside the model");
      o.concepts.assign(w.concepts().begin(), w.concepts().end());
      o.values.assign(w.values().begin(), w.values().end());
      break;
    }
    case schema::ProgramOp::kFixedFeatures: {
      o.kind = Kind::kFixedFeatures;
      STEER_ASSIGN_OR_RETURN(
          o.values,
          floats(i, op.fixed_features().features_tensor(), c.nEmbd));
      break;
    }
    case schema::ProgramOp::kCompose: {
      o.kind = Kind::kCompose;
      o.epsilon = op.compose().epsilon();
      for (uint32_t u : op.compose().unless()) {
        if (u >= p.guard_values())
          return bad(i, "compose's unless value ", u, " is not defined");
        o.unless.push_back(u);
      }
      break;
    }
    case schema::ProgramOp::kInject: {
      o.kind = Kind::kInject;
      const schema::Inject &in = op.inject();
      STEER_ASSIGN_OR_RETURN(o.injection.direction,
                             floats(i, in.direction_tensor(), c.nEmbd));
      o.injection.baseAlpha = in.alpha();
      o.injection.injectLayer = in.layer();
      o.injection.schedule = in.schedule() == schema::HARD_CUTOFF
                                 ? InjectSchedule::kHardCutoff
                                 : InjectSchedule::kFixed;
      o.injection.cutoffTokens = in.cutoff_tokens();
      break;
    }
    case schema::ProgramOp::kLogitBias: {
      o.kind = Kind::kLogitBias;
      STEER_ASSIGN_OR_RETURN(
          o.values, floats(i, op.logit_bias().bias_tensor(), c.vocabSize));
      break;
    }
    default:
      return bad(i, "the op has no kind this runtime executes");
    }
    out.ops_.push_back(std::move(o));
  }
  for (const schema::RuleRecord &r : p.rules()) {
    if (r.has_guard() && r.guard() >= p.guard_values())
      return makeError(StatusCode::kInternal, a.path(), ": rule '", r.name(),
                       "' names guard value ", r.guard(), ", not defined");
    out.rules_.push_back(
        {r.name(), r.has_guard() ? static_cast<int64_t>(r.guard()) : -1});
  }
  return out;
}

std::vector<uint8_t>
SteeringProgram::evaluateGuards(std::span<const float> activation) const {
  std::vector<uint8_t> values(guardValues_, 0);
  for (const Test &t : tests_) {
    bool fires = false;
    for (uint32_t m : t.members)
      fires |= activation[m] >= t.threshold;
    values[t.result] = fires;
  }
  return values;
}

std::vector<uint8_t>
SteeringProgram::evaluateGuards(std::span<const float> knownWeights,
                                int64_t rows, int64_t nConcepts) const {
  std::vector<float> activation(guardConcepts_.size(), 0.0f);
  for (int64_t t = 0; t < rows; ++t)
    for (size_t k = 0; k < guardConcepts_.size(); ++k)
      activation[k] = std::max(
          activation[k], knownWeights[t * nConcepts + guardConcepts_[k]]);
  return evaluateGuards(activation);
}

AppliedPolicy SteeringProgram::run(std::span<const uint8_t> guards) const {
  AppliedPolicy applied;
  applied.guards.assign(guards.begin(), guards.end());
  auto on = [&](int64_t g) { return g < 0 || guards[g]; };
  // The known-weight row: a replacement, then entries set in op order
  // (a later op wins; a replacement drops the entries before it).
  std::map<int64_t, float> overrides;
  WeightIntervention &w = applied.steering.weights;
  for (const Op &op : ops_) {
    switch (op.kind) {
    case Kind::kTargetProfile:
      if (on(op.guard)) {
        w.profile = op.values;
        overrides.clear();
      }
      break;
    case Kind::kOverrideWeights:
      if (on(op.guard))
        for (size_t k = 0; k < op.concepts.size(); ++k)
          overrides[op.concepts[k]] = op.values[k];
      break;
    case Kind::kFixedFeatures:
      if (on(op.guard))
        w.features = op.values;
      break;
    case Kind::kCompose: {
      bool keep = op.epsilon && on(op.guard);
      for (uint32_t u : op.unless)
        keep = keep && !guards[u];
      w.epsilon = keep;
      break;
    }
    case Kind::kInject:
      if (on(op.guard))
        applied.steering.injections.push_back(op.injection);
      break;
    case Kind::kLogitBias:
      if (on(op.guard)) {
        std::vector<float> &sum = applied.steering.vocabBias;
        if (sum.empty())
          sum = op.values;
        else
          for (size_t t = 0; t < sum.size(); ++t)
            sum[t] += op.values[t];
      }
      break;
    }
  }
  for (auto [id, v] : overrides) {
    w.concepts.push_back(id);
    w.values.push_back(v);
  }
  for (const Rule &r : rules_)
    if (on(r.guard))
      applied.fired.push_back(r.name);
  return applied;
}

StatusOr<AppliedPolicy>
SteeringProgram::apply(const Engine &engine,
                       std::span<const int64_t> prompt) const {
  if (guardConcepts_.empty())
    return run({});
  ForwardRequest req;
  req.logits = false;
  req.knownWeights = true;
  STEER_ASSIGN_OR_RETURN(ForwardOutputs out, engine.forward(prompt, req),
                         "while evaluating ", path_, "'s guards on the "
                         "prompt");
  return run(evaluateGuards(out.knownWeights, out.rows,
                            engine.config().concepts->nConcepts));
}

Status SteeringProgram::prepare(const Engine &engine,
                                GenerateRequest &request,
                                AppliedPolicy &applied) const {
  if (request.steering || request.decideSteering)
    return makeError(StatusCode::kInternal, "SteeringProgram: the request "
                     "already carries a steering");
  if (guardConcepts_.empty()) {
    applied = run({});
    request.steering = applied.steering.empty() ? nullptr : &applied.steering;
    return okStatus();
  }
  const int64_t C = engine.config().concepts->nConcepts;
  request.decideSteering = [this, C, &applied](
                               std::span<const float> knownWeights,
                               int64_t rows)
      -> StatusOr<const ResolvedSteering *> {
    applied = run(evaluateGuards(knownWeights, rows, C));
    return applied.steering.empty() ? nullptr : &applied.steering;
  };
  return okStatus();
}

StatusOr<GenerationResult>
SteeringProgram::generate(const Engine &engine, std::span<const int64_t> prompt,
                          GenerateRequest request,
                          AppliedPolicy &applied) const {
  STEER_RETURN_IF_ERROR(prepare(engine, request, applied));
  return steer::generate(engine, prompt, request);
}

std::vector<std::pair<std::string, int>> SteeringProgram::opCounts() const {
  std::vector<std::pair<std::string, int>> counts = {
      {"detect", detects_},          {"target_profile", 0},
      {"override_weights", 0},       {"fixed_features", 0},
      {"compose", 0},                {"inject", 0},
      {"logit_bias", 0}};
  for (const Op &op : ops_)
    ++counts[1 + static_cast<int>(op.kind)].second;
  return counts;
}

std::vector<std::pair<std::vector<int64_t>, float>>
SteeringProgram::tests() const {
  std::vector<std::pair<std::vector<int64_t>, float>> out;
  for (const Test &t : tests_) {
    std::vector<int64_t> ids;
    for (uint32_t m : t.members)
      ids.push_back(guardConcepts_[m]);
    out.emplace_back(std::move(ids), t.threshold);
  }
  return out;
}

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

template <typename T> std::string list(const T &v) {
  std::string s;
  for (const auto &x : v)
    s += (s.empty() ? "" : ", ") + std::to_string(x);
  return s;
}

/// The steering as the engine will see it: an epsilon that is kept and
/// changes nothing else is the same as no statement.
ResolvedSteering normalised(ResolvedSteering s) {
  if (s.weights.epsilon.value_or(false))
    s.weights.epsilon.reset();
  return s;
}

std::string describeDifference(const ResolvedSteering &x,
                               const ResolvedSteering &y) {
  const WeightIntervention &a = x.weights, &b = y.weights;
  if (a.concepts != b.concepts || a.values != b.values)
    return "the known-weight overrides differ";
  if (a.profile != b.profile)
    return "the target profile differs";
  if (a.features != b.features)
    return "the fixed known features differ";
  if (a.epsilon != b.epsilon)
    return "the epsilon correction differs";
  if (x.injections.size() != y.injections.size())
    return std::to_string(x.injections.size()) + " injections vs " +
           std::to_string(y.injections.size());
  for (size_t i = 0; i < x.injections.size(); ++i) {
    const ResolvedInjection &p = x.injections[i], &q = y.injections[i];
    if (p.direction != q.direction || p.baseAlpha != q.baseAlpha ||
        p.injectLayer != q.injectLayer || p.schedule != q.schedule ||
        p.cutoffTokens != q.cutoffTokens)
      return "injection " + std::to_string(i) + " differs";
  }
  if (x.vocabBias != y.vocabBias)
    return "the vocabulary bias differs";
  return "";
}

} // namespace

ProgramComparison compareBehaviour(const SteeringProgram &a,
                                   const SteeringProgram &b) {
  // Each concept a guard reads matters only through which thresholds its
  // activation reaches: levels 0 and every threshold of a test over it.
  std::map<int64_t, std::set<float>> levels;
  for (const SteeringProgram *p : {&a, &b})
    for (const auto &[ids, threshold] : p->tests())
      for (int64_t id : ids)
        levels[id].insert(threshold);
  std::vector<int64_t> concepts;
  std::vector<std::vector<float>> values;
  double combos = 1;
  for (auto &[id, ts] : levels) {
    concepts.push_back(id);
    values.emplace_back(1, 0.0f);
    values.back().insert(values.back().end(), ts.begin(), ts.end());
    combos *= static_cast<double>(values.back().size());
  }
  ProgramComparison out;
  constexpr double kMaxOutcomes = 1 << 16;
  if (combos > kMaxOutcomes)
    return out;
  out.checked = true;
  auto activation = [&](const SteeringProgram &p,
                        const std::vector<size_t> &digit) {
    std::vector<float> act(p.guardConcepts().size(), 0.0f);
    for (size_t k = 0; k < act.size(); ++k) {
      size_t i = std::lower_bound(concepts.begin(), concepts.end(),
                                  p.guardConcepts()[k]) -
                 concepts.begin();
      act[k] = values[i][digit[i]];
    }
    return act;
  };
  std::vector<size_t> digit(concepts.size(), 0);
  for (int64_t n = 0; n < static_cast<int64_t>(combos); ++n) {
    ResolvedSteering sa =
        normalised(a.run(a.evaluateGuards(activation(a, digit))).steering);
    ResolvedSteering sb =
        normalised(b.run(b.evaluateGuards(activation(b, digit))).steering);
    ++out.outcomes;
    if (std::string d = describeDifference(sa, sb); !d.empty()) {
      std::string when;
      for (size_t i = 0; i < concepts.size(); ++i)
        when += (when.empty() ? "" : ", ") + std::string("#") +
                std::to_string(concepts[i]) + " at " +
                num(values[i][digit[i]]);
      out.difference = d + (when.empty() ? "" : " when the prompt has " + when);
      return out;
    }
    for (size_t i = 0; i < digit.size() && ++digit[i] == values[i].size(); ++i)
      digit[i] = 0;
  }
  out.equivalent = true;
  return out;
}

std::string formatProgram(const schema::Program &p) {
  std::string s = "program: " + std::to_string(p.ops_size()) + " ops, " +
                  std::to_string(p.guard_values()) + " guard values" +
                  (p.concept_heads_dropped() ? ", concept heads dropped" : "") +
                  "\n";
  for (int i = 0; i < p.ops_size(); ++i) {
    const schema::ProgramOp &op = p.ops(i);
    std::string line = "  " + std::to_string(i) + ": ";
    switch (op.op_case()) {
    case schema::ProgramOp::kDetect: {
      const schema::Detect &d = op.detect();
      std::string results, tests;
      for (const schema::Detect::Test &t : d.tests()) {
        results += (results.empty() ? "%g" : ", %g") + std::to_string(t.result());
        std::vector<int64_t> ids;
        for (uint32_t m : t.members())
          ids.push_back(m < static_cast<uint32_t>(d.concepts_size())
                            ? d.concepts(m)
                            : -1);
        tests += (tests.empty() ? "" : "; ") + std::string("any of [") +
                 list(ids) + "] >= " + num(t.threshold());
      }
      line += results + " = detect " + tests;
      break;
    }
    case schema::ProgramOp::kTargetProfile:
      line += "target_profile " + op.target_profile().profile_tensor() +
              " (" + std::to_string(op.target_profile().tokens()) +
              " tokens)";
      break;
    case schema::ProgramOp::kOverrideWeights: {
      const schema::OverrideWeights &w = op.override_weights();
      std::string entries;
      for (int k = 0; k < w.concepts_size() && k < w.values_size(); ++k)
        entries += (k ? ", #" : "#") + std::to_string(w.concepts(k)) + " = " +
                   num(w.values(k));
      line += "override_weights {" + entries + "}";
      break;
    }
    case schema::ProgramOp::kFixedFeatures:
      line += "fixed_features " + op.fixed_features().features_tensor();
      break;
    case schema::ProgramOp::kCompose: {
      std::string unless;
      for (uint32_t u : op.compose().unless())
        unless += (unless.empty() ? "%g" : ", %g") + std::to_string(u);
      line += std::string("compose ") +
              (op.compose().epsilon() ? "with epsilon" : "without epsilon") +
              (unless.empty() ? "" : " unless " + unless);
      break;
    }
    case schema::ProgramOp::kInject: {
      const schema::Inject &in = op.inject();
      line += "inject " + in.direction_tensor() + " alpha " + num(in.alpha()) +
              " from layer " + std::to_string(in.layer()) +
              (in.schedule() == schema::HARD_CUTOFF
                   ? ", hard_cutoff after " + std::to_string(in.cutoff_tokens()) +
                         " tokens"
                   : std::string(", fixed"));
      break;
    }
    case schema::ProgramOp::kLogitBias:
      line += "logit_bias " + op.logit_bias().bias_tensor();
      break;
    default:
      line += "(unknown op)";
    }
    if (op.has_guard())
      line += " if %g" + std::to_string(op.guard());
    if (op.locations_size() > 0) {
      const schema::SourceLocation &l = op.locations(0);
      std::string file = l.file();
      if (size_t slash = file.rfind('/'); slash != std::string::npos)
        file = file.substr(slash + 1);
      line += "    @ " + file + ":" + std::to_string(l.line()) + ":" +
              std::to_string(l.column());
    }
    if (op.rules_size() > 0) {
      std::string rules;
      for (const std::string &r : op.rules())
        rules += (rules.empty() ? "'" : ", '") + r + "'";
      line += " " + std::string(op.rules_size() > 1 ? "rules " : "rule ") +
              rules;
    }
    s += line + "\n";
  }
  return s;
}

StatusOr<AppliedPolicy> applyArtifact(const Artifact &artifact,
                                      const Engine &engine,
                                      std::span<const int64_t> prompt) {
  STEER_ASSIGN_OR_RETURN(SteeringProgram program,
                         SteeringProgram::bind(artifact, engine));
  return program.apply(engine, prompt);
}

} // namespace steer
