//===- generate.cpp - Block-diffusion generation with steering ------------===//
#include "steer/exec/generate.h"
#include "steer/exec/kernels.h"

#include <limits>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <set>

namespace steer {
namespace {

constexpr int64_t kEotId = 100283; // <|eot_id|> of the instruct layout


/// Softmax of logits / temperature (temperature 1 when <= 0), -inf -> 0.
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

/// Nucleus sampling as the reference: keep sorted entries whose preceding
/// cumulative mass is <= top_p (always the first), renormalise, draw.
int64_t sampleTopP(const std::vector<double> &probs, double topP,
                   std::mt19937_64 &rng) {
  std::vector<int64_t> order(probs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return probs[a] > probs[b]; });
  double cum = 0, kept = 0;
  size_t n = 0;
  for (; n < order.size(); ++n) {
    double p = probs[order[n]];
    if (n > 0 && cum > topP)
      break;
    cum += p;
    kept += p;
  }
  double u = std::uniform_real_distribution<double>(0.0, kept)(rng);
  for (size_t i = 0; i < n; ++i) {
    u -= probs[order[i]];
    if (u <= 0)
      return order[i];
  }
  return order[n - 1];
}

int64_t sampleToken(const float *logits, int64_t n, const SamplingOptions &o,
                    std::mt19937_64 &rng) {
  if (o.entropySampling) {
    std::vector<double> raw = softmax(logits, n, 1.0);
    std::vector<double> sorted = raw;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    double cum = 0;
    int64_t within = 0;
    for (double p : sorted) {
      cum += p;
      if (cum <= o.topP)
        ++within;
    }
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

StatusOr<GenerationResult> generate(const Engine &engine,
                                    std::span<const int64_t> prompt,
                                    const GenerateRequest &request) {
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
  const int64_t stepsPerBlock = steps / blocks;
  const int64_t mask = c.maskTokenId, eos = c.eosTokenId, pad = c.padTokenId;
  const bool instruct = c.instruct && V > kEotId;

  std::mt19937_64 rng(o.seed ? *o.seed : std::random_device{}());
  std::vector<Stream> streams(o.cfgScale > 0 ? 2 : 1);
  for (Stream &s : streams) {
    s.tokens.assign(T, mask);
    STEER_ASSIGN_OR_RETURN(s.cache, engine.makeCache(T));
  }
  std::copy(prompt.begin(), prompt.end(), streams[0].tokens.begin());
  std::vector<uint8_t> isPrompt(T, 0);
  for (int64_t i = 0; i < P; ++i)
    isPrompt[i] = prompt[i] != mask;

  GenerationResult result;
  const bool cache = o.useCache && !o.referenceCompute;
  if (request.decideSteering) {
    if (steer)
      return makeError(StatusCode::kInternal, "generate: both a steering "
                       "and a hook that decides it on the prompt");
    // The prompt alone, as a forward of it would compute it: injections
    // act at masked positions only, so none applies here.
    Stream &st = streams[0];
    std::vector<float> hidden(P * c.nEmbd);
    STEER_RETURN_IF_ERROR(
        engine.backbone(prompt, 0, P, st.cache, {}, hidden.data()),
        "in the prompt's prefill");
    result.rowsComputed += P;
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
    if (cache)
      st.cache.validRows = P / B * B;
  }

  WeightIntervention weights;
  const bool intervene = steer && steer->intervenes();
  if (intervene) {
    weights = steer->weights;
    if (weights.positions.empty())
      for (int64_t p = P; p < T; ++p)
        weights.positions.push_back(p);
  }

  result.promptTokens = P;
  const int64_t D = c.nEmbd;
  bool done = false;
  int64_t globalStep = 0;
  std::vector<int64_t> &x = streams[0].tokens;
  // The masked rows' logits, reused by every step: a fresh vector of a
  // block's rows x the vocabulary per step was zeroed and page-faulted in
  // each time (tens of ms per step on a mid-size model).
  std::vector<float> logits;
  for (int64_t b = 0; b < blocks && !done; ++b) {
    const int64_t bs = P + b * B, be = bs + B;
    int64_t maskedInBlock = 0;
    for (int64_t p = bs; p < be; ++p)
      maskedInBlock += x[p] == mask;
    std::vector<int64_t> schedule =
        transferSchedule(maskedInBlock, stepsPerBlock);
    for (int64_t s = 0; s < stepsPerBlock && !done; ++s) {
      auto t0 = std::chrono::steady_clock::now();
      // Each injection's alpha for this step (its schedule).
      std::vector<float> alphas;
      if (steer && !steer->injections.empty()) {
        int64_t remaining = std::count(x.begin(), x.end(), mask);
        int64_t committed = std::max<int64_t>(gen, 1) - remaining;
        for (const ResolvedInjection &in : steer->injections)
          alphas.push_back(in.alphaAfter(committed));
      }
      // Rows to compute: from the first attention block that may change to
      // the end of the attention block holding the generation block.
      const int64_t fixedRows = bs / B * B;
      const int64_t end = cache ? std::min(T, (be + B - 1) / B * B) : T;
      std::vector<int64_t> maskedPos;
      for (int64_t p = bs; p < be; ++p)
        if (x[p] == mask)
          maskedPos.push_back(p);
      if (maskedPos.empty())
        continue;
      const int64_t nm = static_cast<int64_t>(maskedPos.size());

      logits.resize(nm * V);
      ForwardOutputs outs;
      ForwardRequest req;
      req.logits = false;
      req.concepts = request.wantConcepts;
      req.intervention = intervene ? &weights : nullptr;
      for (size_t si = 0; si < streams.size(); ++si) {
        Stream &st = streams[si];
        if (si == 1)
          for (int64_t p = 0; p < T; ++p)
            st.tokens[p] = isPrompt[p] ? mask : x[p];
        std::vector<uint8_t> masked(T);
        for (int64_t p = 0; p < T; ++p)
          masked[p] = st.tokens[p] == mask;
        // Cached rows holding masks saw the injections: reuse them only if
        // no alpha has changed.
        bool maskedCached = false;
        for (int64_t p = 0; p < st.cache.validRows && !maskedCached; ++p)
          maskedCached = masked[p];
        if (!cache || (maskedCached && st.cacheAlphas != alphas))
          st.cache.validRows = 0;
        const int64_t r0 = st.cache.validRows;
        std::vector<Injection> injections;
        for (size_t i = 0; i < alphas.size(); ++i)
          if (alphas[i] != 0)
            injections.push_back({steer->injections[i].direction, alphas[i],
                                  steer->injections[i].injectLayer, masked});
        std::vector<float> hidden((end - r0) * D);
        STEER_RETURN_IF_ERROR(engine.backbone(st.tokens, r0, end, st.cache,
                                              injections, hidden.data()));
        result.rowsComputed += end - r0;
        if (o.referenceCompute && engine.interpretable()) {
          // The reference's per-step work on rows it then discards.
          ForwardRequest all;
          all.concepts = true;
          ForwardOutputs full;
          STEER_RETURN_IF_ERROR(engine.heads(hidden.data(), end, 0, all, full));
          std::vector<float> allLogits(end * V);
          STEER_RETURN_IF_ERROR(
              engine.lmHead(full.composed.data(), end, allLogits.data()));
        }
        if (cache) {
          st.cache.validRows = std::max(st.cache.validRows, fixedRows);
          st.cacheAlphas = alphas;
        }
        // Heads and lm_head for the masked rows of the block only.
        std::vector<float> rows(nm * D);
        for (int64_t i = 0; i < nm; ++i)
          std::copy_n(&hidden[(maskedPos[i] - r0) * D], D, &rows[i * D]);
        ForwardOutputs o2;
        ForwardOutputs &target = si == 0 ? outs : o2;
        // Positions are not contiguous: run heads row by row so each row
        // gets its own absolute position for the intervention.
        std::vector<ForwardOutputs> perRow(nm);
        for (int64_t i = 0; i < nm; ++i)
          STEER_RETURN_IF_ERROR(
              engine.heads(&rows[i * D], 1, maskedPos[i], req, perRow[i]));
        target = mergeRows(perRow);
        target.rows = nm;
        if (si == 0) {
          STEER_RETURN_IF_ERROR(
              engine.lmHead(target.composed.data(), nm, logits.data()));
        } else {
          std::vector<float> un(nm * V);
          STEER_RETURN_IF_ERROR(
              engine.lmHead(target.composed.data(), nm, un.data()));
          const float g = static_cast<float>(o.cfgScale + 1);
          for (int64_t i = 0; i < nm * V; ++i)
            logits[i] = un[i] + g * (logits[i] - un[i]);
        }
      }

      // Logit processing, as the reference orders it. The penalty's token
      // set is built only when there is a penalty.
      std::set<int64_t> seen;
      if (o.repetitionPenalty != 1.0)
        seen.insert(x.begin(), x.end());
      std::vector<float> confidence(nm);
      const std::vector<int64_t> penalized(seen.begin(), seen.end());
      const int64_t banned[] = {eos, mask, pad};
      STEER_RETURN_IF_ERROR(engine.logitEpilogue(
          logits.data(), nm,
          steer ? std::span<const float>(steer->vocabBias)
                : std::span<const float>(),
          penalized, static_cast<float>(o.repetitionPenalty), banned,
          confidence.data()));
      // A NaN or Inf logit (finite weights whose products overflow float32,
      // or steering that does) makes every confidence NaN; committing by a
      // NaN order would produce text that means nothing. Fail fast instead.
      for (int64_t i = 0; i < nm; ++i)
        if (!(confidence[i] > 0 && confidence[i] <= 1))
          return makeError(StatusCode::kDataLoss, "step ", globalStep,
                           ": the forward produced non-finite logits at "
                           "position ",
                           maskedPos[i],
                           " (the weights or the steering overflow float32)");
      const int64_t k = std::min<int64_t>(schedule[s], nm);
      std::vector<int64_t> order(nm);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b2) {
        return confidence[a] > confidence[b2];
      });
      StepInfo info;
      info.step = globalStep;
      for (int64_t j = 0; j < k; ++j) {
        int64_t i = order[j];
        int64_t token = 0;
        if (isGreedy(o)) {
          STEER_RETURN_IF_ERROR(engine.argmax(&logits[i * V], 1, &token));
        } else {
          token = sampleToken(&logits[i * V], V, o, rng);
        }
        int64_t pos = maskedPos[i];
        x[pos] = token;
        info.positions.push_back(pos);
        info.tokens.push_back(token);
        if (instruct && token == kEotId) {
          std::fill(x.begin() + pos + 1, x.end(), eos);
          done = true;
          break;
        }
      }
      double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count();
      result.stepSeconds.push_back(secs);
      ++globalStep;
      if (request.callback) {
        info.seconds = secs;
        info.outputs = &outs;
        info.outputPositions = maskedPos;
        if (!request.callback(info))
          done = true;
      }
      // A text stop in the committed prefix (every position before it
      // final: commits never change) ends generation now; the rest of the
      // block cannot change the text before it.
      if (!done && !request.stopText.empty() && request.decode) {
        std::vector<int64_t> prefix;
        for (int64_t p = P; p < T && x[p] != mask; ++p)
          if (x[p] != eos)
            prefix.push_back(x[p]);
        if (!prefix.empty()) {
          const std::string decoded = request.decode(prefix);
          if (stopIndex(decoded, request.stopText) < decoded.size())
            done = true;
        }
      }
    }
    if (!done && !o.stopTokens.empty()) {
      bool stop = false;
      for (int64_t p = P; p < be && !stop; ++p)
        stop = std::find(o.stopTokens.begin(), o.stopTokens.end(), x[p]) !=
               o.stopTokens.end();
      if (stop)
        break;
    }
    if (!done && !request.stopText.empty() && request.decode) {
      std::vector<int64_t> text;
      for (int64_t p = P; p < be; ++p)
        if (x[p] != mask && x[p] != eos)
          text.push_back(x[p]);
      const std::string decoded = request.decode(text);
      if (stopIndex(decoded, request.stopText) < decoded.size())
        break;
    }
  }

  result.sequence = x;
  result.steps = globalStep;
  std::set<int64_t> terminal(o.stopTokens.begin(), o.stopTokens.end());
  if (instruct)
    terminal.insert(kEotId);
  for (int64_t p = P; p < T; ++p) {
    int64_t t = x[p];
    if (t == mask || t == eos)
      continue;
    if (terminal.count(t))
      break;
    result.generated.push_back(t);
  }
  return result;
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
