//===- validate.cpp - Fail-closed checks of an artifact's manifest --------===//
//
// An artifact is input: whoever can write the file can write any manifest
// (xxh64 catches accidents, not intent). Every number the runtime will act
// on is checked here, at load, against the model the manifest describes:
// concept ids, layers, thresholds, values, enums, tensor names, dtypes,
// shapes and finiteness, in the program the runtime executes and in the
// rules recorded beside it for review. An op that could not be executed
// exactly as written is refused, naming the file, the op, its policy
// location and rules, so that a safety rule can never load and then
// silently not fire.
//
//===----------------------------------------------------------------------===//
#include "steer/artifact/artifact.h"

#include "steer/model/config.h"
#include "steer/policy/bounds.h"
#include "steer/text/utf8.h"

#include <xxhash.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

namespace steer {
namespace {

namespace pb = google::protobuf;
using policy::Range;

/// Guard values a program may define (each is a test over the prompt).
constexpr uint32_t kMaxGuardValues = 1u << 16;

/// The first unknown field anywhere in `m`, as a dotted path; empty if none.
/// Proto3 keeps fields it does not know; a runtime that ignored one could
/// drop a meaning a newer compiler put there.
std::string unknownField(const pb::Message &m, const std::string &at) {
  const pb::Reflection *r = m.GetReflection();
  if (!r->GetUnknownFields(m).empty())
    return at.empty() ? std::string("(top level)") : at;
  std::vector<const pb::FieldDescriptor *> fields;
  r->ListFields(m, &fields);
  for (const pb::FieldDescriptor *f : fields) {
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE)
      continue;
    std::string here = at.empty() ? f->name() : at + "." + f->name();
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        std::string u = unknownField(r->GetRepeatedMessage(m, f, i),
                                     here + "[" + std::to_string(i) + "]");
        if (!u.empty())
          return u;
      }
    } else {
      std::string u = unknownField(r->GetMessage(m, f), here);
      if (!u.empty())
        return u;
    }
  }
  return {};
}

class ManifestChecker {
public:
  ManifestChecker(const Artifact &a, const ModelConfig &c)
      : a_(a), c_(c), C_(c.concepts ? c.concepts->nConcepts : 0) {}

  Status rule(const schema::Rule &r) {
    where_ = "rule '" + r.name() + "'";
    if (r.has_location() && !r.location().file().empty())
      where_ += " (" + r.location().file() + ":" +
                std::to_string(r.location().line()) + ")";
    if (r.name().empty())
      return bad("a rule has no name");
    if (std::string why = unsafeTextReason(r.name(), false); !why.empty())
      return bad("the rule name ", why);
    if (r.has_guard()) {
      const schema::Guard &g = r.guard();
      if (g.concepts_size() == 0)
        return bad("its guard lists no concept, so it could never fire");
      for (const schema::ConceptRef &k : g.concepts())
        STEER_RETURN_IF_ERROR(concept_(k, "guard"));
      STEER_RETURN_IF_ERROR(
          range("guard threshold", g.threshold(), policy::kGuardThreshold));
    }
    for (const schema::ConceptRef &k : r.suppress()) {
      STEER_RETURN_IF_ERROR(concept_(k, "suppress"));
      STEER_RETURN_IF_ERROR(weight(k.id(), 0.0f, r.name()));
    }
    for (const schema::Clamp &cl : r.clamp()) {
      STEER_RETURN_IF_ERROR(concept_(cl.target(), "clamp"));
      STEER_RETURN_IF_ERROR(range("clamp value", cl.value(), policy::kClampValue));
      STEER_RETURN_IF_ERROR(weight(cl.target().id(), cl.value(), r.name()));
    }
    if (r.has_injection())
      STEER_RETURN_IF_ERROR(injection(r.injection()));
    if (r.has_steer_to_response()) {
      const schema::SteerToResponse &s = r.steer_to_response();
      if (s.response().empty())
        return bad("steer_to_response has no response text");
      if (std::string why = unsafeTextReason(s.response()); !why.empty())
        return bad("the response ", why);
      if (s.tokens() < 1)
        return bad("steer_to_response: the target response has ", s.tokens(),
                   " tokens");
      if (!s.profile_tensor().empty())
        STEER_RETURN_IF_ERROR(
            tensor(s.profile_tensor(), C_, policy::kKnownWeight, "profile"));
      if (!s.features_tensor().empty())
        STEER_RETURN_IF_ERROR(tensor(s.features_tensor(), c_.nEmbd,
                                     Range{-HUGE_VAL, HUGE_VAL}, "features"));
    }
    if (!r.has_injection() && !r.has_steer_to_response() &&
        r.suppress_size() == 0 && r.clamp_size() == 0)
      return bad("it has no action");
    return okStatus();
  }

