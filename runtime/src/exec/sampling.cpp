//===- sampling.cpp - The reference's samplers over one row of logits -----===//
#include "steer/exec/sampling.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace steer {
namespace {

/// The head of the stable descending order of `probs` that holds more than
/// `mass` of probability: every entry whose binary exponent is at least
/// the highest one at which the mass of the entries at or above it
/// passes `mass` (summed by exponent, with a margin for the order of
/// summation). Those entries are exactly the first ones of the full order
/// (each is larger than every entry left out), sorted; in a peaked
/// distribution they are a few, in a flat one most of the vocabulary.
std::vector<int64_t> headHolding(std::span<const double> probs, double mass) {
  // The biased binary exponent (subnormals 0): monotone in the value.
  auto exponent = [](double p) {
    return static_cast<int>(std::bit_cast<uint64_t>(p) >> 52) & 0x7ff;
  };
  std::vector<double> byExponent(2048, 0.0);
  std::vector<size_t> count(2048, 0);
  for (double p : probs)
    if (p > 0) {
      byExponent[exponent(p)] += p;
      ++count[exponent(p)];
    }
  int cutoff = 0; // every positive entry
  double acc = 0;
  size_t size = 0;
  for (int e = 2047; e >= 0; --e) {
    acc += byExponent[e];
    size += count[e];
    if (acc > mass + 1e-9) {
      cutoff = e;
      break;
    }
  }
  // Collected in id order and stably sorted: ties keep the lower id first.
  std::vector<int64_t> ids;
  ids.reserve(size);
  for (size_t i = 0; i < probs.size(); ++i)
    if (probs[i] > 0 && exponent(probs[i]) >= cutoff)
      ids.push_back(static_cast<int64_t>(i));
  std::stable_sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) {
    return probs[a] > probs[b];
  });
  return ids;
}

/// Walks the stable descending order of `probs` from the top, calling
/// `visit` once per entry until it returns false; a walk that is to stop
/// once more than `mass` is summed reads only headHolding(mass), unless
/// rounding lets it run past that head, when it goes on in the full order.
template <typename Visit>
void walkDescending(std::span<const double> probs, double mass, Visit visit) {
  std::vector<int64_t> head = headHolding(probs, mass);
  for (int64_t id : head)
    if (!visit(id))
      return;
  std::vector<int64_t> all = topOrder(probs, probs.size());
  for (size_t i = head.size(); i < all.size(); ++i)
    if (!visit(all[i]))
      return;
}

} // namespace

std::vector<double> softmax(const float *logits, int64_t n,
                            double temperature) {
  double t = temperature > 0 ? temperature : 1.0;
  double mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i)
    mx = std::max(mx, static_cast<double>(logits[i]) / t);
  std::vector<double> p(n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    p[i] = std::isinf(logits[i]) && logits[i] < 0
               ? 0.0
               : std::exp(static_cast<double>(logits[i]) / t - mx);
    sum += p[i];
  }
  for (double &v : p)
    v /= sum;
  return p;
}

std::vector<int64_t> topOrder(std::span<const double> probs, size_t count) {
  // (probability descending, id ascending) is the strict total order a
  // stable descending sort leaves the entries in.
  std::vector<int64_t> ids(probs.size());
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = static_cast<int64_t>(i);
  auto before = [&](int64_t a, int64_t b) {
    return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
  };
  count = std::min(count, ids.size());
  if (count < ids.size()) {
    std::nth_element(ids.begin(), ids.begin() + count, ids.end(), before);
    ids.resize(count);
  }
  std::sort(ids.begin(), ids.end(), before);
  return ids;
}

int64_t sampleTopP(std::span<const double> probs, double topP,
                   std::mt19937_64 &rng) {
  std::vector<int64_t> kept;
  double cum = 0, mass = 0;
  // An entry is kept when it is the first or the mass before it is <=
  // top_p: the walk ends with the entry that takes the mass past top_p.
  walkDescending(probs, topP, [&](int64_t id) {
    cum += probs[id];
    mass += probs[id];
    kept.push_back(id);
    return !(cum > topP);
  });
  double u = std::uniform_real_distribution<double>(0.0, mass)(rng);
  for (int64_t id : kept) {
    u -= probs[id];
    if (u <= 0)
      return id;
  }
  return kept.back();
}

int64_t sampleToken(const float *logits, int64_t n, const SamplingOptions &o,
                    std::mt19937_64 &rng) {
  if (o.entropySampling) {
    std::vector<double> raw = softmax(logits, n, 1.0);
    // Entries of the sorted distribution whose cumulative mass is <= top_p
    // (the mass only grows: the count is final once it passes top_p).
    double cum = 0;
    int64_t within = 0;
    walkDescending(raw, o.topP, [&](int64_t id) {
      cum += raw[id];
      if (cum > o.topP)
        return false;
      ++within;
      return true;
    });
    int64_t effectiveK = std::max<int64_t>(within + 1, 2);
    double entropy = 0;
    for (double p : raw)
      entropy -= p * std::log(p + 1e-10);
    double normalized = std::min(1.0, entropy / std::log(double(effectiveK)));
    double temperature = 0.3 + 0.4 * normalized;
    return sampleTopP(softmax(logits, n, temperature), o.topP, rng);
  }
  return sampleTopP(softmax(logits, n, o.temperature), o.topP, rng);
}

} // namespace steer
