//===- generate.cpp - Block-diffusion generation with steering ------------===//
#include "steer/exec/generate.h"
#include "steer/exec/kernels.h"
#include "steer/exec/sampling.h"

#include <limits>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <set>

namespace steer {
namespace {

constexpr int64_t kEotId = 100283; // <|eot_id|> of the instruct layout


/// Greedy decoding: no sampler draws (the device takes the argmax).
bool isGreedy(const SamplingOptions &o) {
  return !o.entropySampling && !(o.topP > 0 && o.temperature > 0);
}

/// How many tokens each step of a block commits (linear schedule).
std::vector<int64_t> transferSchedule(int64_t masked, int64_t steps) {
  std::vector<int64_t> out(steps, masked / steps);
  for (int64_t i = 0; i < masked % steps; ++i)
    ++out[i];
  return out;
}

/// One sequence being generated and its cache (two with classifier-free
/// guidance: the second has its prompt masked).
struct Stream {
  std::vector<int64_t> tokens;
  KvCache cache;
  std::vector<float> cacheAlphas; // alphas the cached masked rows saw
};

/// Concatenates single-row outputs; top-k lists of different widths (an
/// intervention lists every non-zero weight) are padded with id -1.
ForwardOutputs mergeRows(std::vector<ForwardOutputs> &rows) {
  ForwardOutputs out;
  out.rows = static_cast<int64_t>(rows.size());
  for (const ForwardOutputs &r : rows) {
    out.knownTopk = std::max(out.knownTopk, r.knownTopk);
    out.unknownTopk = std::max(out.unknownTopk, r.unknownTopk);
  }
  auto append = [](auto &dst, const auto &src) {
    dst.insert(dst.end(), src.begin(), src.end());
  };
  for (const ForwardOutputs &r : rows) {
    append(out.composed, r.composed);
    append(out.knownFeatures, r.knownFeatures);
    append(out.unknownFeatures, r.unknownFeatures);
    append(out.epsilon, r.epsilon);
    if (!r.knownTopkIds.empty()) {
      for (int64_t t = 0; t < out.knownTopk; ++t) {
        bool in = t < r.knownTopk;
        out.knownTopkIds.push_back(in ? r.knownTopkIds[t] : -1);
        out.knownTopkLogits.push_back(in ? r.knownTopkLogits[t] : 0.0f);
        out.knownTopkWeights.push_back(in ? r.knownTopkWeights[t] : 0.0f);
      }
    }
    append(out.unknownTopkIds, r.unknownTopkIds);
    append(out.unknownTopkLogits, r.unknownTopkLogits);
  }
  return out;
}

} // namespace

Status checkSampling(const SamplingOptions &o) {
  // Written so that NaN fails every check: !(lo <= x && x <= hi).
  auto range = [](const char *what, double v, double lo, double hi) -> Status {
    if (!(lo <= v && v <= hi))
      return makeError(StatusCode::kInvalidArgument, what, " is ", v,
                       "; it must be in [", lo, ", ", hi, "]");
    return okStatus();
  };
  STEER_RETURN_IF_ERROR(range("temperature", o.temperature, 0, 100));
  STEER_RETURN_IF_ERROR(range("top-p", o.topP, 0, 1));
  STEER_RETURN_IF_ERROR(
      range("repetition penalty", o.repetitionPenalty, 1, 1000));
  STEER_RETURN_IF_ERROR(range("cfg scale", o.cfgScale, 0, 1000));
  return okStatus();
}

Status checkSteering(const Engine &engine, const ResolvedSteering &s) {
  const ModelConfig &c = engine.config();
  auto bad = [](auto &&...why) {
    return makeError(StatusCode::kInvalidArgument, "steering: ", why...);
  };
  auto finite = [](std::span<const float> v) {
    for (float x : v)
      if (!std::isfinite(x))
        return false;
    return true;
  };
  for (size_t i = 0; i < s.injections.size(); ++i) {
    const ResolvedInjection &in = s.injections[i];
    if (static_cast<int64_t>(in.direction.size()) != c.nEmbd ||
        !finite(in.direction))
      return bad("injection ", i, ": the direction must be ", c.nEmbd,
                 " finite values");
    if (!std::isfinite(in.baseAlpha))
      return bad("injection ", i, ": alpha ", in.baseAlpha, " is not finite");
    if (in.injectLayer < 0 || in.injectLayer > c.nLayers)
      return bad("injection ", i, ": layer ", in.injectLayer,
                 " is outside [0, ", c.nLayers, "]");
    if (in.schedule == InjectSchedule::kHardCutoff && in.cutoffTokens < 1)
      return bad("injection ", i, ": hard_cutoff needs cutoff_tokens >= 1, got ",
                 in.cutoffTokens);
  }
  if (!s.vocabBias.empty() &&
      (static_cast<int64_t>(s.vocabBias.size()) != c.vocabSize ||
       !finite(s.vocabBias)))
    return bad("the vocabulary bias must be ", c.vocabSize, " finite values");
  // The weight overrides are checked where the engine applies them.
  return engine.checkIntervention(s.weights);
}

StatusOr<ResolvedSteering> resolveSteering(const Engine &engine,
                                           const SteeringOptions &o) {
  const ModelConfig &c = engine.config();
  ResolvedSteering r;
  r.weights = o.weights;
  if (o.empty())
    return r;
  if (!engine.interpretable())
    return makeError(StatusCode::kInvalidArgument,
                     "steering needs an interpretable checkpoint (one with "
                     "concept heads)");
  const int64_t C = c.concepts->nConcepts;
  auto checkConcept = [&](int64_t id, const char *what) -> Status {
    if (id < 0 || id >= C)
      return makeError(StatusCode::kOutOfRange, what, " concept id ", id,
                       " is outside the model's known concepts [0, ", C, ")");
    return okStatus();
  };
  if (!o.injectConcepts.empty()) {
    for (int64_t id : o.injectConcepts)
      STEER_RETURN_IF_ERROR(checkConcept(id, "injection"));
    if (o.schedule == InjectSchedule::kHardCutoff && o.cutoffTokens < 1)
      return makeError(StatusCode::kInvalidArgument,
                       "hard_cutoff needs cutoff_tokens >= 1");
    const int64_t D = c.nEmbd;
    STEER_ASSIGN_OR_RETURN(std::vector<float> emb,
                           engine.knownEmbeddings(o.injectConcepts));
    std::vector<float> v(D, 0.0f);
    for (size_t i = 0; i < o.injectConcepts.size(); ++i)
      for (int64_t d = 0; d < D; ++d)
        v[d] += emb[i * D + d];
    float norm = std::sqrt(kernels::dot(v.data(), v.data(), D));
    for (float &x : v)
      x /= norm + 1e-12f;
    ResolvedInjection in;
    in.direction = v;
    in.schedule = o.schedule;
    in.cutoffTokens = o.cutoffTokens;
    if (o.normalizeTarget) {
      STEER_ASSIGN_OR_RETURN(std::vector<float> align,
                             engine.vocabAlignment(v));
      float peak =
          std::max(*std::max_element(align.begin(), align.end()), 1e-6f);
      in.baseAlpha = static_cast<float>(o.target / peak);
    } else {
      in.baseAlpha = static_cast<float>(o.target);
    }
    in.injectLayer = o.injectLayer ? *o.injectLayer : c.nLayers / 2;
    if (in.injectLayer < 0 || in.injectLayer > c.nLayers)
      return makeError(StatusCode::kOutOfRange, "inject layer ",
                       in.injectLayer, " is outside [0, ", c.nLayers, "]");
    r.injections.push_back(std::move(in));
  }
  if (!o.reluMask.empty()) {
    std::vector<float> &bias = r.vocabBias;
    bias.assign(c.vocabSize, 0.0f);
    for (auto [id, strength] : o.reluMask) {
      STEER_RETURN_IF_ERROR(checkConcept(id, "logit-mask"));
      if (!(strength >= 0) || !std::isfinite(strength))
        return makeError(StatusCode::kInvalidArgument, "logit-mask strength ",
                         strength, " for concept ", id,
                         " must be finite and >= 0");
      STEER_ASSIGN_OR_RETURN(std::vector<float> e,
                             engine.knownEmbeddings(std::span(&id, 1)));
      STEER_ASSIGN_OR_RETURN(std::vector<float> align,
                             engine.vocabAlignment(e));
      for (int64_t t = 0; t < c.vocabSize; ++t)
        bias[t] += strength * std::max(0.0f, align[t]);
    }
  }
  for (int64_t id : o.weights.concepts)
    STEER_RETURN_IF_ERROR(checkConcept(id, "weight-override"));
  if (!o.weights.profile.empty() &&
      static_cast<int64_t>(o.weights.profile.size()) != C)
    return makeError(StatusCode::kInvalidArgument, "a target profile has ",
                     o.weights.profile.size(), " values; the model has ", C,
                     " known concepts");
  return r;
}

/// One generation as a resumable state machine: start() validates and sets
/// up (the prefill included), plan() advances to the next step that has
/// masked positions and says which backbone rows it needs, finish() runs
/// the rest of that step once they are computed. generate() drives one;
/// generateBatch() drives several through one batched backbone per step.
class GenerationRun {
public:
  static StatusOr<std::unique_ptr<GenerationRun>>
  start(const Engine &engine, std::span<const int64_t> prompt,
        const GenerateRequest &request);
  bool finished() const { return finished_; }
  /// Appends the backbone rows of the next step (one per stream) to
  /// `rows`; appends nothing when generation has ended.
  Status plan(std::vector<BackboneRows> &rows);
  /// The rest of the planned step, its backbone rows computed.
  Status finish();
  GenerationResult take();

private:
  GenerationRun(const Engine &engine, const GenerateRequest &request)
      : engine_(engine), request_(request), o_(request.sampling) {}

