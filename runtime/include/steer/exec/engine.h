//===- engine.h - The Steerling forward pass over a device ------*- C++ -*-===//
//
// Executes a loaded checkpoint: embedding, blocks (block-causal attention
// with GQA, qk-norm, RoPE, clip, SwiGLU or standard MLP, pre/post norm),
// final norm, the known and unknown concept heads, composition and the tied
// lm_head, as the reference defines them. The engine orchestrates; every
// computation is an op of its device (steer/hal/device.h), and the engine
// calls no kernel itself. Its public calls take host memory; the engine
// stages data to and from the device (the CPU device shares host memory,
// so nothing is copied there).
//
// Rows and caching. `backbone` computes rows [r0, r1) of a sequence; keys
// and values of rows below r0 come from a KvCache. Attention is causal
// across attention blocks of `diff_block_size` absolute positions, so the
// keys and values of a block whose tokens (and all earlier tokens) can no
// longer change are final and may be reused by later calls.
//
// Lifetime: an Engine borrows the Checkpoint it was created from, which must
// outlive it. An Engine is immutable; concurrent calls need their own
// caches.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/hal/device.h"
#include "steer/model/checkpoint.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace steer {

/// Keys and values of every layer for one sequence, in the engine's device
/// memory (so a cache must not outlive the engine that made it). Rows
/// [0, validRows) are final; the rest is scratch.
struct KvCache {
  std::vector<hal::Buffer> k, v; // [layer] of [capacity, kvDim]
  int64_t capacity = 0;
  int64_t validRows = 0;
};

/// Mask-aligned residual injection: after block i with i + 1 >= firstLayer,
/// row p gets alpha * direction when masked[p].
struct Injection {
  std::span<const float> direction; // n_embd
  float alpha = 0;
  int64_t firstLayer = 1;
  std::span<const uint8_t> masked; // per absolute position
};

/// Known-concept weight overrides: every listed position's weight of
/// concepts[i] becomes values[i] (after the top-k, as the reference).
struct WeightIntervention {
  std::vector<int64_t> concepts;
  std::vector<float> values;
  /// A target concept profile: when non-empty (n_concepts values), it
  /// replaces the whole known-weight row at the listed positions before the
  /// per-concept overrides apply.
  std::vector<float> profile;
  /// Absolute positions to intervene at; empty: all positions.
  std::vector<int64_t> positions;
  /// The known features the intervened row gives (n_embd values), when the
  /// compiler folded them (a target profile with its overrides, through
  /// the concept embeddings: Engine::denseKnownFeatures of that row). Used
  /// at the intervened positions instead of summing the row; the caller
  /// guarantees it matches `profile` and `concepts`/`values`.
  std::vector<float> features;
  /// Whether the epsilon correction (hidden - (known + unknown)) is added
  /// at the rows of a call that intervenes. Unset: dropped, as the
  /// reference drops it whenever known weights are intervened on; a
  /// compiled program states it (its compose op).
  std::optional<bool> epsilon;

  /// Whether the intervention applies at absolute position `pos`.
  bool lists(int64_t pos) const {
    return positions.empty() ||
           std::find(positions.begin(), positions.end(), pos) !=
               positions.end();
  }
  /// Whether the heads must run to apply this: weights or features change,
  /// or epsilon is dropped.
  bool active() const {
    return !concepts.empty() || !profile.empty() || !features.empty() ||
           (epsilon.has_value() && !*epsilon);
  }
};

/// What a forward pass can return. Each is filled only when asked for;
/// all are row-major [rows, width].
struct ForwardOutputs {
  int64_t rows = 0;
  std::vector<float> logits;           // [rows, vocab]
  std::vector<float> hidden;           // [rows, n_embd] after ln_f
  std::vector<float> composed;         // [rows, n_embd]
  std::vector<float> knownFeatures;    // [rows, n_embd]
  std::vector<float> unknownFeatures;  // [rows, n_embd] (unk_hat)
  std::vector<float> epsilon;          // [rows, n_embd], zero when dropped
  std::vector<float> knownWeights;     // [rows, n_concepts] dense, after top-k
  std::vector<int64_t> knownTopkIds;   // [rows, k]
  std::vector<float> knownTopkLogits;  // [rows, k]
  std::vector<float> knownTopkWeights; // [rows, k]
  int64_t knownTopk = 0;
  std::vector<int64_t> unknownTopkIds;  // [rows, k]
  std::vector<float> unknownTopkLogits; // [rows, k]
  int64_t unknownTopk = 0;
};

