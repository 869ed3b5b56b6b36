// Tests the CPU engine against the reference's own outputs (test/golden):
// every forward output and the known-weight intervention, per case.
//
// Tolerance: normwise relative error max|ours - ref| / max|ref| per tensor,
// 1e-4 for float32 weights and 1e-3 for bfloat16 weights (the reference ran
// in float32 on the widened weights; the bound covers summation order).
#include "steer/exec/engine.h"
#include "steer/exec/generate.h"
#include "steer/io/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

namespace steer {
namespace {

const std::string kGolden = std::string(STEER_SOURCE_DIR) + "/test/golden";

struct Case {
  const char *name;
  double tol;
};

class Golden : public testing::TestWithParam<Case> {
protected:
  void SetUp() override {
    auto ck = Checkpoint::open(kGolden + "/" + GetParam().name + "/checkpoint");
    ASSERT_TRUE(ck.ok()) << ck.status().toString();
    checkpoint_ = std::move(*ck);
    auto e = Engine::create(*checkpoint_);
    ASSERT_TRUE(e.ok()) << e.status().toString();
    engine_ = std::move(*e);
    auto g = SafetensorsFile::open(kGolden + "/" + GetParam().name +
                                   "/golden.safetensors");
    ASSERT_TRUE(g.ok()) << g.status().toString();
    golden_ = std::move(*g);
  }

  /// A golden tensor's elements (float32 or int64, as stored).
  template <typename T> std::vector<T> read(const std::string &name) {
    const TensorView *v = golden_->find(name);
    EXPECT_NE(v, nullptr) << name;
    if (!v)
      return {};
    std::vector<T> out(v->bytes / sizeof(T));
    std::memcpy(out.data(), v->data, v->bytes);
    return out;
  }
  std::vector<float> floats(const std::string &name) {
    return read<float>(name);
  }
  std::vector<int64_t> ints(const std::string &name) {
    return read<int64_t>(name);
  }

  void expectClose(const std::vector<float> &ours, const std::string &name) {
    std::vector<float> ref = floats(name);
    ASSERT_EQ(ours.size(), ref.size()) << name;
    double maxErr = 0, maxRef = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      maxErr = std::max(maxErr, std::abs(double(ours[i]) - ref[i]));
      maxRef = std::max(maxRef, std::abs(double(ref[i])));
    }
    double rel = maxErr / std::max(maxRef, 1e-30);
    EXPECT_LE(rel, GetParam().tol)
        << name << ": max abs error " << maxErr << " of max " << maxRef;
    RecordProperty(name, std::to_string(rel));
  }

  std::unique_ptr<Checkpoint> checkpoint_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<SafetensorsFile> golden_;
};

TEST_P(Golden, Forward) {
  std::vector<int64_t> ids = ints("forward.ids");
  ForwardRequest req;
  req.hidden = req.composed = req.concepts = req.knownWeights = true;
  auto out = engine_->forward(ids, req);
  ASSERT_TRUE(out.ok()) << out.status().toString();
  expectClose(out->logits, "forward.logits");
  expectClose(out->hidden, "forward.hidden");
  expectClose(out->composed, "forward.composed");
  expectClose(out->knownFeatures, "forward.known_features");
  expectClose(out->unknownFeatures, "forward.unk_hat");
  expectClose(out->knownWeights, "forward.known_weights");
  EXPECT_EQ(out->unknownTopkIds, ints("forward.unknown_topk_indices"));
  expectClose(out->unknownTopkLogits, "forward.unknown_topk_logits");
}

TEST_P(Golden, KnownWeightIntervention) {
  std::vector<int64_t> ids = ints("forward.ids");
  // Metadata "intervene": "id:value,id:value".
  WeightIntervention iv;
  std::string spec = golden_->metadata().at("intervene");
  for (size_t pos = 0; pos < spec.size();) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos)
      comma = spec.size();
    std::string item = spec.substr(pos, comma - pos);
    size_t colon = item.find(':');
    iv.concepts.push_back(std::stoll(item.substr(0, colon)));
    iv.values.push_back(std::stof(item.substr(colon + 1)));
    pos = comma + 1;
  }
  ForwardRequest req;
  req.concepts = true;
  req.intervention = &iv;
  auto out = engine_->forward(ids, req);
  ASSERT_TRUE(out.ok()) << out.status().toString();
  expectClose(out->logits, "intervene.logits");
  expectClose(out->knownFeatures, "intervene.known_features");
}

