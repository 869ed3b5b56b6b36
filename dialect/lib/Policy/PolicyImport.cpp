//===- PolicyImport.cpp - A checked policy as steer IR --------------------===//
#include "steer/Policy/PolicyImport.h"

#include "schema/artifact.pb.h"
#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/artifact/artifact.h"

#include "mlir/IR/Builders.h"

#include <xxhash.h>

#include <map>

using namespace mlir;
using namespace mlir::steer;
namespace pol = ::steer::policy;
namespace schema = ::steer::schema;

namespace {

class Importer {
public:
  Importer(ModuleOp module, const pol::CheckedPolicy &policy)
      : ctx_(module.getContext()), b_(ctx_), policy_(policy) {
    b_.setInsertionPointToEnd(module.getBody());
  }

  PolicyOp run(StringRef name) {
    auto op = b_.create<PolicyOp>(loc(policy_.path, 1, 1), name,
                                  policy_.description.empty()
                                      ? StringAttr()
                                      : b_.getStringAttr(policy_.description),
                                  b_.getStringAttr(sourceHash()));
    op.getBody().emplaceBlock();
    for (const pol::Rule &r : policy_.rules)
      rule(op, r);
    return op;
  }

private:
  Location loc(const std::string &file, int line, int column) {
    return FileLineColLoc::get(ctx_, file, line, column);
  }
  Location loc(const pol::SourceLoc &l) {
    return loc(l.file.empty() ? policy_.path : l.file, l.line, l.column);
  }

  /// The same digest the artifact records as policy_xxh64.
  std::string sourceHash() const {
    return ::steer::hashHex(
        XXH64(policy_.source.data(), policy_.source.size(), 0));
  }

  /// As written: "#12" is an id, anything else a label to resolve.
  ConceptAttr concept_(const pol::ConceptUse &u) {
    if (!u.written.empty() && u.written[0] == '#')
      return ConceptAttr::get(ctx_, u.id, "");
    return ConceptAttr::get(ctx_, ConceptAttr::kUnresolved,
                            u.written.empty() ? u.label : u.written);
  }
  ArrayAttr concepts(const std::vector<pol::ConceptUse> &v) {
    SmallVector<Attribute> out;
    for (const pol::ConceptUse &u : v)
      out.push_back(concept_(u));
    return b_.getArrayAttr(out);
  }
  /// Lists are located at their first entry.
  Location listLoc(const std::vector<pol::ConceptUse> &v, Location fallback) {
    return v.empty() ? fallback : loc(v.front().loc);
  }

  void rule(PolicyOp policy, const pol::Rule &r) {
    OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointToEnd(&policy.getBody().front());
    Location at = loc(r.loc);
    auto op = b_.create<RuleOp>(at, r.name);
    b_.setInsertionPointToEnd(&op.getBody().emplaceBlock());
    if (r.guard)
      b_.create<WhenOp>(listLoc(r.guard->concepts, at),
                        concepts(r.guard->concepts),
                        b_.getF32FloatAttr(r.guard->threshold));
    if (!r.suppress.empty())
      b_.create<SuppressOp>(listLoc(r.suppress, at), concepts(r.suppress));
    for (const pol::ClampSpec &c : r.clamps)
      b_.create<ClampOp>(loc(c.concept_.loc), concept_(c.concept_),
                         b_.getF32FloatAttr(c.value));
    if (r.amplify) {
      const pol::AmplifySpec &a = *r.amplify;
      bool cutoff = a.schedule == pol::Schedule::kHardCutoff;
      b_.create<AmplifyOp>(
          listLoc(a.concepts, at), concepts(a.concepts),
          b_.getF32FloatAttr(a.targetLogit), b_.getI64IntegerAttr(a.layer),
          ScheduleAttr::get(ctx_,
                            cutoff ? Schedule::hard_cutoff : Schedule::fixed),
          cutoff ? b_.getI64IntegerAttr(a.cutoffTokens) : IntegerAttr());
    }
    if (r.unlearn) {
      const pol::UnlearnSpec &u = *r.unlearn;
      b_.create<UnlearnOp>(loc(u.focal.loc), concept_(u.focal),
                           concepts(u.group), b_.getF32FloatAttr(u.alpha),
                           b_.getI64IntegerAttr(u.layer),
                           b_.getF32FloatAttr(u.reluStrength));
    }
    if (r.steerToResponse)
      b_.create<SteerToResponseOp>(at, r.steerToResponse->response);
  }

