//===- config.cpp - Steerling model configuration -------------------------===//
//
// One field table per config object (`visitBackbone`, `visitTokens`,
// `visitConcept`) drives both parsing and serialisation, so the two can not
// drift apart.
//
//===----------------------------------------------------------------------===//
#include "steer/model/config.h"
#include "steer/io/json.h"
#include "steer/base/edit_distance.h"

#include "steer/io/file.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <utility>
#include <vector>

namespace steer {
namespace {

using Json = nlohmann::json;

template <typename E> struct EnumNames;
template <> struct EnumNames<NormOrder> {
  static constexpr std::array<std::pair<NormOrder, std::string_view>, 2> kAll{
      {{NormOrder::kPre, "pre"}, {NormOrder::kPost, "post"}}};
};
template <> struct EnumNames<MlpType> {
  static constexpr std::array<std::pair<MlpType, std::string_view>, 2> kAll{
      {{MlpType::kSwiGLU, "swiglu"}, {MlpType::kStandard, "standard"}}};
};
template <> struct EnumNames<Activation> {
  static constexpr std::array<std::pair<Activation, std::string_view>, 3> kAll{
      {{Activation::kGelu, "gelu"},
       {Activation::kRelu, "relu"},
       {Activation::kSilu, "silu"}}};
};

template <typename E> std::string_view enumName(E v) {
  for (auto [value, name] : EnumNames<E>::kAll)
    if (value == v)
      return name;
  return "?";
}

template <typename V> void visitBackbone(ModelConfig &c, V &v) {
  v.field("model_type", c.modelType);
  v.field("interpretable", c.interpretable);
  v.field("n_layers", c.nLayers);
  v.field("n_head", c.nHead);
  v.field("n_embd", c.nEmbd);
  v.field("block_size", c.blockSize);
  v.field("n_kv_heads", c.nKvHeads);
  v.field("diff_block_size", c.diffBlockSize);
  v.field("use_rms_norm", c.useRmsNorm);
  v.field("norm_eps", c.normEps);
  v.field("norm_order", c.normOrder);
  v.field("use_qk_norm", c.useQkNorm);
  v.field("use_rope", c.useRope);
  v.field("rope_base", c.ropeBase);
  v.field("rope_full_precision", c.ropeFullPrecision);
  v.field("mlp_type", c.mlpType);
  v.field("activation", c.activation);
  v.field("mlp_ratio", c.mlpRatio);
  v.field("intermediate_size", c.intermediateSize);
  v.field("use_bias", c.useBias);
  v.field("clip_qkv", c.clipQkv);
  v.field("weight_sharing", c.weightSharing);
}

template <typename V> void visitTokens(ModelConfig &c, V &v) {
  v.field("pad_token_id", c.padTokenId);
  v.field("bos_token_id", c.bosTokenId);
  v.field("eos_token_id", c.eosTokenId);
  v.field("endofchunk_token_id", c.endofchunkTokenId);
  v.field("mask_token_id", c.maskTokenId);
  v.field("vocab_size", c.vocabSize);
  v.field("instruct", c.instruct);
}

template <typename V> void visitConcept(ConceptConfig &c, V &v) {
  v.field("n_concepts", c.nConcepts);
  v.field("n_unknown_concepts", c.nUnknownConcepts);
  v.field("max_concepts", c.maxConcepts);
  v.field("concept_dim", c.conceptDim);
  v.field("use_attention_known", c.useAttentionKnown);
  v.field("use_attention_unknown", c.useAttentionUnknown);
  v.field("topk_known", c.topkKnown);
  v.field("topk_known_features", c.topkKnownFeatures);
  v.field("unknown_topk", c.unknownTopk);
  v.field("use_unknown", c.useUnknown);
  v.field("apply_topk_to_unknown", c.applyTopkToUnknown);
  v.field("topk_on_logits", c.topkOnLogits);
  v.field("factorize_unknown", c.factorizeUnknown);
  v.field("factorize_rank", c.factorizeRank);
  v.field("use_epsilon_correction", c.useEpsilonCorrection);
  v.field("block_size", c.blockSize);
  v.field("pad_multiple", c.padMultiple);
  v.field("store_unknown_weights", c.storeUnknownWeights);
  v.field("inject_layer", c.injectLayer);
  v.field("inject_alpha", c.injectAlpha);
}

/// Reads fields out of one JSON object, remembering the first error and the
/// keys it consumed.
class Reader {
public:
  Reader(const Json &object, std::string path, std::string prefix)
      : object_(object), path_(std::move(path)), prefix_(std::move(prefix)) {}

