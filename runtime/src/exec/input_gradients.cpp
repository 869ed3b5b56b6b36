//===- input_gradients.cpp - Logit gradients w.r.t. the input rows --------===//
//
// A reverse pass over activations only: the forward records each op's
// inputs (tape.h), then the gradient of one target logit runs back through
// lm_head's row, the composition, ln_f and the blocks, op by op, on the
// device's gradient ops. Residual additions and injections pass the
// gradient through unchanged (an injection adds a constant).
//
//===----------------------------------------------------------------------===//
#include "steer/exec/engine.h"
#include "tape.h"

#include <algorithm>
#include <cmath>

namespace steer {
namespace {

double dotHost(const float *a, const float *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i)
    s += static_cast<double>(a[i]) * b[i];
  return s;
}

} // namespace

StatusOr<std::vector<float>>
Engine::embedRows(std::span<const int64_t> ids) const {
  STEER_RETURN_IF_ERROR(checkIds(ids));
  const int64_t n = static_cast<int64_t>(ids.size()), D = config_.nEmbd;
  std::vector<float> out(n * D);
  hal::Buffer s;
  STEER_ASSIGN_OR_RETURN(float *dst, stageOut(out.data(), n * D, s));
  STEER_RETURN_IF_ERROR(device_->embed(tokEmb_, ids, dst));
  STEER_RETURN_IF_ERROR(finishOut(dst, out.data(), n * D));
  return out;
}

Status Engine::backwardBlocks(const Tape &tape, const KvCache &cache,
                              int64_t M, int64_t row,
                              std::span<const float> dh, float *grad) const {
  const ModelConfig &c = config_;
  const int64_t D = c.nEmbd, hd = c.headDim(), nh = c.nHead;
  const int64_t nkv = c.kvHeads(), kvDim = c.kvDim();
  const int64_t qkvW = D + 2 * kvDim, H = c.mlpHidden();
  const int64_t fcRows = c.mlpType == MlpType::kSwiGLU ? 2 * H : H;
  const bool preNorm = c.normOrder == NormOrder::kPre;
  hal::Device &dev = *device_;
  STEER_ASSIGN_OR_RETURN(hal::Buffer g, dev.allocate(M * D));
  STEER_ASSIGN_OR_RETURN(hal::Buffer dtmp, dev.allocate(M * D));
  STEER_ASSIGN_OR_RETURN(hal::Buffer din, dev.allocate(M * D));
  STEER_ASSIGN_OR_RETURN(hal::Buffer dact, dev.allocate(M * H));
  STEER_ASSIGN_OR_RETURN(hal::Buffer dfc, dev.allocate(M * fcRows));
  STEER_ASSIGN_OR_RETURN(hal::Buffer dattn, dev.allocate(M * D));
  STEER_ASSIGN_OR_RETURN(hal::Buffer dq, dev.allocate(M * D));
  STEER_ASSIGN_OR_RETURN(hal::Buffer dk, dev.allocate(M * kvDim));
  STEER_ASSIGN_OR_RETURN(hal::Buffer dv, dev.allocate(M * kvDim));
  STEER_ASSIGN_OR_RETURN(hal::Buffer dqkv, dev.allocate(M * qkvW));

  // ln_f at the target's row; every other row starts at zero.
  STEER_RETURN_IF_ERROR(dev.upload(dh.data(), dtmp.data(), D));
  STEER_RETURN_IF_ERROR(dev.rmsNormBackward(tape.final.data() + row * D,
                                            dtmp.data(), 1, D, lnF_,
                                            c.normEps, g.data() + row * D));

  // Adds the gradient of a norm's input (or the gradient itself, without a
  // norm) to g.
  auto throughNorm = [&](bool norm, const hal::Buffer &input,
                         const hal::Weight &gain, const float *d) -> Status {
    if (!norm)
      return dev.add(g.data(), d, M * D);
    STEER_RETURN_IF_ERROR(dev.rmsNormBackward(input.data(), d, M, D, gain,
                                              c.normEps, dtmp.data()));
    return dev.add(g.data(), dtmp.data(), M * D);
  };
  // The gradient entering a sublayer's output: through its post-norm.
  auto intoSublayer = [&](const hal::Buffer &output,
                          const hal::Weight &gain) -> StatusOr<const float *> {
    if (preNorm)
      return g.data();
    STEER_RETURN_IF_ERROR(dev.rmsNormBackward(output.data(), g.data(), M, D,
                                              gain, c.normEps, dtmp.data()));
    return dtmp.data();
  };

  for (int64_t l = c.nLayers - 1; l >= 0; --l) {
    const Layer &L = layers_[l];
    const Tape::Layer &t = tape.layers[l];
    // MLP: x2 = x1 + mlp(x1) with its norm.
    STEER_ASSIGN_OR_RETURN(const float *gm, intoSublayer(t.mlp, L.ln2));
    STEER_RETURN_IF_ERROR(dev.linearBackward(gm, M, L.fcProj, dact.data()));
    STEER_RETURN_IF_ERROR(dev.mlpActivationBackward(
        t.fc.data(), M, H, c.mlpType, c.activation, dact.data(), dfc.data()));
    STEER_RETURN_IF_ERROR(dev.linearBackward(dfc.data(), M, L.fc, din.data()));
    STEER_RETURN_IF_ERROR(throughNorm(preNorm, t.x1, L.ln2, din.data()));

    // Attention: x1 = x + attn(x) with its norm.
    STEER_ASSIGN_OR_RETURN(const float *ga, intoSublayer(t.proj, L.ln1));
    STEER_RETURN_IF_ERROR(dev.linearBackward(ga, M, L.proj, dattn.data()));
    STEER_RETURN_IF_ERROR(dev.attentionBackward(
        t.q.data(), cache.k[l].data(), cache.v[l].data(), M, c.diffBlockSize,
        nh, nkv, hd, dattn.data(), dq.data(), dk.data(), dv.data()));
    STEER_RETURN_IF_ERROR(dev.attentionPrologueBackward(
        qkvSpec(L), t.qkv.data(), M, dq.data(), dk.data(), dv.data(),
        dqkv.data()));
    STEER_RETURN_IF_ERROR(dev.linearBackward(dqkv.data(), M, L.qkv, din.data()));
    STEER_RETURN_IF_ERROR(throughNorm(preNorm, t.x, L.ln1, din.data()));
  }
  return dev.download(g.data(), grad, M * D);
}

