//===- engine.cpp - The Steerling forward pass on the CPU -----------------===//
#include "steer/exec/engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace steer {
namespace {

using kernels::WeightRef;

WeightRef ref(const TensorView *v) {
  return v ? WeightRef{v->data, v->dtype} : WeightRef{};
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

float clamp15(float x) { return std::min(15.0f, std::max(-15.0f, x)); }

/// Indices of the k largest values of v[0, n), largest first; ties keep the
/// lower index first.
void topk(const float *v, int64_t n, int64_t k, int64_t *out) {
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  auto better = [v](int64_t a, int64_t b) {
    return v[a] > v[b] || (v[a] == v[b] && a < b);
  };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), better);
  std::copy(idx.begin(), idx.begin() + k, out);
}

float activate(Activation a, float x) {
  switch (a) {
  case Activation::kRelu:
    return x > 0 ? x : 0;
  case Activation::kSilu:
    return x * sigmoid(x);
  case Activation::kGelu: {
    // The reference uses nn.GELU(approximate="tanh").
    constexpr float c = 0.7978845608028654f; // sqrt(2 / pi)
    return 0.5f * x * (1.0f + std::tanh(c * (x + 0.044715f * x * x * x)));
  }
  }
  return x;
}

/// Index of the first non-finite value of a weight tensor, or -1. Exponent
/// bits all set is Inf or NaN in every float format read here.
int64_t firstNonFinite(const TensorView &v) {
  const int64_t n = static_cast<int64_t>(v.bytes / dtypeSize(v.dtype));
  int64_t first = n;
  // Chunks of 16K elements: a branch-free OR over each (vectorised) says
  // whether to look closer, so the scan runs at memory bandwidth.
  auto scan = [&](auto word, auto expMask) {
    using W = decltype(word);
    const W *p = reinterpret_cast<const W *>(v.data);
    const W mask = static_cast<W>(expMask);
    constexpr int64_t kChunk = 16384;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for reduction(min : first) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t i0 = c * kChunk, i1 = std::min(n, i0 + kChunk);
      W any = 0;
      for (int64_t i = i0; i < i1; ++i) {
        W x;
        std::memcpy(&x, p + i, sizeof(W));
        any |= static_cast<W>((x & mask) == mask);
      }
      if (!any)
        continue;
      for (int64_t i = i0; i < i1; ++i) {
        W x;
        std::memcpy(&x, p + i, sizeof(W));
        if ((x & mask) == mask) {
          first = std::min(first, i);
          break;
        }
      }
    }
  };
  switch (v.dtype) {
  case DType::kF32:
    scan(uint32_t{}, 0x7f800000u);
    break;
  case DType::kBF16:
    scan(uint16_t{}, 0x7f80u);
    break;
  case DType::kF16:
    scan(uint16_t{}, 0x7c00u);
    break;
  default:
    return -1;
  }
  return first < n ? first : -1;
}

} // namespace

Status checkWeightsFinite(const Checkpoint &ckpt) {
  for (const TensorSpec &spec : ckpt.specs()) {
    const TensorView *v = ckpt.tensor(spec.name);
    if (!v)
      continue;
    if (int64_t i = firstNonFinite(*v); i >= 0)
      return makeError(StatusCode::kDataLoss, ckpt.dir(), ": tensor '",
                       spec.name, "' holds a non-finite value (NaN or Inf) at "
                       "flat index ", i,
                       "; the checkpoint is corrupt or was saved from a "
                       "diverged run");
  }
  return okStatus();
}