  const Engine &engine_;
  const GenerateRequest &request_;
  const SamplingOptions &o_;
  const ResolvedSteering *steer_ = nullptr;
  int64_t B_ = 0, V_ = 0, P_ = 0, gen_ = 0, T_ = 0, D_ = 0;
  int64_t blocks_ = 0, stepsPerBlock_ = 0;
  int64_t mask_ = 0, eos_ = 0, pad_ = 0;
  bool instruct_ = false, cache_ = false;
  std::mt19937_64 rng_;
  std::vector<Stream> streams_;
  std::vector<uint8_t> isPrompt_;
  WeightIntervention weights_;
  bool intervene_ = false;
  GenerationResult result_;
  // Where the loop stands.
  int64_t b_ = 0, s_ = 0, globalStep_ = 0;
  bool blockOpen_ = false, done_ = false, finished_ = false;
  int64_t bs_ = 0, be_ = 0;
  std::vector<int64_t> schedule_;
  // The planned step.
  std::chrono::steady_clock::time_point t0_;
  std::vector<float> alphas_;
  std::vector<int64_t> maskedPos_;
  int64_t end_ = 0, fixedRows_ = 0;
  struct StreamStep {
    int64_t r0 = 0;
    std::vector<uint8_t> masked;
    std::vector<Injection> injections;
    std::vector<float> hidden;
  };
  std::vector<StreamStep> stepStreams_;
  std::vector<float> logits_; // reused by every step (see finish)