/// One sequence's rows in Engine::backboneBatch: rows [r0, r1) of `ids`
/// (the whole sequence) with its cache and injections, hidden states into
/// `hidden` ([r1 - r0, n_embd], host).
struct BackboneRows {
  std::span<const int64_t> ids;
  int64_t r0 = 0, r1 = 0;
  KvCache *cache = nullptr;
  std::span<const Injection> injections;
  float *hidden = nullptr;
};

/// A logit to differentiate: `token`'s logit at row `position`.
struct LogitTarget {
  int64_t position = 0;
  int64_t token = 0;
};

/// What Engine::logitGradients returns.
struct LogitGradients {
  /// Rows that ran: up to the end of the last target's attention block
  /// (later rows cannot reach a target; their gradient is zero).
  int64_t rows = 0;
  std::vector<float> logits; // [targets] each target's logit
  std::vector<float> grads;  // [targets, rows, n_embd] d logit / d input
};

struct ForwardRequest {
  bool logits = true;
  bool hidden = false;
  bool composed = false;
  bool concepts = false;     // known/unknown features, epsilon, top-k lists
  bool knownWeights = false; // dense known weights
  const WeightIntervention *intervention = nullptr;
  /// Residual injections, applied in order after each block.
  std::span<const Injection> injections;
};

/// Refuses a checkpoint with a NaN or Inf in any weight, naming the tensor
/// and index (Engine::create runs it; the scan is parallel and reads each
/// byte once).
Status checkWeightsFinite(const Checkpoint &checkpoint);

class Engine {
public:
  /// An engine on `device` (null: the CPU device).
  static StatusOr<std::unique_ptr<Engine>>
  create(const Checkpoint &checkpoint,
         std::unique_ptr<hal::Device> device = nullptr);

  hal::Device &device() const { return *device_; }

  const ModelConfig &config() const { return config_; }
  int64_t width() const { return config_.nEmbd; }
  int64_t vocab() const { return config_.vocabSize; }
  bool interpretable() const { return config_.concepts.has_value(); }

  StatusOr<KvCache> makeCache(int64_t capacity) const;

  /// Rows [r0, r1) of `ids` through the blocks and ln_f into `hidden`
  /// ([r1 - r0, n_embd]). Requires cache.validRows >= r0 and capacity >=
  /// r1; writes keys and values of rows [r0, r1) into the cache (validRows
  /// is the caller's to advance). Token ids must be in [0, vocab).
  Status backbone(std::span<const int64_t> ids, int64_t r0, int64_t r1,
                  KvCache &cache, std::span<const Injection> injections,
                  float *hidden) const;

  /// Gradients of target logits with respect to the input rows `embeds`
  /// ([rows, n_embd]: token embeddings, or any point between them and a
  /// baseline) of a whole-sequence forward: the blocks with the request's
  /// injections, ln_f, the composition at each target's row (with the
  /// request's intervention, differentiated through the concept heads with
  /// their top-k selections held fixed) and the lm_head row of the
  /// target's token. No weight gradients; nothing is cached.
  StatusOr<LogitGradients> logitGradients(std::span<const float> embeds,
                                          int64_t rows,
                                          std::span<const LogitTarget> targets,
                                          const ForwardRequest &request) const;
  /// Token embedding rows of `ids` ([ids.size(), n_embd], widened).
  StatusOr<std::vector<float>> embedRows(std::span<const int64_t> ids) const;
  /// A whole forward over `ids` (no cache reuse), with the outputs asked for.
  /// Several sequences' backbone rows in one pass (batched serving): the
  /// linear layers run on all rows together, so each weight is read once
  /// for the batch; attention and injections run per sequence. A device
  /// computes each row the same whatever the rows beside it, so every
  /// sequence's hidden states are bit-identical to its own backbone() call.
  /// Each sequence needs its own cache.
  Status backboneBatch(std::span<const BackboneRows> batch) const;
  StatusOr<ForwardOutputs> forward(std::span<const int64_t> ids,
                                   const ForwardRequest &request) const;