StatusOr<LogitGradients>
Engine::logitGradients(std::span<const float> embeds, int64_t T,
                       std::span<const LogitTarget> targets,
                       const ForwardRequest &request) const {
  const ModelConfig &c = config_;
  const int64_t D = c.nEmbd;
  if (T < 1 || static_cast<int64_t>(embeds.size()) != T * D)
    return makeError(StatusCode::kInvalidArgument, "logit gradients: ",
                     embeds.size(), " input values for ", T, " rows of ", D);
  if (T > c.blockSize)
    return makeError(StatusCode::kOutOfRange, "sequence of ", T,
                     " tokens is longer than the model's context (block_size ",
                     c.blockSize, ")");
  if (targets.empty())
    return makeError(StatusCode::kInvalidArgument,
                     "logit gradients: no target logit");
  int64_t last = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    const LogitTarget &t = targets[i];
    if (t.position < 0 || t.position >= T || t.token < 0 ||
        t.token >= c.vocabSize)
      return makeError(StatusCode::kOutOfRange, "logit gradients: target ", i,
                       " (token ", t.token, " at row ", t.position,
                       ") is outside ", T, " rows and a vocabulary of ",
                       c.vocabSize);
    last = std::max(last, t.position);
  }
  for (int64_t i = 0; i < T * D; ++i)
    if (!std::isfinite(embeds[i]))
      return makeError(StatusCode::kInvalidArgument, "logit gradients: input "
                       "row ", i / D, " holds a non-finite value");
  const WeightIntervention *iv =
      request.intervention && request.intervention->active()
          ? request.intervention
          : nullptr;
  if (iv)
    STEER_RETURN_IF_ERROR(checkIntervention(*iv));

  const int64_t B = c.diffBlockSize;
  const int64_t M = std::min(T, (last / B + 1) * B);
  hal::Device &dev = *device_;
  STEER_ASSIGN_OR_RETURN(KvCache cache, makeCache(M));
  STEER_ASSIGN_OR_RETURN(hal::Buffer x, dev.allocate(M * D));
  STEER_RETURN_IF_ERROR(dev.upload(embeds.data(), x.data(), M * D));
  Tape tape;
  const Segment rows[] = {{0, 0, M, &cache, request.injections}};
  STEER_RETURN_IF_ERROR(runBlocks(x.data(), rows, &tape));
  STEER_RETURN_IF_ERROR(dev.rmsNorm(x.data(), M, D, D, lnF_, c.normEps));
  std::vector<float> hidden(M * D);
  STEER_RETURN_IF_ERROR(dev.download(x.data(), hidden.data(), M * D));

  // The composition at a target's row (Engine::heads) is the identity
  // unless epsilon is dropped; then it is unknown + known features.
  const ConceptConfig *k = c.concepts ? &*c.concepts : nullptr;
  const bool epsilon = !k || (k->useEpsilonCorrection &&
                              (iv ? iv->epsilon.value_or(false) : true));
  const bool throughHeads = k && !epsilon && k->useUnknown;
  ForwardRequest hr;
  hr.logits = false;
  hr.concepts = true;
  hr.intervention = iv;
  LogitGradients out;
  out.rows = M;
  out.logits.resize(targets.size());
  out.grads.resize(targets.size() * M * D);
  std::vector<float> w(D), dh(D);
  for (size_t ti = 0; ti < targets.size(); ++ti) {
    const LogitTarget &t = targets[ti];
    const float *h = &hidden[t.position * D];
    STEER_RETURN_IF_ERROR(lmHeadRow(t.token, w.data()));
    std::copy(w.begin(), w.end(), dh.begin());
    if (!throughHeads) {
      out.logits[ti] = static_cast<float>(dotHost(h, w.data(), D));
    } else {
      ForwardOutputs ho;
      STEER_RETURN_IF_ERROR(heads(h, 1, t.position, hr, ho));
      out.logits[ti] = static_cast<float>(dotHost(ho.composed.data(), w.data(), D));
      // composed = unknown + known: dh = Ju^T w + Jk^T w, the heads' top-k
      // selections fixed; only entries whose weight is sigmoid(logit) of
      // this row carry a gradient (overrides and profiles are constants).
      std::fill(dh.begin(), dh.end(), 0.0f);
      hal::Buffer dw, ddh;
      STEER_ASSIGN_OR_RETURN(dw, dev.allocate(D));
      STEER_ASSIGN_OR_RETURN(ddh, dev.allocate(D));
      STEER_RETURN_IF_ERROR(dev.upload(w.data(), dw.data(), D));
      STEER_RETURN_IF_ERROR(dev.unknownHeadBackward(
          unknown_, 1, ho.unknownTopkIds, ho.unknownTopkLogits, ho.unknownTopk,
          dw.data(), ddh.data()));
      std::vector<int64_t> liveIds;
      std::vector<float> liveLogits;
      if (iv && iv->lists(t.position)) {
        if (iv->profile.empty() && iv->features.empty()) {
          // The dense path's selection: the row's weights without the
          // intervention, top-k applied; the listed concepts are constants.
          ForwardRequest dr;
          dr.logits = false;
          dr.knownWeights = true;
          ForwardOutputs dense;
          STEER_RETURN_IF_ERROR(heads(h, 1, t.position, dr, dense));
          const int64_t C = known_.nConcepts;
          for (int64_t j = 0; j < C; ++j) {
            const float wj = dense.knownWeights[j];
            const bool selected =
                known_.topkOnLogits && known_.topk ? wj != 0.5f : wj != 0.0f;
            if (!selected || std::find(iv->concepts.begin(), iv->concepts.end(),
                                       j) != iv->concepts.end())
              continue;
            liveIds.push_back(j);
            liveLogits.push_back(std::log(wj / (1.0f - wj)));
          }
        }
      } else {
        liveIds = ho.knownTopkIds;
        liveLogits = ho.knownTopkLogits;
      }
      if (!liveIds.empty())
        STEER_RETURN_IF_ERROR(dev.knownHeadBackward(
            known_, 1, liveIds, liveLogits,
            static_cast<int64_t>(liveIds.size()), dw.data(), ddh.data()));
      STEER_RETURN_IF_ERROR(dev.download(ddh.data(), dh.data(), D));
    }
    STEER_RETURN_IF_ERROR(backwardBlocks(tape, cache, M, t.position, dh,
                                         &out.grads[ti * M * D]));
  }
  return out;
}

} // namespace steer
