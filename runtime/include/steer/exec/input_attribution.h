//===- input_attribution.h - Which prompt tokens drove an output -*- C++ -*-===//
//
// The reference's output-to-input attribution (steerling/attribution/
// input_attribution.py): integrated gradients over the input embeddings,
//
//   C(x_t, y) = (E[x_t] - b_t) . (1/n) sum_{s=1..n} grad_{E[x_t]} logit_y
//               at b + (s/n)(E - b)       (right Riemann; n = 1 is
//                                          input x gradient),
//
// with a per-position baseline b: the MASK token's embedding (the trained
// absence of information, so positions still masked get exactly zero), the
// PAD token's, or zero. Faithful to the diffusion schedule: each generated
// token is attributed on the snapshot the model saw when it committed it
// (the prompt, the tokens committed before, masks elsewhere), with the
// steering that step ran under (injections at the snapshot's masked rows
// with that step's alpha; a known-weight intervention through the concept
// heads). The attributed logit is the lm_head logit of the composed state,
// before the step's logit epilogue (a logit bias is a constant: it moves
// the logit, not its gradient).
//
// Gradients come from Engine::logitGradients (a reverse pass on the
// device's gradient ops); nothing here differentiates itself.
//
//===----------------------------------------------------------------------===//
#pragma once
#include "steer/exec/generate.h"

#include <string>
#include <string_view>

namespace steer {

enum class IgBaseline { kMask, kPad, kZero };

StatusOr<IgBaseline> parseIgBaseline(std::string_view name);
const char *igBaselineName(IgBaseline baseline);

struct IgOptions {
  /// Riemann steps: 32 for faithful magnitudes, 1 (input x gradient) for
  /// rankings, as the reference recommends.
  int64_t steps = 1;
  IgBaseline baseline = IgBaseline::kMask;
};

/// The tokens one generation step committed and the sequence it saw.
struct CommitGroup {
  int64_t step = 0;
  std::vector<int64_t> positions, tokens;
  std::vector<int64_t> snapshot; // prompt, earlier commits, masks elsewhere
  std::vector<float> alphas;     // each injection's alpha at this step
};

/// One attributed token.
struct TargetAttribution {
  int64_t order = 0; // its commit group
  int64_t position = 0, token = 0;
  /// The attributed logit at the input and at the baseline: for n > 1 the
  /// scores sum to their difference up to the Riemann error (completeness);
  /// baselineLogit is computed only then (NaN otherwise).
  float inputLogit = 0, baselineLogit = 0;
  std::vector<float> scores; // [sequence length] per input position
};

struct InputAttribution {
  IgOptions options;
  int64_t promptTokens = 0;
  std::vector<int64_t> sequence; // the finished sequence
  std::vector<CommitGroup> groups;
  std::vector<TargetAttribution> targets; // in commit order
  GenerationResult generation;
  double seconds = 0; // the attribution's time (generation excluded)
};

/// Records a generation's commit groups: chain it into a request's
/// callback.
class CommitRecorder {
public:
  CommitRecorder(const Engine &engine, std::span<const int64_t> prompt,
                 int64_t maxNewTokens, const ResolvedSteering *steering);
  /// Records one step; wraps `next` (may be empty) as a StepCallback.
  StepCallback callback(StepCallback next = {});
  const std::vector<CommitGroup> &groups() const { return groups_; }

private:
  std::vector<int64_t> current_;
  int64_t maskId_ = 0, generated_ = 0;
  const ResolvedSteering *steering_ = nullptr;
  std::vector<CommitGroup> groups_;
};

/// Integrated gradients of `targets` on one snapshot, under `steering`
/// (null: none) at the alphas given: the attribution of every input
/// position ([snapshot.size()] per target).
StatusOr<std::vector<TargetAttribution>>
integratedGradients(const Engine &engine, std::span<const int64_t> snapshot,
                    std::span<const LogitTarget> targets,
                    const IgOptions &options,
                    const ResolvedSteering *steering = nullptr,
                    std::span<const float> alphas = {});

/// Generates under `request` (its steering, if any, is replayed) and
/// attributes every committed token on its snapshot. Refuses
/// classifier-free guidance (the unconditional stream's logits are not
/// the model's at one snapshot) and a request that decides its steering
/// in the prefill (pass the steering decided).
StatusOr<InputAttribution> attributeInput(const Engine &engine,
                                          std::span<const int64_t> prompt,
                                          GenerateRequest request,
                                          const IgOptions &options);

/// The reference's aggregate over targets (aggregate_chunk): each target's
/// scores over `positions` divided by their absolute sum (an equal vote
/// per token), averaged; ranked by signed value, largest first. Returns
/// (position, score) pairs.
std::vector<std::pair<int64_t, float>>
aggregateScores(const InputAttribution &attribution,
                std::span<const size_t> targets,
                std::span<const int64_t> positions);

} // namespace steer
