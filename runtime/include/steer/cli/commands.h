//===- commands.h - What steer-run's subcommands do -------------*- C++ -*-===//
//
// The work behind each steer-run subcommand, kept out of the tool's main so
// that the main only parses options. Each command builds its whole output
// and returns it: on error nothing has been printed (no partial output).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/base/status.h"

#include <string>
#include <vector>

namespace steer::cli {

struct InspectOptions {
  std::string dir;
  /// A concept label file; empty: DIR/concept_labels.{csv,jsonl} if present.
  std::string labels;
  bool json = false;
};
StatusOr<std::string> inspect(const InspectOptions &options);

struct TokenizeOptions {
  std::string text;
  bool instruct = false;
  bool json = false;
  /// Prepend <|bos|> and append <|endoftext|>, as the reference's encode
  /// does by default.
  bool bosEos = false;
};
StatusOr<std::string> tokenize(const TokenizeOptions &options);

struct DetokenizeOptions {
  std::string ids; // "1,2,3"
  bool instruct = false;
  bool skipSpecial = false;
};
StatusOr<std::string> detokenize(const DetokenizeOptions &options);

/// Parses "1,2, 3" (commas and/or spaces); errors name the bad entry.
StatusOr<std::vector<int64_t>> parseIdList(const std::string &text,
                                           const std::string &what);

} // namespace steer::cli
