// The samplers read only the head of the sorted distribution: every draw
// must equal the one a full stable sort of the vocabulary gives (the
// reference's algorithm, written out here as the oracle), on peaked, flat,
// tied and -inf-holding distributions and top-p from 0 to 1.
#include "steer/exec/sampling.h"
#include "../common/sampling_oracle.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

namespace steer {
namespace {

using oracle::fullOrder;
using oracle::oracleToken;

TEST(Sampling, TopOrderIsTheHeadOfAStableSort) {
  std::mt19937_64 g(5);
  std::vector<double> p(5000);
  for (double &v : p)
    v = static_cast<double>(g() % 50); // many ties
  std::vector<int64_t> full = fullOrder(p);
  for (size_t count : {size_t(1), size_t(7), size_t(256), size_t(4999),
                       size_t(5000), size_t(9000)}) {
    std::vector<int64_t> head = topOrder(p, count);
    ASSERT_EQ(head.size(), std::min(count, p.size()));
    EXPECT_TRUE(std::equal(head.begin(), head.end(), full.begin()))
        << "count " << count;
  }
}

TEST(Sampling, DrawsEqualTheFullSort) {
  const int64_t V = 20000;
  std::mt19937_64 g(11);
  std::normal_distribution<float> normal(0, 1);
  int checked = 0;
  for (int shape = 0; shape < 5; ++shape) {
    std::vector<float> logits(V);
    for (int64_t i = 0; i < V; ++i) {
      switch (shape) {
      case 0: logits[i] = 8 * normal(g); break;         // peaked
      case 1: logits[i] = 0.01f * normal(g); break;     // nearly flat
      case 2: logits[i] = 0; break;                     // flat: all ties
      case 3: logits[i] = float(int(4 * normal(g))); break; // tied levels
      default:
        logits[i] = i % 3 ? -INFINITY : normal(g);      // banned entries
      }
    }
    for (double topP : {0.0, 0.3, 0.8, 0.95, 1.0}) {
      for (int mode = 0; mode < 3; ++mode) {
        SamplingOptions o;
        o.topP = topP;
        o.entropySampling = mode == 0;
        o.temperature = mode == 1 ? 1.2 : 0.7;
        for (uint64_t seed = 0; seed < 4; ++seed) {
          std::mt19937_64 a(seed), b(seed);
          ASSERT_EQ(sampleToken(logits.data(), V, o, a),
                    oracleToken(logits, o, b))
              << "shape " << shape << " top-p " << topP << " mode " << mode
              << " seed " << seed;
          ASSERT_EQ(a(), b()); // the same number of draws
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 5 * 5 * 3 * 4);
}

} // namespace
} // namespace steer
