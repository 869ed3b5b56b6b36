// The samplers (entropy-adaptive and top-p at temperature 1.2, top-p 0.8)
// on vocabulary-sized rows, against the same draws with the whole
// vocabulary stably sorted (test/common/sampling_oracle.h), in the same
// run: a peaked row (a trained model's usual case) and a nearly flat one
// (its worst case: the nucleus is most of the vocabulary). Checks that
// every draw is the same.
//
//   steer-bench-sampling [VOCAB=100281] [DRAWS=200]
#include "steer/exec/sampling.h"
#include "../common/sampling_oracle.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char **argv) {
  using namespace steer;
  const int64_t V = argc > 1 ? std::atoll(argv[1]) : 100281;
  const int draws = argc > 2 ? std::atoi(argv[2]) : 200;
  std::mt19937_64 g(3);
  std::normal_distribution<float> normal(0, 1);
  bool same = true;
  for (const char *shape : {"peaked", "flat"}) {
    std::vector<float> logits(V);
    for (float &l : logits)
      l = (shape[0] == 'p' ? 6.0f : 0.05f) * normal(g);
    for (bool entropy : {true, false}) {
      SamplingOptions o;
      o.entropySampling = entropy;
      o.temperature = 1.2;
      o.topP = 0.8;
      double secs[2];
      std::vector<int64_t> tokens[2];
      for (int which = 0; which < 2; ++which) {
        std::mt19937_64 warm(1); // first-touch of the allocations
        (void)(which ? oracle::oracleToken(logits, o, warm)
                     : sampleToken(logits.data(), V, o, warm));
        std::mt19937_64 rng(9);
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < draws; ++i)
          tokens[which].push_back(
              which ? oracle::oracleToken(logits, o, rng)
                    : sampleToken(logits.data(), V, o, rng));
        secs[which] = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
      }
      same = same && tokens[0] == tokens[1];
      std::printf("%s row, %s: %.3f ms per draw, full sort %.3f ms: %.2fx; "
                  "same draws: %s\n",
                  shape, entropy ? "entropy-adaptive" : "top-p",
                  1e3 * secs[0] / draws, 1e3 * secs[1] / draws,
                  secs[1] / secs[0], tokens[0] == tokens[1] ? "yes" : "NO");
    }
  }
  return same ? 0 : 1;
}
