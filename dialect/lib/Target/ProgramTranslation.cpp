//===- ProgramTranslation.cpp - Lowered steer IR to an artifact's program -===//
#include "steer/Target/ProgramTranslation.h"

#include "schema/artifact.pb.h"
#include "steer/Dialect/Steer/IR/SteerOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"

#include <map>
#include <set>

using namespace mlir;
using namespace mlir::steer;
namespace pol = ::steer::policy;
namespace schema = ::steer::schema;

namespace {

schema::ConceptRef ref(Attribute a) {
  auto c = llvm::cast<ConceptAttr>(a);
  schema::ConceptRef r;
  r.set_id(c.getId());
  r.set_label(c.getLabel().str());
  r.set_head(schema::ConceptRef::KNOWN);
  return r;
}

void setLocation(schema::SourceLocation *out, FileLineColLoc loc) {
  out->set_file(loc.getFilename().str());
  out->set_line(loc.getLine());
  out->set_column(loc.getColumn());
}

/// The value an intervention's chain starts from, skipping the ops of
/// `Chain` (the interventions of the same site).
template <typename... Chain> Operation *chainRoot(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (!isa<Chain...>(def))
      return def;
    v = def->getOperand(0);
  }
  return nullptr;
}

class Translator {
public:
  Translator(ModuleOp module) : module_(module) {}

  FailureOr<pol::CompiledPolicy> run(StringRef source);

private:
  LogicalResult mapRules();
  LogicalResult translate(Operation *op);
  LogicalResult checkSite(Operation *op);
  /// The guard value an op runs under (none when `guard` is null). Fails
  /// for an i1 no detect defines.
  LogicalResult guardOf(Operation *op, Value guard,
                        std::optional<uint32_t> &out);
  schema::ProgramOp *newOp(Operation *op, std::optional<uint32_t> guard);
  std::string tensorName(const schema::ProgramOp &op, StringRef kind);
  LogicalResult addTensor(Operation *op, schema::ProgramOp &pop, StringRef kind,
                          std::optional<SmallVector<float>> values,
                          std::string *name);
  LogicalResult recordRules();

  ModuleOp module_;
  pol::CompiledPolicy out_;
  schema::Program program_;
  /// Every file position inside a policy item's location -> the item (its
  /// first position) and its rule.
  llvm::DenseMap<Location, std::pair<Location, StringRef>> ruleAt_;
  llvm::DenseMap<Value, uint32_t> values_;     // i1 -> guard value
  /// Tests by (sorted concepts, threshold), for rule records.
  std::map<std::pair<std::vector<int64_t>, float>, uint32_t> tests_;
  llvm::DenseMap<Location, uint32_t> guardAt_; // steer.guard loc -> value
  std::set<std::string> tensorNames_;
  /// (rule, kind) -> tensor, for ops that implement one rule alone.
  std::map<std::pair<std::string, std::string>, std::string> ruleTensor_;
  std::map<std::string, float> ruleAlpha_;
  std::map<std::string, int64_t> ruleTokens_;
  bool sawCompose_ = false;
};

LogicalResult Translator::mapRules() {
  for (PolicyOp policy : module_.getOps<PolicyOp>())
    for (RuleOp rule : policy.getBody().getOps<RuleOp>())
      for (Operation &item : rule.getBody().front()) {
        std::optional<Location> first;
        item.getLoc()->walk([&](Location l) {
          if (auto f = llvm::dyn_cast<FileLineColLoc>(l)) {
            if (!first)
              first = f;
            ruleAt_.try_emplace(f, std::make_pair(*first, rule.getSymName()));
          }
          return WalkResult::advance();
        });
      }
  return success();
}

schema::ProgramOp *Translator::newOp(Operation *op,
                                     std::optional<uint32_t> guard) {
  schema::ProgramOp *p = program_.add_ops();
  // One location per policy item the op implements (the item's first
  // position), or the op's own positions when it implements none.
  std::vector<FileLineColLoc> items, other;
  op->getLoc()->walk([&](Location l) {
    if (auto f = llvm::dyn_cast<FileLineColLoc>(l)) {
      auto it = ruleAt_.find(f);
      if (it == ruleAt_.end()) {
        other.push_back(f);
      } else {
        auto item = llvm::cast<FileLineColLoc>(it->second.first);
        if (!llvm::is_contained(items, item))
          items.push_back(item);
        if (!llvm::is_contained(p->rules(), it->second.second.str()))
          p->add_rules(it->second.second.str());
      }
    }
    return WalkResult::advance();
  });
  for (FileLineColLoc l : items.empty() ? other : items)
    setLocation(p->add_locations(), l);
  if (guard)
    p->set_guard(*guard);
  return p;
}

