// Batched generation: N greedy requests (different prompts, half of them
// under an injection) generated one after another with generate() against
// the same N in lockstep with generateBatch() (one batched backbone per
// step), in the same run; prints both throughputs, the ratio, whether every
// request got the same tokens, and the kernel path.
//
//   steer-bench-batch CKPT [REQUESTS=8] [NEW_TOKENS=64] [PROMPT=16]
#include "steer/exec/generate.h"
#include "steer/exec/kernels.h"
#include "bench_model.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char **argv) {
  using namespace steer;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CKPT [REQUESTS=8] [NEW_TOKENS=64] [PROMPT=16]\n",
                 argv[0]);
    return 2;
  }
  const int64_t n = argc > 2 ? std::atoll(argv[2]) : 8;
  const int64_t gen = argc > 3 ? std::atoll(argv[3]) : 64;
  const int64_t plen = argc > 4 ? std::atoll(argv[4]) : 16;
  bench::Model model;
  if (!bench::openModel(argv[1], model))
    return 2;
  const Engine &e = *model.engine;
  SteeringOptions so;
  so.injectConcepts = {1, 2};
  so.target = 4;
  so.injectLayer = 1;
  auto steering = resolveSteering(e, so);
  if (!steering.ok()) {
    std::fprintf(stderr, "%s\n", steering.status().toString().c_str());
    return 2;
  }
  std::vector<std::vector<int64_t>> prompts(n);
  std::vector<BatchRequest> batch;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t t = 0; t < plen + i; ++t) // lengths differ
      prompts[i].push_back(11 + (t * 7 + i * 13) % 400);
    GenerateRequest r;
    r.sampling = SamplingOptions::greedy(gen);
    if (i % 2)
      r.steering = &*steering;
    batch.push_back({prompts[i], r});
  }
  auto now = [] { return std::chrono::steady_clock::now(); };
  auto t0 = now();
  std::vector<GenerationResult> alone;
  for (const BatchRequest &b : batch) {
    auto r = generate(e, b.prompt, b.request);
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().toString().c_str());
      return 2;
    }
    alone.push_back(std::move(*r));
  }
  const double seq = std::chrono::duration<double>(now() - t0).count();
  t0 = now();
  auto out = generateBatch(e, batch);
  const double bat = std::chrono::duration<double>(now() - t0).count();
  bool same = true;
  for (int64_t i = 0; i < n; ++i) {
    if (!out[i].ok()) {
      std::fprintf(stderr, "%s\n", out[i].status().toString().c_str());
      return 2;
    }
    same = same && out[i]->sequence == alone[i].sequence;
  }
  const double tokens = static_cast<double>(n * gen);
  std::printf("%s: %lld requests x %lld tokens (path %s): sequential %.1f tok/s "
              "(%.2f s), batched %.1f tok/s (%.2f s): %.2fx; same tokens: %s\n",
              argv[1], (long long)n, (long long)gen,
              kernels::isaName(kernels::activeIsa()), tokens / seq, seq,
              tokens / bat, bat, seq / bat, same ? "yes" : "NO");
  return same ? 0 : 1;
}
