// Input attribution (exec/input_attribution.h) against the reference:
//
// - Golden: on every golden case, greedy 16 tokens from the prompt 1..11,
//   every baseline (mask, pad, zero) and n_steps 1 and 32, each committed
//   token's attribution row equals the reference's own integrated gradients
//   computed with PyTorch autograd (test/golden/make_input_attribution.py)
//   within 1e-4 of the row's largest |value| per element (measured: 7e-6);
//   the attributed logits within 1e-5 relative.
// - Completeness: for n_steps 32 a row sums to logit(input) -
//   logit(baseline) up to the Riemann error, and that error is the
//   reference's own within 1e-3 (it is a property of the path, not of
//   the code); it shrinks as the steps grow.
// - Gradients: Engine::logitGradients against central finite differences
//   of its own forward, on checkpoints with the options the goldens do not
//   cover (pre-norm, standard MLPs with each activation, no qk-norm, no
//   clip, no RoPE), with a residual injection and through the concept heads
//   under a known-weight intervention that drops epsilon.
#include "steer/exec/input_attribution.h"
#include "steer/model/random_checkpoint.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <random>

#include <stdlib.h>

namespace steer {
namespace {

const std::string kGolden = std::string(STEER_SOURCE_DIR) + "/test/golden";

struct Model {
  std::unique_ptr<Checkpoint> ckpt;
  std::unique_ptr<Engine> engine;
};

Model open(const std::string &dir) {
  Model m;
  auto c = Checkpoint::open(dir);
  EXPECT_TRUE(c.ok()) << c.status().toString();
  if (!c.ok())
    return m;
  m.ckpt = std::move(*c);
  auto e = Engine::create(*m.ckpt);
  EXPECT_TRUE(e.ok()) << e.status().toString();
  if (e.ok())
    m.engine = std::move(*e);
  return m;
}

nlohmann::json readJson(const std::string &path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in);
}

class GoldenInputAttribution : public testing::TestWithParam<std::string> {};

TEST_P(GoldenInputAttribution, MatchesTheReferenceAutograd) {
  const std::string name = GetParam();
  Model m = open(kGolden + "/" + name + "/checkpoint");
  ASSERT_NE(m.engine, nullptr);
  nlohmann::json ref =
      readJson(kGolden + "/input-attribution/" + name + ".json");
  const std::vector<int64_t> prompt = ref["prompt"];
  const std::vector<int64_t> tokens = ref["tokens"];
  for (const nlohmann::json &run : ref["runs"]) {
    IgOptions ig;
    ig.steps = run["n_steps"];
    auto baseline = parseIgBaseline(run["baseline"].get<std::string>());
    ASSERT_TRUE(baseline.ok());
    ig.baseline = *baseline;
    SCOPED_TRACE(run["baseline"].get<std::string>() + " n_steps " +
                 std::to_string(ig.steps));
    GenerateRequest req;
    req.sampling = SamplingOptions::greedy(ref["max_new_tokens"]);
    auto a = attributeInput(*m.engine, prompt, req, ig);
    ASSERT_TRUE(a.ok()) << a.status().toString();
    EXPECT_EQ(a->sequence, tokens);
    const nlohmann::json &targets = run["targets"];
    ASSERT_EQ(a->targets.size(), targets.size());
    double worst = 0;
    for (size_t i = 0; i < targets.size(); ++i) {
      const TargetAttribution &t = a->targets[i];
      const nlohmann::json &r = targets[i];
      EXPECT_EQ(t.position, r["position"].get<int64_t>());
      EXPECT_EQ(t.token, r["token"].get<int64_t>());
      EXPECT_EQ(a->groups[t.order].snapshot,
                r["snapshot"].get<std::vector<int64_t>>());
      const std::vector<double> row = r["attribution"];
      ASSERT_EQ(t.scores.size(), row.size());
      double scale = 0;
      for (double v : row)
        scale = std::max(scale, std::abs(v));
      for (size_t p = 0; p < row.size(); ++p) {
        const double err = std::abs(t.scores[p] - row[p]);
        worst = std::max(worst, err / scale);
        EXPECT_LE(err, 1e-4 * scale)
            << "target " << i << " input position " << p;
      }
      const double li = r["logit_input"], lb = r["logit_baseline"];
      EXPECT_NEAR(t.inputLogit, li, 1e-5 * std::max(1.0, std::abs(li)));
      if (ig.steps > 1) {
        EXPECT_NEAR(t.baselineLogit, lb, 1e-5 * std::max(1.0, std::abs(lb)));
        double sum = 0, refSum = 0;
        for (size_t p = 0; p < row.size(); ++p) {
          sum += t.scores[p];
          refSum += row[p];
        }
        // The Riemann error is the path's: ours is the reference's.
        EXPECT_NEAR(sum - (t.inputLogit - t.baselineLogit),
                    refSum - (li - lb), 1e-3);
      } else {
        EXPECT_TRUE(std::isnan(t.baselineLogit));
      }
      // With the MASK baseline a position still masked contributes
      // nothing, exactly.
      if (ig.baseline == IgBaseline::kMask) {
        for (size_t p = 0; p < row.size(); ++p) {
          if (a->groups[t.order].snapshot[p] == m.engine->config().maskTokenId) {
            EXPECT_EQ(t.scores[p], 0.0f);
          }
        }
      }
    }
    RecordProperty(run["baseline"].get<std::string>() + "_" +
                       std::to_string(ig.steps) + "_max_error",
                   std::to_string(worst));
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenInputAttribution,
                         testing::Values("tiny-f32", "tiny-bf16"));

TEST(InputAttribution, ReplaysEachStepsSteeredForward) {
  // The golden amplify preset (injection of concepts 3 and 5 from layer 1,
  // hard cutoff after 8 tokens) plus a known-weight override that drops
  // epsilon: every attributed logit is the logit generation computed for
  // that token at that step (its cached forward), so the replay used the
  // step's alpha, masked rows and intervention.
  Model m = open(kGolden + "/tiny-f32/checkpoint");
  ASSERT_NE(m.engine, nullptr);
  SteeringOptions so;
  so.injectConcepts = {3, 5};
  so.target = 8;
  so.injectLayer = 1;
  so.schedule = InjectSchedule::kHardCutoff;
  so.cutoffTokens = 8;
  so.weights.concepts = {7};
  so.weights.values = {1.0f};
  auto steering = resolveSteering(*m.engine, so);
  ASSERT_TRUE(steering.ok()) << steering.status().toString();
  const int64_t D = m.engine->width();
  std::map<int64_t, double> stepLogit;
  GenerateRequest req;
  req.sampling = SamplingOptions::greedy(16);
  req.steering = &*steering;
  req.callback = [&](const StepInfo &info) {
    for (size_t i = 0; i < info.positions.size(); ++i) {
      const auto row = std::find(info.outputPositions.begin(),
                                 info.outputPositions.end(),
                                 info.positions[i]) -
                       info.outputPositions.begin();
      std::vector<float> w(D);
      EXPECT_TRUE(m.engine->lmHeadRow(info.tokens[i], w.data()).ok());
      double l = 0;
      for (int64_t d = 0; d < D; ++d)
        l += double(info.outputs->composed[row * D + d]) * w[d];
      stepLogit[info.positions[i]] = l;
    }
    return true;
  };
  const std::vector<int64_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  auto a = attributeInput(*m.engine, prompt, req, {});
  ASSERT_TRUE(a.ok()) << a.status().toString();
  ASSERT_EQ(a->targets.size(), 16u);
  ASSERT_EQ(stepLogit.size(), 16u);
  for (const TargetAttribution &t : a->targets)
    EXPECT_NEAR(t.inputLogit, stepLogit[t.position],
                1e-4 * std::max(1.0, std::abs(stepLogit[t.position])))
        << "position " << t.position;
  // The schedule: full alpha while fewer than 8 tokens are committed.
  for (size_t g = 0; g < a->groups.size(); ++g) {
    ASSERT_EQ(a->groups[g].alphas.size(), 1u);
    EXPECT_EQ(a->groups[g].alphas[0] != 0.0f, g < 8) << "group " << g;
  }
  // Unsteered, the same snapshots give other logits.
  auto plain = integratedGradients(
      *m.engine, a->groups[0].snapshot,
      std::vector<LogitTarget>{{a->targets[0].position, a->targets[0].token}},
      {});
  ASSERT_TRUE(plain.ok());
  EXPECT_GT(std::abs((*plain)[0].inputLogit - a->targets[0].inputLogit), 1e-3);
}

TEST(InputAttribution, CompletenessGapShrinksWithSteps) {
  Model m = open(kGolden + "/tiny-f32/checkpoint");
  ASSERT_NE(m.engine, nullptr);
  const std::vector<int64_t> snapshot = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                         511, 511, 511, 511, 511};
  const LogitTarget target[] = {{12, 42}};
  double previous = 1e30;
  for (int64_t steps : {4, 16, 64}) {
    IgOptions ig;
    ig.steps = steps;
    auto r = integratedGradients(*m.engine, snapshot, target, ig);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    double sum = 0;
    for (float v : (*r)[0].scores)
      sum += v;
    const double gap =
        std::abs(sum - ((*r)[0].inputLogit - (*r)[0].baselineLogit));
    EXPECT_LT(gap, previous) << steps << " steps";
    previous = gap;
  }
  EXPECT_LT(previous, 0.05);
}

TEST(InputAttribution, RefusesWhatItCannotAttribute) {
  Model m = open(kGolden + "/tiny-f32/checkpoint");
  ASSERT_NE(m.engine, nullptr);
  const std::vector<int64_t> prompt = {1, 2, 3};
  GenerateRequest req;
  req.sampling = SamplingOptions::greedy(8);
  req.sampling.cfgScale = 1.0;
  EXPECT_EQ(attributeInput(*m.engine, prompt, req, {}).status().code(),
            StatusCode::kInvalidArgument);
  const std::vector<int64_t> snapshot = {1, 2, 3, 511};
  IgOptions zero;
  zero.steps = 0;
  const LogitTarget ok[] = {{3, 5}};
  EXPECT_FALSE(integratedGradients(*m.engine, snapshot, ok, zero).ok());
  const LogitTarget past[] = {{4, 5}}, badToken[] = {{3, 512}};
  EXPECT_EQ(integratedGradients(*m.engine, snapshot, past, {}).status().code(),
            StatusCode::kOutOfRange);
  EXPECT_EQ(
      integratedGradients(*m.engine, snapshot, badToken, {}).status().code(),
      StatusCode::kOutOfRange);
  EXPECT_FALSE(parseIgBaseline("Mask").ok());
  EXPECT_FALSE(parseIgBaseline("").ok());
  std::vector<float> nan(4 * m.engine->width(), 0.0f);
  nan[7] = std::nanf("");
  EXPECT_FALSE(m.engine->logitGradients(nan, 4, ok, {}).ok());
}

// ---- Finite differences on shapes the goldens do not cover --------------

std::string tempDir() {
  char tmpl[] = "/tmp/steer-ig-XXXXXX";
  const char *d = ::mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d ? d : "";
}

struct Variant {
  std::string name;
  std::function<void(ModelConfig &)> edit;
  /// The finite-difference step (relative to the input's scale) and the
  /// relative tolerance. ReLU and a clip that binds are piecewise: a unit
  /// crossing its kink inside the step bends the quotient, so they get a
  /// smaller step and 10% (their op-level derivatives are checked tightly
  /// in the device conformance suite).
  double h = 1e-2, tolerance = 5e-3;
};

class GradientVariants : public testing::TestWithParam<Variant> {};

/// d logit / d input . v against (f(x + h v) - f(x - h v)) / 2h for random
/// directions, f the logit logitGradients itself reports.
void checkDirectional(const Engine &engine, std::span<const int64_t> ids,
                      std::span<const LogitTarget> targets,
                      const ForwardRequest &request, uint32_t seed,
                      double h = 1e-2, double tolerance = 5e-3) {
  SCOPED_TRACE("check " + std::to_string(seed));
  auto x = engine.embedRows(ids);
  ASSERT_TRUE(x.ok());
  const int64_t T = static_cast<int64_t>(ids.size()), D = engine.width();
  auto g = engine.logitGradients(*x, T, targets, request);
  ASSERT_TRUE(g.ok()) << g.status().toString();
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int trial = 0; trial < 3; ++trial) {
    // A direction with the input's scale, over the rows that ran.
    double xs = 0;
    for (float v : *x)
      xs += double(v) * v;
    xs = std::sqrt(xs / x->size());
    std::vector<float> dir(T * D);
    for (float &v : dir)
      v = static_cast<float>(dist(rng) * xs);
    std::vector<float> plus(*x), minus(*x);
    for (int64_t i = 0; i < T * D; ++i) {
      plus[i] += static_cast<float>(h) * dir[i];
      minus[i] -= static_cast<float>(h) * dir[i];
    }
    auto fp = engine.logitGradients(plus, T, targets, request);
    auto fm = engine.logitGradients(minus, T, targets, request);
    ASSERT_TRUE(fp.ok() && fm.ok());
    for (size_t t = 0; t < targets.size(); ++t) {
      const double fd = (double(fp->logits[t]) - fm->logits[t]) / (2 * h);
      double an = 0;
      for (int64_t i = 0; i < g->rows * D; ++i)
        an += double(g->grads[t * g->rows * D + i]) * dir[i];
      EXPECT_NEAR(an, fd, tolerance * std::abs(fd) + 2e-5)
          << "trial " << trial << " target " << t;
    }
  }
}