  /// The steering program: what the runtime executes. Every op is checked
  /// as the executor will read it; errors name the op, its policy location
  /// and its rules.
  Status program(const schema::Program &p, const std::set<std::string> &rules,
                 std::set<std::string> &tensors) {
    where_ = "the program";
    const bool interpretable = C_ > 0;
    if (p.guard_values() > kMaxGuardValues)
      return bad(p.guard_values(), " guard values (at most ", kMaxGuardValues,
                 ")");
    std::vector<int> defined(p.guard_values(), 0);
    int composes = 0;
    for (int i = 0; i < p.ops_size(); ++i) {
      const schema::ProgramOp &op = p.ops(i);
      where_ = "program op " + std::to_string(i);
      if (op.locations_size() > 0) {
        const schema::SourceLocation &l = op.locations(0);
        where_ += " (" + displayText(l.file(), false) + ":" +
                  std::to_string(l.line()) + ":" + std::to_string(l.column()) +
                  ")";
      }
      for (const std::string &r : op.rules()) {
        if (!rules.count(r))
          return bad("it names rule '", displayText(r, false),
                     "', which the artifact does not have");
        where_ += (&r == &op.rules(0) ? " of rule '" : ", '") +
                  displayText(r, false) + "'";
      }
      if (op.has_guard() && op.guard() >= p.guard_values())
        return bad("its guard value ", op.guard(), " is not one of the ",
                   p.guard_values(), " the program defines");
      const bool needsHeads = !op.has_inject() && !op.has_logit_bias();
      if (needsHeads && !interpretable)
        return bad("it reads the concept heads, which the model does not have");
      if (needsHeads && !op.has_detect() && p.concept_heads_dropped())
        return bad("it steers the concept heads, which the program dropped");
      switch (op.op_case()) {
      case schema::ProgramOp::kDetect: {
        const schema::Detect &d = op.detect();
        if (op.has_guard())
          return bad("a detect runs on every prompt; it cannot be guarded");
        if (d.concepts_size() == 0 || d.tests_size() == 0)
          return bad("the detect lists no concept or no test");
        for (int k = 0; k < d.concepts_size(); ++k) {
          if (d.concepts(k) < 0 || d.concepts(k) >= C_)
            return bad("detect concept id ", d.concepts(k),
                       " is outside the model's known concepts [0, ", C_, ")");
          if (k > 0 && d.concepts(k) <= d.concepts(k - 1))
            return bad("detect concepts are not sorted and distinct");
        }
        for (const schema::Detect::Test &t : d.tests()) {
          if (t.members_size() == 0)
            return bad("a detect test lists no concept, so it could never "
                       "fire");
          for (uint32_t m : t.members())
            if (m >= static_cast<uint32_t>(d.concepts_size()))
              return bad("a detect test's member ", m, " is outside its ",
                         d.concepts_size(), " concepts");
          STEER_RETURN_IF_ERROR(
              range("guard threshold", t.threshold(), policy::kGuardThreshold));
          if (t.result() >= p.guard_values())
            return bad("a detect test defines guard value ", t.result(),
                       " beyond the program's ", p.guard_values());
          ++defined[t.result()];
        }
        break;
      }
      case schema::ProgramOp::kTargetProfile: {
        const schema::TargetProfile &tp = op.target_profile();
        if (std::string why = unsafeTextReason(tp.response()); !why.empty())
          return bad("the response ", why);
        if (tp.tokens() < 1)
          return bad("the target response has ", tp.tokens(), " tokens");
        STEER_RETURN_IF_ERROR(
            tensor(tp.profile_tensor(), C_, policy::kKnownWeight, "profile"));
        tensors.insert(tp.profile_tensor());
        break;
      }
      case schema::ProgramOp::kOverrideWeights: {
        const schema::OverrideWeights &w = op.override_weights();
        if (w.concepts_size() == 0 || w.concepts_size() != w.values_size())
          return bad("override_weights has ", w.concepts_size(),
                     " concepts and ", w.values_size(), " values");
        for (int k = 0; k < w.concepts_size(); ++k) {
          if (w.concepts(k) < 0 || w.concepts(k) >= C_)
            return bad("override concept id ", w.concepts(k),
                       " is outside the model's known concepts [0, ", C_, ")");
          STEER_RETURN_IF_ERROR(
              range("override value", w.values(k), policy::kKnownWeight));
        }
        break;
      }
      case schema::ProgramOp::kFixedFeatures:
        STEER_RETURN_IF_ERROR(tensor(op.fixed_features().features_tensor(),
                                     c_.nEmbd, Range{-HUGE_VAL, HUGE_VAL},
                                     "features"));
        tensors.insert(op.fixed_features().features_tensor());
        break;
      case schema::ProgramOp::kCompose:
        if (op.has_guard())
          return bad("compose runs at every position; it cannot be guarded");
        if (++composes > 1)
          return bad("a second compose; positions compose once");
        for (uint32_t u : op.compose().unless())
          if (u >= p.guard_values())
            return bad("compose's unless value ", u, " is not defined");
        break;
      case schema::ProgramOp::kInject: {
        const schema::Inject &in = op.inject();
        STEER_RETURN_IF_ERROR(
            injectionRun(in.alpha(), in.layer(), in.schedule(), in.cutoff_tokens()));
        STEER_RETURN_IF_ERROR(direction(in.direction_tensor()));
        tensors.insert(in.direction_tensor());
        break;
      }
      case schema::ProgramOp::kLogitBias:
        STEER_RETURN_IF_ERROR(tensor(op.logit_bias().bias_tensor(),
                                     c_.vocabSize, Range{-HUGE_VAL, HUGE_VAL},
                                     "vocabulary bias"));
        tensors.insert(op.logit_bias().bias_tensor());
        break;
      default:
        return bad("the op has no kind this runtime executes (",
                   static_cast<int>(op.op_case()), ")");
      }
    }
    where_ = "the program";
    for (uint32_t v = 0; v < p.guard_values(); ++v)
      if (defined[v] != 1)
        return bad("guard value ", v, " is defined by ", defined[v],
                   " detect tests, not exactly one");
    if (composes != (p.concept_heads_dropped() || !interpretable ? 0 : 1))
      return bad(composes, " compose ops with the concept heads ",
                 p.concept_heads_dropped() ? "dropped" : "kept");
    for (const schema::RuleRecord &r : p.rules()) {
      if (!rules.count(r.name()))
        return bad("its record of rule '", displayText(r.name(), false),
                   "' matches no rule of the artifact");
      if (r.has_guard() && r.guard() >= p.guard_values())
        return bad("rule '", displayText(r.name(), false),
                   "' is decided by guard value ", r.guard(),
                   ", which the program does not define");
    }
    if (p.rules_size() != static_cast<int>(rules.size()))
      return bad("it records ", p.rules_size(), " rules; the artifact has ",
                 rules.size());
    return okStatus();
  }

private:
  template <typename... P> Status bad(P &&...pieces) {
    return makeError(StatusCode::kInvalidArgument, a_.path(), ": ", where_,
                     ": ", pieces...,
                     "; the artifact is corrupt or was edited: recompile it "
                     "with steerc");
  }

