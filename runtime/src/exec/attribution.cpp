//===- attribution.cpp - Concept attribution of generated tokens ----------===//
#include "steer/exec/attribution.h"
#include "steer/exec/kernels.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace steer {

StatusOr<std::vector<TokenAttribution>> attributeStep(const Engine &engine,
                                                      const StepInfo &step) {
  std::vector<TokenAttribution> out;
  const ForwardOutputs *o = step.outputs;
  if (!o || o->knownTopkIds.empty())
    return out;
  const int64_t D = engine.width();
  std::vector<float> wy(D), e(D);
  for (size_t c = 0; c < step.positions.size(); ++c) {
    const int64_t pos = step.positions[c], token = step.tokens[c];
    auto it = std::find(step.outputPositions.begin(),
                        step.outputPositions.end(), pos);
    if (it == step.outputPositions.end())
      continue;
    const int64_t row = it - step.outputPositions.begin();
    TokenAttribution t;
    t.position = pos;
    t.token = token;
    t.step = step.step;
    STEER_RETURN_IF_ERROR(engine.lmHeadRow(token, wy.data()));
    const float *composed = &o->composed[row * D];
    t.logit = kernels::dot(composed, wy.data(), D);
    double sum = 0;
    for (int64_t k = 0; k < o->knownTopk; ++k) {
      int64_t id = o->knownTopkIds[row * o->knownTopk + k];
      if (id < 0)
        continue;
      float w = o->knownTopkWeights[row * o->knownTopk + k];
      STEER_RETURN_IF_ERROR(engine.knownEmbeddingRow(id, e.data()));
      float contrib = w * kernels::dot(e.data(), wy.data(), D);
      t.known.push_back({id, w, contrib});
      sum += contrib;
    }
    for (int64_t k = 0; k < o->unknownTopk; ++k) {
      int64_t id = o->unknownTopkIds[row * o->unknownTopk + k];
      float w =
          1.0f /
          (1.0f + std::exp(-o->unknownTopkLogits[row * o->unknownTopk + k]));
      STEER_RETURN_IF_ERROR(engine.unknownEmbeddingRow(id, e.data()));
      float contrib = w * kernels::dot(e.data(), wy.data(), D);
      t.discovered.push_back({id, w, contrib});
      sum += contrib;
    }
    if (!o->epsilon.empty())
      t.epsilon = kernels::dot(&o->epsilon[row * D], wy.data(), D);
    sum += t.epsilon;
    t.error = static_cast<float>(std::abs(sum - t.logit));
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<ChunkAttribution>
chunkAttribution(std::span<const int64_t> seq, int64_t prompt, int64_t eoc,
                 std::span<const int64_t> stops,
                 std::span<const TokenAttribution> tokens) {
  int64_t end = static_cast<int64_t>(seq.size());
  for (int64_t i = prompt; i < end; ++i)
    if (std::find(stops.begin(), stops.end(), seq[i]) != stops.end()) {
      end = i;
      break;
    }
  std::vector<std::pair<int64_t, int64_t>> spans;
  int64_t prev = prompt;
  for (int64_t i = prompt; i < end; ++i)
    if (seq[i] == eoc) {
      spans.push_back({prev, i});
      prev = i + 1;
    }
  if (prev < end)
    spans.push_back({prev, end});

  std::map<int64_t, const TokenAttribution *> byPos;
  for (const TokenAttribution &t : tokens)
    byPos[t.position] = &t;
  std::vector<ChunkAttribution> out;
  for (auto [s, e] : spans) {
    if (s >= e)
      continue;
    ChunkAttribution chunk;
    chunk.start = s;
    chunk.end = e;
    std::map<std::pair<bool, int64_t>, double> mass;
    double epsShare = 0;
    int64_t counted = 0;
    for (int64_t p = s; p < e; ++p) {
      auto it = byPos.find(p);
      if (it == byPos.end())
        continue;
      const TokenAttribution &t = *it->second;
      double total = std::abs(t.epsilon);
      for (auto &k : t.known)
        total += std::abs(k.contribution);
      for (auto &u : t.discovered)
        total += std::abs(u.contribution);
      total = std::max(total, 1e-8);
      for (auto &k : t.known)
        mass[{true, k.id}] += k.contribution / total;
      for (auto &u : t.discovered)
        mass[{false, u.id}] += u.contribution / total;
      epsShare += t.epsilon / total;
      ++counted;
    }
    // The reference divides by the chunk length, counting every position.
    const double len = static_cast<double>(e - s);
    for (auto &[key, m] : mass)
      chunk.entries.push_back({key.first, key.second, m / len});
    std::stable_sort(chunk.entries.begin(), chunk.entries.end(),
                     [](const ChunkEntry &a, const ChunkEntry &b) {
                       return std::abs(a.contribution) >
                              std::abs(b.contribution);
                     });
    chunk.epsilonPercent = counted ? 100.0 * epsShare / counted : 0.0;
    out.push_back(std::move(chunk));
  }
  return out;
}

} // namespace steer