  void finalize();
};

StatusOr<std::unique_ptr<GenerationRun>>
GenerationRun::start(const Engine &engine, std::span<const int64_t> prompt,
                     const GenerateRequest &request) {
  std::unique_ptr<GenerationRun> run(new GenerationRun(engine, request));
  GenerationRun &g = *run;
  const ModelConfig &c = engine.config();
  const SamplingOptions &o = request.sampling;
  const ResolvedSteering *steer = request.steering;
  const int64_t B = c.diffBlockSize, V = c.vocabSize;
  const int64_t P = static_cast<int64_t>(prompt.size());
  const int64_t gen = o.maxNewTokens, T = P + gen;
  if (P == 0)
    return makeError(StatusCode::kInvalidArgument, "the prompt is empty");
  STEER_RETURN_IF_ERROR(checkSampling(o));
  if (steer)
    STEER_RETURN_IF_ERROR(checkSteering(engine, *steer));
  if (gen <= 0 || gen % B != 0)
    return makeError(StatusCode::kInvalidArgument, "max new tokens (", gen,
                     ") must be a positive multiple of the model's "
                     "diff_block_size (",
                     B, ")");
  const int64_t blocks = gen / B, steps = o.steps.value_or(gen);
  if (steps <= 0 || steps % blocks != 0 || steps > gen)
    return makeError(StatusCode::kInvalidArgument, "steps (", steps,
                     ") must be a multiple of the number of blocks (", blocks,
                     " = max new tokens / ", B,
                     ") and at most max new tokens (", gen,
                     "): a step commits at least one token");
  if (T > c.blockSize)
    return makeError(StatusCode::kOutOfRange, "prompt (", P, ") + new tokens (",
                     gen, ") exceed the model's context of ", c.blockSize);
  STEER_RETURN_IF_ERROR(engine.checkIds(prompt), "in the prompt");
  // A mask token in the prompt would be a hole the reference fills and this
  // loop does not: refuse it rather than differ.
  for (size_t i = 0; i < prompt.size(); ++i)
    if (prompt[i] == c.maskTokenId)
      return makeError(StatusCode::kInvalidArgument, "the prompt holds the "
                       "mask token (id ", c.maskTokenId, ") at position ", i,
                       "; generation fills only the new positions");
  STEER_RETURN_IF_ERROR(engine.checkIds(o.stopTokens), "in the stop tokens");
  g.B_ = B, g.V_ = V, g.P_ = P, g.gen_ = gen, g.T_ = T, g.D_ = c.nEmbd;
  g.blocks_ = blocks;
  g.stepsPerBlock_ = steps / blocks;
  g.mask_ = c.maskTokenId, g.eos_ = c.eosTokenId, g.pad_ = c.padTokenId;
  g.instruct_ = c.instruct && V > kEotId;

  g.rng_.seed(o.seed ? *o.seed : std::random_device{}());
  g.streams_.resize(o.cfgScale > 0 ? 2 : 1);
  for (Stream &s : g.streams_) {
    s.tokens.assign(T, g.mask_);
    STEER_ASSIGN_OR_RETURN(s.cache, engine.makeCache(T));
  }
  std::copy(prompt.begin(), prompt.end(), g.streams_[0].tokens.begin());
  g.isPrompt_.assign(T, 0);
  for (int64_t i = 0; i < P; ++i)
    g.isPrompt_[i] = prompt[i] != g.mask_;

  g.cache_ = o.useCache && !o.referenceCompute;
  if (request.decideSteering) {
    if (steer)
      return makeError(StatusCode::kInternal, "generate: both a steering "
                       "and a hook that decides it on the prompt");
    // The prompt alone, as a forward of it would compute it: injections
    // act at masked positions only, so none applies here.
    Stream &st = g.streams_[0];
    std::vector<float> hidden(P * c.nEmbd);
    STEER_RETURN_IF_ERROR(
        engine.backbone(prompt, 0, P, st.cache, {}, hidden.data()),
        "in the prompt's prefill");
    g.result_.rowsComputed += P;
    ForwardRequest heads;
    heads.logits = false;
    heads.knownWeights = true;
    ForwardOutputs known;
    STEER_RETURN_IF_ERROR(engine.heads(hidden.data(), P, 0, heads, known),
                          "in the prompt's prefill");
    STEER_ASSIGN_OR_RETURN(steer, request.decideSteering(known.knownWeights, P));
    if (steer)
      STEER_RETURN_IF_ERROR(checkSteering(engine, *steer));
    // Keys and values of attention blocks holding only prompt tokens are
    // final; the last, partial block sees the first masks, so it is
    // computed again with them.
    if (g.cache_)
      st.cache.validRows = P / B * B;
  }
  g.steer_ = steer;

  g.intervene_ = steer && steer->intervenes();
  if (g.intervene_) {
    g.weights_ = steer->weights;
    if (g.weights_.positions.empty())
      for (int64_t p = P; p < T; ++p)
        g.weights_.positions.push_back(p);
  }
  g.result_.promptTokens = P;
  return run;
}

Status GenerationRun::plan(std::vector<BackboneRows> &rows) {
  std::vector<int64_t> &x = streams_[0].tokens;
  while (true) {
    if (finished_)
      return okStatus();
    if (done_ || b_ >= blocks_) {
      finalize();
      return okStatus();
    }
    if (!blockOpen_) {
      bs_ = P_ + b_ * B_;
      be_ = bs_ + B_;
      int64_t maskedInBlock = 0;
      for (int64_t p = bs_; p < be_; ++p)
        maskedInBlock += x[p] == mask_;
      schedule_ = transferSchedule(maskedInBlock, stepsPerBlock_);
      s_ = 0;
      blockOpen_ = true;
    }
    if (s_ >= stepsPerBlock_) {
      // The block is over: stop tokens and stop text end generation here.
      blockOpen_ = false;
      if (!done_ && !o_.stopTokens.empty()) {
        bool stop = false;
        for (int64_t p = P_; p < be_ && !stop; ++p)
          stop = std::find(o_.stopTokens.begin(), o_.stopTokens.end(),
                           x[p]) != o_.stopTokens.end();
        if (stop) {
          finalize();
          return okStatus();
        }
      }
      if (!done_ && !request_.stopText.empty() && request_.decode) {
        std::vector<int64_t> text;
        for (int64_t p = P_; p < be_; ++p)
          if (x[p] != mask_ && x[p] != eos_)
            text.push_back(x[p]);
        const std::string decoded = request_.decode(text);
        if (stopIndex(decoded, request_.stopText) < decoded.size()) {
          finalize();
          return okStatus();
        }
      }
      ++b_;
      continue;
    }

    t0_ = std::chrono::steady_clock::now();
    // Each injection's alpha for this step (its schedule).
    alphas_.clear();
    if (steer_ && !steer_->injections.empty()) {
      int64_t remaining = std::count(x.begin(), x.end(), mask_);
      int64_t committed = std::max<int64_t>(gen_, 1) - remaining;
      for (const ResolvedInjection &in : steer_->injections)
        alphas_.push_back(in.alphaAfter(committed));
    }
    // Rows to compute: from the first attention block that may change to
    // the end of the attention block holding the generation block.
    fixedRows_ = bs_ / B_ * B_;
    end_ = cache_ ? std::min(T_, (be_ + B_ - 1) / B_ * B_) : T_;
    maskedPos_.clear();
    for (int64_t p = bs_; p < be_; ++p)
      if (x[p] == mask_)
        maskedPos_.push_back(p);
    if (maskedPos_.empty()) {
      ++s_;
      continue;
    }
    stepStreams_.resize(streams_.size());
    for (size_t si = 0; si < streams_.size(); ++si) {
      Stream &st = streams_[si];
      StreamStep &ss = stepStreams_[si];
      if (si == 1)
        for (int64_t p = 0; p < T_; ++p)
          st.tokens[p] = isPrompt_[p] ? mask_ : x[p];
      ss.masked.assign(T_, 0);
      for (int64_t p = 0; p < T_; ++p)
        ss.masked[p] = st.tokens[p] == mask_;
      // Cached rows holding masks saw the injections: reuse them only if
      // no alpha has changed.
      bool maskedCached = false;
      for (int64_t p = 0; p < st.cache.validRows && !maskedCached; ++p)
        maskedCached = ss.masked[p];
      if (!cache_ || (maskedCached && st.cacheAlphas != alphas_))
        st.cache.validRows = 0;
      ss.r0 = st.cache.validRows;
      ss.injections.clear();
      for (size_t i = 0; i < alphas_.size(); ++i)
        if (alphas_[i] != 0)
          ss.injections.push_back({steer_->injections[i].direction, alphas_[i],
                                   steer_->injections[i].injectLayer,
                                   ss.masked});
      ss.hidden.resize((end_ - ss.r0) * D_);
      rows.push_back({st.tokens, ss.r0, end_, &st.cache, ss.injections,
                      ss.hidden.data()});
    }
    return okStatus();
  }
}

Status GenerationRun::finish() {
  const SamplingOptions &o = o_;
  std::vector<int64_t> &x = streams_[0].tokens;
  const int64_t nm = static_cast<int64_t>(maskedPos_.size());
  const int64_t D = D_, V = V_;
  logits_.resize(nm * V);
  ForwardOutputs outs;
  ForwardRequest req;
  req.logits = false;
  req.concepts = request_.wantConcepts;
  req.intervention = intervene_ ? &weights_ : nullptr;
  for (size_t si = 0; si < streams_.size(); ++si) {
    Stream &st = streams_[si];
    StreamStep &ss = stepStreams_[si];
    const int64_t r0 = ss.r0;
    const std::vector<float> &hidden = ss.hidden;
    result_.rowsComputed += end_ - r0;
    if (o.referenceCompute && engine_.interpretable()) {
      // The reference's per-step work on rows it then discards.
      ForwardRequest all;
      all.concepts = true;
      ForwardOutputs full;
      STEER_RETURN_IF_ERROR(engine_.heads(hidden.data(), end_, 0, all, full));
      std::vector<float> allLogits(end_ * V);
      STEER_RETURN_IF_ERROR(
          engine_.lmHead(full.composed.data(), end_, allLogits.data()));
    }
    if (cache_) {
      st.cache.validRows = std::max(st.cache.validRows, fixedRows_);
      st.cacheAlphas = alphas_;
    }
    // Heads and lm_head for the masked rows of the block only.
    std::vector<float> rows(nm * D);
    for (int64_t i = 0; i < nm; ++i)
      std::copy_n(&hidden[(maskedPos_[i] - r0) * D], D, &rows[i * D]);
    ForwardOutputs o2;
    ForwardOutputs &target = si == 0 ? outs : o2;
    // Positions are not contiguous: run heads row by row so each row
    // gets its own absolute position for the intervention.
    std::vector<ForwardOutputs> perRow(nm);
    for (int64_t i = 0; i < nm; ++i)
      STEER_RETURN_IF_ERROR(
          engine_.heads(&rows[i * D], 1, maskedPos_[i], req, perRow[i]));
    target = mergeRows(perRow);
    target.rows = nm;
    if (si == 0) {
      STEER_RETURN_IF_ERROR(
          engine_.lmHead(target.composed.data(), nm, logits_.data()));
    } else {
      std::vector<float> un(nm * V);
      STEER_RETURN_IF_ERROR(
          engine_.lmHead(target.composed.data(), nm, un.data()));
      const float g = static_cast<float>(o.cfgScale + 1);
      for (int64_t i = 0; i < nm * V; ++i)
        logits_[i] = un[i] + g * (logits_[i] - un[i]);
    }
  }

  // Logit processing, as the reference orders it. The penalty's token
  // set is built only when there is a penalty.
  std::set<int64_t> seen;
  if (o.repetitionPenalty != 1.0)
    seen.insert(x.begin(), x.end());
  std::vector<float> confidence(nm);
  const std::vector<int64_t> penalized(seen.begin(), seen.end());
  const int64_t banned[] = {eos_, mask_, pad_};
  STEER_RETURN_IF_ERROR(engine_.logitEpilogue(
      logits_.data(), nm,
      steer_ ? std::span<const float>(steer_->vocabBias)
             : std::span<const float>(),
      penalized, static_cast<float>(o.repetitionPenalty), banned,
      confidence.data()));
  // A NaN or Inf logit (finite weights whose products overflow float32,
  // or steering that does) makes every confidence NaN; committing by a
  // NaN order would produce text that means nothing. Fail fast instead.
  for (int64_t i = 0; i < nm; ++i)
    if (!(confidence[i] > 0 && confidence[i] <= 1))
      return makeError(StatusCode::kDataLoss, "step ", globalStep_,
                       ": the forward produced non-finite logits at "
                       "position ",
                       maskedPos_[i],
                       " (the weights or the steering overflow float32)");
  const int64_t k = std::min<int64_t>(schedule_[s_], nm);
  std::vector<int64_t> order(nm);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b2) {
    return confidence[a] > confidence[b2];
  });
  StepInfo info;
  info.step = globalStep_;
  for (int64_t j = 0; j < k; ++j) {
    int64_t i = order[j];
    int64_t token = 0;
    if (isGreedy(o)) {
      STEER_RETURN_IF_ERROR(engine_.argmax(&logits_[i * V], 1, &token));
    } else {
      token = sampleToken(&logits_[i * V], V, o, rng_);
    }
    int64_t pos = maskedPos_[i];
    x[pos] = token;
    info.positions.push_back(pos);
    info.tokens.push_back(token);
    if (instruct_ && token == kEotId) {
      std::fill(x.begin() + pos + 1, x.end(), eos_);
      done_ = true;
      break;
    }
  }
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_)
          .count();
  result_.stepSeconds.push_back(secs);
  ++globalStep_;
  if (request_.callback) {
    info.seconds = secs;
    info.outputs = &outs;
    info.outputPositions = maskedPos_;
    if (!request_.callback(info))
      done_ = true;
  }
  // A text stop in the committed prefix (every position before it
  // final: commits never change) ends generation now; the rest of the
  // block cannot change the text before it.
  if (!done_ && !request_.stopText.empty() && request_.decode) {
    std::vector<int64_t> prefix;
    for (int64_t p = P_; p < T_ && x[p] != mask_; ++p)
      if (x[p] != eos_)
        prefix.push_back(x[p]);
    if (!prefix.empty()) {
      const std::string decoded = request_.decode(prefix);
      if (stopIndex(decoded, request_.stopText) < decoded.size())
        done_ = true;
    }
  }
  ++s_;
  return okStatus();
}

