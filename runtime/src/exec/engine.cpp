//===- engine.cpp - The Steerling forward pass over a device --------------===//
#include "steer/exec/engine.h"
#include "tape.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include <sys/mman.h>

namespace steer {
namespace {

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


StatusOr<std::unique_ptr<Engine>>
Engine::create(const Checkpoint &ckpt, std::unique_ptr<hal::Device> device) {
  // Every weight is read by a forward; a NaN or Inf in one would turn the
  // output into NaN (empty text, "+nan" attributions) far from its cause.
  STEER_RETURN_IF_ERROR(checkWeightsFinite(ckpt));
  std::unique_ptr<Engine> e(new Engine());
  e->config_ = ckpt.config();
  if (!device) {
    STEER_ASSIGN_OR_RETURN(device, hal::createCpuDevice());
  }
  e->device_ = std::move(device);
  const ModelConfig &c = e->config_;
  hal::Device &dev = *e->device_;
  // Bound with the shape the layout table gives each tensor: [rows, cols]
  // (a vector is one row).
  auto get = [&](const std::string &name, hal::Weight &out) -> Status {
    const TensorView *v = ckpt.tensor(name);
    if (!v)
      return makeError(StatusCode::kInternal, ckpt.dir(), ": tensor '", name,
                       "' is missing after validation");
    const int64_t rows = v->shape.size() == 2 ? v->shape[0] : 1;
    const int64_t cols = v->shape.empty() ? 1 : v->shape.back();
    STEER_ASSIGN_OR_RETURN(out, dev.bindWeight(v->data, v->dtype, rows, cols),
                           "binding '", name, "'");
    return okStatus();
  };
  STEER_RETURN_IF_ERROR(get(tokEmbName(c), e->tokEmb_));
  const std::string pre = c.interpretable ? "transformer." : "";
  STEER_RETURN_IF_ERROR(get(pre + "ln_f.weight", e->lnF_));
  for (int64_t i = 0; i < c.nLayers; ++i) {
    std::string p = pre + "blocks." + std::to_string(i) + ".";
    Layer l;
    STEER_RETURN_IF_ERROR(get(p + "attn.c_attn.weight", l.qkv));
    STEER_RETURN_IF_ERROR(get(p + "attn.c_proj.weight", l.proj));
    if (c.useQkNorm) {
      STEER_RETURN_IF_ERROR(get(p + "attn.q_norm.weight", l.qNorm));
      STEER_RETURN_IF_ERROR(get(p + "attn.k_norm.weight", l.kNorm));
    }
    STEER_RETURN_IF_ERROR(get(p + "ln_1.weight", l.ln1));
    STEER_RETURN_IF_ERROR(get(p + "ln_2.weight", l.ln2));
    STEER_RETURN_IF_ERROR(get(p + "mlp.c_fc.weight", l.fc));
    STEER_RETURN_IF_ERROR(get(p + "mlp.c_proj.weight", l.fcProj));
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
    hal::KnownHeadSpec &kh = e->known_;
    STEER_RETURN_IF_ERROR(
        get("known_head.concept_predictor.weight", kh.predictor));
    STEER_RETURN_IF_ERROR(
        get("known_head.concept_embedding.weight", kh.embedding));
    kh.nConcepts = k.nConcepts;
    kh.width = c.nEmbd;
    kh.topk = k.topkKnown;
    kh.topkFeatures = k.topkKnownFeatures;
    kh.topkOnLogits = k.topkOnLogits;
    if (k.useUnknown) {
      hal::UnknownHeadSpec &uh = e->unknown_;
      STEER_RETURN_IF_ERROR(get("unknown_head.predictor_down.weight", uh.down));
      STEER_RETURN_IF_ERROR(get("unknown_head.predictor_up.weight", uh.up));
      STEER_RETURN_IF_ERROR(get("unknown_head.embedding_coef.weight", uh.coef));
      STEER_RETURN_IF_ERROR(
          get("unknown_head.embedding_basis.weight", uh.basis));
      uh.nConcepts = *k.nUnknownConcepts;
      uh.rank = k.factorizeRank;
      uh.width = c.nEmbd;
      uh.topk = k.unknownTopk;
      uh.applyTopk = k.applyTopkToUnknown;
    }
  }
  // RoPE inverse frequencies in float32, as the reference computes them:
  // 1 / base ** (arange(0, hd, 2) / hd).
  const int64_t hd = c.headDim();
  std::vector<float> invFreq;
  for (int64_t i = 0; i < hd; i += 2) {
    float expo = static_cast<float>(i) / static_cast<float>(hd);
    invFreq.push_back(1.0f / std::pow(static_cast<float>(c.ropeBase), expo));
  }
  STEER_ASSIGN_OR_RETURN(e->invFreq_,
                         dev.allocate(static_cast<int64_t>(invFreq.size())));
  STEER_RETURN_IF_ERROR(dev.upload(invFreq.data(), e->invFreq_.data(),
                                   static_cast<int64_t>(invFreq.size())));
  return e;
}

StatusOr<KvCache> Engine::makeCache(int64_t capacity) const {
  KvCache cache;
  cache.capacity = capacity;
  const int64_t n = capacity * config_.kvDim();
  for (int64_t l = 0; l < config_.nLayers; ++l) {
    STEER_ASSIGN_OR_RETURN(hal::Buffer k, device_->allocate(n),
                           "allocating the kv cache");
    STEER_ASSIGN_OR_RETURN(hal::Buffer v, device_->allocate(n),
                           "allocating the kv cache");
    cache.k.push_back(std::move(k));
    cache.v.push_back(std::move(v));
  }
  return cache;
}

StatusOr<const float *> Engine::stageIn(const float *host, int64_t n,
                                        hal::Buffer &scratch) const {
  if (device_->sharesHostMemory())
    return host;
  STEER_ASSIGN_OR_RETURN(scratch, device_->allocate(n));
  STEER_RETURN_IF_ERROR(device_->upload(host, scratch.data(), n));
  return static_cast<const float *>(scratch.data());
}

StatusOr<float *> Engine::stageOut(float *host, int64_t n,
                                   hal::Buffer &scratch) const {
  if (device_->sharesHostMemory())
    return host;
  STEER_ASSIGN_OR_RETURN(scratch, device_->allocate(n));
  return scratch.data();
}

Status Engine::finishOut(const float *device, float *host, int64_t n) const {
  return device_->download(device, host, n);
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
  const BackboneRows one[] = {{ids, r0, r1, &cache, injections, hidden}};
  return backboneBatch(one);
}

Status Engine::backboneBatch(std::span<const BackboneRows> batch) const {
  const ModelConfig &c = config_;
  const int64_t D = c.nEmbd;
  if (batch.empty())
    return makeError(StatusCode::kInvalidArgument, "backbone: no sequence");
  int64_t M = 0;
  std::vector<Segment> segments;
  for (size_t s = 0; s < batch.size(); ++s) {
    const BackboneRows &b = batch[s];
    const int64_t r0 = b.r0, r1 = b.r1;
    if (r0 < 0 || r1 > static_cast<int64_t>(b.ids.size()) || r0 >= r1)
      return makeError(StatusCode::kInvalidArgument, "backbone rows [", r0,
                       ", ", r1, ") are not inside a sequence of ",
                       b.ids.size(), " (sequence ", s, " of the batch)");
    if (!b.cache || b.cache->validRows < r0 || b.cache->capacity < r1 ||
        static_cast<int64_t>(b.cache->k.size()) != c.nLayers)
      return makeError(StatusCode::kInternal, "kv cache of sequence ", s,
                       " cannot hold rows [", r0, ", ", r1, ")");
    if (r1 > c.blockSize)
      return makeError(StatusCode::kOutOfRange, "sequence of ", r1,
                       " tokens is longer than the model's context "
                       "(block_size ", c.blockSize, ")");
    for (size_t t = 0; t < s; ++t)
      if (batch[t].cache == b.cache)
        return makeError(StatusCode::kInvalidArgument, "backbone: sequences ",
                         t, " and ", s, " of the batch share a kv cache");
    STEER_RETURN_IF_ERROR(checkIds(b.ids.subspan(r0, r1 - r0)));
    segments.push_back({M, r0, r1, b.cache, b.injections});
    M += r1 - r0;
  }

  hal::Device &dev = *device_;
  STEER_ASSIGN_OR_RETURN(hal::Buffer x, dev.allocate(M * D));
  for (size_t s = 0; s < batch.size(); ++s)
    STEER_RETURN_IF_ERROR(
        dev.embed(tokEmb_, batch[s].ids.subspan(batch[s].r0, batch[s].r1 - batch[s].r0),
                  x.data() + segments[s].offset * D));
  STEER_RETURN_IF_ERROR(runBlocks(x.data(), segments, nullptr));
  STEER_RETURN_IF_ERROR(dev.rmsNorm(x.data(), M, D, D, lnF_, c.normEps));
  for (size_t s = 0; s < batch.size(); ++s)
    STEER_RETURN_IF_ERROR(dev.download(x.data() + segments[s].offset * D,
                                       batch[s].hidden,
                                       (batch[s].r1 - batch[s].r0) * D));
  return okStatus();
}

hal::QkvSpec Engine::qkvSpec(const Layer &layer) const {
  const ModelConfig &c = config_;
  hal::QkvSpec qs;
  qs.nHead = c.nHead;
  qs.nKv = c.kvHeads();
  qs.headDim = c.headDim();
  if (c.clipQkv)
    qs.clip = static_cast<float>(*c.clipQkv);
  qs.normEps = c.normEps;
  qs.invFreq = c.useRope ? invFreq_.data() : nullptr;
  if (c.useQkNorm) {
    qs.qNorm = layer.qNorm;
    qs.kNorm = layer.kNorm;
  }
  return qs;
}

Status Engine::runBlocks(float *xp, std::span<const Segment> segments,
                         Tape *tape) const {
  const ModelConfig &c = config_;
  const int64_t D = c.nEmbd, hd = c.headDim();
  int64_t M = 0;
  for (const Segment &sg : segments)
    M += sg.r1 - sg.r0;
  if (tape && segments.size() != 1)
    return makeError(StatusCode::kInternal,
                     "a tape records one sequence, not ", segments.size());
  const int64_t nh = c.nHead, nkv = c.kvHeads(), kvDim = c.kvDim();
  const int64_t qkvW = D + 2 * kvDim, H = c.mlpHidden();
  const int64_t fcRows = c.mlpType == MlpType::kSwiGLU ? 2 * H : H;
  hal::Device &dev = *device_;
  // Activations in device memory.
  STEER_ASSIGN_OR_RETURN(hal::Buffer tmp, dev.allocate(M * D));
  STEER_ASSIGN_OR_RETURN(hal::Buffer q, dev.allocate(M * D));
  STEER_ASSIGN_OR_RETURN(hal::Buffer attn, dev.allocate(M * D));
  STEER_ASSIGN_OR_RETURN(hal::Buffer qkv, dev.allocate(M * qkvW));
  STEER_ASSIGN_OR_RETURN(hal::Buffer fc, dev.allocate(M * fcRows));
  STEER_ASSIGN_OR_RETURN(hal::Buffer act, dev.allocate(M * H));
  // Injection directions on the device, once per call ([segment][j]).
  std::vector<std::vector<hal::Buffer>> directions(segments.size());
  for (size_t s = 0; s < segments.size(); ++s)
    for (const Injection &in : segments[s].injections) {
      if (static_cast<int64_t>(in.direction.size()) != D)
        return makeError(StatusCode::kInvalidArgument, "an injection "
                         "direction has ", in.direction.size(), " values, not ",
                         D);
      if (static_cast<int64_t>(in.masked.size()) < segments[s].r1)
        return makeError(StatusCode::kInvalidArgument, "an injection's mask "
                         "covers ", in.masked.size(), " positions of ",
                         segments[s].r1);
      STEER_ASSIGN_OR_RETURN(hal::Buffer d, dev.allocate(D));
      STEER_RETURN_IF_ERROR(dev.upload(in.direction.data(), d.data(), D));
      directions[s].push_back(std::move(d));
    }
  // What the gradient pass reads back: each op's inputs (tape.h).
  if (tape)
    tape->layers.resize(c.nLayers);
  auto keep = [&](int64_t l, hal::Buffer Tape::Layer::*field,
                  const float *src, int64_t n) -> Status {
    if (!tape)
      return okStatus();
    hal::Buffer &slot = tape->layers[l].*field;
    STEER_ASSIGN_OR_RETURN(slot, dev.allocate(n));
    return dev.copy(src, slot.data(), n);
  };
  const bool preNorm = c.normOrder == NormOrder::kPre;
  for (int64_t l = 0; l < c.nLayers; ++l) {
    const Layer &L = layers_[l];
    STEER_RETURN_IF_ERROR(keep(l, &Tape::Layer::x, xp, M * D));
    // Attention.
    const float *in = xp;
    if (preNorm) {
      STEER_RETURN_IF_ERROR(dev.copy(xp, tmp.data(), M * D));
      STEER_RETURN_IF_ERROR(
          dev.rmsNorm(tmp.data(), M, D, D, L.ln1, c.normEps));
      in = tmp.data();
    }
    STEER_RETURN_IF_ERROR(dev.linear(in, M, D, L.qkv, qkv.data(), qkvW));
    STEER_RETURN_IF_ERROR(keep(l, &Tape::Layer::qkv, qkv.data(), M * qkvW));
    // Attention per sequence, over its own rows and cache.
    const hal::QkvSpec qs = qkvSpec(L);
    for (const Segment &sg : segments) {
      const int64_t o = sg.offset, m = sg.r1 - sg.r0;
      float *keys = sg.cache->k[l].data(), *values = sg.cache->v[l].data();
      STEER_RETURN_IF_ERROR(dev.attentionPrologue(qs, qkv.data() + o * qkvW, m,
                                                  sg.r0, q.data() + o * D,
                                                  keys, values));
      STEER_RETURN_IF_ERROR(dev.attention(q.data() + o * D, keys, values,
                                          sg.r0, sg.r1, sg.r1, c.diffBlockSize,
                                          nh, nkv, hd, attn.data() + o * D));
    }
    STEER_RETURN_IF_ERROR(keep(l, &Tape::Layer::q, q.data(), M * D));
    STEER_RETURN_IF_ERROR(dev.linear(attn.data(), M, D, L.proj, tmp.data(), D));
    STEER_RETURN_IF_ERROR(keep(l, &Tape::Layer::proj, tmp.data(), M * D));
    if (!preNorm)
      STEER_RETURN_IF_ERROR(
          dev.rmsNorm(tmp.data(), M, D, D, L.ln1, c.normEps));
    STEER_RETURN_IF_ERROR(dev.add(xp, tmp.data(), M * D));

    // MLP.
    STEER_RETURN_IF_ERROR(keep(l, &Tape::Layer::x1, xp, M * D));
    in = xp;
    if (preNorm) {
      STEER_RETURN_IF_ERROR(dev.copy(xp, tmp.data(), M * D));
      STEER_RETURN_IF_ERROR(
          dev.rmsNorm(tmp.data(), M, D, D, L.ln2, c.normEps));
      in = tmp.data();
    }
    STEER_RETURN_IF_ERROR(dev.linear(in, M, D, L.fc, fc.data(), fcRows));
    STEER_RETURN_IF_ERROR(dev.mlpActivation(fc.data(), M, H, c.mlpType,
                                            c.activation, act.data()));
    STEER_RETURN_IF_ERROR(keep(l, &Tape::Layer::fc, fc.data(), M * fcRows));
    STEER_RETURN_IF_ERROR(
        dev.linear(act.data(), M, H, L.fcProj, tmp.data(), D));
    STEER_RETURN_IF_ERROR(keep(l, &Tape::Layer::mlp, tmp.data(), M * D));
    if (!preNorm)
      STEER_RETURN_IF_ERROR(
          dev.rmsNorm(tmp.data(), M, D, D, L.ln2, c.normEps));
    STEER_RETURN_IF_ERROR(dev.add(xp, tmp.data(), M * D));

    // Each sequence's injections in order (float addition is not
    // associative: the order is the program's).
    for (size_t s = 0; s < segments.size(); ++s) {
      const Segment &sg = segments[s];
      for (size_t j = 0; j < sg.injections.size(); ++j) {
        const Injection &inj = sg.injections[j];
        if (inj.alpha != 0 && l + 1 >= inj.firstLayer)
          STEER_RETURN_IF_ERROR(dev.inject(
              xp + sg.offset * D, D, inj.masked.subspan(sg.r0, sg.r1 - sg.r0),
              inj.alpha, directions[s][j].data()));
      }
    }
  }
  if (tape) {
    STEER_ASSIGN_OR_RETURN(tape->final, dev.allocate(M * D));
    STEER_RETURN_IF_ERROR(dev.copy(xp, tape->final.data(), M * D));
  }
  return okStatus();
}

Status Engine::lmHead(const float *x, int64_t rows, float *logits) const {
  const int64_t D = config_.nEmbd, V = config_.vocabSize;
  hal::Buffer xs, ls;
  STEER_ASSIGN_OR_RETURN(const float *in, stageIn(x, rows * D, xs));
  STEER_ASSIGN_OR_RETURN(float *out, stageOut(logits, rows * V, ls));
  STEER_RETURN_IF_ERROR(device_->linear(in, rows, D, tokEmb_, out, V));
  return finishOut(out, logits, rows * V);
}

Status Engine::logitEpilogue(float *logits, int64_t rows,
                             std::span<const float> bias,
                             std::span<const int64_t> penalized, float penalty,
                             std::span<const int64_t> banned,
                             float *confidence) const {
  const int64_t V = config_.vocabSize;
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != V)
    return makeError(StatusCode::kInvalidArgument, "logit bias of ",
                     bias.size(), " values for a vocabulary of ", V);
  // In place: the host rows themselves when the device shares host memory,
  // else a copy that comes back.
  hal::Buffer ls, bs;
  STEER_ASSIGN_OR_RETURN(float *dev, stageOut(logits, rows * V, ls));
  STEER_RETURN_IF_ERROR(device_->upload(logits, dev, rows * V));
  const float *biasDev = nullptr;
  if (!bias.empty()) {
    STEER_ASSIGN_OR_RETURN(biasDev, stageIn(bias.data(), V, bs));
  }
  hal::EpilogueSpec spec;
  spec.bias = biasDev;
  spec.penalized = penalized;
  spec.penalty = penalty;
  spec.banned = banned;
  STEER_RETURN_IF_ERROR(
      device_->logitEpilogue(dev, rows, V, spec, confidence));
  return finishOut(dev, logits, rows * V);
}

Status Engine::argmax(const float *logits, int64_t rows, int64_t *out) const {
  const int64_t V = config_.vocabSize;
  hal::Buffer ls;
  STEER_ASSIGN_OR_RETURN(const float *in, stageIn(logits, rows * V, ls));
  return device_->argmax(in, rows, V, out);
}

StatusOr<std::vector<float>>
Engine::knownEmbeddings(std::span<const int64_t> ids) const {
  const int64_t D = config_.nEmbd;
  std::vector<float> out(ids.size() * D);
  hal::Buffer s;
  STEER_ASSIGN_OR_RETURN(float *dst,
                         stageOut(out.data(), static_cast<int64_t>(out.size()), s));
  STEER_RETURN_IF_ERROR(device_->embed(known_.embedding, ids, dst));
  STEER_RETURN_IF_ERROR(
      finishOut(dst, out.data(), static_cast<int64_t>(out.size())));
  return out;
}

Status Engine::lmHeadRow(int64_t token, float *out) const {
  hal::Buffer s;
  STEER_ASSIGN_OR_RETURN(float *dst, stageOut(out, config_.nEmbd, s));
  STEER_RETURN_IF_ERROR(
      device_->embed(tokEmb_, std::span<const int64_t>(&token, 1), dst));
  return finishOut(dst, out, config_.nEmbd);
}

Status Engine::knownEmbeddingRow(int64_t id, float *out) const {
  hal::Buffer s;
  STEER_ASSIGN_OR_RETURN(float *dst, stageOut(out, config_.nEmbd, s));
  STEER_RETURN_IF_ERROR(
      device_->embed(known_.embedding, std::span<const int64_t>(&id, 1), dst));
  return finishOut(dst, out, config_.nEmbd);
}

Status Engine::unknownEmbeddingRow(int64_t id, float *out) const {
  // Factorized: u_j = basis . coef_j.
  const int64_t r = unknown_.rank, D = config_.nEmbd;
  STEER_ASSIGN_OR_RETURN(hal::Buffer coef, device_->allocate(r));
  STEER_RETURN_IF_ERROR(device_->embed(
      unknown_.coef, std::span<const int64_t>(&id, 1), coef.data()));
  hal::Buffer s;
  STEER_ASSIGN_OR_RETURN(float *dst, stageOut(out, D, s));
  STEER_RETURN_IF_ERROR(
      device_->linear(coef.data(), 1, r, unknown_.basis, dst, D));
  return finishOut(dst, out, D);
}

StatusOr<std::vector<float>>
Engine::denseKnownFeatures(std::span<const float> weights) const {
  const int64_t D = config_.nEmbd;
  std::vector<int64_t> ids;
  std::vector<float> ws;
  for (size_t j = 0; j < weights.size(); ++j)
    if (float w = weights[j]; w != 0.0f) {
      ids.push_back(static_cast<int64_t>(j));
      ws.push_back(w);
    }
  std::vector<float> out(D, 0.0f);
  hal::Buffer s;
  STEER_ASSIGN_OR_RETURN(float *dst, stageOut(out.data(), D, s));
  STEER_RETURN_IF_ERROR(
      device_->weightedRowSum(known_.embedding, ids, ws, dst));
  STEER_RETURN_IF_ERROR(finishOut(dst, out.data(), D));
  return out;
}

StatusOr<std::vector<float>>
Engine::vocabAlignment(std::span<const float> v) const {
  std::vector<float> out(config_.vocabSize);
  STEER_RETURN_IF_ERROR(lmHead(v.data(), 1, out.data()));
  return out;
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
  const ConceptConfig &k = *config_.concepts;
  // Without interventions the heads cannot change the logits when epsilon
  // restores the hidden state (composed == hidden up to rounding), so they
  // run only when asked for. Without epsilon correction (and with an
  // unknown head) composed is unknown + known: the heads always run.
  const bool identity = k.useEpsilonCorrection || !k.useUnknown;
  if (!intervene && !request.concepts && !request.knownWeights && identity)
    return okStatus();
  if (intervene)
    STEER_RETURN_IF_ERROR(checkIntervention(*request.intervention));

  hal::Device &dev = *device_;
  hal::Buffer hs;
  STEER_ASSIGN_OR_RETURN(const float *h, stageIn(hidden, M * D, hs));
  STEER_ASSIGN_OR_RETURN(hal::Buffer kf, dev.allocate(M * D));
  STEER_ASSIGN_OR_RETURN(hal::Buffer eps, dev.allocate(M * D));
  STEER_ASSIGN_OR_RETURN(hal::Buffer composed, dev.allocate(M * D));
  hal::HeadRequest hr;
  hr.denseWeights = request.knownWeights;
  hr.topk = request.concepts;
  STEER_RETURN_IF_ERROR(dev.knownHead(known_, h, M, pos0,
                                      intervene ? request.intervention
                                                : nullptr,
                                      hr, kf.data(), out));
  hal::Buffer uf;
  if (k.useUnknown) {
    STEER_ASSIGN_OR_RETURN(uf, dev.allocate(M * D));
    STEER_RETURN_IF_ERROR(
        dev.unknownHead(unknown_, h, M, hr, uf.data(), out));
  }
  const bool epsilon =
      k.useEpsilonCorrection &&
      (intervene ? request.intervention->epsilon.value_or(false) : true);
  STEER_RETURN_IF_ERROR(dev.compose(h, kf.data(),
                                    k.useUnknown ? uf.data() : nullptr, M * D,
                                    epsilon, composed.data(), eps.data()));
  STEER_RETURN_IF_ERROR(
      dev.download(composed.data(), out.composed.data(), M * D));
  if (request.concepts) {
    out.knownFeatures.resize(M * D);
    out.epsilon.resize(M * D);
    STEER_RETURN_IF_ERROR(
        dev.download(kf.data(), out.knownFeatures.data(), M * D));
    STEER_RETURN_IF_ERROR(dev.download(eps.data(), out.epsilon.data(), M * D));
    if (k.useUnknown) {
      out.unknownFeatures.resize(M * D);
      STEER_RETURN_IF_ERROR(
          dev.download(uf.data(), out.unknownFeatures.data(), M * D));
    }
  }
  return okStatus();
}

StatusOr<ForwardOutputs> Engine::forward(std::span<const int64_t> ids,
                                         const ForwardRequest &request) const {
  const int64_t T = static_cast<int64_t>(ids.size()), D = config_.nEmbd;
  if (T == 0)
    return makeError(StatusCode::kInvalidArgument, "no token ids to run");
  STEER_ASSIGN_OR_RETURN(KvCache cache, makeCache(T));
  ForwardOutputs out;
  out.rows = T;
  std::vector<float> hidden(T * D);
  STEER_RETURN_IF_ERROR(
      backbone(ids, 0, T, cache, request.injections, hidden.data()));
  STEER_RETURN_IF_ERROR(heads(hidden.data(), T, 0, request, out));
  if (request.logits) {
    const size_t n = static_cast<size_t>(T * config_.vocabSize);
    out.logits.reserve(n);
#if defined(MADV_HUGEPAGE)
    // Rows x the vocabulary is tens of MB, fresh every call: faulted in as
    // huge pages where the kernel allows, not 4 KiB at a time (the faults
    // took most of a tiny model's forward in a virtual machine).
    if (n * sizeof(float) >= (size_t(4) << 20)) {
      const uintptr_t b = reinterpret_cast<uintptr_t>(out.logits.data());
      const uintptr_t lo = (b + (size_t(2) << 20) - 1) & ~((size_t(2) << 20) - 1);
      const uintptr_t hi = (b + n * sizeof(float)) & ~((size_t(2) << 20) - 1);
      if (hi > lo)
        madvise(reinterpret_cast<void *>(lo), hi - lo, MADV_HUGEPAGE);
    }
#endif
    out.logits.resize(n);
    STEER_RETURN_IF_ERROR(lmHead(out.composed.data(), T, out.logits.data()));
  }
  if (request.hidden)
    out.hidden = std::move(hidden);
  if (!request.composed)
    out.composed.clear();
  return out;
}

} // namespace steer
