// Tests the executor of an artifact's steering program (exec/program.h) on
// programs written here op by op: guard tests fire at their threshold, the
// known-weight row follows the ops' order (a target profile replaces the
// row, overrides after it set entries, a later profile drops earlier
// overrides), compose's epsilon follows its `unless` values, injections
// keep their order and guards, logit biases are summed in order; and the
// behavioural comparison steer-diff uses tells equivalent programs from
// different ones, saying where.
#include "steer/artifact/artifact.h"
#include "steer/exec/program.h"
#include "steer/model/checkpoint.h"

#include <gtest/gtest.h>
#define XXH_INLINE_ALL // header-only: the test needs one hash
#include <xxhash.h>

#include <cmath>
#include <cstdio>
#include <unistd.h>

namespace steer {
namespace {

const std::string kCheckpoint =
    std::string(STEER_SOURCE_DIR) + "/test/golden/tiny-f32/checkpoint";

ArtifactTensor floats(const std::string &name, const std::vector<float> &v) {
  return {name,
          DType::kF32,
          {static_cast<int64_t>(v.size())},
          std::string(reinterpret_cast<const char *>(v.data()), v.size() * 4)};
}

/// Builds artifacts around a program for the tiny golden model.
class ProgramTest : public testing::Test {
protected:
  void SetUp() override {
    auto ck = Checkpoint::open(kCheckpoint);
    ASSERT_TRUE(ck.ok()) << ck.status().toString();
    config_ = (*ck)->config();
    C_ = config_.concepts->nConcepts;
    D_ = config_.nEmbd;
    V_ = config_.vocabSize;
  }

  schema::ProgramOp *op(schema::Program &p, std::optional<uint32_t> guard,
                        const std::string &rule = "r") {
    schema::ProgramOp *o = p.add_ops();
    o->add_rules(rule);
    if (guard)
      o->set_guard(*guard);
    return o;
  }

  /// One detect over `concepts` with one test per (members, threshold).
  void detect(schema::Program &p, std::vector<int64_t> concepts,
              std::vector<std::pair<std::vector<uint32_t>, float>> tests) {
    schema::Detect *d = p.add_ops()->mutable_detect();
    for (int64_t c : concepts)
      d->add_concepts(c);
    for (auto &[members, threshold] : tests) {
      schema::Detect::Test *t = d->add_tests();
      for (uint32_t m : members)
        t->add_members(m);
      t->set_threshold(threshold);
      t->set_result(p.guard_values());
      p.set_guard_values(p.guard_values() + 1);
    }
  }

  /// Writes and opens an artifact holding `program` and `tensors`.
  std::unique_ptr<Artifact> make(schema::Program program,
                                 std::vector<ArtifactTensor> tensors) {
    schema::Manifest m;
    m.set_model_config_json(modelConfigToJson(config_));
    m.set_policy_source("# written by program_test\n");
    m.set_policy_xxh64(hashHex(
        XXH64(m.policy_source().data(), m.policy_source().size(), 0)));
    m.mutable_provenance()->set_compiler_version("program_test");
    m.mutable_provenance()->set_optimization_level("O2");
    // The rule as written, for review (the executor never reads it).
    schema::Rule *r = m.add_rules();
    r->set_name("r");
    schema::ConceptRef *suppressed = r->add_suppress();
    suppressed->set_id(0);
    suppressed->set_head(schema::ConceptRef::KNOWN);
    program.add_rules()->set_name("r");
    // Every program of an interpretable model composes once (steerc's
    // do); tests that do not care get the plain one.
    bool composes = false;
    for (const schema::ProgramOp &o : program.ops())
      composes |= o.has_compose();
    if (!composes)
      program.add_ops()->mutable_compose()->set_epsilon(true);
    *m.mutable_program() = std::move(program);
    char dir[] = "/tmp/steer-program-test-XXXXXX";
    EXPECT_NE(::mkdtemp(dir), nullptr);
    path_ = std::string(dir) + "/a.steer";
    Status s = writeArtifact(path_, m, std::move(tensors), false);
    EXPECT_TRUE(s.ok()) << s.toString();
    auto a = Artifact::open(path_);
    EXPECT_TRUE(a.ok()) << a.status().toString();
    return a.ok() ? std::move(*a) : nullptr;
  }

  void TearDown() override {
    if (!path_.empty()) {
      std::remove(path_.c_str());
      ::rmdir(path_.substr(0, path_.rfind('/')).c_str());
    }
  }