TEST_P(Golden, FoldedProfileFeaturesEqualDenseSum) {
  // A target profile with overrides at some positions: handing the engine
  // the row's features (as a compiled artifact does) must give exactly the
  // outputs of summing the row at each position.
  std::vector<int64_t> ids = ints("forward.ids");
  const int64_t C = engine_->config().concepts->nConcepts;
  WeightIntervention iv;
  iv.profile.resize(C);
  for (int64_t c = 0; c < C; ++c)
    iv.profile[c] = c % 3 == 0 ? 0.0f : 0.02f * static_cast<float>(c % 7);
  iv.concepts = {1, 2};
  iv.values = {0.0f, 1.0f};
  iv.positions = {static_cast<int64_t>(ids.size()) - 2,
                  static_cast<int64_t>(ids.size()) - 1};
  ForwardRequest req;
  req.intervention = &iv;
  auto dense = engine_->forward(ids, req);
  ASSERT_TRUE(dense.ok()) << dense.status().toString();
  std::vector<float> row = iv.profile;
  row[1] = 0.0f;
  row[2] = 1.0f;
  auto features = engine_->denseKnownFeatures(row);
  ASSERT_TRUE(features.ok()) << features.status().toString();
  iv.features = *features;
  auto folded = engine_->forward(ids, req);
  ASSERT_TRUE(folded.ok()) << folded.status().toString();
  EXPECT_EQ(folded->logits, dense->logits);
  EXPECT_EQ(folded->knownFeatures, dense->knownFeatures);
}

TEST_P(Golden, LogitsWithoutHeadsEqualComposedPath) {
  // Skipping the concept heads (no intervention, no attribution) must not
  // change the logits beyond rounding.
  std::vector<int64_t> ids = ints("forward.ids");
  auto fast = engine_->forward(ids, ForwardRequest{});
  ASSERT_TRUE(fast.ok());
  expectClose(fast->logits, "forward.logits");
}

std::vector<int64_t> parseIds(const std::string &csv) {
  std::vector<int64_t> out;
  for (size_t pos = 0; pos < csv.size();) {
    size_t comma = csv.find(',', pos);
    if (comma == std::string::npos)
      comma = csv.size();
    out.push_back(std::stoll(csv.substr(pos, comma - pos)));
    pos = comma + 1;
  }
  return out;
}

TEST_P(Golden, Generation) {
  const auto &meta = golden_->metadata();
  std::vector<int64_t> prompt = ints("forward.ids");
  SamplingOptions greedy =
      SamplingOptions::greedy(std::stoll(meta.at("max_new_tokens")));
  greedy.steps = std::stoll(meta.at("steps"));
  std::vector<int64_t> concepts = parseIds(meta.at("concepts"));
  const double alpha = std::stod(meta.at("alpha"));
  const int64_t layer = std::stoll(meta.at("inject_layer"));

  // SteeringConfig.injection(concepts, mai_lm_target=alpha, inject_layer,
  // cutoff_tokens): normalised target, hard cutoff.
  SteeringOptions amplify;
  amplify.injectConcepts = concepts;
  amplify.target = alpha;
  amplify.normalizeTarget = true;
  amplify.injectLayer = layer;
  amplify.schedule = InjectSchedule::kHardCutoff;
  amplify.cutoffTokens = std::stoll(meta.at("cutoff_tokens"));
  // SteeringConfig.injection_relu(concepts[0], group=concepts[1:],
  // mai_lm_target=-alpha, inject_layer, relu_strength): raw alpha, fixed
  // schedule, ReLU mask on the focal concept.
  SteeringOptions unlearn;
  unlearn.injectConcepts = concepts;
  unlearn.target = -alpha;
  unlearn.normalizeTarget = false;
  unlearn.injectLayer = layer;
  unlearn.reluMask = {{concepts[0], std::stof(meta.at("relu_strength"))}};

  struct Run {
    const char *golden;
    const SteeringOptions *steering;
  } runs[] = {{"generate.greedy", nullptr},
              {"generate.amplify", &amplify},
              {"generate.unlearn", &unlearn}};
  for (const Run &run : runs)
    for (bool cache : {true, false}) {
      SCOPED_TRACE(std::string(run.golden) + (cache ? " cached" : " uncached"));
      ResolvedSteering resolved;
      if (run.steering) {
        auto r = resolveSteering(*engine_, *run.steering);
        ASSERT_TRUE(r.ok()) << r.status().toString();
        resolved = *r;
      }
      GenerateRequest req;
      req.sampling = greedy;
      req.sampling.useCache = cache;
      req.steering = run.steering ? &resolved : nullptr;
      auto out = generate(*engine_, prompt, req);
      ASSERT_TRUE(out.ok()) << out.status().toString();
      EXPECT_EQ(out->sequence, ints(run.golden));
    }
}

