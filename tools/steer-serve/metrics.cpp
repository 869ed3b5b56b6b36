//===- metrics.cpp - GET /metrics in Prometheus text format ---------------===//
#include "metrics.h"

#include <cstdio>

namespace steer::serve {
namespace {

/// A label value with \, " and newline escaped.
std::string label(const std::string &v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::string &out, const char *name, const char *type,
            const char *help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name +
         " " + type + "\n";
}

} // namespace

void Metrics::Histogram::observe(double v) {
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (v <= kBounds[i])
      ++buckets[i];
  ++count;
  sum += v;
}

void Metrics::Histogram::render(std::string &out, const std::string &name,
                                const std::string &labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  for (size_t i = 0; i < kBounds.size(); ++i)
    out += name + "_bucket{" + labels + sep + "le=\"" + number(kBounds[i]) +
           "\"} " + std::to_string(buckets[i]) + "\n";
  out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " +
         std::to_string(count) + "\n";
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + number(sum) + "\n";
  out += name + "_count" + braces + " " + std::to_string(count) + "\n";
}

void Metrics::request(const std::string &model, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{model, status}];
  requestSeconds_[model].observe(seconds);
}

void Metrics::tokens(const std::string &model, int64_t prompt,
                     int64_t completion) {
  std::lock_guard<std::mutex> lock(mu_);
  tokens_[model].first += prompt;
  tokens_[model].second += completion;
}

void Metrics::step(double seconds, size_t batch) {
  std::lock_guard<std::mutex> lock(mu_);
  stepSeconds_.observe(seconds);
  ++steps_;
  stepRequests_ += batch;
  lastBatch_ = batch;
}

void Metrics::rulesFired(const std::string &model,
                         const std::vector<std::string> &rules) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string &r : rules)
    ++rules_[{model, r}];
}

void Metrics::disconnect() {
  std::lock_guard<std::mutex> lock(mu_);
  ++disconnects_;
}

std::string Metrics::render(size_t queued, size_t running,
                            bool draining) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  header(out, "steer_requests_total", "counter",
         "Generation requests answered, by model and HTTP status.");
  for (const auto &[k, n] : requests_)
    out += "steer_requests_total{model=\"" + label(k.first) + "\",code=\"" +
           std::to_string(k.second) + "\"} " + std::to_string(n) + "\n";
  header(out, "steer_request_seconds", "histogram",
         "Wall time of generation requests, arrival to last byte.");
  for (const auto &[m, h] : requestSeconds_)
    h.render(out, "steer_request_seconds", "model=\"" + label(m) + "\"");
  header(out, "steer_prompt_tokens_total", "counter", "Prompt tokens read.");
  for (const auto &[m, t] : tokens_)
    out += "steer_prompt_tokens_total{model=\"" + label(m) + "\"} " +
           std::to_string(t.first) + "\n";
  header(out, "steer_completion_tokens_total", "counter",
         "Tokens returned to clients.");
  for (const auto &[m, t] : tokens_)
    out += "steer_completion_tokens_total{model=\"" + label(m) + "\"} " +
           std::to_string(t.second) + "\n";
  header(out, "steer_rules_fired_total", "counter",
         "Requests on which a policy rule fired, by model and rule.");
  for (const auto &[k, n] : rules_)
    out += "steer_rules_fired_total{model=\"" + label(k.first) +
           "\",rule=\"" + label(k.second) + "\"} " + std::to_string(n) + "\n";
  header(out, "steer_step_seconds", "histogram",
         "Wall time of one batched generation step.");
  stepSeconds_.render(out, "steer_step_seconds", "");
  header(out, "steer_step_requests_total", "counter",
         "Requests carried by batched steps, summed over steps.");
  out += "steer_step_requests_total " + std::to_string(stepRequests_) + "\n";
  header(out, "steer_batch_size", "gauge", "Requests in the last step.");
  out += "steer_batch_size " + std::to_string(lastBatch_) + "\n";
  header(out, "steer_queue_depth", "gauge",
         "Requests waiting for a place in a batch.");
  out += "steer_queue_depth " + std::to_string(queued) + "\n";
  header(out, "steer_running_requests", "gauge", "Requests in a batch.");
  out += "steer_running_requests " + std::to_string(running) + "\n";
  header(out, "steer_client_disconnects_total", "counter",
         "Requests whose client left before the answer; their slot was "
         "freed.");
  out += "steer_client_disconnects_total " + std::to_string(disconnects_) +
         "\n";
  header(out, "steer_draining", "gauge", "1 after SIGTERM.");
  out += std::string("steer_draining ") + (draining ? "1" : "0") + "\n";
  return out;
}

} // namespace steer::serve