void GenerationRun::finalize() {
  finished_ = true;
  const std::vector<int64_t> &x = streams_[0].tokens;
  result_.sequence = x;
  result_.steps = globalStep_;
  std::set<int64_t> terminal(o_.stopTokens.begin(), o_.stopTokens.end());
  if (instruct_)
    terminal.insert(kEotId);
  for (int64_t p = P_; p < T_; ++p) {
    int64_t t = x[p];
    if (t == mask_ || t == eos_)
      continue;
    if (terminal.count(t))
      break;
    result_.generated.push_back(t);
  }
}

GenerationResult GenerationRun::take() { return std::move(result_); }

StatusOr<GenerationResult> generate(const Engine &engine,
                                    std::span<const int64_t> prompt,
                                    const GenerateRequest &request) {
  STEER_ASSIGN_OR_RETURN(std::unique_ptr<GenerationRun> run,
                         GenerationRun::start(engine, prompt, request));
  std::vector<BackboneRows> rows;
  while (true) {
    rows.clear();
    STEER_RETURN_IF_ERROR(run->plan(rows));
    if (run->finished())
      break;
    STEER_RETURN_IF_ERROR(engine.backboneBatch(rows));
    STEER_RETURN_IF_ERROR(run->finish());
  }
  return run->take();
}