std::string Translator::tensorName(const schema::ProgramOp &op,
                                   StringRef kind) {
  std::string name =
      op.rules_size() == 1
          ? "rule." + op.rules(0) + "." + kind.str()
          : "op." + std::to_string(program_.ops_size() - 1) + "." + kind.str();
  if (!tensorNames_.insert(name).second) {
    name = "op." + std::to_string(program_.ops_size() - 1) + "." + kind.str();
    tensorNames_.insert(name);
  }
  if (op.rules_size() == 1)
    ruleTensor_[{op.rules(0), kind.str()}] = name;
  return name;
}

LogicalResult
Translator::addTensor(Operation *op, schema::ProgramOp &pop, StringRef kind,
                      std::optional<SmallVector<float>> values,
                      std::string *name) {
  if (!values)
    return op->emitError() << "has no folded " << kind
                           << " for the artifact (a bug in steerc: the "
                              "pipeline must fold it)";
  *name = tensorName(pop, kind);
  out_.tensors.emplace_back(*name,
                            std::vector<float>(values->begin(), values->end()));
  return success();
}

LogicalResult Translator::guardOf(Operation *op, Value guard,
                                  std::optional<uint32_t> &out) {
  out.reset();
  if (!guard)
    return success();
  auto it = values_.find(guard);
  if (it == values_.end())
    return op->emitError() << "is guarded by a value no steer.detect or "
                              "steer.guard defines; the runtime cannot "
                              "evaluate it";
  out = it->second;
  return success();
}

/// Interventions must sit where the runtime applies them; anything else
/// would be executed at a different place than the IR says.
LogicalResult Translator::checkSite(Operation *op) {
  auto bad = [&](StringRef site) {
    return op->emitError() << "is not at its site (" << site
                           << "); the runtime applies it there, so the "
                              "artifact would not run this IR";
  };
  if (isa<TargetProfileOp, OverrideWeightsOp>(op)) {
    if (!isa_and_nonnull<KnownWeightsOp>(
            chainRoot<TargetProfileOp, OverrideWeightsOp>(op->getOperand(0))))
      return bad("the known weights");
    for (Operation *user : op->getUsers())
      if (!isa<TargetProfileOp, OverrideWeightsOp, ConceptFeaturesOp>(user))
        return bad("the known weights, read by the known features");
  } else if (isa<FixedFeaturesOp>(op)) {
    if (!isa_and_nonnull<ConceptFeaturesOp>(
            chainRoot<FixedFeaturesOp>(op->getOperand(0))))
      return bad("the known features");
  } else if (auto inject = dyn_cast<InjectOp>(op)) {
    auto block = dyn_cast_or_null<BlockOp>(
        chainRoot<InjectOp>(inject.getInput()));
    if (!block ||
        block.getLayer() != std::max<int64_t>(inject.getLayer(), 1) - 1)
      return bad("after block " +
                 std::to_string(std::max<int64_t>(inject.getLayer(), 1) - 1));
  } else if (isa<LogitBiasOp>(op)) {
    if (!isa_and_nonnull<LmHeadOp>(chainRoot<LogitBiasOp>(op->getOperand(0))))
      return bad("the logits");
  }
  return success();
}

