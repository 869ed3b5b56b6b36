//===- session.cpp - One way in: open a model, run it with its program ----===//
#include "steer/session/session.h"

#include <sys/stat.h>

#include <algorithm>

namespace steer {
namespace {

bool isRegularFile(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

} // namespace

StatusOr<std::unique_ptr<Session>>
Session::open(const std::string &path, const SessionOptions &options) {
  const std::string &requireSignature = options.requireSignature;
  std::unique_ptr<Session> session(new Session());
  Session &l = *session;
  l.path_ = path;
  if (!requireSignature.empty() && !isRegularFile(path))
    return makeError(StatusCode::kInvalidArgument, path,
                     ": a signature is required (--require-signature) and a "
                     "checkpoint directory carries none; run a signed "
                     "artifact (steerc --sign-key)");
  if (isRegularFile(path)) {
    STEER_ASSIGN_OR_RETURN(l.artifact_, Artifact::open(path));
    if (!requireSignature.empty()) {
      STEER_ASSIGN_OR_RETURN(VerifyKey key, loadVerifyKey(requireSignature),
                             "in --require-signature");
      STEER_RETURN_IF_ERROR(l.artifact_->verifySignature(key));
    }
    // An artifact of a checkpoint another session already runs shares it.
    if (!options.shareWith.empty()) {
      std::vector<std::pair<std::string, std::string>> want;
      for (const auto &f : l.artifact_->manifest().checkpoint().files())
        want.emplace_back(f.name(), f.xxh64());
      std::sort(want.begin(), want.end());
      for (const Session *base : options.shareWith) {
        if (!base || base->engine_ == nullptr)
          continue;
        STEER_ASSIGN_OR_RETURN(auto have, base->checkpointDigests(),
                               "while comparing ", path, " with ",
                               base->path());
        if (have != want || modelConfigToJson(base->config()) !=
                                l.artifact_->manifest().model_config_json())
          continue;
        l.weights_ = base->weights_;
        l.checkpoint_ = base->checkpoint_;
        l.engine_ = base->engine_;
        l.tokenizer_ = base->tokenizer_;
        STEER_ASSIGN_OR_RETURN(SteeringProgram program,
                               SteeringProgram::bind(*l.artifact_,
                                                     *l.engine_));
        l.program_ = std::move(program);
        return session;
      }
    }
    if (l.artifact_->selfContained()) {
      // The weights are in the artifact, memory-mapped.
      STEER_ASSIGN_OR_RETURN(
          ModelConfig config,
          parseModelConfig(l.artifact_->manifest().model_config_json(), path));
      STEER_ASSIGN_OR_RETURN(l.checkpoint_,
                             Checkpoint::fromTensors(path, std::move(config),
                                                     l.artifact_->tensors()));
      l.weights_ = l.artifact_;
    } else {
      // A thin artifact: the checkpoint it was compiled against, verified.
      // The recorded path is as steerc was given it: relative paths are
      // tried from the current directory, then from the artifact's.
      std::string dir = l.artifact_->manifest().checkpoint().path();
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
          l.checkpoint_, Checkpoint::open(dir), "while opening the checkpoint ",
          path, " was compiled against",
          relative ? " (recorded as the relative path '" +
                         l.artifact_->manifest().checkpoint().path() +
                         "', looked up from the current directory and from "
                         "the artifact's; run from where steerc ran, or "
                         "compile with an absolute --model)"
                   : std::string());
      STEER_RETURN_IF_ERROR(verifyCheckpoint(*l.artifact_, *l.checkpoint_));
      // The rules were checked against the manifest's copy of the config;
      // it must be the checkpoint's own.
      if (modelConfigToJson(l.checkpoint_->config()) !=
          l.artifact_->manifest().model_config_json())
        return makeError(StatusCode::kInvalidArgument, path,
                         ": the model config in the artifact differs from ",
                         dir,
                         "/config.json; the artifact was edited: recompile "
                         "it with steerc");
    }
  } else {
    STEER_ASSIGN_OR_RETURN(l.checkpoint_, Checkpoint::open(path));
  }
  STEER_ASSIGN_OR_RETURN(l.engine_, Engine::create(*l.checkpoint_));
  STEER_ASSIGN_OR_RETURN(l.tokenizer_,
                         Tokenizer::create(l.checkpoint_->config().instruct
                                               ? TokenizerLayout::kInstruct
                                               : TokenizerLayout::kBase));
  if (l.artifact_) {
    STEER_ASSIGN_OR_RETURN(SteeringProgram program,
                           SteeringProgram::bind(*l.artifact_, *l.engine_));
    l.program_ = std::move(program);
  }
  return session;
}

StatusOr<std::vector<std::pair<std::string, std::string>>>
Session::checkpointDigests() const {
  std::vector<std::pair<std::string, std::string>> out;
  if (artifact_) {
    for (const auto &f : artifact_->manifest().checkpoint().files())
      out.emplace_back(f.name(), f.xxh64());
  } else {
    STEER_ASSIGN_OR_RETURN(schema::CheckpointRef ref,
                           describeCheckpoint(*checkpoint_));
    for (const auto &f : ref.files())
      out.emplace_back(f.name(), f.xxh64());
  }
  std::sort(out.begin(), out.end());
  return out;
}

StatusOr<std::vector<int64_t>> Session::encode(std::string_view text) const {
  STEER_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                         tokenizer_->encode(std::string(text)));
  std::vector<int64_t> out(ids.begin(), ids.end());
  if (Status s = engine_->checkIds(out); !s.ok())
    return makeError(StatusCode::kInvalidArgument, s.message(),
                     ": the model's vocabulary (", engine_->vocab(),
                     ") is smaller than the cl100k tokenizer's, so text "
                     "cannot be run on it; give token ids");
  return out;
}

std::string Session::decode(std::span<const int64_t> ids) const {
  return decodeTokens(*tokenizer_, ids);
}

Status Session::prepare(GenerateRequest &request,
                       AppliedPolicy &applied) const {
  if (!program_)
    return okStatus();
  return program_->prepare(*engine_, request, applied);
}

StatusOr<SessionGeneration>
Session::generate(std::span<const int64_t> prompt,
                  GenerateRequest request) const {
  SessionGeneration g;
  if (program_) {
    STEER_ASSIGN_OR_RETURN(
        g.result, program_->generate(*engine_, prompt, std::move(request),
                                     g.policy));
  } else {
    STEER_ASSIGN_OR_RETURN(g.result,
                           steer::generate(*engine_, prompt, request));
  }
  return g;
}

StatusOr<AppliedPolicy>
Session::steering(std::span<const int64_t> prompt) const {
  if (!program_)
    return AppliedPolicy{};
  return program_->apply(*engine_, prompt);
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

} // namespace steer
