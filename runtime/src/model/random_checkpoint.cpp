//===- random_checkpoint.cpp - Steerling checkpoints with random weights --===//
#include "steer/model/random_checkpoint.h"

#include "steer/io/file.h"
#include "steer/io/safetensors_writer.h"
#include "steer/model/layout.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

namespace steer {
namespace {

/// SplitMix64: small, fast and the same on every platform.
class Rng {
public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in (0, 1).
  double uniform() {
    return ((next() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  }
  /// Standard normal (Box-Muller, both values used).
  float normal() {
    if (spare_) {
      float v = *spare_;
      spare_.reset();
      return v;
    }
    double r = std::sqrt(-2.0 * std::log(uniform()));
    double t = 6.283185307179586 * uniform();
    spare_ = static_cast<float>(r * std::sin(t));
    return static_cast<float>(r * std::cos(t));
  }

private:
  uint64_t state_;
  std::optional<float> spare_;
};

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s)
    h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return h;
}

void encode(std::string &out, size_t i, float v, DType dtype) {
  if (dtype == DType::kF32) {
    std::memcpy(out.data() + 4 * i, &v, 4);
  } else {
    uint16_t h = dtype == DType::kBF16 ? floatToBf16(v) : floatToF16(v);
    std::memcpy(out.data() + 2 * i, &h, 2);
  }
}

/// Norm weights near one, everything else N(0, 0.02): the reference's init.
std::string randomTensor(const TensorSpec &spec, DType dtype, uint64_t seed) {
  // Each tensor has its own stream so that shard boundaries and tensor order
  // do not change any value.
  Rng rng(seed ^ fnv1a(spec.name));
  size_t n = static_cast<size_t>(numElements(spec.shape));
  std::string bytes(n * dtypeSize(dtype), '\0');
  bool norm = spec.part == TensorPart::kNorm;
  for (size_t i = 0; i < n; ++i)
    encode(bytes, i, norm ? 1.0f + 0.1f * rng.normal() : 0.02f * rng.normal(),
           dtype);
  return bytes;
}

Status makeDir(const std::string &dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return makeError(StatusCode::kIo, "cannot create directory ", dir, ": ",
                     std::strerror(errno));
  return okStatus();
}

/// "model-00001-of-00003.safetensors", the Hugging Face naming.
std::string shardName(size_t index, size_t count) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.safetensors", index,
                count);
  return buf;
}

ModelConfig baseConfig() {
  ModelConfig c;
  c.interpretable = true;
  c.concepts = ConceptConfig{};
  return c;
}

} // namespace

StatusOr<ModelConfig> presetConfig(std::string_view name) {
  ModelConfig c = baseConfig();
  ConceptConfig &k = *c.concepts;
  if (name == "tiny") {
    c.nLayers = 2, c.nHead = 4, c.nKvHeads = 2, c.nEmbd = 64;
    c.blockSize = 512, c.diffBlockSize = 8;
    k.nConcepts = 64, k.nUnknownConcepts = 128, k.factorizeRank = 16;
    k.topkKnown = k.topkKnownFeatures = 8, k.unknownTopk = 16;
  } else if (name == "small") {
    c.nLayers = 4, c.nHead = 8, c.nKvHeads = 2, c.nEmbd = 256;
    c.blockSize = 1024, c.diffBlockSize = 16;
    k.nConcepts = 512, k.nUnknownConcepts = 2048, k.factorizeRank = 64;
    k.topkKnown = k.topkKnownFeatures = 16, k.unknownTopk = 32;
  } else if (name == "mid") {
    c.nLayers = 12, c.nHead = 12, c.nKvHeads = 4, c.nEmbd = 768;
    c.blockSize = 2048, c.diffBlockSize = 32;
    k.nConcepts = 4096, k.nUnknownConcepts = 16384, k.factorizeRank = 256;
    k.topkKnown = k.topkKnownFeatures = 32, k.unknownTopk = 128;
  } else {
    return makeError(StatusCode::kInvalidArgument, "unknown preset '", name,
                     "'; choose tiny, small or mid");
  }
  k.conceptDim = c.nEmbd;
  k.injectLayer = c.nLayers / 2;
  return c;
}

Status writeRandomCheckpoint(const ModelConfig &config, const std::string &dir,
                             const RandomCheckpointOptions &options) {
  if (options.dtype != DType::kF32 && options.dtype != DType::kBF16 &&
      options.dtype != DType::kF16)
    return makeError(StatusCode::kInvalidArgument,
                     "weights must be F32, F16 or BF16, not ",
                     dtypeName(options.dtype));
  STEER_RETURN_IF_ERROR(makeDir(dir));
  std::vector<TensorSpec> specs = expectedTensors(config);
  uint64_t total = 0;
  for (const TensorSpec &s : specs)
    total += numElements(s.shape) * dtypeSize(options.dtype);

  // Group tensors into shards in layout order.
  std::vector<std::vector<const TensorSpec *>> shards(1);
  uint64_t inShard = 0;
  for (const TensorSpec &s : specs) {
    uint64_t bytes = numElements(s.shape) * dtypeSize(options.dtype);
    if (options.shardBytes && inShard > 0 &&
        inShard + bytes > options.shardBytes) {
      shards.emplace_back();
      inShard = 0;
    }
    shards.back().push_back(&s);
    inShard += bytes;
  }

  nlohmann::ordered_json weightMap = nlohmann::ordered_json::object();
  uint64_t done = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    std::string file = shards.size() == 1 ? std::string("model.safetensors")
                                          : shardName(i + 1, shards.size());
    SafetensorsWriter writer;
    writer.setMetadata("format", "pt");
    for (const TensorSpec *s : shards[i]) {
      STEER_RETURN_IF_ERROR(
          writer.add(s->name, options.dtype, s->shape,
                     randomTensor(*s, options.dtype, options.seed)));
      weightMap[s->name] = file;
      done += numElements(s->shape) * dtypeSize(options.dtype);
      if (options.progress)
        options.progress(done, total);
    }
    STEER_RETURN_IF_ERROR(writer.write(dir + "/" + file));
  }
  if (shards.size() > 1) {
    nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}},
                                    {"weight_map", weightMap}};
    STEER_RETURN_IF_ERROR(writeFileAtomic(dir + "/model.safetensors.index.json",
                                          index.dump(2) + "\n"));
  }
  return writeFileAtomic(dir + "/config.json", modelConfigToJson(config));
}

} // namespace steer