LogicalResult Translator::translate(Operation *op) {
  if (auto g = dyn_cast<GuardOp>(op)) {
    std::vector<int64_t> ids(g.getConcepts().begin(), g.getConcepts().end());
    llvm::sort(ids);
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    uint32_t v = program_.guard_values();
    program_.set_guard_values(v + 1);
    values_[g.getResult()] = v;
    guardAt_[g.getLoc()] = v;
    float threshold = static_cast<float>(g.getThresholdAttr().getValueAsDouble());
    tests_.try_emplace({ids, threshold}, v);
    schema::Detect *d = newOp(op, std::nullopt)->mutable_detect();
    schema::Detect::Test *t = d->add_tests();
    for (size_t i = 0; i < ids.size(); ++i) {
      d->add_concepts(ids[i]);
      t->add_members(i);
    }
    t->set_threshold(threshold);
    t->set_result(v);
    return success();
  }
  if (auto det = dyn_cast<DetectOp>(op)) {
    schema::Detect *d = newOp(op, std::nullopt)->mutable_detect();
    for (int64_t id : det.getConcepts())
      d->add_concepts(id);
    for (auto [i, guard] : llvm::enumerate(det.getGuards())) {
      uint32_t v = program_.guard_values();
      program_.set_guard_values(v + 1);
      values_[det.getResult(i)] = v;
      schema::Detect::Test *t = d->add_tests();
      std::vector<int64_t> ids;
      for (int64_t m : llvm::cast<DenseI64ArrayAttr>(guard).asArrayRef()) {
        t->add_members(static_cast<uint32_t>(m));
        if (m >= 0 && m < static_cast<int64_t>(det.getConcepts().size()))
          ids.push_back(det.getConcepts()[m]);
      }
      llvm::sort(ids);
      t->set_threshold(det.getThresholds()[i]);
      t->set_result(v);
      tests_.try_emplace({ids, det.getThresholds()[i]}, v);
    }
    return success();
  }
  if (failed(checkSite(op)))
    return failure();
  if (auto p = dyn_cast<TargetProfileOp>(op)) {
    std::optional<uint32_t> guard;
    if (failed(guardOf(op, p.getGuard(), guard)))
      return failure();
    schema::ProgramOp *pop = newOp(op, guard);
    schema::TargetProfile *tp = pop->mutable_target_profile();
    tp->set_response(p.getResponse().str());
    tp->set_tokens(static_cast<int32_t>(p.getTokens().value_or(0)));
    std::optional<SmallVector<float>> values;
    if (std::optional<DenseElementsAttr> v = p.getProfile()) {
      values.emplace();
      for (APFloat x : v->getValues<APFloat>())
        values->push_back(x.convertToFloat());
    }
    if (pop->rules_size() == 1)
      ruleTokens_[pop->rules(0)] = tp->tokens();
    return addTensor(op, *pop, "profile", values, tp->mutable_profile_tensor());
  }
  if (auto o = dyn_cast<OverrideWeightsOp>(op)) {
    std::optional<uint32_t> guard;
    if (failed(guardOf(op, o.getGuard(), guard)))
      return failure();
    schema::OverrideWeights *ow = newOp(op, guard)->mutable_override_weights();
    for (int64_t id : o.getConcepts())
      ow->add_concepts(id);
    for (float v : o.getValues())
      ow->add_values(v);
    return success();
  }
  if (auto f = dyn_cast<FixedFeaturesOp>(op)) {
    std::optional<uint32_t> guard;
    if (failed(guardOf(op, f.getGuard(), guard)))
      return failure();
    schema::ProgramOp *pop = newOp(op, guard);
    return addTensor(op, *pop, "features", f32Values(f.getFeatures()),
                     pop->mutable_fixed_features()->mutable_features_tensor());
  }
  if (auto c = dyn_cast<ComposeOp>(op)) {
    if (sawCompose_)
      return op->emitError() << "is a second steer.compose; the runtime "
                                "composes once per position";
    sawCompose_ = true;
    schema::Compose *pc = newOp(op, std::nullopt)->mutable_compose();
    pc->set_epsilon(c.getEpsilon());
    for (Value u : c.getUnless()) {
      std::optional<uint32_t> v;
      if (failed(guardOf(op, u, v)))
        return failure();
      // Fused guards can leave one value listed twice.
      if (!llvm::is_contained(pc->unless(), *v))
        pc->add_unless(*v);
    }
    return success();
  }
  if (auto in = dyn_cast<InjectOp>(op)) {
    if (in.getNormalize())
      return op->emitError() << "still has a target in logit units; "
                                "steer-fold-injections must resolve its alpha";
    std::optional<uint32_t> guard;
    if (failed(guardOf(op, in.getGuard(), guard)))
      return failure();
    schema::ProgramOp *pop = newOp(op, guard);
    schema::Inject *pi = pop->mutable_inject();
    pi->set_alpha(static_cast<float>(in.getAlphaAttr().getValueAsDouble()));
    pi->set_layer(static_cast<int32_t>(in.getLayer()));
    bool cutoff = in.getSchedule() == Schedule::hard_cutoff;
    pi->set_schedule(cutoff ? schema::HARD_CUTOFF : schema::FIXED);
    if (cutoff)
      pi->set_cutoff_tokens(
          static_cast<int32_t>(in.getCutoffTokens().value_or(0)));
    if (pop->rules_size() == 1)
      ruleAlpha_[pop->rules(0)] = pi->alpha();
    std::optional<ElementsAttr> direction = in.getDirection();
    return addTensor(op, *pop, "direction",
                     direction ? f32Values(*direction) : std::nullopt,
                     pi->mutable_direction_tensor());
  }
  if (auto b = dyn_cast<LogitBiasOp>(op)) {
    std::optional<uint32_t> guard;
    if (failed(guardOf(op, b.getGuard(), guard)))
      return failure();
    schema::ProgramOp *pop = newOp(op, guard);
    return addTensor(op, *pop, "vocab_bias", b.getBiasValues(),
                     pop->mutable_logit_bias()->mutable_bias_tensor());
  }
  if (isa<ReluLogitMaskOp>(op))
    return op->emitError() << "is not folded into a steer.logit_bias; the "
                              "runtime executes folded logit masks only";
  return success();
}