  /// One concept, one value: the runtime merges every fired rule's
  /// overrides, so two values for one concept would mean whichever it
  /// applied last (steerc refuses such a policy; so does the loader).
  Status weight(int64_t id, float value, const std::string &rule) {
    auto [it, fresh] = weights_.emplace(id, std::make_pair(value, rule));
    if (!fresh && it->second.first != value)
      return bad("concept #", id, " is set to ", value, " here and to ",
                 it->second.first, " by rule '", it->second.second, "'");
    return okStatus();
  }

  Status concept_(const schema::ConceptRef &k, const char *what) {
    if (k.head() != schema::ConceptRef::KNOWN)
      return bad(what, " concept #", k.id(), " is not on the known head (head ",
                 static_cast<int>(k.head()), ")");
    if (k.id() < 0 || k.id() >= C_)
      return bad(what, " concept id ", k.id(),
                 " is outside the model's known concepts [0, ", C_, ")");
    return okStatus();
  }

  Status range(const char *what, double v, Range r) {
    if (!r.contains(v)) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), "%.9g is outside [%.9g, %.9g]", v, r.lo,
                    r.hi);
      return bad(what, " ", buf);
    }
    return okStatus();
  }

  /// How an injection runs (a program's op or a recorded rule): a finite
  /// alpha, a layer of the model, a known schedule with its cutoff.
  Status injectionRun(float alpha, int32_t layer, int schedule,
                      int32_t cutoff) {
    if (!std::isfinite(alpha))
      return bad("injection alpha ", alpha, " is not finite");
    if (layer < 0 || layer > c_.nLayers)
      return bad("injection layer ", layer, " is outside [0, ", c_.nLayers,
                 "]");
    if (schedule == schema::HARD_CUTOFF)
      return range("cutoff_tokens", cutoff, policy::kCutoffTokens);
    if (schedule != schema::FIXED)
      return bad("injection schedule ", schedule,
                 " is not FIXED or HARD_CUTOFF");
    if (cutoff != 0)
      return bad("cutoff_tokens ", cutoff,
                 " with the FIXED schedule, which has no cutoff");
    return okStatus();
  }

  /// An injection direction: [n_embd], L2-normalised by construction.
  Status direction(const std::string &name) {
    STEER_RETURN_IF_ERROR(
        tensor(name, c_.nEmbd, Range{-1.0001, 1.0001}, "direction"));
    const TensorView *v = a_.tensor(name);
    double norm = 0;
    for (int64_t i = 0; i < c_.nEmbd; ++i) {
      float x;
      std::memcpy(&x, v->data + 4 * i, 4);
      norm += double(x) * x;
    }
    if (std::abs(std::sqrt(norm) - 1.0) > 1e-3)
      return bad("its injection direction has norm ", std::sqrt(norm),
                 ", not 1");
    return okStatus();
  }

  /// A float32 tensor of `n` values, each in `r` (NaN and Inf outside).
  Status tensor(const std::string &name, int64_t n, Range r, const char *what) {
    const TensorView *v = a_.tensor(name);
    if (name.empty() || !v)
      return bad("its ", what, " tensor '", name, "' is not in the artifact");
    if (v->dtype != DType::kF32 || v->shape != std::vector<int64_t>{n})
      return bad("its ", what, " tensor '", name, "' must be float32 [", n,
                 "]");
    for (int64_t i = 0; i < n; ++i) {
      float x;
      std::memcpy(&x, v->data + 4 * i, 4);
      if (!std::isfinite(x) || !r.contains(x))
        return bad("its ", what, " tensor '", name, "' holds ", x,
                   " at index ", i);
    }
    return okStatus();
  }

  Status injection(const schema::Injection &in) {
    const bool unlearn = in.kind() == schema::Injection::UNLEARN;
    if (in.kind() != schema::Injection::AMPLIFY && !unlearn)
      return bad("injection kind ", static_cast<int>(in.kind()),
                 " is not amplify or unlearn");
    if (in.concepts_size() == 0)
      return bad("its injection names no concept");
    for (const schema::ConceptRef &k : in.concepts())
      STEER_RETURN_IF_ERROR(concept_(k, "injection"));
    STEER_RETURN_IF_ERROR(range("injection target", in.target(),
                                unlearn ? policy::kUnlearnAlpha
                                        : policy::kTargetLogit));
    STEER_RETURN_IF_ERROR(
        injectionRun(in.alpha(), in.layer(), in.schedule(), in.cutoff_tokens()));
    // The program holds the folded constants; a rule names them only when
    // one op implements it alone.
    if (!in.direction_tensor().empty()) {
      STEER_RETURN_IF_ERROR(direction(in.direction_tensor()));
    }
    // Fields of the other kind must be absent: an edit that turned an
    // unlearn into an amplify must not keep (and silently drop) its mask.
    if (!unlearn && (in.has_relu_focal() || in.relu_strength() != 0 ||
                     !in.vocab_bias_tensor().empty()))
      return bad("an amplify injection carries unlearn's ReLU mask fields");
    if (unlearn && in.alpha() != in.target())
      return bad("unlearn's alpha ", in.alpha(), " differs from its target ",
                 in.target(), " (unlearn's alpha is the raw value)");
    if (unlearn) {
      if (!in.has_relu_focal())
        return bad("unlearn has no focal concept");
      STEER_RETURN_IF_ERROR(concept_(in.relu_focal(), "unlearn focal"));
      STEER_RETURN_IF_ERROR(
          range("relu_strength", in.relu_strength(), policy::kReluStrength));
    }
    if (!in.vocab_bias_tensor().empty())
      STEER_RETURN_IF_ERROR(tensor(in.vocab_bias_tensor(), c_.vocabSize,
                                   Range{0, HUGE_VAL}, "vocabulary bias"));
    return okStatus();
  }

  const Artifact &a_;
  const ModelConfig &c_;
  const int64_t C_;
  std::string where_;
  std::map<int64_t, std::pair<float, std::string>> weights_;
};