  template <typename T> void field(std::string_view key, T &out) {
    seen_.insert(std::string(key));
    auto it = object_.find(std::string(key));
    if (it == object_.end() || !status_.ok())
      return;
    read(key, *it, out);
  }

  Status takeStatus() { return std::move(status_); }
  const std::set<std::string> &seen() const { return seen_; }

private:
  void fail(std::string_view key, std::string_view want, const Json &got) {
    status_ = makeError(StatusCode::kInvalidArgument, path_, ": field '",
                        prefix_, key, "' must be ", want, ", got ", got.dump());
  }
  void read(std::string_view key, const Json &j, bool &out) {
    if (!j.is_boolean())
      return fail(key, "true or false", j);
    out = j.get<bool>();
  }
  void read(std::string_view key, const Json &j, int64_t &out) {
    if (!j.is_number_integer())
      return fail(key, "an integer", j);
    out = j.get<int64_t>();
  }
  void read(std::string_view key, const Json &j, double &out) {
    if (!j.is_number())
      return fail(key, "a number", j);
    out = j.get<double>();
  }
  void read(std::string_view key, const Json &j, std::string &out) {
    if (!j.is_string())
      return fail(key, "a string", j);
    out = j.get<std::string>();
  }
  template <typename T>
  void read(std::string_view key, const Json &j, std::optional<T> &out) {
    if (j.is_null()) {
      out.reset();
      return;
    }
    T value{};
    read(key, j, value);
    out = value;
  }
  template <typename E>
  requires std::is_enum_v<E>
  void read(std::string_view key, const Json &j, E &out) {
    std::string allowed;
    for (auto [value, name] : EnumNames<E>::kAll) {
      if (j.is_string() && j.get<std::string>() == name) {
        out = value;
        return;
      }
      allowed += allowed.empty() ? "" : " or ";
      allowed += '"';
      allowed += name;
      allowed += '"';
    }
    fail(key, allowed, j);
  }

