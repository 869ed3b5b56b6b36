// Greedy generation speed on one checkpoint: Steer's cached path against
// the reference's algorithm run by the same engine (every step recomputes
// the whole sequence, concept heads and lm_head on every row), plus a
// forward of the whole sequence against this machine's roofline (peak
// FMA throughput and memory bandwidth measured in the same run).
//
//   steer-bench-generate CKPT [NEW_TOKENS=128] [PROMPT_TOKENS=32]
#include "steer/exec/generate.h"
#include "steer/exec/kernels.h"
#include "bench_model.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Independent FMA chains in vector registers on one thread: Lanes-wide
/// vectors, 12 accumulators (fits the 16 registers of AVX2 and SSE as well
/// as AVX-512's 32). Inlined into each ISA's function below.
typedef float V4 __attribute__((vector_size(16)));
typedef float V8 __attribute__((vector_size(32)));
typedef float V16 __attribute__((vector_size(64)));
template <int Lanes> struct VecOf;
template <> struct VecOf<4> { using type = V4; };
template <> struct VecOf<8> { using type = V8; };
template <> struct VecOf<16> { using type = V16; };

template <int Lanes>
__attribute__((always_inline)) inline float fmaChains(int64_t iters) {
  using V = typename VecOf<Lanes>::type;
  V a[12], b = {}, c = {};
  for (int i = 0; i < 12; ++i)
    a[i] = V{} + (1.0f + static_cast<float>(i));
  b += 0.999999f;
  c += 1e-7f;
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i)
      a[i] = a[i] * b + c;
  float sink = 0;
  for (int i = 0; i < 12; ++i)
    sink += a[i][0];
  return sink;
}

// One function per ISA, each compiled for its own target and chosen at run
// time: nothing here may execute an instruction the CPU lacks (an
// unconditional avx512f function died with SIGILL on AVX2-only machines).
#define STEER_PEAK_FN(NAME, TARGET, LANES)                                     \
  TARGET double NAME(int64_t iters) {                                          \
    double t0 = now();                                                         \
    float sink = 0;                                                            \
    _Pragma("omp parallel reduction(+ : sink)") sink += fmaChains<LANES>(iters); \
    double secs = now() - t0;                                                  \
    if (sink == 12345.f)                                                       \
      std::printf(" ");                                                        \
    return 2.0 * LANES * 12 * iters * omp_get_max_threads() / secs / 1e9;      \
  }
STEER_PEAK_FN(peak512, __attribute__((target("avx512f,fma"))), 16)
STEER_PEAK_FN(peak256, __attribute__((target("avx2,fma"))), 8)
STEER_PEAK_FN(peak128, , 4)
#undef STEER_PEAK_FN

/// Peak float32 throughput of the kernel path in use (GFLOP/s, every
/// thread) and its name: the vector width of that path's FMA (the AMX path
/// runs its other layers on AVX-512, and its matrix unit's own peak is not
/// measured here). STEER_ISA picks the path, as it does for the kernels.
std::pair<double, std::string> peakFlops() {
  using steer::kernels::Isa;
  const Isa isa = steer::kernels::activeIsa();
  const int64_t iters = 20000000;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep)
    best = std::max(best, isa == Isa::kAvx512 || isa == Isa::kAmx
                              ? peak512(iters)
                          : isa == Isa::kAvx2 ? peak256(iters)
                                              : peak128(iters / 4));
  const char *width = isa == Isa::kAvx512 || isa == Isa::kAmx
                          ? "512-bit FMA"
                      : isa == Isa::kAvx2 ? "256-bit FMA"
                                          : "128-bit multiply and add";
  return {best, std::string(steer::kernels::isaName(isa)) + " path: " + width};
}

