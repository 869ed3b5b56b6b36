// Tests that per-token concept contributions (known + discovered +
// epsilon, computed independently from the epsilon vector) sum to the
// committed token's logit within 1e-4 on the float32 golden model, with and
// without a known-weight intervention, and that attribution does not change
// what is generated.
#include "steer/exec/attribution.h"

#include <gtest/gtest.h>

#include <cmath>

namespace steer {
namespace {

const std::string kCkpt =
    std::string(STEER_SOURCE_DIR) + "/test/golden/tiny-f32/checkpoint";

struct Fixture {
  std::unique_ptr<Checkpoint> ckpt;
  std::unique_ptr<Engine> engine;
};

Fixture load() {
  Fixture f;
  auto c = Checkpoint::open(kCkpt);
  EXPECT_TRUE(c.ok());
  f.ckpt = std::move(*c);
  auto e = Engine::create(*f.ckpt);
  EXPECT_TRUE(e.ok());
  f.engine = std::move(*e);
  return f;
}

std::vector<TokenAttribution> run(const Engine &engine,
                                  const ResolvedSteering *steering,
                                  GenerationResult *result) {
  std::vector<int64_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  std::vector<TokenAttribution> all;
  GenerateRequest req;
  req.sampling = SamplingOptions::greedy(16);
  req.steering = steering;
  req.wantConcepts = true;
  req.callback = [&](const StepInfo &info) {
    auto step = attributeStep(engine, info);
    EXPECT_TRUE(step.ok()) << step.status().toString();
    if (step.ok())
      all.insert(all.end(), step->begin(), step->end());
    return true;
  };
  auto out = generate(engine, prompt, req);
  EXPECT_TRUE(out.ok()) << out.status().toString();
  if (out.ok())
    *result = *out;
  return all;
}

TEST(Attribution, ContributionsSumToTheLogit) {
  Fixture f = load();
  GenerationResult gen;
  std::vector<TokenAttribution> attr = run(*f.engine, nullptr, &gen);
  ASSERT_EQ(attr.size(), 16u); // every generated token, once
  for (const TokenAttribution &t : attr) {
    EXPECT_EQ(gen.sequence[t.position], t.token);
    EXPECT_EQ(t.known.size(), 8u);       // topk_known_features
    EXPECT_EQ(t.discovered.size(), 16u); // unknown_topk
    EXPECT_LT(t.error, 1e-4f * std::max(1.0f, std::abs(t.logit)))
        << "position " << t.position;
    EXPECT_NE(t.epsilon, 0.0f);
  }
  // Attribution observes; it must not change the tokens (golden greedy).
  GenerateRequest plain;
  plain.sampling = SamplingOptions::greedy(16);
  std::vector<int64_t> prompt(gen.sequence.begin(), gen.sequence.begin() + 11);
  auto ref = generate(*f.engine, prompt, plain);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->sequence, gen.sequence);
}

TEST(Attribution, HoldsUnderAWeightIntervention) {
  Fixture f = load();
  SteeringOptions opts;
  opts.weights.concepts = {3, 7};
  opts.weights.values = {0.0f, 1.0f};
  auto resolved = resolveSteering(*f.engine, opts);
  ASSERT_TRUE(resolved.ok());
  GenerationResult gen;
  std::vector<TokenAttribution> attr = run(*f.engine, &*resolved, &gen);
  ASSERT_EQ(attr.size(), 16u);
  for (const TokenAttribution &t : attr) {
    EXPECT_EQ(t.epsilon, 0.0f); // dropped under intervention
    bool has7 = false;
    for (auto &k : t.known) {
      EXPECT_NE(k.id, 3); // suppressed to 0: no contribution listed
      has7 |= k.id == 7 && k.weight == 1.0f;
    }
    EXPECT_TRUE(has7);
    EXPECT_LT(t.error, 1e-4f * std::max(1.0f, std::abs(t.logit)));
  }
}

TEST(Attribution, ChunksSplitAtEndOfChunk) {
  // Sequence: prompt [0, 2), then a, b, <eoc>, c, stop, d.
  std::vector<int64_t> seq = {9, 9, 1, 2, 50, 3, 60, 4};
  std::vector<TokenAttribution> toks;
  for (int64_t p : {2, 3, 5}) {
    TokenAttribution t;
    t.position = p;
    t.known = {{10, 0.5f, 2.0f}};
    t.discovered = {{4, 0.5f, -1.0f}};
    t.epsilon = 1.0f;
    toks.push_back(t);
  }
  std::vector<int64_t> stops = {60};
  auto chunks = chunkAttribution(seq, 2, 50, stops, toks);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].start, 2);
  EXPECT_EQ(chunks[0].end, 4);
  EXPECT_EQ(chunks[1].start, 5);
  EXPECT_EQ(chunks[1].end, 6);
  ASSERT_EQ(chunks[0].entries.size(), 2u);
  // Per position: total mass 4; known 2/4 = 0.5 averaged over 2 tokens.
  EXPECT_TRUE(chunks[0].entries[0].known);
  EXPECT_DOUBLE_EQ(chunks[0].entries[0].contribution, 0.5);
  EXPECT_DOUBLE_EQ(chunks[0].entries[1].contribution, -0.25);
  EXPECT_DOUBLE_EQ(chunks[0].epsilonPercent, 25.0);
}

} // namespace
} // namespace steer