Status Engine::checkIntervention(const WeightIntervention &iv) const {
  const int64_t C = config_.concepts ? config_.concepts->nConcepts : 0;
  auto bad = [](auto &&...why) {
    return makeError(StatusCode::kInvalidArgument, "weight intervention: ",
                     why...);
  };
  if (iv.concepts.size() != iv.values.size())
    return bad(iv.concepts.size(), " concepts but ", iv.values.size(),
               " values");
  for (size_t i = 0; i < iv.concepts.size(); ++i) {
    if (iv.concepts[i] < 0 || iv.concepts[i] >= C)
      return bad("concept id ", iv.concepts[i],
                 " is outside the model's known concepts [0, ", C, ")");
    if (!(0.0f <= iv.values[i] && iv.values[i] <= 1.0f))
      return bad("value ", iv.values[i], " for concept ", iv.concepts[i],
                 " is not a weight in [0, 1]");
  }
  auto finite = [](const std::vector<float> &v) {
    return std::all_of(v.begin(), v.end(),
                       [](float x) { return std::isfinite(x); });
  };
  if (!iv.profile.empty() &&
      (static_cast<int64_t>(iv.profile.size()) != C || !finite(iv.profile)))
    return bad("a target profile must be ", C, " finite values; it has ",
               iv.profile.size());
  if (!iv.features.empty() &&
      (static_cast<int64_t>(iv.features.size()) != config_.nEmbd ||
       !finite(iv.features)))
    return bad("folded features must be ", config_.nEmbd,
               " finite values; they have ", iv.features.size());
  return okStatus();
}

StatusOr<std::unique_ptr<Engine>> Engine::create(const Checkpoint &ckpt) {
  // Every weight is read by a forward; a NaN or Inf in one would turn the
  // output into NaN (empty text, "+nan" attributions) far from its cause.
  STEER_RETURN_IF_ERROR(checkWeightsFinite(ckpt));
  std::unique_ptr<Engine> e(new Engine());
  e->config_ = ckpt.config();
  const ModelConfig &c = e->config_;
  auto get = [&](const std::string &name) { return ref(ckpt.tensor(name)); };
  e->tokEmb_ = get(tokEmbName(c));
  const std::string pre = c.interpretable ? "transformer." : "";
  e->lnF_ = get(pre + "ln_f.weight");
  for (int64_t i = 0; i < c.nLayers; ++i) {
    std::string p = pre + "blocks." + std::to_string(i) + ".";
    Layer l;
    l.qkv = get(p + "attn.c_attn.weight");
    l.proj = get(p + "attn.c_proj.weight");
    if (c.useQkNorm) {
      l.qNorm = get(p + "attn.q_norm.weight");
      l.kNorm = get(p + "attn.k_norm.weight");
    }
    l.ln1 = get(p + "ln_1.weight");
    l.ln2 = get(p + "ln_2.weight");
    l.fc = get(p + "mlp.c_fc.weight");
    l.fcProj = get(p + "mlp.c_proj.weight");
    e->layers_.push_back(l);
  }
  if (c.concepts) {
    const ConceptConfig &k = *c.concepts;
    if (k.useAttentionKnown || k.useAttentionUnknown)
      return makeError(StatusCode::kUnsupported, ckpt.dir(),
                       ": attention-based concept heads "
                       "(use_attention_known/unknown) are not supported by "
                       "the CPU runtime yet");
    if (k.useUnknown && !k.factorizeUnknown)
      return makeError(StatusCode::kUnsupported, ckpt.dir(),
                       ": a dense (non-factorized) unknown head is not "
                       "supported by the CPU runtime yet");
    e->known_.predictor = get("known_head.concept_predictor.weight");
    e->known_.embedding = get("known_head.concept_embedding.weight");
    if (k.useUnknown) {
      e->unknown_.down = get("unknown_head.predictor_down.weight");
      e->unknown_.up = get("unknown_head.predictor_up.weight");
      e->unknown_.coef = get("unknown_head.embedding_coef.weight");
      e->unknown_.basis = get("unknown_head.embedding_basis.weight");
    }
  }
  // RoPE inverse frequencies in float32, as the reference computes them:
  // 1 / base ** (arange(0, hd, 2) / hd).
  const int64_t hd = c.headDim();
  for (int64_t i = 0; i < hd; i += 2) {
    float expo = static_cast<float>(i) / static_cast<float>(hd);
    e->invFreq_.push_back(1.0f /
                          std::pow(static_cast<float>(c.ropeBase), expo));
  }
  return e;
}