  ModelConfig config_;
  int64_t C_ = 0, D_ = 0, V_ = 0;
  std::string path_;
};

TEST_F(ProgramTest, GuardsFireAtTheirThreshold) {
  schema::Program p;
  detect(p, {3, 7}, {{{0}, 0.5f}, {{0, 1}, 0.9f}});
  op(p, 1)->mutable_override_weights()->add_concepts(2);
  p.mutable_ops(1)->mutable_override_weights()->add_values(0.0f);
  auto a = make(p, {});
  ASSERT_NE(a, nullptr);
  auto prog = SteeringProgram::bind(*a, config_);
  ASSERT_TRUE(prog.ok()) << prog.status().toString();
  EXPECT_EQ(prog->guardConcepts(), (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(prog->evaluateGuards(std::vector<float>{0.5f, 0.0f}),
            (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(prog->evaluateGuards(std::vector<float>{0.4999f, 0.9f}),
            (std::vector<uint8_t>{0, 1}));
  // From dense known weights of two rows: each concept's largest weight.
  std::vector<float> rows(2 * C_, 0.0f);
  rows[0 * C_ + 3] = 0.2f;
  rows[1 * C_ + 3] = 0.6f;
  EXPECT_EQ(prog->evaluateGuards(rows, 2, C_), (std::vector<uint8_t>{1, 0}));
  // The override runs only under guard 1.
  EXPECT_TRUE(prog->run(std::vector<uint8_t>{1, 0}).steering.empty());
  EXPECT_EQ(prog->run(std::vector<uint8_t>{0, 1}).steering.weights.concepts,
            (std::vector<int64_t>{2}));
}

TEST_F(ProgramTest, TheWeightRowFollowsTheOpsInOrder) {
  std::vector<float> p1(C_, 0.1f), p2(C_, 0.2f);
  schema::Program p;
  detect(p, {0}, {{{0}, 0.5f}});
  op(p, std::nullopt)->mutable_override_weights()->add_concepts(4);
  p.mutable_ops(1)->mutable_override_weights()->add_values(1.0f);
  op(p, std::nullopt)->mutable_target_profile()->set_profile_tensor("p1");
  p.mutable_ops(2)->mutable_target_profile()->set_tokens(3);
  op(p, std::nullopt)->mutable_override_weights()->add_concepts(5);
  p.mutable_ops(3)->mutable_override_weights()->add_values(0.0f);
  op(p, 0)->mutable_target_profile()->set_profile_tensor("p2");
  p.mutable_ops(4)->mutable_target_profile()->set_tokens(3);
  op(p, std::nullopt)->mutable_override_weights()->add_concepts(5);
  p.mutable_ops(5)->mutable_override_weights()->add_values(0.75f);
  schema::Compose *c = op(p, std::nullopt)->mutable_compose();
  c->set_epsilon(true);
  c->add_unless(0);
  auto a = make(p, {floats("p1", p1), floats("p2", p2)});
  ASSERT_NE(a, nullptr);
  auto prog = SteeringProgram::bind(*a, config_);
  ASSERT_TRUE(prog.ok()) << prog.status().toString();

  // Guard off: #4 = 1 is dropped by profile p1, then #5 = 0, then #5 = 0.75
  // (the later op wins); epsilon kept.
  AppliedPolicy off = prog->run(std::vector<uint8_t>{0});
  EXPECT_EQ(off.steering.weights.profile, p1);
  EXPECT_EQ(off.steering.weights.concepts, (std::vector<int64_t>{5}));
  EXPECT_EQ(off.steering.weights.values, (std::vector<float>{0.75f}));
  EXPECT_EQ(off.steering.weights.epsilon, std::optional<bool>(true));
  // Guard on: p2 replaces the row (dropping #5 = 0), then #5 = 0.75;
  // epsilon dropped.
  AppliedPolicy on = prog->run(std::vector<uint8_t>{1});
  EXPECT_EQ(on.steering.weights.profile, p2);
  EXPECT_EQ(on.steering.weights.concepts, (std::vector<int64_t>{5}));
  EXPECT_EQ(on.steering.weights.epsilon, std::optional<bool>(false));
  EXPECT_EQ(on.fired, (std::vector<std::string>{"r"}));
}

TEST_F(ProgramTest, InjectionsKeepTheirOrderAndBiasesAreSummed) {
  std::vector<float> d1(D_, 0.0f), d2(D_, 0.0f), b1(V_, 0.0f), b2(V_, 0.0f);
  d1[0] = 1.0f;
  d2[1] = 1.0f;
  b1[10] = 0.1f;
  b2[10] = 0.2f;
  b2[11] = 3.0f;
  schema::Program p;
  detect(p, {1}, {{{0}, 0.3f}});
  auto inject = [&](std::optional<uint32_t> g, const char *dir, float alpha,
                    int layer, bool cutoff) {
    schema::Inject *in = op(p, g)->mutable_inject();
    in->set_direction_tensor(dir);
    in->set_alpha(alpha);
    in->set_layer(layer);
    in->set_schedule(cutoff ? schema::HARD_CUTOFF : schema::FIXED);
    if (cutoff)
      in->set_cutoff_tokens(4);
  };
  inject(0, "d2", -2.0f, 2, false);
  inject(std::nullopt, "d1", 3.0f, 1, true);
  op(p, std::nullopt)->mutable_logit_bias()->set_bias_tensor("b1");
  op(p, 0)->mutable_logit_bias()->set_bias_tensor("b2");
  auto a = make(p, {floats("d1", d1), floats("d2", d2), floats("b1", b1),
                    floats("b2", b2)});
  ASSERT_NE(a, nullptr);
  auto prog = SteeringProgram::bind(*a, config_);
  ASSERT_TRUE(prog.ok()) << prog.status().toString();
  AppliedPolicy on = prog->run(std::vector<uint8_t>{1});
  ASSERT_EQ(on.steering.injections.size(), 2u);
  EXPECT_EQ(on.steering.injections[0].direction, d2);
  EXPECT_EQ(on.steering.injections[0].baseAlpha, -2.0f);
  EXPECT_EQ(on.steering.injections[1].injectLayer, 1);
  EXPECT_EQ(on.steering.injections[1].alphaAfter(3), 3.0f);
  EXPECT_EQ(on.steering.injections[1].alphaAfter(4), 0.0f);
  EXPECT_EQ(on.steering.vocabBias[10], 0.1f + 0.2f);
  EXPECT_EQ(on.steering.vocabBias[11], 3.0f);
  AppliedPolicy off = prog->run(std::vector<uint8_t>{0});
  ASSERT_EQ(off.steering.injections.size(), 1u);
  EXPECT_EQ(off.steering.injections[0].direction, d1);
  EXPECT_EQ(off.steering.vocabBias, b1);
}

TEST_F(ProgramTest, ComparesBehaviourOverEveryGuardOutcome) {
  // Two guards on one concept at two thresholds; two override tables.
  auto build = [&](float value, bool fused) {
    schema::Program p;
    if (fused) {
      detect(p, {6}, {{{0}, 0.3f}, {{0}, 0.7f}});
    } else {
      detect(p, {6}, {{{0}, 0.3f}});
      detect(p, {6}, {{{0}, 0.7f}});
    }
    op(p, 0)->mutable_override_weights()->add_concepts(2);
    p.mutable_ops(p.ops_size() - 1)->mutable_override_weights()->add_values(0);
    op(p, 1)->mutable_override_weights()->add_concepts(3);
    p.mutable_ops(p.ops_size() - 1)->mutable_override_weights()->add_values(
        value);
    return p;
  };
  auto a = make(build(1.0f, false), {});
  ASSERT_NE(a, nullptr);
  auto pa = SteeringProgram::bind(*a, config_);
  ASSERT_TRUE(pa.ok());
  auto b = make(build(1.0f, true), {});
  ASSERT_NE(b, nullptr);
  auto pb = SteeringProgram::bind(*b, config_);
  ASSERT_TRUE(pb.ok());
  ProgramComparison same = compareBehaviour(*pa, *pb);
  EXPECT_TRUE(same.checked);
  EXPECT_TRUE(same.equivalent) << same.difference;
  EXPECT_EQ(same.outcomes, 3); // #6 at 0, 0.3, 0.7
  auto c = make(build(0.5f, true), {});
  ASSERT_NE(c, nullptr);
  auto pc = SteeringProgram::bind(*c, config_);
  ASSERT_TRUE(pc.ok());
  ProgramComparison differ = compareBehaviour(*pa, *pc);
  EXPECT_FALSE(differ.equivalent);
  EXPECT_NE(differ.difference.find("#6 at 0.7"), std::string::npos)
      << differ.difference;
}

} // namespace
} // namespace steer