  /// Concept heads and composition for `rows` hidden states at absolute
  /// positions [pos0, pos0 + rows): fills composed (always) and the concept
  /// outputs of `request`.
  Status heads(const float *hidden, int64_t rows, int64_t pos0,
               const ForwardRequest &request, ForwardOutputs &out) const;

  /// logits[rows, vocab] = lm_head(x[rows, n_embd]).
  Status lmHead(const float *x, int64_t rows, float *logits) const;

  /// The logit epilogue of a generation step on `rows` rows of logits, in
  /// place (hal::Device::logitEpilogue): bias, repetition penalty, banned
  /// tokens; each row's confidence into `confidence`.
  Status logitEpilogue(float *logits, int64_t rows,
                       std::span<const float> bias,
                       std::span<const int64_t> penalized, float penalty,
                       std::span<const int64_t> banned,
                       float *confidence) const;
  /// The first largest logit of each of `rows` rows (greedy decoding).
  Status argmax(const float *logits, int64_t rows, int64_t *out) const;

  /// Embedding rows of the given known concepts (widened), [n, n_embd].
  StatusOr<std::vector<float>>
  knownEmbeddings(std::span<const int64_t> ids) const;
  /// The known features of one dense weight row as an intervened row gets
  /// them: every non-zero weight times its concept embedding, summed in
  /// concept order (bit-identical to the forward's dense path).
  StatusOr<std::vector<float>>
  denseKnownFeatures(std::span<const float> weights) const;
  /// lm_head . v for every vocabulary entry.
  StatusOr<std::vector<float>> vocabAlignment(std::span<const float> v) const;

  /// Widened single rows: lm_head (= token embedding) row of a token, and
  /// the embedding of a known or an unknown concept.
  Status lmHeadRow(int64_t token, float *out) const;
  Status knownEmbeddingRow(int64_t id, float *out) const;
  Status unknownEmbeddingRow(int64_t id, float *out) const;

  /// Checks token ids against the vocabulary; names the position.
  Status checkIds(std::span<const int64_t> ids) const;
  /// Checks a weight intervention against the model (ids, sizes); heads()
  /// refuses an intervention that fails, so nothing is silently skipped.
  Status checkIntervention(const WeightIntervention &iv) const;

private:
  struct Layer {
    hal::Weight qkv, proj, qNorm, kNorm, ln1, ln2, fc, fcProj;
  };

  Engine() = default;
  struct Tape; // what a forward keeps for the gradient pass (tape.h)
  hal::QkvSpec qkvSpec(const Layer &layer) const;
  /// One sequence's rows [r0, r1) at row `offset` of a residual stream.
  struct Segment {
    int64_t offset = 0, r0 = 0, r1 = 0;
    KvCache *cache = nullptr;
    std::span<const Injection> injections;
  };
  /// The blocks over the rows of `segments`, concatenated in the residual
  /// stream `x` (device memory, [rows, n_embd]), in place, before ln_f:
  /// linear layers, norms and MLPs on all rows at once, attention and
  /// injections per segment (keys and values into its cache); with a tape
  /// (one segment), what the gradient pass reads.
  Status runBlocks(float *x, std::span<const Segment> segments,
                   Tape *tape) const;
  /// The gradient of the input rows from dh (host, [n_embd]) at row `row`
  /// of the hidden states, through ln_f and the recorded blocks.
  Status backwardBlocks(const Tape &tape, const KvCache &cache, int64_t rows,
                        int64_t row, std::span<const float> dh,
                        float *grad) const;
  /// Device memory holding `n` host floats: the host memory itself when
  /// the device shares it, else `scratch`, uploaded.
  StatusOr<const float *> stageIn(const float *host, int64_t n,
                                  hal::Buffer &scratch) const;
  /// Device memory to write `n` floats destined for `host`.
  StatusOr<float *> stageOut(float *host, int64_t n,
                             hal::Buffer &scratch) const;
  Status finishOut(const float *device, float *host, int64_t n) const;

  ModelConfig config_;
  std::unique_ptr<hal::Device> device_;
  hal::Weight tokEmb_, lnF_;
  std::vector<Layer> layers_;
  hal::KnownHeadSpec known_;
  hal::UnknownHeadSpec unknown_;
  hal::Buffer invFreq_;
};

} // namespace steer
