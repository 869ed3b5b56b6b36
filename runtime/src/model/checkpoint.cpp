//===- checkpoint.cpp - A Steerling checkpoint directory ------------------===//
#include "steer/model/checkpoint.h"
#include "steer/io/json.h"

#include <nlohmann/json.hpp>

#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace steer {
namespace {

bool exists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

/// An error for a link at `path` whose target is gone, so that a dangling
/// link reads as one and not as a missing file.
Status checkNotDangling(const std::string &path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode) && !exists(path)) {
    char target[4096];
    ssize_t n = ::readlink(path.c_str(), target, sizeof(target) - 1);
    target[n > 0 ? n : 0] = '\0';
    return makeError(StatusCode::kNotFound, path,
                     " is a symbolic link to '", target,
                     "', which does not exist (an incomplete download? "
                     "fetch the file again)");
  }
  return okStatus();
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

} // namespace

StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::open(const std::string &dir) {
  auto ckpt = std::make_unique<Checkpoint>();
  ckpt->dir_ = dir;
  if (struct stat st; ::stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
    return makeError(StatusCode::kInvalidArgument, dir,
                     " is a file, not a checkpoint directory (an artifact? "
                     "steer-run generate and explain run artifacts; "
                     "steer-diff --textconv describes one)");
  STEER_RETURN_IF_ERROR(checkNotDangling(dir + "/config.json"));
  STEER_ASSIGN_OR_RETURN(ckpt->config_, loadModelConfig(dir));
  if (!ckpt->config_.missingShapeKeys.empty()) {
    std::string keys;
    for (const std::string &k : ckpt->config_.missingShapeKeys)
      keys += (keys.empty() ? "'" : ", '") + k + "'";
    return makeError(StatusCode::kInvalidArgument, dir,
                     "/config.json: missing ", keys,
                     "; a checkpoint's config must state its shape (the "
                     "reference's defaults describe Steerling-8B)");
  }

  // Which file holds which tensor.
  const std::string index = dir + "/model.safetensors.index.json";
  const std::string single = dir + "/model.safetensors";
  STEER_RETURN_IF_ERROR(checkNotDangling(index));
  STEER_RETURN_IF_ERROR(checkNotDangling(single));
  std::map<std::string, std::string> weightMap; // tensor -> file name
  if (exists(index) && exists(single))
    return makeError(StatusCode::kInvalidArgument, dir,
                     ": holds both model.safetensors and "
                     "model.safetensors.index.json; which weights are meant "
                     "is ambiguous (stale shards from an earlier save?): "
                     "remove one");
  if (exists(index)) {
    STEER_ASSIGN_OR_RETURN(std::string text, readFile(index));
    nlohmann::json j;
    DuplicateKeys dup;
    try {
      j = nlohmann::json::parse(text, dup.callback());
    } catch (const nlohmann::json::exception &e) {
      return makeError(StatusCode::kInvalidArgument, index,
                       ": not readable JSON: ", e.what());
    }
    if (dup.found())
      return makeError(StatusCode::kInvalidArgument, index, ": key '",
                       dup.first(), "' appears twice in one object");
    auto wm = j.is_object() ? j.find("weight_map") : j.end();
    if (wm == j.end() || !wm->is_object())
      return makeError(StatusCode::kInvalidArgument, index,
                       ": needs a 'weight_map' object of tensor -> file");
    for (auto &[name, file] : wm->items()) {
      if (!file.is_string())
        return makeError(StatusCode::kInvalidArgument, index,
                         ": weight_map entry '", name, "' must be a file name");
      std::string f = file.get<std::string>();
      if (f.empty() || f.find('/') != std::string::npos || f == "." ||
          f == "..")
        return makeError(StatusCode::kInvalidArgument, index,
                         ": weight_map entry '", name, "' names '", f,
                         "'; shards must be files in the checkpoint directory");
      weightMap[name] = f;
    }
    if (auto total = j.find("metadata"); total != j.end() &&
                                         total->is_object() &&
                                         total->contains("total_size")) {
      const auto &t = (*total)["total_size"];
      if (!t.is_number_integer() || t.get<int64_t>() < 0)
        return makeError(StatusCode::kInvalidArgument, index,
                         ": metadata.total_size must be a non-negative "
                         "integer, got ",
                         t.dump());
    }
    std::set<std::string> shards;
    for (auto &[name, f] : weightMap)
      shards.insert(f);
    // Every listed shard exists before any is read, so a missing one is
    // reported as missing rather than as a tensor found elsewhere.
    for (const std::string &f : shards) {
      std::string path = dir + "/" + f;
      STEER_RETURN_IF_ERROR(checkNotDangling(path));
      if (!exists(path))
        return makeError(StatusCode::kNotFound, index, ": shard ", f,
                         " is listed but ", path, " does not exist");
    }
    for (const std::string &f : shards) {
      std::string path = dir + "/" + f;
      STEER_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(path));
      for (auto &[name, view] : file->tensors()) {
        auto it = weightMap.find(name);
        if (it == weightMap.end())
          return makeError(StatusCode::kInvalidArgument, path, ": tensor '",
                           name, "' is not listed in ", index);
        if (it->second != f)
          return makeError(StatusCode::kInvalidArgument, path, ": tensor '",
                           name, "' is listed in ", index, " under ",
                           it->second);
        ckpt->byName_[name] = &view;
      }
      ckpt->files_.push_back(std::move(file));
    }
    for (auto &[name, f] : weightMap)
      if (!ckpt->byName_.count(name))
        return makeError(StatusCode::kNotFound, dir, "/", f, ": tensor '", name,
                         "' is listed in ", index,
                         " but missing from the shard");
  } else if (exists(single)) {
    STEER_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(single));
    for (auto &[name, view] : file->tensors())
      ckpt->byName_[name] = &view;
    ckpt->files_.push_back(std::move(file));
  } else {
    return makeError(StatusCode::kNotFound, dir,
                     ": no model.safetensors or model.safetensors.index.json; "
                     "is this a checkpoint directory?");
  }

  STEER_RETURN_IF_ERROR(ckpt->validate());
  return ckpt;
}