KvCache Engine::makeCache(int64_t capacity) const {
  KvCache cache;
  cache.capacity = capacity;
  const size_t n = static_cast<size_t>(capacity * config_.kvDim());
  cache.k.assign(config_.nLayers, std::vector<float>(n));
  cache.v.assign(config_.nLayers, std::vector<float>(n));
  return cache;
}

Status Engine::checkIds(std::span<const int64_t> ids) const {
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= config_.vocabSize)
      return makeError(StatusCode::kOutOfRange, "token id ", ids[i],
                       " at position ", i, " is outside the vocabulary [0, ",
                       config_.vocabSize, ")");
  return okStatus();
}

Status Engine::backbone(std::span<const int64_t> ids, int64_t r0, int64_t r1,
                        KvCache &cache, std::span<const Injection> injections,
                        float *hidden) const {
  const ModelConfig &c = config_;
  const int64_t D = c.nEmbd, M = r1 - r0, hd = c.headDim();
  const int64_t nh = c.nHead, nkv = c.kvHeads(), kvDim = c.kvDim();
  const int64_t qkvW = D + 2 * kvDim, H = c.mlpHidden();
  const int64_t fcRows = c.mlpType == MlpType::kSwiGLU ? 2 * H : H;
  if (r0 < 0 || r1 > static_cast<int64_t>(ids.size()) || r0 >= r1)
    return makeError(StatusCode::kInvalidArgument, "backbone rows [", r0, ", ",
                     r1, ") are not inside a sequence of ", ids.size());
  if (cache.validRows < r0 || cache.capacity < r1)
    return makeError(StatusCode::kInternal, "kv cache holds ", cache.validRows,
                     " of ", cache.capacity, " rows; rows [", r0, ", ", r1,
                     ") were asked for");
  if (r1 > c.blockSize)
    return makeError(StatusCode::kOutOfRange, "sequence of ", r1,
                     " tokens is longer than the model's context (block_size ",
                     c.blockSize, ")");
  STEER_RETURN_IF_ERROR(checkIds(ids.subspan(r0, M)));

  std::vector<float> x(M * D), tmp(M * D), q(M * D), attn(M * D);
  std::vector<float> qkv(M * qkvW), fc(M * fcRows), act(M * H);
  for (int64_t i = 0; i < M; ++i)
    kernels::loadRow(tokEmb_, D, ids[r0 + i], &x[i * D]);

  const bool preNorm = c.normOrder == NormOrder::kPre;
  for (int64_t l = 0; l < c.nLayers; ++l) {
    const Layer &L = layers_[l];
    // Attention.
    const float *in = x.data();
    if (preNorm) {
      tmp = x;
      kernels::rmsNorm(tmp.data(), M, D, D, L.ln1, c.normEps);
      in = tmp.data();
    }
    kernels::linear(in, M, D, L.qkv, qkvW, qkv.data(), qkvW);
    if (c.clipQkv) {
      const float clip = static_cast<float>(*c.clipQkv);
      for (float &v : qkv)
        v = std::min(clip, std::max(-clip, v));
    }
    float *keys = cache.k[l].data(), *values = cache.v[l].data();
    for (int64_t i = 0; i < M; ++i) {
      float *row = &qkv[i * qkvW];
      float *qi = &q[i * D];
      float *ki = keys + (r0 + i) * kvDim;
      std::memcpy(qi, row, D * sizeof(float));
      std::memcpy(ki, row + D, kvDim * sizeof(float));
      std::memcpy(values + (r0 + i) * kvDim, row + D + kvDim,
                  kvDim * sizeof(float));
      if (c.useQkNorm) {
        kernels::rmsNorm(qi, nh, hd, hd, L.qNorm, c.normEps);
        kernels::rmsNorm(ki, nkv, hd, hd, L.kNorm, c.normEps);
      }
      if (c.useRope) {
        kernels::rope(qi, nh, hd, r0 + i, invFreq_.data());
        kernels::rope(ki, nkv, hd, r0 + i, invFreq_.data());
      }
    }
    kernels::blockCausalAttention(q.data(), keys, values, r0, r1, r1,
                                  c.diffBlockSize, nh, nkv, hd, attn.data());
    kernels::linear(attn.data(), M, D, L.proj, D, tmp.data(), D);
    if (!preNorm)
      kernels::rmsNorm(tmp.data(), M, D, D, L.ln1, c.normEps);
    for (int64_t i = 0; i < M * D; ++i)
      x[i] += tmp[i];

    // MLP.
    in = x.data();
    if (preNorm) {
      tmp = x;
      kernels::rmsNorm(tmp.data(), M, D, D, L.ln2, c.normEps);
      in = tmp.data();
    }
    kernels::linear(in, M, D, L.fc, fcRows, fc.data(), fcRows);
    for (int64_t i = 0; i < M; ++i) {
      const float *f = &fc[i * fcRows];
      float *a = &act[i * H];
      if (c.mlpType == MlpType::kSwiGLU) {
        // c_fc's output splits into (up, gate): silu(gate) * up.
        for (int64_t j = 0; j < H; ++j) {
          float g = f[H + j];
          a[j] = g * sigmoid(g) * f[j];
        }
      } else {
        for (int64_t j = 0; j < H; ++j)
          a[j] = activate(c.activation, f[j]);
      }
    }
    kernels::linear(act.data(), M, H, L.fcProj, D, tmp.data(), D);
    if (!preNorm)
      kernels::rmsNorm(tmp.data(), M, D, D, L.ln2, c.normEps);
    for (int64_t i = 0; i < M * D; ++i)
      x[i] += tmp[i];

    // Injections in order (float addition is not associative: the order
    // is the program's).
    for (const Injection &in : injections)
      if (in.alpha != 0 && l + 1 >= in.firstLayer)
        for (int64_t i = 0; i < M; ++i)
          if (in.masked[r0 + i])
            kernels::axpy(in.alpha, in.direction.data(), &x[i * D], D);
  }
  kernels::rmsNorm(x.data(), M, D, D, lnF_, c.normEps);
  std::memcpy(hidden, x.data(), M * D * sizeof(float));
  return okStatus();
}

