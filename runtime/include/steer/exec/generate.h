//===- generate.h - Block-diffusion generation with steering ----*- C++ -*-===//
//
// The reference's generation: the prompt followed by max_new_tokens mask
// tokens; blocks of diff_block_size starting at the prompt end; within a
// block, steps_per_block steps commit a linear schedule of tokens, the most
// confident masked positions first (max softmax probability), each sampled
// with the configured sampler. EOS is set to -inf and mask/pad banned at
// every step; an instruct model's <|eot_id|> fills the rest with EOS and
// stops; stop tokens end generation after the block that produced them.
//
// Steering is configured here as plain data (the compiler's artifacts fill
// the same structures): mask-aligned injection, a ReLU logit mask, known
// weight overrides and a target concept profile at generated positions.
//
// Caching: keys and values of attention blocks whose tokens are final are
// reused, so a step computes only the rows from the first attention block
// that can still change to the end of the attention block holding the
// current generation block. Cached and uncached runs give identical tokens.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/exec/engine.h"

#include <functional>
#include <optional>
#include <random>

namespace steer {

struct SamplingOptions {
  int64_t maxNewTokens = 1024;
  std::optional<int64_t> steps; // default: maxNewTokens
  double temperature = 1.2;
  double topP = 0.8;
  double repetitionPenalty = 1.1;
  bool entropySampling = true;
  double cfgScale = 0.0;
  std::optional<uint64_t> seed;
  std::vector<int64_t> stopTokens;
  bool useCache = true;
  /// Benchmark baseline: every step recomputes the whole sequence and runs
  /// the concept heads and lm_head on every row, as the reference does.
  bool referenceCompute = false;

  /// Greedy decoding: temperature 0, no entropy sampling, no penalty.
  static SamplingOptions greedy(int64_t maxNewTokens) {
    SamplingOptions o;
    o.maxNewTokens = maxNewTokens;
    o.temperature = 0;
    o.entropySampling = false;
    o.repetitionPenalty = 1.0;
    return o;
  }
};

enum class InjectSchedule { kFixed, kHardCutoff };

struct SteeringOptions {
  /// Injection: the L2-normalised sum of these known concepts' embeddings.
  std::vector<int64_t> injectConcepts;
  /// Raw alpha, or, with `normalizeTarget`, a target in logit units divided
  /// by the direction's peak lm_head alignment.
  double target = 0.0;
  bool normalizeTarget = true;
  std::optional<int64_t> injectLayer; // default n_layers / 2
  InjectSchedule schedule = InjectSchedule::kFixed;
  int64_t cutoffTokens = 32;
  /// ReLU logit mask: concept -> strength.
  std::vector<std::pair<int64_t, float>> reluMask;
  /// Known-weight overrides and/or a target profile; positions empty means
  /// the generated positions.
  WeightIntervention weights;

  bool empty() const {
    return injectConcepts.empty() && reluMask.empty() &&
           weights.concepts.empty() && weights.profile.empty();
  }
};

/// One residual injection as the generation loop applies it.
struct ResolvedInjection {
  std::vector<float> direction; // n_embd
  float baseAlpha = 0;
  int64_t injectLayer = 0; // after blocks i with i + 1 >= injectLayer
  InjectSchedule schedule = InjectSchedule::kFixed;
  int64_t cutoffTokens = 32; // hard_cutoff: alpha 0 once this many committed

  /// The alpha of a step after `committed` tokens were committed.
  float alphaAfter(int64_t committed) const {
    return schedule == InjectSchedule::kHardCutoff && committed >= cutoffTokens
               ? 0.0f
               : baseAlpha;
  }
};

/// A steering configuration resolved against a model: what the generation
/// loop applies at each site. Injections and biases apply in order.
struct ResolvedSteering {
  std::vector<ResolvedInjection> injections;
  /// [vocab], subtracted from the logits at masked positions; empty: none.
  /// Several logit biases are summed in order first (as the compiler's
  /// steer-fold-logit-masks sums a chain under one guard), so the same
  /// biases give the same bits whether the compiler or the executor
  /// combined them.
  std::vector<float> vocabBias;
  WeightIntervention weights;