  const Json &object_;
  std::string path_;
  std::string prefix_;
  Status status_;
  std::set<std::string> seen_;
};

/// Writes fields into a JSON object.
class Writer {
public:
  explicit Writer(nlohmann::ordered_json &object) : object_(object) {}
  template <typename T> void field(std::string_view key, const T &value) {
    if constexpr (std::is_enum_v<T>)
      object_[std::string(key)] = std::string(enumName(value));
    else
      object_[std::string(key)] = value;
  }
  template <typename T>
  void field(std::string_view key, const std::optional<T> &value) {
    if (value)
      field(key, *value);
    else
      object_[std::string(key)] = nullptr;
  }

private:
  nlohmann::ordered_json &object_;
};

/// Collects the key names a visitor reads.
struct KeyNames {
  std::set<std::string> all;
  template <typename T> void field(std::string_view key, T &) {
    all.emplace(key);
  }
};

/// Reads the concept fields of the Hugging Face layout, where they sit at
/// the top level and the concept head's block_size is concept_block_size.
template <typename V> struct FlatConcept {
  V &inner;
  template <typename T> void field(std::string_view key, T &out) {
    inner.field(key == "block_size" ? "concept_block_size" : key, out);
  }
};

// Keys a checkpoint's config.json must state: the reference's defaults
// describe Steerling-8B, so a config without them would silently claim 8B
// shapes (reported by Checkpoint::open, not by the parser: steer-mkmodel
// fills partial configs from the defaults on purpose).
constexpr std::array<std::string_view, 4> kShapeKeys = {"n_layers", "n_head",
                                                        "n_embd", "vocab_size"};

// Keys Hugging Face tooling adds to config.json; they say nothing about the
// model and are skipped without comment.
constexpr std::array<std::string_view, 5> kHubKeys = {
    "transformers_version", "auto_map", "architectures", "torch_dtype",
    "_name_or_path"};

std::pair<size_t, size_t> lineColumn(std::string_view text, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

Status validate(const ModelConfig &c, std::string_view path) {
  // A concept field as the file names it: "concept.n_concepts" in the
  // nested layout, "n_concepts" (and "concept_block_size") in the flat one.
  auto cname = [&](std::string_view f) {
    if (!c.hubLayout)
      return "concept." + std::string(f);
    return f == "block_size" ? std::string("concept_block_size")
                             : std::string(f);
  };
  auto bad = [&](auto &&...pieces) {
    return makeError(StatusCode::kInvalidArgument, path, ": ", pieces...);
  };
  if (c.modelType != "causal_diffusion")
    return bad("field 'model_type' is \"", c.modelType,
               "\"; Steer reads Steerling checkpoints, whose model_type is "
               "\"causal_diffusion\" (nested layout) or \"steerling\" "
               "(the Hugging Face layout)");
  // Every size is bounded before anything is allocated from it: a config is
  // input, and 2^31 layers must be an error, not an out-of-memory abort.
  auto sized = [&](std::string_view key, int64_t v, int64_t max) -> Status {
    if (v <= 0 || v > max)
      return bad("field '", key, "' is ", v, "; it must be in [1, ", max, "]");
    return okStatus();
  };
  STEER_RETURN_IF_ERROR(sized("n_layers", c.nLayers, kMaxLayers));
  STEER_RETURN_IF_ERROR(sized("n_head", c.nHead, kMaxHeads));
  STEER_RETURN_IF_ERROR(sized("n_embd", c.nEmbd, kMaxWidth));
  STEER_RETURN_IF_ERROR(sized("block_size", c.blockSize, kMaxContext));
  STEER_RETURN_IF_ERROR(
      sized("diff_block_size", c.diffBlockSize, c.blockSize));
  STEER_RETURN_IF_ERROR(sized("mlp_ratio", c.mlpRatio, kMaxMlpRatio));
  STEER_RETURN_IF_ERROR(sized("vocab_size", c.vocabSize, kMaxVocab));
  if (c.intermediateSize)
    STEER_RETURN_IF_ERROR(
        sized("intermediate_size", *c.intermediateSize, kMaxMlpHidden));
  if (c.mlpHidden() > kMaxMlpHidden)
    return bad("the MLP width mlp_ratio * n_embd = ", c.mlpHidden(),
               " exceeds ", kMaxMlpHidden);
  if (c.nEmbd % c.nHead != 0)
    return bad("n_embd (", c.nEmbd, ") must be divisible by n_head (", c.nHead,
               ")");
  if (c.nKvHeads) {
    if (*c.nKvHeads <= 0 || *c.nKvHeads > c.nHead)
      return bad("field 'n_kv_heads' is ", *c.nKvHeads,
                 "; it must be in [1, n_head = ", c.nHead, "] or null");
    if (c.nHead % *c.nKvHeads != 0)
      return bad("n_head (", c.nHead, ") must be divisible by n_kv_heads (",
                 *c.nKvHeads, ")");
  }
  if (c.useRope && c.headDim() % 2 != 0)
    return bad("RoPE needs an even head dimension; n_embd / n_head = ",
               c.headDim());
  // Floats: NaN fails every check; the upper bounds are far above any
  // trained model's (1e-5, 500000, 10) and far below values that only
  // produce degenerate output.
  auto real = [&](std::string_view key, double v, double lo, double hi,
                  const char *orNull = "") -> Status {
    if (!(v > lo && v <= hi))
      return bad("field '", key, "' is ", v, "; it must be in (", lo, ", ", hi,
                 "]", orNull);
    return okStatus();
  };
  STEER_RETURN_IF_ERROR(real("norm_eps", c.normEps, 0, 0.1));
  if (c.useRope)
    STEER_RETURN_IF_ERROR(real("rope_base", c.ropeBase, 1, 1e12));
  if (c.clipQkv)
    STEER_RETURN_IF_ERROR(real("clip_qkv", *c.clipQkv, 0, 1e6, " or null"));
  if (!c.useRmsNorm)
    return bad("field 'use_rms_norm' is false; Steerling checkpoints use "
               "RMSNorm and Steer supports no other norm");
  if (c.useBias)
    return bad("field 'use_bias' is true; the reference's layers carry no "
               "bias and Steer supports none");
  if (!c.weightSharing)
    return bad("field 'weight_sharing' is false; Steer needs the tied "
               "embedding / lm_head of Steerling checkpoints");
  const std::pair<std::string_view, int64_t> tokens[] = {
      {"pad_token_id", c.padTokenId},
      {"bos_token_id", c.bosTokenId},
      {"eos_token_id", c.eosTokenId},
      {"endofchunk_token_id", c.endofchunkTokenId},
      {"mask_token_id", c.maskTokenId}};
  for (auto [key, id] : tokens)
    if (id < 0 || id >= c.vocabSize)
      return bad("field '", key, "' is ", id, ", outside the vocabulary [0, ",
                 c.vocabSize, ")");
  // Generation tells the special tokens apart (mask positions are filled,
  // pad and mask are banned, EOS ends): one id in two roles would change
  // what it does.
  for (size_t i = 0; i < std::size(tokens); ++i)
    for (size_t j = i + 1; j < std::size(tokens); ++j)
      if (tokens[i].second == tokens[j].second)
        return bad("fields '", tokens[i].first, "' and '", tokens[j].first,
                   "' are both ", tokens[i].second,
                   "; each special token needs its own id");

  if (c.interpretable != c.concepts.has_value())
    return bad(c.interpretable
                   ? "'interpretable' is true but there is no 'concept' object"
                   : "a 'concept' object is present but 'interpretable' is "
                     "false");
  if (!c.concepts)
    return okStatus();
  const ConceptConfig &k = *c.concepts;
  STEER_RETURN_IF_ERROR(sized(cname("n_concepts"), k.nConcepts, kMaxConcepts));
  STEER_RETURN_IF_ERROR(
      sized(cname("pad_multiple"), k.padMultiple, kMaxPadMultiple));
  STEER_RETURN_IF_ERROR(
      sized(cname("max_concepts"), k.maxConcepts, kMaxConcepts));
  STEER_RETURN_IF_ERROR(
      sized(cname("block_size"), k.blockSize, kMaxContext));
  if (k.conceptDim != c.nEmbd)
    return bad(cname("concept_dim"), " (", k.conceptDim, ") must equal n_embd (",
               c.nEmbd, ")");
  if (k.factorizeRank < 16 || k.factorizeRank > 1024)
    return bad(cname("factorize_rank"), " must be in [16, 1024], got ",
               k.factorizeRank);
  auto topk = [&](std::string_view key, std::optional<int64_t> v,
                  int64_t n) -> Status {
    if (v && (*v <= 0 || *v > n))
      return bad("field '", cname(key), "' is ", *v, "; it must be in [1, ", n,
                 "] or null");
    return okStatus();
  };
  STEER_RETURN_IF_ERROR(topk("topk_known", k.topkKnown, k.nConcepts));
  STEER_RETURN_IF_ERROR(
      topk("topk_known_features", k.topkKnownFeatures, k.nConcepts));
  if (k.useUnknown) {
    if (!k.nUnknownConcepts)
      return bad(cname("use_unknown"), " is true but n_unknown_concepts is null");
    STEER_RETURN_IF_ERROR(sized(cname("n_unknown_concepts"),
                                *k.nUnknownConcepts, kMaxConcepts));
    STEER_RETURN_IF_ERROR(
        topk("unknown_topk", k.unknownTopk, *k.nUnknownConcepts));
  }
  if (k.injectLayer < 0 || k.injectLayer > kMaxLayers)
    return bad("field '", cname("inject_layer"), "' is ", k.injectLayer,
               "; it must be in [0, ", kMaxLayers, "]");
  if (!(std::abs(k.injectAlpha) <= 1e6))
    return bad("field '", cname("inject_alpha"), "' is ", k.injectAlpha,
               "; it must be in [-1e6, 1e6]");
  return okStatus();
}

} // namespace

std::string_view toString(NormOrder v) { return enumName(v); }
std::string_view toString(MlpType v) { return enumName(v); }
std::string_view toString(Activation v) { return enumName(v); }

int64_t ConceptConfig::paddedCount(int64_t n) const {
  return (n + padMultiple - 1) / padMultiple * padMultiple;
}

int64_t ModelConfig::mlpHidden() const {
  return intermediateSize.value_or(mlpRatio * nEmbd);
}

StatusOr<ModelConfig> parseModelConfig(std::string_view text,
                                       std::string_view path) {
  Json root;
  DuplicateKeys dup;
  try {
    root = Json::parse(text.begin(), text.end(), dup.callback<Json>());
  } catch (const Json::parse_error &e) {
    auto [line, col] = lineColumn(text, e.byte > 0 ? e.byte - 1 : 0);
    return makeError(StatusCode::kInvalidArgument, path, ":", line, ":", col,
                     ": not valid JSON (", e.what(), ")");
  } catch (const Json::exception &e) {
    return makeError(StatusCode::kInvalidArgument, path,
                     ": not readable JSON (", e.what(), ")");
  }
  if (!root.is_object())
    return makeError(StatusCode::kInvalidArgument, path,
                     ": expected a JSON object at the top level, got ",
                     root.type_name());
  if (dup.found())
    return makeError(StatusCode::kInvalidArgument, path, ": key '",
                     dup.first(),
                     "' appears twice in one object; state each field once");

  ModelConfig config;
  Reader top(root, std::string(path), "");
  visitBackbone(config, top);
  visitTokens(config, top);
  STEER_RETURN_IF_ERROR(top.takeStatus());
  for (std::string_view key : kShapeKeys)
    if (!root.contains(std::string(key)))
      config.missingShapeKeys.emplace_back(key);

  // The Hugging Face layout (the reference's build_hf_files.py): model_type
  // "steerling", the concept fields at the top level, the concept head's
  // block_size as concept_block_size, and `interpretable` implied by the
  // concept fields when absent.
  std::set<std::string> flatConceptKeys;
  if (config.modelType == "steerling") {
    config.hubLayout = true;
    config.modelType = "causal_diffusion";
    if (root.contains("concept"))
      return makeError(StatusCode::kInvalidArgument, path,
                       ": model_type \"steerling\" (the Hugging Face "
                       "layout) keeps its concept fields at the top level, "
                       "but a nested 'concept' object is present");
    if (!root.contains("interpretable"))
      config.interpretable = root.contains("n_concepts");
    ConceptConfig parsed;
    Reader flat(root, std::string(path), "");
    FlatConcept<Reader> renamed{flat};
    visitConcept(parsed, renamed);
    STEER_RETURN_IF_ERROR(flat.takeStatus());
    flatConceptKeys = flat.seen();
    if (!config.interpretable)
      return makeError(StatusCode::kUnsupported, path,
                       ": a Hugging Face layout config with 'interpretable' "
                       "false: the reference's wrapper stores concept heads "
                       "and the transformer. prefix regardless, which such a "
                       "model does not describe; Steer reads interpretable "
                       "checkpoints in this layout (a plain model loads in "
                       "the nested layout)");
    if (!root.contains("n_concepts"))
      config.missingShapeKeys.emplace_back("n_concepts");
    if (parsed.useUnknown && !root.contains("n_unknown_concepts"))
      config.missingShapeKeys.emplace_back("n_unknown_concepts");
    config.concepts = parsed;
  }

  if (auto it = root.find("concept");
      !config.hubLayout && it != root.end() && !it->is_null()) {
    if (!it->is_object())
      return makeError(StatusCode::kInvalidArgument, path,
                       ": field 'concept' must be an object, got ",
                       it->type_name());
    ConceptConfig parsed;
    Reader inner(*it, std::string(path), "concept.");
    visitConcept(parsed, inner);
    STEER_RETURN_IF_ERROR(inner.takeStatus());
    // Like the reference, the concept object admits no unknown keys: a typo
    // there would silently change the model.
    for (auto &[key, value] : it->items())
      if (!inner.seen().count(key))
        return makeError(StatusCode::kInvalidArgument, path,
                         ": unknown field 'concept.", key, "'");
    if (config.interpretable && !it->contains("n_concepts"))
      config.missingShapeKeys.emplace_back("concept.n_concepts");
    if (config.interpretable && parsed.useUnknown &&
        !it->contains("n_unknown_concepts"))
      config.missingShapeKeys.emplace_back("concept.n_unknown_concepts");
    config.concepts = parsed;
  }

  // Every key the model reads, in either layout: a top-level key that is
  // none of them is reported (inspect), unless it is a near miss of one (a
  // typo would silently leave the 8B default in place) or a concept field
  // outside the nested layout's 'concept' object.
  KeyNames names;
  {
    ModelConfig scratch;
    ConceptConfig scratchConcept;
    visitBackbone(scratch, names);
    visitTokens(scratch, names);
    FlatConcept<KeyNames> flatNames{names};
    visitConcept(scratchConcept, flatNames);
  }
  for (auto &[key, value] : root.items()) {
    if (top.seen().count(key) || key == "concept" ||
        flatConceptKeys.count(key))
      continue;
    bool hub = false;
    for (std::string_view k : kHubKeys)
      hub |= key == k;
    if (hub)
      continue;
    if (!config.hubLayout && names.all.count(key))
      return makeError(StatusCode::kInvalidArgument, path, ": field '", key,
                       "' is a concept field; in this layout it belongs in "
                       "the 'concept' object (or write the whole config in "
                       "the Hugging Face layout, model_type \"steerling\")");
    for (const std::string &known : names.all)
      if (key.size() >= 4 && editDistance(key, known) <= 2)
        return makeError(StatusCode::kInvalidArgument, path,
                         ": unknown field '", key, "'; did you mean '", known,
                         "'?");
    config.ignoredKeys.push_back(key);
  }

  if (Status s = validate(config, path); !s.ok()) {
    if (config.missingShapeKeys.empty())
      return s;
    std::string keys;
    for (const std::string &k : config.missingShapeKeys)
      keys += (keys.empty() ? "'" : ", '") + k + "'";
    return makeError(s.code(), s.message(), " (the file does not state ",
                     keys, ", so the reference's Steerling-8B defaults "
                     "applied; state the model's own)");
  }
  return config;
}

StatusOr<ModelConfig> loadModelConfig(const std::string &checkpointDir) {
  std::string path = checkpointDir + "/config.json";
  STEER_ASSIGN_OR_RETURN(std::string text, readFile(path));
  return parseModelConfig(text, path);
}

std::string modelConfigToJson(const ModelConfig &config) {
  ModelConfig c = config;
  nlohmann::ordered_json root = nlohmann::ordered_json::object();
  Writer w(root);
  visitBackbone(c, w);
  visitTokens(c, w);
  if (c.concepts) {
    nlohmann::ordered_json object = nlohmann::ordered_json::object();
    Writer cw(object);
    visitConcept(*c.concepts, cw);
    root["concept"] = std::move(object);
  }
  return root.dump(2) + "\n";
}

} // namespace steer