/// The policy as written, resolved, with the tensors of the ops that
/// implement each rule alone: what reviews and diffs show.
LogicalResult Translator::recordRules() {
  for (PolicyOp policy : module_.getOps<PolicyOp>())
    for (RuleOp rule : policy.getBody().getOps<RuleOp>()) {
      std::string name = rule.getSymName().str();
      auto tensor = [&](const char *kind) {
        auto it = ruleTensor_.find({name, kind});
        return it == ruleTensor_.end() ? std::string() : it->second;
      };
      schema::Rule pr;
      schema::RuleRecord *record = program_.add_rules();
      pr.set_name(name);
      record->set_name(name);
      if (auto loc = llvm::dyn_cast<FileLineColLoc>(rule.getLoc())) {
        setLocation(pr.mutable_location(), loc);
        setLocation(record->mutable_location(), loc);
      }
      for (Operation &item : rule.getBody().front()) {
        if (auto when = dyn_cast<WhenOp>(item)) {
          std::vector<int64_t> ids;
          for (Attribute c : when.getConcepts()) {
            *pr.mutable_guard()->add_concepts() = ref(c);
            ids.push_back(llvm::cast<ConceptAttr>(c).getId());
          }
          llvm::sort(ids);
          ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
          float threshold =
              static_cast<float>(when.getThresholdAttr().getValueAsDouble());
          pr.mutable_guard()->set_threshold(threshold);
          auto at = guardAt_.find(when.getLoc());
          auto test = tests_.find({ids, threshold});
          if (at != guardAt_.end())
            record->set_guard(at->second);
          else if (test != tests_.end())
            record->set_guard(test->second);
          else
            return rule.emitError()
                   << "has a guard the compiled program does not evaluate "
                      "(a bug in steerc)";
        } else if (auto suppress = dyn_cast<SuppressOp>(item)) {
          for (Attribute c : suppress.getConcepts())
            *pr.add_suppress() = ref(c);
        } else if (auto clamp = dyn_cast<ClampOp>(item)) {
          schema::Clamp *pc = pr.add_clamp();
          *pc->mutable_target() = ref(clamp.getTarget());
          pc->set_value(
              static_cast<float>(clamp.getValueAttr().getValueAsDouble()));
        } else if (auto amp = dyn_cast<AmplifyOp>(item)) {
          schema::Injection *in = pr.mutable_injection();
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
          in->set_alpha(ruleAlpha_.count(name) ? ruleAlpha_[name] : 0.0f);
          in->set_direction_tensor(tensor("direction"));
        } else if (auto un = dyn_cast<UnlearnOp>(item)) {
          schema::Injection *in = pr.mutable_injection();
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
          in->set_alpha(ruleAlpha_.count(name) ? ruleAlpha_[name] : 0.0f);
          in->set_direction_tensor(tensor("direction"));
          in->set_vocab_bias_tensor(tensor("vocab_bias"));
        } else if (auto resp = dyn_cast<SteerToResponseOp>(item)) {
          schema::SteerToResponse *s = pr.mutable_steer_to_response();
          s->set_response(resp.getResponse().str());
          s->set_tokens(static_cast<int32_t>(ruleTokens_[name]));
          s->set_profile_tensor(tensor("profile"));
          s->set_features_tensor(tensor("features"));
        }
      }
      out_.rulesProto.push_back(pr.SerializeAsString());
    }
  return success();
}

FailureOr<pol::CompiledPolicy> Translator::run(StringRef source) {
  out_.source = source.str();
  for (PolicyOp policy : module_.getOps<PolicyOp>())
    if (std::optional<StringRef> d = policy.getDescription())
      out_.description = d->str();
  if (failed(mapRules()))
    return failure();
  auto models = llvm::to_vector(module_.getOps<ModelOp>());
  if (models.size() != 1)
    return module_.emitError() << "needs exactly one steer.model to translate, "
                                  "found "
                               << models.size();
  auto forward = models.front().lookupSymbol<func::FuncOp>("forward");
  if (!forward)
    return models.front().emitError() << "has no @forward to translate";
  // Values are defined before use in a graph region walk (guards and
  // detects sit at the entry), so one walk in order numbers them.
  WalkResult r = forward.walk([&](Operation *op) {
    return failed(translate(op)) ? WalkResult::interrupt()
                                 : WalkResult::advance();
  });
  if (r.wasInterrupted())
    return failure();
  program_.set_concept_heads_dropped(!sawCompose_);
  if (failed(recordRules()))
    return failure();
  out_.programProto = program_.SerializeAsString();
  if (auto dict =
          models.front()->getAttrOfType<DictionaryAttr>("steer.kernel_plan"))
    for (NamedAttribute entry : dict)
      if (auto kernel = llvm::dyn_cast<StringAttr>(entry.getValue()))
        out_.kernelPlan.emplace_back(entry.getName().str(), kernel.str());
  return out_;
}

} // namespace

FailureOr<pol::CompiledPolicy>
mlir::steer::translateToProgram(ModuleOp module, StringRef policySource) {
  return Translator(module).run(policySource);
}