  bool intervenes() const { return weights.active(); }
  bool empty() const {
    return injections.empty() && vocabBias.empty() && !intervenes();
  }
};

StatusOr<ResolvedSteering> resolveSteering(const Engine &engine,
                                           const SteeringOptions &options);

/// Refuses sampling settings outside their ranges (NaN included).
Status checkSampling(const SamplingOptions &options);

/// Refuses steering the model cannot apply exactly as stated: ids outside
/// the model, non-finite values, sizes that do not match, a layer past the
/// last block. Nothing is skipped: a rule that cannot be applied is an
/// error (generate() calls this; so does an artifact's loader).
Status checkSteering(const Engine &engine, const ResolvedSteering &steering);

struct StepInfo {
  int64_t step = 0;
  std::vector<int64_t> positions; // committed this step
  std::vector<int64_t> tokens;
  int64_t rowsComputed = 0;
  double seconds = 0;
  const ForwardOutputs *outputs = nullptr; // rows of the masked positions
  std::vector<int64_t> outputPositions;    // position of each output row
};

struct GenerationResult {
  std::vector<int64_t> sequence; // prompt + generated region
  std::vector<int64_t>
      generated; // final tokens (masks/EOS dropped, cut at terminals)
  int64_t promptTokens = 0;
  int64_t steps = 0;
  int64_t rowsComputed = 0;
  std::vector<double> stepSeconds;
};

/// Called after each step's commits; return false to stop.
using StepCallback = std::function<bool(const StepInfo &)>;

struct GenerateRequest {
  SamplingOptions sampling;
  const ResolvedSteering *steering = nullptr;
  /// When set, each step also computes the concept outputs of the masked
  /// rows (for attribution) and passes them to the callback.
  bool wantConcepts = false;
  StepCallback callback;
  /// Text stops: generation ends as soon as the committed text before the
  /// first masked position (decoded with `decode`) contains one of
  /// `stopText`, or else after the block in which the generated text does.
  /// The caller cuts the text there (stopIndex).
  std::vector<std::string> stopText;
  std::function<std::string(std::span<const int64_t>)> decode;
  /// Steering decided on the prompt (an artifact's program evaluates its
  /// guards this way). When set, generation first computes the prompt's
  /// rows alone (the prefill), passes their dense known weights
  /// ([rows, n_concepts], after the head's top-k) to this hook and runs
  /// under the steering it returns (null: none); the prefill's keys and
  /// values of the prompt's complete attention blocks are reused, so the
  /// prompt is not run twice. `steering` must then be null.
  std::function<StatusOr<const ResolvedSteering *>(std::span<const float>,
                                                   int64_t)>
      decideSteering;
};

/// Where `text` first contains one of `stops` (text.size() when none).
size_t stopIndex(std::string_view text, const std::vector<std::string> &stops);

StatusOr<GenerationResult> generate(const Engine &engine,
                                    std::span<const int64_t> prompt,
                                    const GenerateRequest &request);

/// One request of a batch: a prompt and its generation request (its own
/// sampling, steering, callback).
struct BatchRequest {
  std::span<const int64_t> prompt;
  GenerateRequest request;
};

/// Generates every request of `batch` in lockstep: each step, the backbone
/// rows of every request that is still generating (whatever its steering,
/// prompt length, schedule or block) run in one Engine::backboneBatch call,
/// so each weight is read once per step for the whole batch; heads, lm_head
/// and commits run per request. Each request's result is the one
/// generate() gives it alone, token for token (the device computes each
/// row the same whatever the rows beside it). A request whose settings are
/// refused, or whose step fails after its rows are computed (non-finite
/// logits, a callback's error), gets its error and the others go on; a
/// failure of the shared backbone call fails every request in that step.
std::vector<StatusOr<GenerationResult>>
generateBatch(const Engine &engine, std::span<const BatchRequest> batch);

/// Continuous batching: requests join and leave between steps. Each step()
/// runs the backbone rows of every request still generating in one
/// Engine::backboneBatch call, as generateBatch() does; a request added
/// later joins at the next step with its own schedule, so its result is
/// still the one generate() gives it alone. Not thread-safe: one thread
/// drives a batch (steer-serve's scheduler).
class GenerationBatch {
public:
  explicit GenerationBatch(const Engine &engine);
  ~GenerationBatch();
  GenerationBatch(const GenerationBatch &) = delete;
  GenerationBatch &operator=(const GenerationBatch &) = delete;

  /// Checks a request and runs its prompt's prefill (decideSteering
  /// included); it steps from the next step() on. The prompt and request
  /// are copied. `id` names it in step()'s results and in cancel().
  Status add(uint64_t id, std::span<const int64_t> prompt,
             GenerateRequest request);
  /// Drops a request (its client left); nothing is reported for it.
  void cancel(uint64_t id);
  size_t size() const { return entries_.size(); }

  struct Finished {
    uint64_t id = 0;
    StatusOr<GenerationResult> result;
  };
  /// One step of every request; the requests that ended (done, or failed)
  /// leave the batch and are returned.
  std::vector<Finished> step();
  /// How many requests the last step() computed rows for.
  size_t stepped() const { return stepped_; }

private:
  struct Entry;
  const Engine &engine_;
  std::vector<std::unique_ptr<Entry>> entries_;
  size_t stepped_ = 0;
};

} // namespace steer
