//===- metrics.h - GET /metrics in Prometheus text format -------*- C++ -*-===//
//
// Counters and histograms the server updates as it goes; render() writes
// them in the Prometheus text exposition format (version 0.0.4).
//
//===----------------------------------------------------------------------===//
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace steer::serve {

class Metrics {
public:
  /// A finished HTTP request to a generation endpoint, by model and status.
  void request(const std::string &model, int status, double seconds);
  void tokens(const std::string &model, int64_t prompt, int64_t completion);
  /// One batched step: its wall time and how many requests it carried.
  void step(double seconds, size_t batch);
  void rulesFired(const std::string &model,
                  const std::vector<std::string> &rules);
  void disconnect();

  /// The exposition; gauges are read by the caller.
  std::string render(size_t queued, size_t running, bool draining) const;

private:
  struct Histogram {
    static constexpr std::array<double, 12> kBounds = {
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
    std::array<uint64_t, kBounds.size()> buckets{};
    uint64_t count = 0;
    double sum = 0;
    void observe(double v);
    void render(std::string &out, const std::string &name,
                const std::string &labels) const;
  };

  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> requestSeconds_;
  std::map<std::string, std::pair<int64_t, int64_t>> tokens_;
  std::map<std::pair<std::string, std::string>, uint64_t> rules_;
  Histogram stepSeconds_;
  uint64_t steps_ = 0, stepRequests_ = 0, disconnects_ = 0;
  size_t lastBatch_ = 0;
};

} // namespace steer::serve
