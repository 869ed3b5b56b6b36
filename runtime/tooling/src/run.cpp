//===- run.cpp - steer-run generate, explain, forward, embed --------------===//
#include "steer/exec/program.h"
#include "steer/cli/commands.h"
#include "steer/session/session.h"
#include "steer/exec/attribution.h"
#include "steer/exec/input_attribution.h"
#include "steer/io/safetensors_writer.h"
#include "steer/model/concept_labels.h"
#include "steer/text/tokenizer.h"
#include "steer/text/utf8.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>

namespace steer::cli {
namespace {

/// An opened model (through the session API) and the prompt's ids.
struct Loaded {
  std::unique_ptr<Session> session;
  std::vector<int64_t> ids;
  const Engine &engine() const { return session->engine(); }
  const Tokenizer &tokenizer() const { return session->tokenizer(); }
  const Artifact *artifact() const { return session->artifact(); }
};

StatusOr<Loaded> load(const ModelInput &in) {
  Loaded l;
  SessionOptions options;
  options.requireSignature = in.requireSignature;
  STEER_ASSIGN_OR_RETURN(l.session, Session::open(in.dir, options));
  if (!in.prompt.empty()) {
    STEER_ASSIGN_OR_RETURN(l.ids, l.session->encode(in.prompt),
                           "in --prompt (token ids go in --ids)");
  } else if (!in.ids.empty()) {
    STEER_ASSIGN_OR_RETURN(l.ids, parseIdList(in.ids, "--ids"));
    STEER_RETURN_IF_ERROR(l.engine().checkIds(l.ids), "in --ids");
  } else {
    return makeError(StatusCode::kInvalidArgument,
                     "give a prompt: --prompt TEXT or --ids LIST");
  }
  return l;
}

std::string decode(const Tokenizer &tok, std::span<const int64_t> ids) {
  return decodeTokens(tok, ids);
}

StatusOr<SamplingOptions> sampling(const GenerateOptions &o) {
  SamplingOptions s;
  if (o.greedy) {
    if (o.temperature || o.topP)
      return makeError(StatusCode::kInvalidArgument,
                       "--greedy excludes --temperature and --top-p");
    s = SamplingOptions::greedy(o.maxNewTokens);
  } else if (o.temperature || o.topP) {
    s.entropySampling = false;
    s.temperature = o.temperature.value_or(1.0);
    s.topP = o.topP.value_or(1.0);
    // Written so that NaN fails: !(lo <= x && x <= hi).
    if (!(0 <= s.temperature && s.temperature <= 100))
      return makeError(StatusCode::kInvalidArgument,
                       "--temperature must be in [0, 100], got ",
                       s.temperature);
    if (!(0 <= s.topP && s.topP <= 1))
      return makeError(StatusCode::kInvalidArgument,
                       "--top-p must be in [0, 1], got ", s.topP);
  }
  s.maxNewTokens = o.maxNewTokens;
  s.steps = o.steps;
  s.seed = o.seed;
  if (!o.greedy)
    s.repetitionPenalty = o.repetitionPenalty;
  if (!(1 <= o.repetitionPenalty && o.repetitionPenalty <= 1000))
    return makeError(StatusCode::kInvalidArgument,
                     "--repetition-penalty must be in [1, 1000], got ",
                     o.repetitionPenalty);
  s.cfgScale = o.cfgScale;
  if (!(0 <= o.cfgScale && o.cfgScale <= 1000))
    return makeError(StatusCode::kInvalidArgument,
                     "--cfg-scale must be in [0, 1000], got ", o.cfgScale);
  if (o.maxNewTokens > kMaxContext)
    return makeError(StatusCode::kInvalidArgument,
                     "--max-new-tokens must be at most ", kMaxContext,
                     ", got ", o.maxNewTokens);
  s.useCache = !o.noCache;
  if (!o.stopTokens.empty()) {
    STEER_ASSIGN_OR_RETURN(s.stopTokens,
                           parseIdList(o.stopTokens, "--stop-tokens"));
  }
  return s;
}

/// A one-line progress display, redrawn in place on a terminal.
StepCallback progressCallback(bool enabled, int64_t totalSteps,
                              StepCallback inner) {
  if (!enabled)
    return inner;
  auto start = std::chrono::steady_clock::now();
  return [=](const StepInfo &info) {
    double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    std::fprintf(stderr, "\rstep %lld/%lld  %.1f s", (long long)info.step + 1,
                 (long long)totalSteps, secs);
    if (info.step + 1 == totalSteps)
      std::fputc('\n', stderr);
    std::fflush(stderr);
    return inner ? inner(info) : true;
  };
}

struct Generated {
  Loaded model;
  AppliedPolicy policy;
  GenerationResult result;
  std::vector<std::string> stopText; // as unescaped
  double seconds = 0;
};

std::string firedLine(const Loaded &m, const AppliedPolicy &p) {
  if (!m.artifact())
    return "";
  std::string s = "steer-run: rules fired: ";
  for (size_t i = 0; i < p.fired.size(); ++i)
    s += (i ? ", " : "") + p.fired[i];
  return p.fired.empty() ? "steer-run: no rule fired\n" : s + "\n";
}

StatusOr<Generated> runGeneration(const GenerateOptions &o, bool concepts,
                                  StepCallback inner) {
  Generated g;
  STEER_ASSIGN_OR_RETURN(g.model, load(o.input));
  STEER_ASSIGN_OR_RETURN(SamplingOptions s, sampling(o));
  GenerateRequest req;
  req.sampling = s;
  req.wantConcepts = concepts;
  req.callback = progressCallback(o.progress, s.steps.value_or(s.maxNewTokens),
                                  std::move(inner));
  for (const std::string &raw : o.stopText) {
    // Escapes: \n, \t and \\; any other backslash is a mistake.
    std::string stop;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '\\') {
        stop += raw[i];
        continue;
      }
      const char next = i + 1 < raw.size() ? raw[i + 1] : '\0';
      if (next != 'n' && next != 't' && next != '\\')
        return makeError(StatusCode::kInvalidArgument, "--stop '", raw,
                         "': unknown escape at byte ", i,
                         "; use \\n, \\t or \\\\");
      stop += next == 'n' ? '\n' : next == 't' ? '\t' : '\\';
      ++i;
    }
    if (stop.empty())
      return makeError(StatusCode::kInvalidArgument,
                       "--stop needs a non-empty text");
    req.stopText.push_back(stop);
  }
  const Tokenizer *tok = &g.model.tokenizer();
  req.decode = [tok](std::span<const int64_t> ids) {
    return decode(*tok, ids);
  };
  g.stopText = req.stopText;
  auto t0 = std::chrono::steady_clock::now();
  STEER_ASSIGN_OR_RETURN(SessionGeneration out,
                         g.model.session->generate(g.model.ids, std::move(req)),
                         "while generating");
  g.result = std::move(out.result);
  g.policy = std::move(out.policy);
  g.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  return g;
}

} // namespace