// Every expected tensor, with its shape, and nothing else.
Status Checkpoint::validate() {
  const ModelConfig &config = config_;
  const std::string &dir = dir_;
  specs_ = expectedTensors(config);
  const std::string tied = tokEmbName(config), alias = lmHeadName(config);
  if (byName_.count(alias)) {
    if (byName_.count(tied))
      return makeError(StatusCode::kInvalidArgument, dir,
                       ": the tied embedding is stored twice, as '", tied,
                       "' and '", alias, "'; keep one");
    byName_[tied] = byName_[alias];
    byName_.erase(alias);
  }
  std::set<std::string> expected;
  for (const TensorSpec &spec : specs_) {
    expected.insert(spec.name);
    auto it = byName_.find(spec.name);
    if (it == byName_.end())
      return makeError(StatusCode::kNotFound, dir, ": tensor '", spec.name,
                       "' (shape ", shapeString(spec.shape),
                       ") is missing; config.json implies it");
    const TensorView &v = *it->second;
    if (v.shape != spec.shape)
      return makeError(StatusCode::kInvalidArgument, dir, ": tensor '",
                       spec.name, "' has shape ", shapeString(v.shape),
                       " but config.json implies ", shapeString(spec.shape));
    if (v.dtype != DType::kF32 && v.dtype != DType::kF16 &&
        v.dtype != DType::kBF16)
      return makeError(StatusCode::kUnsupported, dir, ": tensor '", spec.name,
                       "' is ", dtypeName(v.dtype),
                       "; weights must be F32, F16 or BF16");
  }
  for (auto &[name, view] : byName_)
    if (!expected.count(name))
      return makeError(StatusCode::kInvalidArgument, dir, ": tensor '", name,
                       "' is not part of the model config.json describes "
                       "(wrong config, or a checkpoint of another model)");
  return okStatus();
}

StatusOr<std::unique_ptr<Checkpoint>>
Checkpoint::fromTensors(std::string origin, ModelConfig config,
                        const std::map<std::string, TensorView> &tensors) {
  auto ckpt = std::make_unique<Checkpoint>();
  ckpt->dir_ = std::move(origin);
  ckpt->config_ = std::move(config);
  const std::string prefix = "weights.";
  for (auto &[name, view] : tensors)
    if (name.rfind(prefix, 0) == 0)
      ckpt->byName_[name.substr(prefix.size())] = &view;
  STEER_RETURN_IF_ERROR(ckpt->validate());
  return ckpt;
}

const TensorView *Checkpoint::tensor(const std::string &name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? nullptr : it->second;
}

} // namespace steer
