//===- model.cpp - Opening a checkpoint or an artifact --------------------===//
#include "steer/cli/model.h"

#include <sys/stat.h>

namespace steer::cli {
namespace {

bool isRegularFile(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

} // namespace

StatusOr<LoadedModel> loadModel(const std::string &path,
                                const std::string &requireSignature) {
  LoadedModel l;
  l.path = path;
  if (!requireSignature.empty() && !isRegularFile(path))
    return makeError(StatusCode::kInvalidArgument, path,
                     ": a signature is required (--require-signature) and a "
                     "checkpoint directory carries none; run a signed "
                     "artifact (steerc --sign-key)");
  if (isRegularFile(path)) {
    STEER_ASSIGN_OR_RETURN(l.artifact, Artifact::open(path));
    if (!requireSignature.empty()) {
      STEER_ASSIGN_OR_RETURN(VerifyKey key, loadVerifyKey(requireSignature),
                             "in --require-signature");
      STEER_RETURN_IF_ERROR(l.artifact->verifySignature(key));
    }
    if (l.artifact->selfContained()) {
      // The weights are in the artifact, memory-mapped.
      STEER_ASSIGN_OR_RETURN(
          ModelConfig config,
          parseModelConfig(l.artifact->manifest().model_config_json(), path));
      STEER_ASSIGN_OR_RETURN(l.checkpoint,
                             Checkpoint::fromTensors(path, std::move(config),
                                                     l.artifact->tensors()));
    } else {
      // A thin artifact: the checkpoint it was compiled against, verified.
      // The recorded path is as steerc was given it: relative paths are
      // tried from the current directory, then from the artifact's.
      std::string dir = l.artifact->manifest().checkpoint().path();
      struct stat st;
      if (!dir.empty() && dir[0] != '/' && ::stat(dir.c_str(), &st) != 0) {
        size_t slash = path.rfind('/');
        if (slash != std::string::npos) {
          std::string beside = path.substr(0, slash + 1) + dir;
          if (::stat(beside.c_str(), &st) == 0)
            dir = beside;
        }
      }
      const bool relative = !dir.empty() && dir[0] != '/';
      STEER_ASSIGN_OR_RETURN(
          l.checkpoint, Checkpoint::open(dir), "while opening the checkpoint ",
          path, " was compiled against",
          relative ? " (recorded as the relative path '" +
                         l.artifact->manifest().checkpoint().path() +
                         "', looked up from the current directory and from "
                         "the artifact's; run from where steerc ran, or "
                         "compile with an absolute --model)"
                   : std::string());
      STEER_RETURN_IF_ERROR(verifyCheckpoint(*l.artifact, *l.checkpoint));
      // The rules were checked against the manifest's copy of the config;
      // it must be the checkpoint's own.
      if (modelConfigToJson(l.checkpoint->config()) !=
          l.artifact->manifest().model_config_json())
        return makeError(StatusCode::kInvalidArgument, path,
                         ": the model config in the artifact differs from ",
                         dir,
                         "/config.json; the artifact was edited: recompile "
                         "it with steerc");
    }
  } else {
    STEER_ASSIGN_OR_RETURN(l.checkpoint, Checkpoint::open(path));
  }
  STEER_ASSIGN_OR_RETURN(l.engine, Engine::create(*l.checkpoint));
  STEER_ASSIGN_OR_RETURN(l.tokenizer,
                         Tokenizer::create(l.checkpoint->config().instruct
                                               ? TokenizerLayout::kInstruct
                                               : TokenizerLayout::kBase));
  return l;
}

std::string decodeTokens(const Tokenizer &tokenizer,
                         std::span<const int64_t> ids) {
  std::string out;
  for (int64_t id : ids) {
    auto text = tokenizer.decode(std::span<const int64_t>(&id, 1), true);
    if (text.ok()) {
      out += *text;
    } else {
      out += '<';
      out += std::to_string(id);
      out += '>';
    }
  }
  return out;
}

} // namespace steer::cli
