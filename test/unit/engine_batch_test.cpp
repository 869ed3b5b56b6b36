// Engine::backboneBatch (several sequences' rows in one pass, for batched
// serving) against each sequence's own Engine::backbone call: bit-identical
// hidden states on every kernel path this CPU runs, for sequences of
// different lengths, starting rows (a cache holding earlier rows) and
// injections; and the keys and values each leaves in its cache.
#include "steer/exec/engine.h"
#include "steer/exec/kernels.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace steer {
namespace {

const std::string kCkpt =
    std::string(STEER_SOURCE_DIR) + "/test/golden/tiny-bf16/checkpoint";

struct Sequence {
  std::vector<int64_t> ids;
  int64_t r0 = 0;
  std::vector<float> direction;
  std::vector<uint8_t> masked;
  std::vector<Injection> injections;
};

class BackboneBatch : public testing::TestWithParam<kernels::Isa> {
protected:
  void TearDown() override { kernels::setActiveIsa(kernels::defaultIsa()); }
};

TEST_P(BackboneBatch, EqualsEachSequenceAlone) {
  kernels::setActiveIsa(GetParam());
  auto ckpt = Checkpoint::open(kCkpt);
  ASSERT_TRUE(ckpt.ok());
  auto engine = Engine::create(**ckpt);
  ASSERT_TRUE(engine.ok());
  const Engine &e = **engine;
  const int64_t D = e.width(), mask = e.config().maskTokenId;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int64_t> tok(0, 500);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  // Lengths and first rows: a prompt alone, a later block over a cache,
  // and a long sequence with masks and two injections.
  const int64_t shapes[][2] = {{11, 0}, {27, 16}, {40, 8}};
  std::vector<Sequence> seqs(3);
  for (size_t s = 0; s < seqs.size(); ++s) {
    Sequence &q = seqs[s];
    for (int64_t i = 0; i < shapes[s][0]; ++i)
      q.ids.push_back(i >= shapes[s][0] - 9 && s > 0 ? mask : tok(rng));
    q.r0 = shapes[s][1];
    q.masked.resize(q.ids.size());
    for (size_t i = 0; i < q.ids.size(); ++i)
      q.masked[i] = q.ids[i] == mask;
    q.direction.resize(D);
    for (float &v : q.direction)
      v = dist(rng);
    if (s == 2) {
      q.injections.push_back({q.direction, 0.7f, 1, q.masked});
      q.injections.push_back({q.direction, -0.2f, 2, q.masked});
    } else if (s == 1) {
      q.injections.push_back({q.direction, 1.5f, 1, q.masked});
    }
  }
  // Each alone, over a cache whose rows before r0 were computed first.
  auto prefill = [&](const Sequence &q) {
    auto cache = e.makeCache(static_cast<int64_t>(q.ids.size()));
    EXPECT_TRUE(cache.ok());
    if (q.r0 > 0) {
      std::vector<float> h(q.r0 * D);
      EXPECT_TRUE(e.backbone(q.ids, 0, q.r0, *cache, q.injections, h.data()).ok());
      cache->validRows = q.r0;
    }
    return std::move(*cache);
  };
  std::vector<std::vector<float>> alone;
  std::vector<KvCache> aloneCaches;
  for (const Sequence &q : seqs) {
    KvCache cache = prefill(q);
    const int64_t T = static_cast<int64_t>(q.ids.size());
    std::vector<float> h((T - q.r0) * D);
    ASSERT_TRUE(e.backbone(q.ids, q.r0, T, cache, q.injections, h.data()).ok());
    alone.push_back(std::move(h));
    aloneCaches.push_back(std::move(cache));
  }

  std::vector<KvCache> caches;
  std::vector<std::vector<float>> batched(seqs.size());
  std::vector<BackboneRows> batch;
  for (size_t s = 0; s < seqs.size(); ++s)
    caches.push_back(prefill(seqs[s]));
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int64_t T = static_cast<int64_t>(seqs[s].ids.size());
    batched[s].resize((T - seqs[s].r0) * D);
    batch.push_back({seqs[s].ids, seqs[s].r0, T, &caches[s],
                     seqs[s].injections, batched[s].data()});
  }
  ASSERT_TRUE(e.backboneBatch(batch).ok());
  for (size_t s = 0; s < seqs.size(); ++s) {
    ASSERT_EQ(batched[s].size(), alone[s].size());
    EXPECT_EQ(std::memcmp(batched[s].data(), alone[s].data(),
                          alone[s].size() * sizeof(float)),
              0)
        << "sequence " << s;
    const int64_t T = static_cast<int64_t>(seqs[s].ids.size());
    const int64_t kv = e.config().kvDim();
    for (size_t l = 0; l < caches[s].k.size(); ++l) {
      std::vector<float> a(T * kv), b(T * kv);
      ASSERT_TRUE(e.device().download(caches[s].k[l].data(), a.data(), T * kv).ok());
      ASSERT_TRUE(e.device().download(aloneCaches[s].k[l].data(), b.data(), T * kv).ok());
      EXPECT_EQ(a, b) << "keys of sequence " << s << " layer " << l;
    }
  }

  // Refused: an empty batch, two sequences on one cache, rows outside.
  EXPECT_FALSE(e.backboneBatch({}).ok());
  std::vector<BackboneRows> shared = {batch[0], batch[0]};
  EXPECT_FALSE(e.backboneBatch(shared).ok());
  std::vector<BackboneRows> outside = {batch[0]};
  outside[0].r1 = 100;
  EXPECT_FALSE(e.backboneBatch(outside).ok());
}

INSTANTIATE_TEST_SUITE_P(Paths, BackboneBatch,
                         testing::ValuesIn(kernels::supportedIsas()),
                         [](const testing::TestParamInfo<kernels::Isa> &i) {
                           return std::string(kernels::isaName(i.param));
                         });

} // namespace
} // namespace steer