void Engine::lmHead(const float *x, int64_t rows, float *logits) const {
  kernels::linear(x, rows, config_.nEmbd, tokEmb_, config_.vocabSize, logits,
                  config_.vocabSize);
}

std::vector<float> Engine::knownEmbeddings(std::span<const int64_t> ids) const {
  const int64_t D = config_.nEmbd;
  std::vector<float> out(ids.size() * D);
  for (size_t i = 0; i < ids.size(); ++i)
    kernels::loadRow(known_.embedding, D, ids[i], &out[i * D]);
  return out;
}

void Engine::lmHeadRow(int64_t token, float *out) const {
  kernels::loadRow(tokEmb_, config_.nEmbd, token, out);
}

void Engine::knownEmbeddingRow(int64_t id, float *out) const {
  kernels::loadRow(known_.embedding, config_.nEmbd, id, out);
}

void Engine::unknownEmbeddingRow(int64_t id, float *out) const {
  // Factorized: u_j = basis . coef_j.
  const ConceptConfig &k = *config_.concepts;
  std::vector<float> coef(k.factorizeRank);
  kernels::loadRow(unknown_.coef, k.factorizeRank, id, coef.data());
  kernels::linear(coef.data(), 1, k.factorizeRank, unknown_.basis,
                  config_.nEmbd, out, config_.nEmbd);
}