/// The tensors a manifest's rules name.
void ruleTensors(const schema::Rule &r, std::set<std::string> &out) {
  for (const std::string *name :
       {&r.injection().direction_tensor(), &r.injection().vocab_bias_tensor(),
        &r.steer_to_response().profile_tensor(),
        &r.steer_to_response().features_tensor()})
    if (!name->empty())
      out.insert(*name);
}

} // namespace

Status validateManifest(const Artifact &a) {
  const schema::Manifest &m = a.manifest();
  if (m.format_version() != kArtifactVersion)
    return makeError(StatusCode::kUnsupported, a.path(),
                     ": the manifest's format_version is ", m.format_version(),
                     "; this runtime reads version ", kArtifactVersion,
                     ": recompile it with this steerc");
  if (std::string u = unknownField(m, ""); !u.empty())
    return makeError(StatusCode::kUnsupported, a.path(),
                     ": the manifest has a field this runtime does not know "
                     "(at ",
                     u,
                     "); it was written by a newer or a foreign compiler; "
                     "recompile it with this steerc");
  STEER_ASSIGN_OR_RETURN(
      ModelConfig config,
      parseModelConfig(m.model_config_json(), a.path() + " (model config)"));
  if (m.rules_size() > 0 && !config.concepts)
    return makeError(StatusCode::kInvalidArgument, a.path(),
                     ": the manifest has rules but its model has no concept "
                     "heads");
  auto bad = [&](auto &&...why) {
    return makeError(StatusCode::kInvalidArgument, a.path(), ": ", why...,
                     "; the artifact is corrupt or was edited: recompile it "
                     "with steerc");
  };
  if (hashHex(XXH64(m.policy_source().data(), m.policy_source().size(), 0)) !=
      m.policy_xxh64())
    return bad("the policy source does not match its recorded xxh64");
  if (m.provenance().optimization_level() != "O0" &&
      m.provenance().optimization_level() != "O2")
    return bad("optimization level '",
               displayText(m.provenance().optimization_level()),
               "' is not O0 or O2");
  ManifestChecker check(a, config);
  std::set<std::string> names, referenced;
  for (const schema::Rule &r : m.rules()) {
    STEER_RETURN_IF_ERROR(check.rule(r));
    if (!names.insert(r.name()).second)
      return bad("two rules are named '", r.name(),
                 "'; reviews and logs name rules, so names are unique");
    ruleTensors(r, referenced);
  }
  if (!names.empty() && !m.has_program())
    return bad("it has rules but no program to execute");
  STEER_RETURN_IF_ERROR(check.program(m.program(), names, referenced));
  // Every tensor is the program's or (self-contained) the model's weights:
  // anything else is not what steerc writes.
  for (const auto &[name, view] : a.tensors())
    if (!referenced.count(name) &&
        !(m.self_contained() && name.rfind("weights.", 0) == 0))
      return bad("tensor '", displayText(name), "' belongs to no program op");
  return okStatus();
}

} // namespace steer