Model randomModel(const std::function<void(ModelConfig &)> &edit) {
  auto c = presetConfig("tiny");
  EXPECT_TRUE(c.ok());
  c->vocabSize = 600;
  c->padTokenId = 596, c->bosTokenId = 597, c->eosTokenId = 595;
  c->endofchunkTokenId = 598, c->maskTokenId = 599;
  c->diffBlockSize = 4;
  edit(*c);
  const std::string dir = tempDir();
  RandomCheckpointOptions opt;
  opt.seed = 11;
  opt.dtype = DType::kF32;
  EXPECT_TRUE(writeRandomCheckpoint(*c, dir, opt).ok());
  return open(dir);
}

TEST_P(GradientVariants, MatchFiniteDifferences) {
  const Variant &v = GetParam();
  Model m = randomModel(v.edit);
  ASSERT_NE(m.engine, nullptr);
  const std::vector<int64_t> ids = {5, 17, 3, 250, 9, 44, 599, 599, 599, 599};
  // Two targets in different attention blocks: rows past the later one's
  // block do not run.
  const LogitTarget targets[] = {{6, 12}, {8, 301}};
  checkDirectional(*m.engine, ids, targets, {}, 1, v.h, v.tolerance);

  // A residual injection at the masked rows (a constant: the gradient
  // passes through, at a different point).
  std::vector<float> direction(m.engine->width());
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float &x : direction)
    x = dist(rng);
  std::vector<uint8_t> masked(ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
    masked[i] = ids[i] == 599;
  const Injection inj[] = {{direction, 0.5f, 1, masked}};
  ForwardRequest injected;
  injected.injections = inj;
  checkDirectional(*m.engine, ids, targets, injected, 2, v.h, v.tolerance);

}