std::vector<float>
Engine::denseKnownFeatures(std::span<const float> weights) const {
  const int64_t D = config_.nEmbd;
  std::vector<float> out(D, 0.0f), e(D);
  for (size_t j = 0; j < weights.size(); ++j)
    if (float w = weights[j]; w != 0.0f) {
      kernels::loadRow(known_.embedding, D, static_cast<int64_t>(j), e.data());
      kernels::axpy(w, e.data(), out.data(), D);
    }
  return out;
}

std::vector<float> Engine::vocabAlignment(std::span<const float> v) const {
  std::vector<float> out(config_.vocabSize);
  lmHead(v.data(), 1, out.data());
  return out;
}

void Engine::knownHead(const float *hidden, int64_t M, int64_t pos0,
                       const ForwardRequest &request, float *features,
                       ForwardOutputs &out) const {
  const ConceptConfig &k = *config_.concepts;
  const int64_t D = config_.nEmbd, C = k.nConcepts;
  std::vector<float> logits(M * C);
  kernels::linear(hidden, M, D, known_.predictor, C, logits.data(), C);
  for (float &v : logits)
    v = clamp15(v);

  const WeightIntervention *iv = request.intervention;
  const bool intervene = iv && iv->active();
  const bool dense = intervene || request.knownWeights;
  const std::optional<int64_t> topkW = k.topkKnown;

  // Dense weights as the reference's _compute_weights: top-k over the
  // weights (or over the logits, then sigmoid of the sparse logits), then
  // the overrides.
  std::vector<float> weights;
  if (dense) {
    weights.assign(M * C, 0.0f);
    std::vector<int64_t> sel;
    for (int64_t i = 0; i < M; ++i) {
      const float *lg = &logits[i * C];
      float *w = &weights[i * C];
      if (!topkW) {
        for (int64_t j = 0; j < C; ++j)
          w[j] = sigmoid(lg[j]);
      } else {
        const int64_t kk = std::min(*topkW, C);
        sel.resize(kk);
        std::vector<float> rank(C);
        for (int64_t j = 0; j < C; ++j)
          rank[j] = k.topkOnLogits ? lg[j] : sigmoid(lg[j]);
        topk(rank.data(), C, kk, sel.data());
        if (k.topkOnLogits) {
          // Entries outside the top-k become logit 0, i.e. weight 0.5.
          for (int64_t j = 0; j < C; ++j)
            w[j] = 0.5f;
          for (int64_t s : sel)
            w[s] = sigmoid(lg[s]);
        } else {
          for (int64_t s : sel)
            w[s] = rank[s];
        }
      }
    }
    if (intervene) {
      for (int64_t i = 0; i < M; ++i) {
        bool here = iv->positions.empty() ||
                    std::find(iv->positions.begin(), iv->positions.end(),
                              pos0 + i) != iv->positions.end();
        if (!here)
          continue;
        if (static_cast<int64_t>(iv->profile.size()) == C)
          std::copy(iv->profile.begin(), iv->profile.end(), &weights[i * C]);
        // Ids were checked by heads() (checkIntervention).
        for (size_t t = 0; t < iv->concepts.size(); ++t)
          weights[i * C + iv->concepts[t]] = iv->values[t];
      }
    }
    if (request.knownWeights)
      out.knownWeights = weights;
  }

  // Top-k used for features without interventions (and for attribution):
  // k = topk_known_features (else topk_known), ranked by weight or logit.
  const std::optional<int64_t> kf =
      k.topkKnownFeatures ? k.topkKnownFeatures : k.topkKnown;
  const int64_t kk = kf ? std::min(*kf, C) : C;
  std::vector<int64_t> ids(M * kk);
  for (int64_t i = 0; i < M; ++i) {
    std::vector<float> rank(C);
    for (int64_t j = 0; j < C; ++j)
      rank[j] = k.topkOnLogits ? logits[i * C + j] : sigmoid(logits[i * C + j]);
    topk(rank.data(), C, kk, &ids[i * kk]);
  }

  std::vector<float> e(D);
  std::fill(features, features + M * D, 0.0f);
  if (intervene) {
    // Rows whose features the compiler folded take them as they are.
    std::vector<uint8_t> fixed(M, 0);
    if (static_cast<int64_t>(iv->features.size()) == D)
      for (int64_t i = 0; i < M; ++i)
        if (iv->positions.empty() ||
            std::find(iv->positions.begin(), iv->positions.end(), pos0 + i) !=
                iv->positions.end()) {
          fixed[i] = 1;
          std::copy(iv->features.begin(), iv->features.end(), features + i * D);
        }
    // Dense path: every non-zero weight mixes its embedding in.
    for (int64_t j = 0; j < C; ++j) {
      bool used = false;
      for (int64_t i = 0; i < M && !used; ++i)
        used = !fixed[i] && weights[i * C + j] != 0.0f;
      if (!used)
        continue;
      kernels::loadRow(known_.embedding, D, j, e.data());
      for (int64_t i = 0; i < M; ++i)
        if (float w = weights[i * C + j]; !fixed[i] && w != 0.0f)
          kernels::axpy(w, e.data(), features + i * D, D);
    }
  } else {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t t = 0; t < kk; ++t) {
        int64_t j = ids[i * kk + t];
        kernels::loadRow(known_.embedding, D, j, e.data());
        kernels::axpy(sigmoid(logits[i * C + j]), e.data(), features + i * D,
                      D);
      }
  }

  if (request.concepts) {
    // The concepts whose weights built the features, largest weight first:
    // the top-k_features list, or with an intervention every non-zero
    // weight (rows padded with id -1 and weight 0).
    std::vector<std::vector<int64_t>> rowsIds(M);
    int64_t width = 0;
    for (int64_t i = 0; i < M; ++i) {
      if (intervene) {
        for (int64_t j = 0; j < C; ++j)
          if (weights[i * C + j] != 0.0f)
            rowsIds[i].push_back(j);
        std::stable_sort(rowsIds[i].begin(), rowsIds[i].end(),
                         [&](int64_t a, int64_t b) {
                           return weights[i * C + a] > weights[i * C + b];
                         });
      } else {
        rowsIds[i].assign(&ids[i * kk], &ids[i * kk] + kk);
      }
      width = std::max<int64_t>(width, rowsIds[i].size());
    }
    out.knownTopk = width;
    out.knownTopkIds.assign(M * width, -1);
    out.knownTopkLogits.assign(M * width, 0.0f);
    out.knownTopkWeights.assign(M * width, 0.0f);
    for (int64_t i = 0; i < M; ++i)
      for (size_t t = 0; t < rowsIds[i].size(); ++t) {
        int64_t j = rowsIds[i][t];
        out.knownTopkIds[i * width + t] = j;
        out.knownTopkLogits[i * width + t] = logits[i * C + j];
        out.knownTopkWeights[i * width + t] =
            intervene ? weights[i * C + j] : sigmoid(logits[i * C + j]);
      }
  }
}

