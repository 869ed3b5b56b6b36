// generateBatch: requests under different steerings, prompts, lengths,
// schedules and samplers generated in lockstep through one batched backbone
// per step give, each, exactly the tokens generate() gives it alone; a
// request whose settings are refused gets its error and the others go on.
// GenerationBatch: the same with requests joining and leaving mid-flight.
#include "steer/exec/generate.h"

#include <gtest/gtest.h>

#include <map>

namespace steer {
namespace {

const std::string kCkpt =
    std::string(STEER_SOURCE_DIR) + "/test/golden/tiny-f32/checkpoint";

TEST(GenerateBatch, EachRequestGetsItsOwnTokens) {
  auto ckpt = Checkpoint::open(kCkpt);
  ASSERT_TRUE(ckpt.ok());
  auto engine = Engine::create(**ckpt);
  ASSERT_TRUE(engine.ok());
  const Engine &e = **engine;

  SteeringOptions amplify;
  amplify.injectConcepts = {3, 5};
  amplify.target = 8;
  amplify.injectLayer = 1;
  amplify.schedule = InjectSchedule::kHardCutoff;
  amplify.cutoffTokens = 8;
  SteeringOptions unlearn;
  unlearn.injectConcepts = {3};
  unlearn.target = -8;
  unlearn.injectLayer = 1;
  unlearn.reluMask = {{5, 20.0f}};
  SteeringOptions clamp;
  clamp.weights.concepts = {7, 2};
  clamp.weights.values = {0.9f, 0.0f};
  std::vector<ResolvedSteering> steerings;
  for (const SteeringOptions *so : {&amplify, &unlearn, &clamp}) {
    auto r = resolveSteering(e, *so);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    steerings.push_back(std::move(*r));
  }

  std::vector<std::vector<int64_t>> prompts = {
      {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
      {40, 41, 42},
      {7, 300, 12, 99, 5, 6, 8, 100, 200, 201, 17, 18, 19},
      {250, 251},
      {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
      {60, 61, 62, 63, 64}};
  std::vector<GenerateRequest> reqs(prompts.size());
  reqs[0].sampling = SamplingOptions::greedy(16);
  reqs[1].sampling = SamplingOptions::greedy(24);
  reqs[1].sampling.steps = 6; // several tokens per step
  reqs[1].steering = &steerings[0];
  reqs[2].sampling = SamplingOptions::greedy(8);
  reqs[2].steering = &steerings[1];
  reqs[3].sampling.maxNewTokens = 16; // entropy-adaptive sampling, seeded
  reqs[3].sampling.seed = 7;
  reqs[3].steering = &steerings[2];
  reqs[4].sampling = SamplingOptions::greedy(16);
  reqs[4].sampling.cfgScale = 1.5; // two streams
  reqs[4].steering = &steerings[0];
  reqs[5].sampling = SamplingOptions::greedy(32);
  reqs[5].sampling.useCache = false;
  reqs[5].sampling.stopTokens = {17};

  std::vector<GenerationResult> alone;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto r = generate(e, prompts[i], reqs[i]);
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().toString();
    alone.push_back(std::move(*r));
  }
  std::vector<BatchRequest> batch;
  for (size_t i = 0; i < prompts.size(); ++i)
    batch.push_back({prompts[i], reqs[i]});
  // A request refused at start: max new tokens not a block multiple.
  std::vector<int64_t> bad = {1, 2};
  GenerateRequest badReq;
  badReq.sampling = SamplingOptions::greedy(5);
  batch.push_back({bad, badReq});

  // Steps seen by a callback are the request's own.
  int64_t stepsSeen = 0;
  batch[0].request.callback = [&](const StepInfo &) {
    ++stepsSeen;
    return true;
  };
  auto out = generateBatch(e, batch);
  ASSERT_EQ(out.size(), batch.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_TRUE(out[i].ok()) << i << ": " << out[i].status().toString();
    EXPECT_EQ(out[i]->sequence, alone[i].sequence) << "request " << i;
    EXPECT_EQ(out[i]->generated, alone[i].generated) << "request " << i;
    EXPECT_EQ(out[i]->steps, alone[i].steps) << "request " << i;
    EXPECT_EQ(out[i]->rowsComputed, alone[i].rowsComputed) << "request " << i;
  }
  EXPECT_EQ(stepsSeen, alone[0].steps);
  EXPECT_EQ(out.back().status().code(), StatusCode::kInvalidArgument);
  // The steerings changed something (so the batch mixed policies).
  GenerateRequest plain;
  plain.sampling = SamplingOptions::greedy(24);
  plain.sampling.steps = 6;
  auto unsteered = generate(e, prompts[1], plain);
  ASSERT_TRUE(unsteered.ok());
  EXPECT_NE(unsteered->sequence, alone[1].sequence);
}

// Continuous batching: requests that join while others are mid-generation
// (at different steps and blocks), and one that is cancelled, leave every
// other request's tokens as generate() gives them alone.
TEST(GenerationBatch, RequestsJoinAndLeaveBetweenSteps) {
  auto ckpt = Checkpoint::open(kCkpt);
  ASSERT_TRUE(ckpt.ok());
  auto engine = Engine::create(**ckpt);
  ASSERT_TRUE(engine.ok());
  const Engine &e = **engine;

  std::vector<std::vector<int64_t>> prompts = {
      {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {40, 41, 42}, {250, 251},
      {7, 300, 12, 99, 5, 6, 8, 100, 200, 201, 17, 18, 19}};
  std::vector<GenerateRequest> reqs(prompts.size());
  reqs[0].sampling = SamplingOptions::greedy(24);
  reqs[1].sampling.maxNewTokens = 16; // entropy-adaptive, seeded
  reqs[1].sampling.seed = 11;
  reqs[2].sampling = SamplingOptions::greedy(16);
  reqs[2].sampling.steps = 4;
  reqs[3].sampling = SamplingOptions::greedy(8);
  std::vector<GenerationResult> alone;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto r = generate(e, prompts[i], reqs[i]);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    alone.push_back(std::move(*r));
  }

  GenerationBatch batch(e);
  std::map<uint64_t, GenerationResult> got;
  auto stepOnce = [&] {
    for (GenerationBatch::Finished &f : batch.step()) {
      ASSERT_TRUE(f.result.ok()) << f.result.status().toString();
      got[f.id] = std::move(*f.result);
    }
  };
  ASSERT_TRUE(batch.add(0, prompts[0], reqs[0]).ok());
  for (int i = 0; i < 5; ++i)
    stepOnce();
  ASSERT_TRUE(batch.add(1, prompts[1], reqs[1]).ok());
  // A request that is cancelled after two steps.
  ASSERT_TRUE(batch.add(99, prompts[3], reqs[0]).ok());
  for (int i = 0; i < 2; ++i)
    stepOnce();
  batch.cancel(99);
  ASSERT_TRUE(batch.add(2, prompts[2], reqs[2]).ok());
  stepOnce();
  EXPECT_EQ(batch.stepped(), 3u);
  ASSERT_TRUE(batch.add(3, prompts[3], reqs[3]).ok());
  // A request refused at start does not enter the batch.
  GenerateRequest bad;
  bad.sampling = SamplingOptions::greedy(5);
  EXPECT_EQ(batch.add(4, prompts[0], bad).code(), StatusCode::kInvalidArgument);
  while (batch.size() > 0)
    stepOnce();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got.count(99), 0u);
  for (uint64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(got[i].sequence, alone[i].sequence) << "request " << i;
    EXPECT_EQ(got[i].steps, alone[i].steps) << "request " << i;
  }
}

} // namespace
} // namespace steer
