//===- inspect.cpp - steer-run inspect ------------------------------------===//
#include "steer/cli/commands.h"
#include "steer/model/checkpoint.h"
#include "steer/model/concept_labels.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>

namespace steer::cli {
namespace {

std::string human(uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30))
    std::snprintf(buf, sizeof(buf), "%.2f GiB", bytes / 1073741824.0);
  else if (bytes >= (1ull << 20))
    std::snprintf(buf, sizeof(buf), "%.2f MiB", bytes / 1048576.0);
  else if (bytes >= 1024)
    std::snprintf(buf, sizeof(buf), "%.1f KiB", bytes / 1024.0);
  else
    std::snprintf(buf, sizeof(buf), "%llu B",
                  static_cast<unsigned long long>(bytes));
  return buf;
}

std::string count(uint64_t n) {
  char buf[32];
  if (n >= 1000000000)
    std::snprintf(buf, sizeof(buf), "%.2fB", n / 1e9);
  else if (n >= 1000000)
    std::snprintf(buf, sizeof(buf), "%.2fM", n / 1e6);
  else if (n >= 1000)
    std::snprintf(buf, sizeof(buf), "%.1fK", n / 1e3);
  else
    std::snprintf(buf, sizeof(buf), "%llu", static_cast<unsigned long long>(n));
  return buf;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

std::string optional(const std::optional<int64_t> &v) {
  return v ? std::to_string(*v) : "none";
}

/// Checks that every labelled concept exists in the model.
Status checkLabels(const ConceptLabels &labels, const ModelConfig &c) {
  const int64_t known = c.concepts ? c.concepts->nConcepts : 0;
  const int64_t unknown =
      c.concepts && c.concepts->useUnknown ? *c.concepts->nUnknownConcepts : 0;
  for (const ConceptLabel &l : labels.all()) {
    int64_t n = l.head == ConceptHead::kKnown ? known : unknown;
    if (l.id >= n)
      return makeError(StatusCode::kOutOfRange, l.origin, ": ",
                       l.head == ConceptHead::kKnown ? "known" : "unknown",
                       " concept id ", l.id, " is outside the model's [0, ", n,
                       ")");
  }
  return okStatus();
}

} // namespace