void Engine::unknownHead(const float *hidden, int64_t M, float *features,
                         ForwardOutputs &out, bool wantTopk) const {
  const ConceptConfig &k = *config_.concepts;
  const int64_t D = config_.nEmbd, C = *k.nUnknownConcepts, r = k.factorizeRank;
  std::vector<float> hc(M * r), logits(M * C);
  kernels::linear(hidden, M, D, unknown_.down, r, hc.data(), r);
  kernels::linear(hc.data(), M, r, unknown_.up, C, logits.data(), C);
  for (float &v : logits)
    v = clamp15(v);
  const bool apply = k.unknownTopk && k.applyTopkToUnknown;
  const int64_t kk = apply ? std::min(*k.unknownTopk, C) : C;
  std::vector<int64_t> ids(M * kk);
  for (int64_t i = 0; i < M; ++i) {
    if (apply)
      topk(&logits[i * C], C, kk, &ids[i * kk]);
    else
      std::iota(&ids[i * kk], &ids[i * kk] + kk, 0);
  }
  // features = (sum_k w_k coef[idx_k]) . basis^T
  std::vector<float> wc(M * r, 0.0f), coef(r);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t t = 0; t < kk; ++t) {
      int64_t j = ids[i * kk + t];
      kernels::loadRow(unknown_.coef, r, j, coef.data());
      kernels::axpy(sigmoid(logits[i * C + j]), coef.data(), &wc[i * r], r);
    }
  kernels::linear(wc.data(), M, r, unknown_.basis, D, features, D);
  if (wantTopk) {
    out.unknownTopk = kk;
    out.unknownTopkIds = ids;
    out.unknownTopkLogits.resize(M * kk);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t t = 0; t < kk; ++t)
        out.unknownTopkLogits[i * kk + t] = logits[i * C + ids[i * kk + t]];
  }
}

