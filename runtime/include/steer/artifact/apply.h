//===- apply.h - What an artifact does to one request -----------*- C++ -*-===//
//
// Evaluates an artifact's guards on a prompt (a guard fires when any of its
// concepts reaches the threshold at any prompt token: the largest known
// weight over the prompt, after the head's top-k) and
// merges the rules that fire into the steering the generation loop applies:
// weight overrides (suppress = 0, clamp = value; later rules win), a target
// profile, and at most one injection with its vocabulary bias.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/artifact/artifact.h"
#include "steer/exec/generate.h"

#include <span>
#include <string>
#include <vector>

namespace steer {

struct AppliedPolicy {
  ResolvedSteering steering;
  std::vector<std::string> fired; // rule names, in policy order
  bool any() const { return !fired.empty(); }
};

StatusOr<AppliedPolicy> applyArtifact(const Artifact &artifact,
                                      const Engine &engine,
                                      std::span<const int64_t> prompt);

} // namespace steer