TEST_P(Golden, CachedAndUncachedSamplingAgree) {
  // Sampled generation with a fixed seed, a longer sequence than the golden
  // cases and a prompt that does not end on an attention-block boundary.
  std::vector<int64_t> prompt = ints("forward.ids");
  prompt.resize(prompt.size() - 2);
  std::vector<std::vector<int64_t>> seqs;
  int64_t rows[2] = {0, 0};
  for (bool cache : {true, false}) {
    GenerateRequest req;
    req.sampling.maxNewTokens = 4 * engine_->config().diffBlockSize;
    req.sampling.steps = req.sampling.maxNewTokens / 2;
    req.sampling.seed = 7;
    req.sampling.useCache = cache;
    auto out = generate(*engine_, prompt, req);
    ASSERT_TRUE(out.ok()) << out.status().toString();
    seqs.push_back(out->sequence);
    rows[cache ? 0 : 1] = out->rowsComputed;
  }
  EXPECT_EQ(seqs[0], seqs[1]);
  EXPECT_LT(rows[0], rows[1] / 2) << "the cache should skip most rows";
}

TEST_P(Golden, CacheStaysExactUnderGuidanceAndProfiles) {
  // Classifier-free guidance masks the prompt in a second stream whose
  // cached rows receive the injection; a hard cutoff changes alpha mid-run,
  // which must drop those rows. A target profile and stop tokens ride along.
  std::vector<int64_t> prompt = ints("forward.ids");
  const int64_t C = engine_->config().concepts->nConcepts;
  SteeringOptions so;
  so.injectConcepts = {1, 2};
  so.target = 6.0;
  so.injectLayer = 1;
  so.schedule = InjectSchedule::kHardCutoff;
  so.cutoffTokens = 5;
  so.weights.profile.assign(C, 0.0f);
  so.weights.profile[4] = 0.9f;
  auto resolved = resolveSteering(*engine_, so);
  ASSERT_TRUE(resolved.ok()) << resolved.status().toString();
  std::vector<std::vector<int64_t>> seqs;
  for (bool cache : {true, false}) {
    GenerateRequest req;
    req.sampling = SamplingOptions::greedy(3 * engine_->config().diffBlockSize);
    req.sampling.cfgScale = 1.5;
    req.sampling.useCache = cache;
    req.steering = &*resolved;
    auto out = generate(*engine_, prompt, req);
    ASSERT_TRUE(out.ok()) << out.status().toString();
    seqs.push_back(out->sequence);
  }
  EXPECT_EQ(seqs[0], seqs[1]);
  // The profile changes what is generated.
  GenerateRequest plain;
  plain.sampling = SamplingOptions::greedy(3 * engine_->config().diffBlockSize);
  plain.sampling.cfgScale = 1.5;
  auto base = generate(*engine_, prompt, plain);
  ASSERT_TRUE(base.ok());
  EXPECT_NE(base->sequence, seqs[0]);

  // A stop token ends generation after the block that produced it.
  const int64_t B = engine_->config().diffBlockSize;
  const int64_t stop = base->sequence[prompt.size()];
  GenerateRequest stopping;
  stopping.sampling = SamplingOptions::greedy(3 * B);
  stopping.sampling.cfgScale = 1.5;
  stopping.sampling.stopTokens = {stop};
  auto stopped = generate(*engine_, prompt, stopping);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->steps, B);            // one block of B single-token steps
  EXPECT_TRUE(stopped->generated.empty()); // cut at the stop token
}

INSTANTIATE_TEST_SUITE_P(Cases, Golden,
                         testing::Values(Case{"tiny-f32", 1e-4},
                                         Case{"tiny-bf16", 1e-3}),
                         [](const testing::TestParamInfo<Case> &info) {
                           std::string n = info.param.name;
                           for (char &ch : n)
                             if (ch == '-')
                               ch = '_';
                           return n;
                         });

} // namespace
} // namespace steer