Status Engine::heads(const float *hidden, int64_t M, int64_t pos0,
                     const ForwardRequest &request, ForwardOutputs &out) const {
  const int64_t D = config_.nEmbd;
  out.composed.assign(hidden, hidden + M * D);
  const bool intervene = request.intervention && request.intervention->active();
  if (!config_.concepts) {
    if (intervene || request.concepts || request.knownWeights)
      return makeError(StatusCode::kInvalidArgument,
                       "this checkpoint is not interpretable: it has no "
                       "concept heads to read or intervene on");
    return okStatus();
  }
  // Without interventions the heads cannot change the logits (composed ==
  // hidden up to rounding), so they run only when asked for.
  if (!intervene && !request.concepts && !request.knownWeights)
    return okStatus();
  if (intervene)
    STEER_RETURN_IF_ERROR(checkIntervention(*request.intervention));

  const ConceptConfig &k = *config_.concepts;
  std::vector<float> kf(M * D), uf;
  knownHead(hidden, M, pos0, request, kf.data(), out);
  std::vector<float> forLm(M * D);
  if (k.useUnknown) {
    uf.resize(M * D);
    unknownHead(hidden, M, uf.data(), out, request.concepts);
    forLm = uf;
  } else {
    for (int64_t i = 0; i < M * D; ++i)
      forLm[i] = hidden[i] - kf[i];
  }
  std::vector<float> eps(M * D, 0.0f);
  if (k.useEpsilonCorrection &&
      (intervene ? request.intervention->epsilon.value_or(false) : true))
    for (int64_t i = 0; i < M * D; ++i) {
      eps[i] = hidden[i] - (forLm[i] + kf[i]);
      forLm[i] = forLm[i] + eps[i];
    }
  for (int64_t i = 0; i < M * D; ++i)
    out.composed[i] = forLm[i] + kf[i];
  if (request.concepts) {
    out.knownFeatures = std::move(kf);
    out.unknownFeatures = std::move(uf);
    out.epsilon = std::move(eps);
  }
  return okStatus();
}

StatusOr<ForwardOutputs> Engine::forward(std::span<const int64_t> ids,
                                         const ForwardRequest &request) const {
  const int64_t T = static_cast<int64_t>(ids.size()), D = config_.nEmbd;
  if (T == 0)
    return makeError(StatusCode::kInvalidArgument, "no token ids to run");
  KvCache cache = makeCache(T);
  ForwardOutputs out;
  out.rows = T;
  std::vector<float> hidden(T * D);
  STEER_RETURN_IF_ERROR(
      backbone(ids, 0, T, cache, request.injections, hidden.data()));
  STEER_RETURN_IF_ERROR(heads(hidden.data(), T, 0, request, out));
  if (request.logits) {
    out.logits.resize(T * config_.vocabSize);
    lmHead(out.composed.data(), T, out.logits.data());
  }
  if (request.hidden)
    out.hidden = std::move(hidden);
  if (!request.composed)
    out.composed.clear();
  return out;
}

} // namespace steer