struct GenerationBatch::Entry {
  uint64_t id = 0;
  std::vector<int64_t> prompt;
  GenerateRequest request; // the run refers to it: an Entry never moves
  std::unique_ptr<GenerationRun> run;
};

GenerationBatch::GenerationBatch(const Engine &engine) : engine_(engine) {}
GenerationBatch::~GenerationBatch() = default;

Status GenerationBatch::add(uint64_t id, std::span<const int64_t> prompt,
                            GenerateRequest request) {
  auto e = std::make_unique<Entry>();
  e->id = id;
  e->prompt.assign(prompt.begin(), prompt.end());
  e->request = std::move(request);
  STEER_ASSIGN_OR_RETURN(e->run,
                         GenerationRun::start(engine_, e->prompt, e->request));
  entries_.push_back(std::move(e));
  return okStatus();
}

void GenerationBatch::cancel(uint64_t id) {
  std::erase_if(entries_, [id](const std::unique_ptr<Entry> &e) {
    return e->id == id;
  });
}

std::vector<GenerationBatch::Finished> GenerationBatch::step() {
  std::vector<Finished> ended;
  std::vector<BackboneRows> rows;
  std::vector<Entry *> stepping;
  std::vector<uint64_t> leaving;
  for (const std::unique_ptr<Entry> &e : entries_) {
    Status st = e->run->plan(rows);
    if (!st.ok()) {
      ended.push_back({e->id, st});
      leaving.push_back(e->id);
    } else if (e->run->finished()) {
      ended.push_back({e->id, e->run->take()});
      leaving.push_back(e->id);
    } else {
      stepping.push_back(e.get());
    }
  }
  stepped_ = stepping.size();
  if (!stepping.empty()) {
    Status st = engine_.backboneBatch(rows);
    // The rest of each request's step (heads, lm_head, its sampler) is its
    // own: requests run side by side, one per thread, each on one core (the
    // device's kernels inside run single-threaded there and compute every
    // row as they do on more threads).
    const int64_t n = static_cast<int64_t>(stepping.size());
    std::vector<Status> fin(n, st);
    if (st.ok()) {
      const int nt = static_cast<int>(
          std::min<int64_t>(kernels::threads(), n));
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
      for (int64_t i = 0; i < n; ++i)
        fin[i] = stepping[i]->run->finish();
    }
    for (int64_t i = 0; i < n; ++i)
      if (!fin[i].ok()) {
        ended.push_back({stepping[i]->id, fin[i]});
        leaving.push_back(stepping[i]->id);
      }
  }
  for (uint64_t id : leaving)
    cancel(id);
  return ended;
}

std::vector<StatusOr<GenerationResult>>
generateBatch(const Engine &engine, std::span<const BatchRequest> batch) {
  std::vector<StatusOr<GenerationResult>> out(batch.size(),
                                              GenerationResult{});
  GenerationBatch b(engine);
  for (size_t i = 0; i < batch.size(); ++i)
    if (Status st = b.add(i, batch[i].prompt, batch[i].request); !st.ok())
      out[i] = st;
  while (b.size() > 0)
    for (GenerationBatch::Finished &f : b.step())
      out[f.id] = std::move(f.result);
  return out;
}

size_t stopIndex(std::string_view text, const std::vector<std::string> &stops) {
  size_t first = text.size();
  for (const std::string &s : stops)
    if (!s.empty())
      first = std::min(first, text.find(s) == std::string_view::npos
                                  ? text.size()
                                  : text.find(s));
  return first;
}

} // namespace steer