StatusOr<std::string> generate(const GenerateOptions &o) {
  STEER_ASSIGN_OR_RETURN(Generated g, runGeneration(o, false, nullptr));
  std::string text = decode(g.model.tokenizer(), g.result.generated);
  text.resize(stopIndex(text, g.stopText));
  if (!o.json) {
    std::fputs(firedLine(g.model, g.policy).c_str(), stderr);
    return text + "\n";
  }
  nlohmann::ordered_json j;
  j["text"] = text;
  j["prompt_tokens"] = g.result.promptTokens;
  j["sequence"] = g.result.sequence;
  j["generated"] = g.result.generated;
  if (g.model.artifact())
    j["rules_fired"] = g.policy.fired;
  double stepMs = 0;
  for (double s : g.result.stepSeconds)
    stepMs += s * 1e3;
  j["timings"] = {
      {"seconds", g.seconds},
      {"steps", g.result.steps},
      {"mean_step_ms", g.result.steps ? stepMs / g.result.steps : 0.0},
      {"tokens_per_second",
       g.seconds > 0
           ? (g.result.sequence.size() - g.result.promptTokens) / g.seconds
           : 0.0},
      {"rows_computed", g.result.rowsComputed},
      {"kv_cache", !o.noCache}};
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

StatusOr<std::string> explain(const ExplainOptions &o) {
  if (o.top < 1 || o.top > 100000)
    return makeError(StatusCode::kInvalidArgument,
                     "--top must be in [1, 100000], got ", o.top);
  std::vector<TokenAttribution> attributions;
  const Engine *engine = nullptr;
  Status attributionError = okStatus();
  auto collect = [&](const StepInfo &info) {
    auto a = attributeStep(*engine, info);
    if (!a.ok()) {
      attributionError = a.status();
      return false;
    }
    attributions.insert(attributions.end(), a->begin(), a->end());
    return true;
  };
  // The engine exists only once the model is loaded: load first to check
  // the input, then generate with attribution.
  STEER_ASSIGN_OR_RETURN(Loaded probe, load(o.generation.input));
  if (!probe.engine().interpretable())
    return makeError(StatusCode::kInvalidArgument, o.generation.input.dir,
                     ": explain needs an interpretable checkpoint");
  engine = &probe.engine();
  STEER_ASSIGN_OR_RETURN(SamplingOptions s, sampling(o.generation));
  GenerateRequest req;
  req.sampling = s;
  req.wantConcepts = true;
  req.callback = progressCallback(o.generation.progress,
                                  s.steps.value_or(s.maxNewTokens), collect);
  STEER_ASSIGN_OR_RETURN(SessionGeneration generated,
                         probe.session->generate(probe.ids, std::move(req)),
                         "while generating");
  STEER_RETURN_IF_ERROR(attributionError, "while attributing");
  const GenerationResult &result = generated.result;
  const AppliedPolicy &policy = generated.policy;

  std::optional<ConceptLabels> labels;
  const std::string labelsPath =
      o.labels.empty() ? findLabelsFile(o.generation.input.dir) : o.labels;
  if (!labelsPath.empty()) {
    STEER_ASSIGN_OR_RETURN(labels, ConceptLabels::load(labelsPath));
  }
  auto label = [&](bool known, int64_t id) {
    if (labels)
      if (const ConceptLabel *l = labels->find(
              known ? ConceptHead::kKnown : ConceptHead::kUnknown, id))
        return l->name;
    return std::string(known ? "known#" : "discovered#") + std::to_string(id);
  };
  const ModelConfig &c = engine->config();
  std::vector<int64_t> stops = s.stopTokens;
  if (c.instruct)
    stops.push_back(100283);
  auto chunks = chunkAttribution(result.sequence, result.promptTokens,
                                 c.endofchunkTokenId, stops, attributions);
  float maxError = 0, maxLogit = 0;
  for (const TokenAttribution &t : attributions) {
    // std::max drops a NaN; a verification that cannot be computed is a
    // failure, not "within 0".
    if (!std::isfinite(t.error) || !std::isfinite(t.logit))
      return makeError(StatusCode::kDataLoss, "attribution of position ",
                       t.position, " is not finite (logit ", t.logit,
                       ", error ", t.error, "); nothing can be verified");
    maxError = std::max(maxError, t.error);
    maxLogit = std::max(maxLogit, std::abs(t.logit));
  }

  if (o.generation.json) {
    nlohmann::ordered_json j;
    j["text"] = decode(probe.tokenizer(), result.generated);
    j["sequence"] = result.sequence;
    if (probe.artifact())
      j["rules_fired"] = policy.fired;
    j["verification"] = {{"max_abs_error", maxError},
                         {"max_abs_logit", maxLogit},
                         {"tokens", attributions.size()}};
    for (const ChunkAttribution &ch : chunks) {
      nlohmann::ordered_json cj;
      cj["start"] = ch.start;
      cj["end"] = ch.end;
      cj["text"] = decode(
          probe.tokenizer(),
          std::span(result.sequence).subspan(ch.start, ch.end - ch.start));
      cj["epsilon_percent"] = ch.epsilonPercent;
      for (size_t i = 0; i < ch.entries.size() && i < size_t(o.top); ++i)
        cj["concepts"].push_back(
            {{"type", ch.entries[i].known ? "known" : "discovered"},
             {"id", ch.entries[i].id},
             {"label", label(ch.entries[i].known, ch.entries[i].id)},
             {"contribution", ch.entries[i].contribution}});
      j["chunks"].push_back(cj);
    }
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  std::string out = firedLine(probe, policy);
  out += decode(probe.tokenizer(), result.generated) + "\n";
  char line[256];
  for (size_t n = 0; n < chunks.size(); ++n) {
    const ChunkAttribution &ch = chunks[n];
    std::snprintf(line, sizeof(line),
                  "\nchunk %zu (tokens %lld-%lld, epsilon %.1f%%): ", n + 1,
                  (long long)ch.start, (long long)ch.end - 1,
                  ch.epsilonPercent);
    out += line;
    out +=
        decode(probe.tokenizer(),
               std::span(result.sequence).subspan(ch.start, ch.end - ch.start));
    out += "\n";
    for (size_t i = 0; i < ch.entries.size() && i < size_t(o.top); ++i) {
      std::snprintf(line, sizeof(line), "  %+8.4f  %-10s %s\n",
                    ch.entries[i].contribution,
                    ch.entries[i].known ? "known" : "discovered",
                    label(ch.entries[i].known, ch.entries[i].id).c_str());
      out += line;
    }
  }
  std::snprintf(line, sizeof(line),
                "\nverification: contributions sum to each token's logit "
                "within %.2g (largest |logit| %.3g, %zu tokens)\n",
                maxError, maxLogit, attributions.size());
  out += line;
  return out;
}

StatusOr<std::string> attributeInput(const AttributeInputOptions &o) {
  if (o.top < 1 || o.top > 100000)
    return makeError(StatusCode::kInvalidArgument,
                     "--top must be in [1, 100000], got ", o.top);
  if (o.igSteps < 1 || o.igSteps > 4096)
    return makeError(StatusCode::kInvalidArgument,
                     "--ig-steps must be in [1, 4096], got ", o.igSteps);
  IgOptions ig;
  ig.steps = o.igSteps;
  STEER_ASSIGN_OR_RETURN(ig.baseline, parseIgBaseline(o.baseline),
                         "in --baseline");
  const GenerateOptions &go = o.generation;
  if (!go.stopText.empty())
    return makeError(StatusCode::kInvalidArgument,
                     "attribute-input does not take --stop: every committed "
                     "token is attributed (use --stop-tokens)");
  STEER_ASSIGN_OR_RETURN(Loaded m, load(go.input));
  if (!m.engine().interpretable())
    return makeError(StatusCode::kInvalidArgument, go.input.dir,
                     ": attribute-input needs an interpretable checkpoint");
  STEER_ASSIGN_OR_RETURN(SamplingOptions s, sampling(go));
  // An artifact's program decides the steering on the prompt; the
  // generation and every snapshot's forward then run under it.
  STEER_ASSIGN_OR_RETURN(AppliedPolicy policy, m.session->steering(m.ids),
                         "while evaluating the program's guards");
  GenerateRequest req;
  req.sampling = s;
  if (!policy.steering.empty())
    req.steering = &policy.steering;
  req.callback =
      progressCallback(go.progress, s.steps.value_or(s.maxNewTokens), nullptr);
  auto t0 = std::chrono::steady_clock::now();
  STEER_ASSIGN_OR_RETURN(InputAttribution a,
                         steer::attributeInput(m.engine(), m.ids, req, ig),
                         "while attributing");
  const double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  for (const TargetAttribution &t : a.targets)
    for (float v : t.scores)
      if (!std::isfinite(v))
        return makeError(StatusCode::kDataLoss, "the attribution of position ",
                         t.position, " is not finite; nothing can be shown");

  const Tokenizer &tok = m.tokenizer();
  const ModelConfig &c = m.engine().config();
  std::vector<int64_t> stops = s.stopTokens;
  if (c.instruct)
    stops.push_back(100283);
  const std::vector<ChunkAttribution> chunks = chunkAttribution(
      a.sequence, a.promptTokens, c.endofchunkTokenId, stops, {});
  std::vector<int64_t> promptPositions(a.promptTokens);
  std::iota(promptPositions.begin(), promptPositions.end(), 0);
  auto targetsIn = [&](int64_t start, int64_t end) {
    std::vector<size_t> idx;
    for (size_t i = 0; i < a.targets.size(); ++i)
      if (a.targets[i].position >= start && a.targets[i].position < end)
        idx.push_back(i);
    return idx;
  };
  auto tokenText = [&](int64_t id) {
    return decode(tok, std::span<const int64_t>(&id, 1));
  };
  // Completeness (n > 1): the scores of a target sum to its logit minus
  // the baseline's, up to the Riemann error.
  // The gap is reported beside the largest logit change it is a part of.
  double gap = 0, largestChange = 0;
  if (ig.steps > 1)
    for (const TargetAttribution &t : a.targets) {
      double sum = 0;
      for (float v : t.scores)
        sum += v;
      const double d = t.inputLogit - t.baselineLogit;
      gap = std::max(gap, std::fabs(sum - d));
      largestChange = std::max(largestChange, std::fabs(d));
    }
  const std::string text = decode(tok, a.generation.generated);

  if (go.json) {
    nlohmann::ordered_json j;
    j["text"] = text;
    j["prompt_tokens"] = a.promptTokens;
    j["sequence"] = a.sequence;
    if (m.artifact())
      j["rules_fired"] = policy.fired;
    j["ig"] = {{"steps", ig.steps}, {"baseline", igBaselineName(ig.baseline)}};
    for (const TargetAttribution &t : a.targets) {
      nlohmann::ordered_json tj;
      tj["order"] = t.order;
      tj["position"] = t.position;
      tj["token"] = t.token;
      tj["text"] = tokenText(t.token);
      tj["logit"] = t.inputLogit;
      if (ig.steps > 1)
        tj["baseline_logit"] = t.baselineLogit;
      tj["attribution"] = t.scores;
      j["targets"].push_back(tj);
    }
    for (const ChunkAttribution &ch : chunks) {
      nlohmann::ordered_json cj;
      cj["start"] = ch.start;
      cj["end"] = ch.end;
      cj["text"] = decode(
          tok, std::span(a.sequence).subspan(ch.start, ch.end - ch.start));
      const std::vector<size_t> idx = targetsIn(ch.start, ch.end);
      auto ranked = aggregateScores(a, idx, promptPositions);
      for (size_t i = 0; i < ranked.size() && i < size_t(o.top); ++i)
        cj["prompt"].push_back({{"position", ranked[i].first},
                                {"token", a.sequence[ranked[i].first]},
                                {"text", tokenText(a.sequence[ranked[i].first])},
                                {"score", ranked[i].second}});
      j["chunks"].push_back(cj);
    }
    if (ig.steps > 1)
      j["completeness"] = {{"max_abs_gap", gap},
                           {"largest_logit_change", largestChange}};
    j["timings"] = {{"seconds", total},
                    {"attribution_seconds", a.seconds},
                    {"targets", a.targets.size()},
                    {"ms_per_target",
                     a.targets.empty() ? 0.0 : a.seconds * 1e3 / a.targets.size()}};
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
           "\n";
  }

  std::string out = firedLine(m, policy);
  out += text + "\n";
  char line[512];
  auto listRanked = [&](const std::vector<std::pair<int64_t, float>> &ranked) {
    for (size_t i = 0; i < ranked.size() && i < size_t(o.top); ++i) {
      std::snprintf(line, sizeof(line), "  %+8.4f  #%-4lld %s\n",
                    ranked[i].second, (long long)ranked[i].first,
                    displayText(tokenText(a.sequence[ranked[i].first]), false).c_str());
      out += line;
    }
  };
  for (size_t n = 0; n < chunks.size(); ++n) {
    const ChunkAttribution &ch = chunks[n];
    std::snprintf(line, sizeof(line), "\nchunk %zu (tokens %lld-%lld): ", n + 1,
                  (long long)ch.start, (long long)ch.end - 1);
    out += line;
    out += decode(tok,
                  std::span(a.sequence).subspan(ch.start, ch.end - ch.start));
    out += "\n";
    listRanked(aggregateScores(a, targetsIn(ch.start, ch.end), promptPositions));
  }
  if (o.perToken)
    for (size_t i = 0; i < a.targets.size(); ++i) {
      const TargetAttribution &t = a.targets[i];
      std::snprintf(line, sizeof(line), "\ntoken #%lld %s (logit %.4f):\n",
                    (long long)t.position,
                    displayText(tokenText(t.token), false).c_str(), t.inputLogit);
      out += line;
      const size_t one[] = {i};
      listRanked(aggregateScores(a, one, promptPositions));
    }
  std::snprintf(line, sizeof(line),
                "\nintegrated gradients: %lld step%s, %s baseline; %zu tokens "
                "in %.2f s",
                (long long)ig.steps, ig.steps == 1 ? "" : "s",
                igBaselineName(ig.baseline), a.targets.size(), a.seconds);
  out += line;
  if (ig.steps > 1) {
    std::snprintf(line, sizeof(line),
                  "; completeness: each token's scores sum to its logit "
                  "minus the baseline's within %.3g (largest change %.3g)",
                  gap, largestChange);
    out += line;
  }
  return out + "\n";
}

StatusOr<std::string> forward(const ForwardOptions &o) {
  if (o.dump.empty())
    return makeError(StatusCode::kInvalidArgument, "--dump FILE is required");
  {
    const std::string model[] = {o.input.dir};
    STEER_RETURN_IF_ERROR(checkOutputPath(o.dump, model, model), "--dump");
  }
  STEER_ASSIGN_OR_RETURN(Loaded m, load(o.input));
  const Engine &e = m.engine();
  ForwardRequest req;
  req.hidden = req.composed = true;
  req.concepts = req.knownWeights = e.interpretable();
  STEER_ASSIGN_OR_RETURN(ForwardOutputs out, e.forward(m.ids, req));
  const int64_t T = out.rows, D = e.width();
  SafetensorsWriter w;
  auto f32 = [&](const std::string &name, const std::vector<float> &v,
                 std::vector<int64_t> shape) {
    return w.add(name, DType::kF32, std::move(shape),
                 std::string(reinterpret_cast<const char *>(v.data()),
                             v.size() * sizeof(float)));
  };
  auto i64 = [&](const std::string &name, const std::vector<int64_t> &v,
                 std::vector<int64_t> shape) {
    return w.add(name, DType::kI64, std::move(shape),
                 std::string(reinterpret_cast<const char *>(v.data()),
                             v.size() * sizeof(int64_t)));
  };
  STEER_RETURN_IF_ERROR(i64("forward.ids", m.ids, {T}));
  STEER_RETURN_IF_ERROR(f32("forward.logits", out.logits, {T, e.vocab()}));
  STEER_RETURN_IF_ERROR(f32("forward.hidden", out.hidden, {T, D}));
  STEER_RETURN_IF_ERROR(f32("forward.composed", out.composed, {T, D}));
  if (e.interpretable()) {
    const int64_t C = e.config().concepts->nConcepts;
    STEER_RETURN_IF_ERROR(
        f32("forward.known_features", out.knownFeatures, {T, D}));
    STEER_RETURN_IF_ERROR(f32("forward.unk_hat", out.unknownFeatures, {T, D}));
    STEER_RETURN_IF_ERROR(f32("forward.epsilon", out.epsilon, {T, D}));
    STEER_RETURN_IF_ERROR(
        f32("forward.known_weights", out.knownWeights, {T, C}));
    if (out.unknownTopk) {
      STEER_RETURN_IF_ERROR(i64("forward.unknown_topk_indices",
                                out.unknownTopkIds, {T, out.unknownTopk}));
      STEER_RETURN_IF_ERROR(f32("forward.unknown_topk_logits",
                                out.unknownTopkLogits, {T, out.unknownTopk}));
    }
    STEER_RETURN_IF_ERROR(i64("forward.known_topk_indices", out.knownTopkIds,
                              {T, out.knownTopk}));
    STEER_RETURN_IF_ERROR(f32("forward.known_topk_logits", out.knownTopkLogits,
                              {T, out.knownTopk}));
  }
  if (!o.intervene.empty()) {
    WeightIntervention iv;
    size_t entry = 0;
    for (size_t pos = 0; pos < o.intervene.size(); ++entry) {
      size_t comma = o.intervene.find(',', pos);
      if (comma == std::string::npos)
        comma = o.intervene.size();
      std::string item = o.intervene.substr(pos, comma - pos);
      pos = comma + 1;
      size_t colon = item.find(':');
      char *end = nullptr;
      errno = 0;
      long long id =
          colon == std::string::npos ? 0 : std::strtoll(item.c_str(), &end, 10);
      bool ok = colon != std::string::npos && end == item.c_str() + colon &&
                errno == 0;
      float value = ok ? std::strtof(item.c_str() + colon + 1, &end) : 0;
      ok = ok && end == item.c_str() + item.size() && colon + 1 < item.size();
      if (!ok)
        return makeError(StatusCode::kInvalidArgument, "--intervene: entry ",
                         entry, " ('", item, "') is not ID:VALUE");
      if (std::find(iv.concepts.begin(), iv.concepts.end(), id) !=
          iv.concepts.end())
        return makeError(StatusCode::kInvalidArgument, "--intervene: concept ",
                         id, " is given twice (entry ", entry, ")");
      iv.concepts.push_back(id);
      iv.values.push_back(value);
    }
    SteeringOptions check;
    check.weights = iv;
    STEER_RETURN_IF_ERROR(resolveSteering(e, check).status(), "in --intervene");
    ForwardRequest ireq;
    ireq.concepts = true;
    ireq.intervention = &iv;
    STEER_ASSIGN_OR_RETURN(ForwardOutputs io, e.forward(m.ids, ireq));
    STEER_RETURN_IF_ERROR(f32("intervene.logits", io.logits, {T, e.vocab()}));
    STEER_RETURN_IF_ERROR(
        f32("intervene.known_features", io.knownFeatures, {T, D}));
    w.setMetadata("intervene", o.intervene);
  }
  STEER_RETURN_IF_ERROR(w.write(o.dump));
  char line[256];
  std::snprintf(line, sizeof(line), "wrote %s: %lld positions, %.1f MB\n",
                o.dump.c_str(), (long long)T, w.dataBytes() / 1e6);
  return std::string(line);
}

StatusOr<std::string> embed(const EmbedOptions &o) {
  STEER_ASSIGN_OR_RETURN(Loaded m, load(o.input));
  const Engine &e = m.engine();
  const bool needHeads = o.type == "known" || o.type == "unknown";
  if (o.type != "hidden" && o.type != "composed" && !needHeads)
    return makeError(StatusCode::kInvalidArgument, "--type '", o.type,
                     "' must be hidden, composed, known or unknown");
  if (o.pooling != "mean" && o.pooling != "first" && o.pooling != "last" &&
      o.pooling != "none")
    return makeError(StatusCode::kInvalidArgument, "--pooling '", o.pooling,
                     "' must be mean, first, last or none");
  if ((needHeads || o.type == "composed") && !e.interpretable() &&
      o.type != "composed")
    return makeError(StatusCode::kInvalidArgument, "--type ", o.type,
                     " needs an interpretable checkpoint");
  ForwardRequest req;
  req.logits = false;
  req.hidden = true;
  req.composed = true;
  req.concepts = e.interpretable() && (needHeads || o.type == "composed");
  STEER_ASSIGN_OR_RETURN(ForwardOutputs out, e.forward(m.ids, req));
  const std::vector<float> &rep = o.type == "hidden"     ? out.hidden
                                  : o.type == "composed" ? out.composed
                                  : o.type == "known"    ? out.knownFeatures
                                                         : out.unknownFeatures;
  const int64_t T = out.rows, D = e.width();
  std::vector<std::vector<float>> rows;
  if (o.pooling == "none") {
    for (int64_t t = 0; t < T; ++t)
      rows.emplace_back(rep.begin() + t * D, rep.begin() + (t + 1) * D);
  } else if (o.pooling == "first" || o.pooling == "last") {
    int64_t t = o.pooling == "first" ? 0 : T - 1;
    rows.emplace_back(rep.begin() + t * D, rep.begin() + (t + 1) * D);
  } else {
    std::vector<float> mean(D, 0.0f);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t d = 0; d < D; ++d)
        mean[d] += rep[t * D + d];
    for (float &v : mean)
      v /= static_cast<float>(T);
    rows.push_back(mean);
  }
  if (o.json) {
    nlohmann::ordered_json j;
    j["type"] = o.type;
    j["pooling"] = o.pooling;
    j["tokens"] = T;
    j["embedding"] = o.pooling == "none" ? nlohmann::ordered_json(rows)
                                         : nlohmann::ordered_json(rows[0]);
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  std::string s;
  char buf[32];
  for (const auto &r : rows) {
    for (int64_t d = 0; d < D; ++d) {
      std::snprintf(buf, sizeof(buf), d ? " %.7g" : "%.7g", r[d]);
      s += buf;
    }
    s += "\n";
  }
  return s;
}

} // namespace steer::cli
