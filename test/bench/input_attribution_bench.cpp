// Input attribution speed: integrated gradients over the commit snapshots of
// a greedy generation, Steer's reverse pass on the CPU device. The
// reference's own IG (PyTorch autograd) on the same checkpoint and trace is
// timed by input_attribution_ref.py; scripts/bench-input-attribution.sh runs
// both in one run and prints the ratio.
//
//   steer-bench-input-attribution CKPT NEW_TOKENS STEPS IG_STEPS GROUPS [PROMPT=11]
//
// The prompt is ids 11, 12, ...; generation is greedy with STEPS denoising
// steps; the first GROUPS commit groups are attributed (all: 0). Prints one
// JSON line: the kernel path, the targets, seconds of the attribution alone
// (generation excluded), ms per target and per target-step, the tokens and
// the first target's attribution row (for the side-by-side check).
#include "steer/exec/input_attribution.h"
#include "steer/exec/kernels.h"
#include "bench_model.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char **argv) {
  using namespace steer;
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s CKPT NEW_TOKENS STEPS IG_STEPS GROUPS "
                         "[PROMPT=11]\n", argv[0]);
    return 2;
  }
  const int64_t gen = std::atoll(argv[2]), steps = std::atoll(argv[3]);
  const int64_t igSteps = std::atoll(argv[4]), groups = std::atoll(argv[5]);
  const int64_t plen = argc > 6 ? std::atoll(argv[6]) : 11;
  bench::Model model;
  if (!bench::openModel(argv[1], model))
    return 2;
  const Engine &engine = *model.engine;
  std::vector<int64_t> prompt;
  for (int64_t i = 0; i < plen; ++i)
    prompt.push_back(11 + i);
  GenerateRequest req;
  req.sampling = SamplingOptions::greedy(gen);
  req.sampling.steps = steps;
  CommitRecorder recorder(engine, prompt, gen, nullptr);
  req.callback = recorder.callback();
  auto result = generate(engine, prompt, req);
  if (!result.ok()) {
    std::fprintf(stderr, "%s\n", result.status().toString().c_str());
    return 2;
  }
  IgOptions ig;
  ig.steps = igSteps;
  const auto &all = recorder.groups();
  const size_t n = groups > 0 ? std::min<size_t>(groups, all.size()) : all.size();
  int64_t targets = 0;
  std::vector<float> first;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t g = 0; g < n; ++g) {
    std::vector<LogitTarget> ts;
    for (size_t i = 0; i < all[g].positions.size(); ++i)
      ts.push_back({all[g].positions[i], all[g].tokens[i]});
    auto r = integratedGradients(engine, all[g].snapshot, ts, ig);
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().toString().c_str());
      return 2;
    }
    if (first.empty())
      first = (*r)[0].scores;
    targets += static_cast<int64_t>(ts.size());
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  std::string row;
  for (size_t i = 0; i < first.size(); ++i)
    row += (i ? "," : "") + std::to_string(first[i]);
  std::string tokens;
  for (size_t i = 0; i < result->sequence.size(); ++i)
    tokens += (i ? "," : "") + std::to_string(result->sequence[i]);
  std::printf("{\"path\": \"%s\", \"groups\": %zu, \"targets\": %lld, "
              "\"ig_steps\": %lld, \"seconds\": %.4f, \"ms_per_target\": %.3f, "
              "\"ms_per_target_step\": %.3f, \"tokens\": [%s], "
              "\"first_row\": [%s]}\n",
              kernels::isaName(kernels::activeIsa()), n, (long long)targets,
              (long long)igSteps, secs, secs * 1e3 / targets,
              secs * 1e3 / (targets * igSteps), tokens.c_str(), row.c_str());
  return 0;
}
