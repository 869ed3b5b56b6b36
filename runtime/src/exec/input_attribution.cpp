//===- input_attribution.cpp - Integrated gradients over a generation -----===//
#include "steer/exec/input_attribution.h"
#include "steer/text/utf8.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

namespace steer {

StatusOr<IgBaseline> parseIgBaseline(std::string_view name) {
  if (name == "mask")
    return IgBaseline::kMask;
  if (name == "pad")
    return IgBaseline::kPad;
  if (name == "zero")
    return IgBaseline::kZero;
  // Shown escaped and cut short: the name is whatever a user typed.
  return makeError(StatusCode::kInvalidArgument, "unknown baseline '",
                   displayText(name.substr(0, 40), false),
                   name.size() > 40 ? "...'" : "'",
                   ": use mask (the reference's), pad or zero");
}

const char *igBaselineName(IgBaseline baseline) {
  switch (baseline) {
  case IgBaseline::kMask:
    return "mask";
  case IgBaseline::kPad:
    return "pad";
  case IgBaseline::kZero:
    return "zero";
  }
  return "?";
}

CommitRecorder::CommitRecorder(const Engine &engine,
                               std::span<const int64_t> prompt,
                               int64_t maxNewTokens,
                               const ResolvedSteering *steering)
    : maskId_(engine.config().maskTokenId), generated_(maxNewTokens),
      steering_(steering) {
  current_.assign(prompt.begin(), prompt.end());
  current_.resize(prompt.size() + maxNewTokens, maskId_);
}

StepCallback CommitRecorder::callback(StepCallback next) {
  return [this, next = std::move(next)](const StepInfo &info) {
    CommitGroup g;
    g.step = info.step;
    g.positions = info.positions;
    g.tokens = info.tokens;
    g.snapshot = current_;
    // The step's injection alphas, as generate() derives them from the
    // masks left when the step began.
    if (steering_) {
      const int64_t remaining =
          std::count(current_.begin(), current_.end(), maskId_);
      const int64_t committed = std::max<int64_t>(generated_, 1) - remaining;
      for (const ResolvedInjection &in : steering_->injections)
        g.alphas.push_back(in.alphaAfter(committed));
    }
    for (size_t i = 0; i < info.positions.size(); ++i)
      current_[info.positions[i]] = info.tokens[i];
    if (!g.positions.empty())
      groups_.push_back(std::move(g));
    return next ? next(info) : true;
  };
}

StatusOr<std::vector<TargetAttribution>>
integratedGradients(const Engine &engine, std::span<const int64_t> snapshot,
                    std::span<const LogitTarget> targets,
                    const IgOptions &options,
                    const ResolvedSteering *steering,
                    std::span<const float> alphas) {
  const ModelConfig &c = engine.config();
  const int64_t T = static_cast<int64_t>(snapshot.size()), D = c.nEmbd;
  const int64_t n = options.steps;
  if (n < 1 || n > 4096)
    return makeError(StatusCode::kInvalidArgument, "integrated gradients: ",
                     n, " steps (use 1 to 4096)");
  if (steering && alphas.size() != steering->injections.size())
    return makeError(StatusCode::kInvalidArgument, "integrated gradients: ",
                     alphas.size(), " alphas for ",
                     steering->injections.size(), " injections");
  STEER_ASSIGN_OR_RETURN(std::vector<float> input, engine.embedRows(snapshot));
  std::vector<float> base(T * D, 0.0f);
  if (options.baseline != IgBaseline::kZero) {
    const int64_t id = options.baseline == IgBaseline::kMask ? c.maskTokenId
                                                             : c.padTokenId;
    std::vector<int64_t> ids(T, id);
    STEER_ASSIGN_OR_RETURN(base, engine.embedRows(ids));
  }
  std::vector<float> delta(T * D);
  for (int64_t i = 0; i < T * D; ++i)
    delta[i] = input[i] - base[i];

  // The forward the snapshot ran: injections at its masked rows.
  std::vector<uint8_t> masked(T);
  for (int64_t p = 0; p < T; ++p)
    masked[p] = snapshot[p] == c.maskTokenId;
  std::vector<Injection> injections;
  ForwardRequest request;
  request.logits = false;
  if (steering) {
    for (size_t i = 0; i < alphas.size(); ++i)
      if (alphas[i] != 0)
        injections.push_back({steering->injections[i].direction, alphas[i],
                              steering->injections[i].injectLayer, masked});
    request.injections = injections;
    if (steering->intervenes())
      request.intervention = &steering->weights;
  }

  const size_t P = targets.size();
  std::vector<TargetAttribution> out(P);
  std::vector<double> accum; // [P, rows, D]
  int64_t rows = 0;
  std::vector<float> interp(T * D);
  for (int64_t s = 1; s <= n; ++s) {
    const float alpha = static_cast<float>(s) / static_cast<float>(n);
    for (int64_t i = 0; i < T * D; ++i)
      interp[i] = base[i] + alpha * delta[i];
    STEER_ASSIGN_OR_RETURN(LogitGradients g,
                           engine.logitGradients(interp, T, targets, request));
    if (accum.empty()) {
      rows = g.rows;
      accum.assign(P * rows * D, 0.0);
    }
    for (size_t i = 0; i < g.grads.size(); ++i)
      accum[i] += g.grads[i];
    if (s == n)
      for (size_t t = 0; t < P; ++t)
        out[t].inputLogit = g.logits[t];
  }
  for (size_t t = 0; t < P; ++t) {
    TargetAttribution &a = out[t];
    a.position = targets[t].position;
    a.token = targets[t].token;
    a.scores.assign(T, 0.0f);
    for (int64_t p = 0; p < rows; ++p) {
      double s = 0;
      for (int64_t d = 0; d < D; ++d)
        s += static_cast<double>(delta[p * D + d]) *
             accum[(t * rows + p) * D + d];
      a.scores[p] = static_cast<float>(s / static_cast<double>(n));
    }
    a.baselineLogit = std::numeric_limits<float>::quiet_NaN();
  }
  if (n > 1) {
    // Completeness: the logit at the baseline.
    STEER_ASSIGN_OR_RETURN(LogitGradients g,
                           engine.logitGradients(base, T, targets, request));
    for (size_t t = 0; t < P; ++t)
      out[t].baselineLogit = g.logits[t];
  }
  return out;
}

StatusOr<InputAttribution> attributeInput(const Engine &engine,
                                          std::span<const int64_t> prompt,
                                          GenerateRequest request,
                                          const IgOptions &options) {
  if (request.sampling.cfgScale != 0)
    return makeError(StatusCode::kInvalidArgument,
                     "input attribution needs cfg_scale 0: with classifier-"
                     "free guidance a token's logits mix two sequences");
  if (request.decideSteering)
    return makeError(StatusCode::kInvalidArgument,
                     "input attribution replays a steering decided before "
                     "generation: pass it as request.steering");
  if (!engine.interpretable())
    return makeError(StatusCode::kInvalidArgument,
                     "input attribution follows the interpretable forward: "
                     "this checkpoint has no concept heads");
  InputAttribution result;
  result.options = options;
  result.promptTokens = static_cast<int64_t>(prompt.size());
  CommitRecorder recorder(engine, prompt, request.sampling.maxNewTokens,
                          request.steering);
  request.callback = recorder.callback(std::move(request.callback));
  STEER_ASSIGN_OR_RETURN(result.generation,
                         generate(engine, prompt, request));
  result.sequence = result.generation.sequence;
  result.groups = recorder.groups();

  auto t0 = std::chrono::steady_clock::now();
  for (size_t gi = 0; gi < result.groups.size(); ++gi) {
    const CommitGroup &g = result.groups[gi];
    std::vector<LogitTarget> targets;
    for (size_t i = 0; i < g.positions.size(); ++i)
      targets.push_back({g.positions[i], g.tokens[i]});
    STEER_ASSIGN_OR_RETURN(
        std::vector<TargetAttribution> ts,
        integratedGradients(engine, g.snapshot, targets, options,
                            request.steering, g.alphas));
    for (TargetAttribution &t : ts) {
      t.order = static_cast<int64_t>(gi);
      result.targets.push_back(std::move(t));
    }
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  return result;
}

std::vector<std::pair<int64_t, float>>
aggregateScores(const InputAttribution &attribution,
                std::span<const size_t> targets,
                std::span<const int64_t> positions) {
  std::vector<double> agg(positions.size(), 0.0);
  for (size_t t : targets) {
    const std::vector<float> &s = attribution.targets[t].scores;
    double mass = 0;
    for (int64_t p : positions)
      mass += std::fabs(s[p]);
    mass = std::max(mass, 1e-8);
    for (size_t i = 0; i < positions.size(); ++i)
      agg[i] += s[positions[i]] / mass;
  }
  std::vector<std::pair<int64_t, float>> out;
  for (size_t i = 0; i < positions.size(); ++i)
    out.emplace_back(positions[i],
                     targets.empty()
                         ? 0.0f
                         : static_cast<float>(agg[i] / targets.size()));
  std::stable_sort(out.begin(), out.end(),
                   [](const auto &a, const auto &b) { return a.second > b.second; });
  return out;
}

} // namespace steer