TEST(InputGradients, ThroughTheConceptHeadsUnderAnIntervention) {
  // Without top-k the heads are smooth (a top-k selection changing inside
  // the difference step would be a jump, not a derivative).
  Model m = randomModel([](ModelConfig &c) {
    c.concepts->topkKnown.reset();
    c.concepts->topkKnownFeatures.reset();
    c.concepts->applyTopkToUnknown = false;
  });
  ASSERT_NE(m.engine, nullptr);
  const std::vector<int64_t> ids = {5, 17, 3, 250, 9, 44, 599, 599, 599, 599};
  const LogitTarget targets[] = {{6, 12}, {8, 301}};
  // A known-weight intervention that drops epsilon: the logit follows
  // unknown + known features, through both heads; an unlisted row (6)
  // keeps its own weights.
  WeightIntervention iv;
  iv.concepts = {1, 4};
  iv.values = {0.0f, 0.9f};
  iv.positions = {8};
  iv.epsilon = false;
  ForwardRequest intervened;
  intervened.intervention = &iv;
  checkDirectional(*m.engine, ids, targets, intervened, 3);
  // ... and a target profile, which makes the known features constants.
  WeightIntervention profile = iv;
  profile.profile.assign(m.engine->config().concepts->nConcepts, 0.0f);
  profile.profile[2] = 0.7f;
  intervened.intervention = &profile;
  checkDirectional(*m.engine, ids, targets, intervened, 4);
  // Epsilon kept: composed is the hidden state, whatever the heads say.
  WeightIntervention kept = iv;
  kept.epsilon = true;
  intervened.intervention = &kept;
  checkDirectional(*m.engine, ids, targets, intervened, 5);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GradientVariants,
    testing::Values(
        Variant{"post_swiglu", [](ModelConfig &) {}},
        Variant{"pre_norm",
                [](ModelConfig &c) { c.normOrder = NormOrder::kPre; }},
        Variant{"gelu_mlp",
                [](ModelConfig &c) {
                  c.mlpType = MlpType::kStandard;
                  c.activation = Activation::kGelu;
                }},
        Variant{"relu_mlp",
                [](ModelConfig &c) {
                  c.mlpType = MlpType::kStandard;
                  c.activation = Activation::kRelu;
                },
                1e-4, 0.1},
        Variant{"no_qk_norm",
                [](ModelConfig &c) { c.useQkNorm = false; }},
        Variant{"silu_mlp_tight_clip",
                [](ModelConfig &c) {
                  c.mlpType = MlpType::kStandard;
                  c.activation = Activation::kSilu;
                  c.clipQkv = 0.05;
                },
                1e-3, 0.1},
        Variant{"no_rope_no_clip",
                [](ModelConfig &c) {
                  c.useRope = false;
                  c.clipQkv.reset();
                }}),
    [](const testing::TestParamInfo<Variant> &i) { return i.param.name; });

} // namespace
} // namespace steer