  MLIRContext *ctx_;
  OpBuilder b_;
  const pol::CheckedPolicy &policy_;
};

} // namespace

PolicyOp mlir::steer::importPolicy(ModuleOp module,
                                   const pol::CheckedPolicy &policy,
                                   StringRef name) {
  return Importer(module, policy).run(name);
}

namespace {

/// Tensors folded for one rule.
struct Folded {
  std::vector<float> direction, vocabBias, profile, features;
  float alpha = 0;
  int64_t tokens = 0;
};

schema::ConceptRef ref(Attribute a) {
  auto c = llvm::cast<ConceptAttr>(a);
  schema::ConceptRef r;
  r.set_id(c.getId());
  r.set_label(c.getLabel().str());
  r.set_head(schema::ConceptRef::KNOWN);
  return r;
}

} // namespace

FailureOr<pol::CompiledPolicy>
mlir::steer::collectCompiledPolicy(ModuleOp module, StringRef source) {
  // Every policy item's location names its rule.
  llvm::DenseMap<Location, StringRef> ruleAt;
  for (PolicyOp policy : module.getOps<PolicyOp>())
    for (RuleOp rule : policy.getBody().getOps<RuleOp>())
      for (Operation &item : rule.getBody().front())
        ruleAt[item.getLoc()] = rule.getSymName();
  std::map<std::string, Folded> folded;
  bool ok = true;
  auto ruleOf = [&](Operation *op) -> Folded * {
    auto it = ruleAt.find(op->getLoc());
    if (it == ruleAt.end()) {
      op->emitError() << "folded constant belongs to no single policy rule";
      ok = false;
      return nullptr;
    }
    return &folded[it->second.str()];
  };
  module.walk([&](Operation *op) {
    if (auto inject = dyn_cast<InjectOp>(op)) {
      std::optional<ElementsAttr> direction = inject.getDirection();
      std::optional<SmallVector<float>> v =
          direction ? f32Values(*direction) : std::nullopt;
      if (Folded *r = v ? ruleOf(op) : nullptr) {
        r->direction.assign(v->begin(), v->end());
        r->alpha = static_cast<float>(inject.getAlphaAttr().getValueAsDouble());
      }
    } else if (auto bias = dyn_cast<LogitBiasOp>(op)) {
      std::optional<SmallVector<float>> v = bias.getBiasValues();
      if (Folded *r = v ? ruleOf(op) : nullptr)
        r->vocabBias.assign(v->begin(), v->end());
    } else if (auto fixed = dyn_cast<FixedFeaturesOp>(op)) {
      std::optional<SmallVector<float>> v = f32Values(fixed.getFeatures());
      if (Folded *r = v ? ruleOf(op) : nullptr)
        r->features.assign(v->begin(), v->end());
    } else if (auto profile = dyn_cast<TargetProfileOp>(op)) {
      std::optional<DenseElementsAttr> v = profile.getProfile();
      if (Folded *r = v ? ruleOf(op) : nullptr) {
        r->profile.clear();
        for (APFloat x : v->getValues<APFloat>())
          r->profile.push_back(x.convertToFloat());
        r->tokens = profile.getTokens().value_or(0);
      }
    }
  });
  if (!ok)
    return failure();

  pol::CompiledPolicy out;
  out.source = source.str();
  for (PolicyOp policy : module.getOps<PolicyOp>())
    for (RuleOp rule : policy.getBody().getOps<RuleOp>()) {
      std::string name = rule.getSymName().str();
      const Folded &f = folded[name];
      auto missing = [&](const char *what) {
        rule.emitError() << "the compiler did not fold its " << what
                         << " (a bug in steerc)";
        return failure();
      };
      schema::Rule pr;
      pr.set_name(name);
      if (auto loc = llvm::dyn_cast<FileLineColLoc>(rule.getLoc())) {
        pr.mutable_location()->set_file(loc.getFilename().str());
        pr.mutable_location()->set_line(loc.getLine());
        pr.mutable_location()->set_column(loc.getColumn());
      }
      for (Operation &item : rule.getBody().front()) {
        if (auto when = dyn_cast<WhenOp>(item)) {
          for (Attribute c : when.getConcepts())
            *pr.mutable_guard()->add_concepts() = ref(c);
          pr.mutable_guard()->set_threshold(
              static_cast<float>(when.getThresholdAttr().getValueAsDouble()));
        } else if (auto suppress = dyn_cast<SuppressOp>(item)) {
          for (Attribute c : suppress.getConcepts())
            *pr.add_suppress() = ref(c);
        } else if (auto clamp = dyn_cast<ClampOp>(item)) {
          schema::Clamp *pc = pr.add_clamp();
          *pc->mutable_target() = ref(clamp.getTarget());
          pc->set_value(
              static_cast<float>(clamp.getValueAttr().getValueAsDouble()));
        } else if (isa<AmplifyOp, UnlearnOp>(item)) {
          schema::Injection *in = pr.mutable_injection();
          if (auto amp = dyn_cast<AmplifyOp>(item)) {
            in->set_kind(schema::Injection::AMPLIFY);
            for (Attribute c : amp.getConcepts())
              *in->add_concepts() = ref(c);
            in->set_target(
                static_cast<float>(amp.getTargetAttr().getValueAsDouble()));
            in->set_layer(static_cast<int32_t>(amp.getLayer()));
            in->set_schedule(amp.getSchedule() == Schedule::fixed
                                 ? schema::FIXED
                                 : schema::HARD_CUTOFF);
            in->set_cutoff_tokens(
                static_cast<int32_t>(amp.getCutoffTokens().value_or(0)));
          } else {
            auto un = cast<UnlearnOp>(item);
            auto focal = llvm::cast<ConceptAttr>(un.getFocal());
            in->set_kind(schema::Injection::UNLEARN);
            *in->add_concepts() = ref(focal);
            for (Attribute c : un.getGroup())
              if (llvm::cast<ConceptAttr>(c).getId() != focal.getId())
                *in->add_concepts() = ref(c);
            in->set_target(
                static_cast<float>(un.getAlphaAttr().getValueAsDouble()));
            in->set_layer(static_cast<int32_t>(un.getLayer()));
            in->set_schedule(schema::FIXED);
            *in->mutable_relu_focal() = ref(focal);
            in->set_relu_strength(static_cast<float>(
                un.getReluStrengthAttr().getValueAsDouble()));
            if (f.vocabBias.empty())
              return missing("ReLU logit mask");
          }
          if (f.direction.empty())
            return missing("injection direction");
          in->set_alpha(f.alpha);
          in->set_direction_tensor("rule." + name + ".direction");
          out.tensors.emplace_back(in->direction_tensor(), f.direction);
          if (!f.vocabBias.empty()) {
            in->set_vocab_bias_tensor("rule." + name + ".vocab_bias");
            out.tensors.emplace_back(in->vocab_bias_tensor(), f.vocabBias);
          }
        } else if (auto resp = dyn_cast<SteerToResponseOp>(item)) {
          if (f.profile.empty())
            return missing("target profile");
          schema::SteerToResponse *s = pr.mutable_steer_to_response();
          s->set_response(resp.getResponse().str());
          s->set_tokens(static_cast<int32_t>(f.tokens));
          s->set_profile_tensor("rule." + name + ".profile");
          out.tensors.emplace_back(s->profile_tensor(), f.profile);
          if (!f.features.empty()) {
            s->set_features_tensor("rule." + name + ".features");
            out.tensors.emplace_back(s->features_tensor(), f.features);
          }
        }
      }
      out.rulesProto.push_back(pr.SerializeAsString());
    }
  for (ModelOp model : module.getOps<ModelOp>())
    if (auto dict = model->getAttrOfType<DictionaryAttr>("steer.kernel_plan"))
      for (NamedAttribute entry : dict)
        if (auto kernel = llvm::dyn_cast<StringAttr>(entry.getValue()))
          out.kernelPlan.emplace_back(entry.getName().str(), kernel.str());
  return out;
}