/// Read bandwidth over a buffer much larger than the caches (GB/s).
double bandwidth() {
  const size_t n = size_t(1) << 28; // 1 GiB of floats
  std::vector<float> buf(n, 1.0f);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    double t0 = now();
    float total = 0;
#pragma omp parallel for reduction(+ : total)
    for (size_t i = 0; i < n; i += 16) {
      float s = 0;
      for (int j = 0; j < 16; ++j)
        s += buf[i + j];
      total += s;
    }
    double secs = now() - t0;
    if (total == 0)
      std::printf(" ");
    best = std::max(best, n * 4.0 / secs / 1e9);
  }
  return best;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: steer-bench-generate CKPT [NEW] [PROMPT]\n");
    return 2;
  }
  const int64_t newTokens = argc > 2 ? std::atoll(argv[2]) : 128;
  const int64_t promptTokens = argc > 3 ? std::atoll(argv[3]) : 32;
  steer::bench::Model model;
  if (!steer::bench::openModel(argv[1], model))
    return 2;
  const steer::ModelConfig &c = model.engine->config();
  std::vector<int64_t> prompt(promptTokens);
  for (int64_t i = 0; i < promptTokens; ++i)
    prompt[i] = (i * 7919 + 13) % (c.vocabSize - 8);

  std::printf(
      "checkpoint %s: %lld layers, n_embd %lld, vocab %lld, %d threads, "
      "kernel path %s\n",
      argv[1], (long long)c.nLayers, (long long)c.nEmbd, (long long)c.vocabSize,
      steer::kernels::threads(),
      steer::kernels::isaName(steer::kernels::activeIsa()));
  std::printf("greedy generation of %lld tokens after a %lld-token prompt "
              "(steps = tokens)\n",
              (long long)newTokens, (long long)promptTokens);
  struct Mode {
    const char *name;
    bool cache, reference;
  } modes[] = {{"steer (kv cache)", true, false},
               {"steer, no cache", false, false},
               {"reference algorithm", false, true}};
  std::vector<int64_t> first;
  double base = 0;
  std::vector<double> tps;
  for (const Mode &m : modes) {
    steer::GenerateRequest req;
    req.sampling = steer::SamplingOptions::greedy(newTokens);
    req.sampling.useCache = m.cache;
    req.sampling.referenceCompute = m.reference;
    double t0 = now();
    auto out = steer::generate(*model.engine, prompt, req);
    double secs = now() - t0;
    if (!out.ok()) {
      std::fprintf(stderr, "%s\n", out.status().toString().c_str());
      return 2;
    }
    if (first.empty())
      first = out->sequence;
    std::vector<double> st = out->stepSeconds;
    std::sort(st.begin(), st.end());
    double tokensPerSec = newTokens / secs;
    tps.push_back(tokensPerSec);
    if (m.reference)
      base = tokensPerSec;
    std::printf(
        "  %-22s %8.2f tokens/s  median step %7.2f ms  rows/step %6.1f  %s\n",
        m.name, tokensPerSec, st[st.size() / 2] * 1e3,
        double(out->rowsComputed) / out->steps,
        out->sequence == first ? "same tokens" : "DIFFERENT TOKENS");
  }
  std::printf(
      "  speedup over the reference algorithm: cached %.1fx, uncached %.1fx\n",
      tps[0] / base, tps[1] / base);

  // Steering overhead: injection (two concepts, fixed alpha from the middle
  // layer) plus a ReLU logit mask, against the same cached run unsteered.
  if (model.engine->interpretable()) {
    steer::SteeringOptions so;
    so.injectConcepts = {1, 2};
    so.target = 4.0;
    so.injectLayer = c.nLayers / 2;
    so.reluMask = {{3, 20.0f}};
    auto resolved = steer::resolveSteering(*model.engine, so);
    if (!resolved.ok())
      return 2;
    // Per-step times pooled over interleaved runs; the median is robust to
    // the machine's noise, which is larger than the effect measured.
    std::vector<double> plainSteps, steeredSteps;
    for (int rep = 0; rep < 3; ++rep)
      for (bool withSteering : {false, true}) {
        steer::GenerateRequest req;
        req.sampling = steer::SamplingOptions::greedy(newTokens);
        req.steering = withSteering ? &*resolved : nullptr;
        auto out = steer::generate(*model.engine, prompt, req);
        if (!out.ok())
          return 2;
        auto &dst = withSteering ? steeredSteps : plainSteps;
        dst.insert(dst.end(), out->stepSeconds.begin() + 1,
                   out->stepSeconds.end());
      }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    double plain = median(plainSteps), steered = median(steeredSteps);
    std::printf("  steering (injection + logit mask): median step %.2f ms vs "
                "%.2f ms unsteered: overhead %+.1f%%\n",
                steered * 1e3, plain * 1e3, 100.0 * (steered - plain) / plain);
  }

  // Forward of the whole sequence vs the roofline.
  std::vector<int64_t> ids(promptTokens + newTokens);
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = (i * 104729 + 7) % (c.vocabSize - 8);
  steer::ForwardRequest req;
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    double t0 = now();
    auto out = model.engine->forward(ids, req);
    best = std::min(best, now() - t0);
  }
  const double T = static_cast<double>(ids.size());
  const double D = c.nEmbd, H = c.mlpHidden(), kv = c.kvDim();
  const double fcRows = c.mlpType == steer::MlpType::kSwiGLU ? 2 * H : H;
  const double perLayer = D * (D + 2 * kv) + D * D + D * fcRows + H * D;
  double flops = 2 * T * (c.nLayers * perLayer + c.vocabSize * D);
  flops +=
      2.0 * c.nLayers * T * T * D; // attention scores and values (upper bound)
  double bytes = 0;
  for (const auto &f : model.checkpoint->files())
    bytes += f->fileSize();
  auto [peak, peakPath] = peakFlops();
  double bw = bandwidth();
  double roof = std::max(flops / (peak * 1e9), bytes / (bw * 1e9));
  std::printf("forward of %.0f tokens: %.1f ms, %.1f GFLOP -> %.1f GFLOP/s\n",
              T, best * 1e3, flops / 1e9, flops / best / 1e9);
  std::printf("machine: peak %.1f GFLOP/s (fp32, all threads, %s), read "
              "bandwidth %.1f GB/s\n",
              peak, peakPath.c_str(), bw);
  std::printf("roofline time %.1f ms; forward is %.2fx the roofline\n",
              roof * 1e3, best / roof);

  // A cached, unsteered step runs every block and lm_head (the tied
  // embedding) at least once: their weights are read from memory every
  // step (far larger than the caches on a mid-size model), so no step can
  // be faster than their size over the measured bandwidth. This bounds the
  // speedup any implementation can reach over another one's step time.
  double stepBytes = 0;
  for (const auto &spec : model.checkpoint->specs())
    if (spec.name.starts_with("transformer."))
      if (const steer::TensorView *t = model.checkpoint->tensor(spec.name))
        stepBytes += static_cast<double>(t->bytes);
  const double boundSecs = stepBytes / (bw * 1e9);
  std::printf("a cached step reads %.1f MB of weights (blocks, final norm, "
              "lm_head): at %.1f GB/s no step takes under %.2f ms, so no "
              "implementation exceeds %.1f tokens/s here (cached measured: "
              "%.2f tokens/s, %.0f%% of that bound)\n",
              stepBytes / 1e6, bw, boundSecs * 1e3, 1.0 / boundSecs, tps[0],
              100.0 * tps[0] * boundSecs);
  return 0;
}