StatusOr<std::string> inspect(const InspectOptions &options) {
  STEER_ASSIGN_OR_RETURN(auto ckpt, Checkpoint::open(options.dir));
  const ModelConfig &c = ckpt->config();

  const std::string labelsPath =
      options.labels.empty() ? findLabelsFile(options.dir) : options.labels;
  std::optional<ConceptLabels> labels;
  if (!labelsPath.empty()) {
    STEER_ASSIGN_OR_RETURN(labels, ConceptLabels::load(labelsPath));
    STEER_RETURN_IF_ERROR(checkLabels(*labels, c));
  }

  // Parameters by part, counting the tied embedding once; dtypes by count.
  std::map<std::string, std::pair<uint64_t, uint64_t>> parts; // elems, bytes
  std::map<std::string, size_t> dtypes;
  uint64_t totalElems = 0, totalBytes = 0;
  for (const TensorSpec &spec : ckpt->specs()) {
    const TensorView *v = ckpt->tensor(spec.name);
    uint64_t n = static_cast<uint64_t>(numElements(spec.shape));
    auto &p = parts[std::string(toString(spec.part))];
    p.first += n;
    p.second += v->bytes;
    totalElems += n;
    totalBytes += v->bytes;
    ++dtypes[std::string(dtypeName(v->dtype))];
  }

  nlohmann::ordered_json j;
  j["path"] = options.dir;
  j["config"] = nlohmann::ordered_json::parse(modelConfigToJson(c));
  j["parameters"] = {{"total", totalElems}, {"bytes", totalBytes}};
  for (auto &[name, p] : parts)
    j["parameters"]["by_part"][name] = {{"count", p.first},
                                        {"bytes", p.second}};
  j["dtypes"] = dtypes;
  for (const auto &f : ckpt->files())
    j["files"].push_back({{"name", f->path().substr(f->path().rfind('/') + 1)},
                          {"bytes", f->fileSize()},
                          {"header_bytes", f->headerBytes()},
                          {"tensors", f->tensors().size()}});
  if (labels)
    j["labels"] = {{"path", labelsPath},
                   {"known", labels->count(ConceptHead::kKnown)},
                   {"unknown", labels->count(ConceptHead::kUnknown)}};
  j["ignored_config_keys"] = c.ignoredKeys;
  if (options.json)
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";

  std::string out;
  char line[512];
  auto add = [&](const char *fmt, auto... args) {
    std::snprintf(line, sizeof(line), fmt, args...);
    out += line;
  };
  add("checkpoint  %s\n", options.dir.c_str());
  add("model       %s, %s\n", c.modelType.c_str(),
      c.interpretable ? "interpretable (concept heads)" : "plain");
  add("backbone    %lld layers, n_embd %lld, %lld heads / %lld kv heads "
      "(head dim %lld), %s-norm, qk-norm %s\n",
      (long long)c.nLayers, (long long)c.nEmbd, (long long)c.nHead,
      (long long)c.kvHeads(), (long long)c.headDim(),
      std::string(toString(c.normOrder)).c_str(), c.useQkNorm ? "on" : "off");
  add("            mlp %s (hidden %lld), rope %s, clip_qkv %s, diffusion "
      "block %lld, context %lld\n",
      std::string(toString(c.mlpType)).c_str(), (long long)c.mlpHidden(),
      c.useRope ? number(c.ropeBase).c_str() : "off",
      c.clipQkv ? number(*c.clipQkv).c_str() : "off",
      (long long)c.diffBlockSize, (long long)c.blockSize);
  add("tokens      vocab %lld; eos %lld, pad %lld, bos %lld, endofchunk %lld, "
      "mask %lld%s\n",
      (long long)c.vocabSize, (long long)c.eosTokenId, (long long)c.padTokenId,
      (long long)c.bosTokenId, (long long)c.endofchunkTokenId,
      (long long)c.maskTokenId, c.instruct ? " (instruct)" : "");
  if (c.concepts) {
    const ConceptConfig &k = *c.concepts;
    add("concepts    known %lld (stored %lld rows), top-k %s\n",
        (long long)k.nConcepts, (long long)k.paddedCount(k.nConcepts),
        optional(k.topkKnown).c_str());
    if (k.useUnknown)
      add("            unknown %lld (stored %lld rows), %s rank %lld, top-k "
          "%s, epsilon %s\n",
          (long long)*k.nUnknownConcepts,
          (long long)k.paddedCount(*k.nUnknownConcepts),
          k.factorizeUnknown ? "factorized" : "dense",
          (long long)k.factorizeRank,
          k.applyTopkToUnknown ? optional(k.unknownTopk).c_str() : "off",
          k.useEpsilonCorrection ? "on" : "off");
  }
  if (labels)
    add("labels      %s: %zu known, %zu unknown\n", labelsPath.c_str(),
        labels->count(ConceptHead::kKnown),
        labels->count(ConceptHead::kUnknown));
  add("parameters  %s (%s)\n", count(totalElems).c_str(),
      human(totalBytes).c_str());
  for (auto &[name, p] : parts)
    add("  %-12s %10s  %s\n", name.c_str(), count(p.first).c_str(),
        human(p.second).c_str());
  out += "dtypes     ";
  for (auto &[name, n] : dtypes)
    add(" %s x %zu", name.c_str(), n);
  out += "\nfiles\n";
  for (const auto &f : ckpt->files())
    add("  %-36s %10s  header %s, %zu tensors\n",
        f->path().substr(f->path().rfind('/') + 1).c_str(),
        human(f->fileSize()).c_str(), human(f->headerBytes()).c_str(),
        f->tensors().size());
  for (const std::string &key : c.ignoredKeys)
    add("note        config.json key '%s' is not part of the model; ignored\n",
        key.c_str());
  return out;
}

} // namespace steer::cli
