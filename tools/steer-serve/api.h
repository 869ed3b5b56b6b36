//===- api.h - The OpenAI request shapes steer-serve accepts ----*- C++ -*-===//
//
// Requests of POST /v1/completions and /v1/chat/completions are read
// strictly: every field has one type, a field Steer does not implement is
// refused unless it has the value that means "off" (so no request silently
// runs with a meaning its client did not ask for), and an unknown field is
// an error naming it. Errors carry the HTTP status and the OpenAI error
// shape ({"error": {"message", "type", "param", "code"}}).
//
//===----------------------------------------------------------------------===//
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace steer::serve {

/// A refused request: HTTP status, OpenAI error type and code, the field.
struct ApiError {
  int status = 400;
  std::string message;
  std::string param; // the field, "" when none
  std::string type = "invalid_request_error";
  std::string code;
  /// Seconds for a Retry-After header (429, 503); 0: none.
  int retryAfter = 0;

  nlohmann::ordered_json toJson() const;
};

ApiError badRequest(std::string param, std::string message);

/// JSON text of a response: bytes that are not UTF-8 (a parse error quotes
/// the body it failed on; a path given on the command line) are written as
/// U+FFFD instead of failing the response.
std::string jsonText(const nlohmann::ordered_json &j);

struct ChatMessage {
  std::string role; // system, user, assistant ("developer" reads as system)
  std::string content;
};

/// A completion or chat request, read and checked for types and ranges
/// that do not depend on the model.
struct CompletionRequest {
  bool chat = false;
  std::string model;
  std::optional<std::string> policy;
  // /v1/completions: text or token ids.
  std::string prompt;
  std::optional<std::vector<int64_t>> promptIds;
  // /v1/chat/completions.
  std::vector<ChatMessage> messages;
  std::optional<int64_t> maxTokens;
  std::optional<int64_t> steps;
  std::optional<double> temperature, topP, repetitionPenalty;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool stream = false;
  bool includeUsage = false; // stream_options.include_usage
};

/// Largest nesting of arrays and objects in `body` (strings skipped), read
/// before parsing so that a deeply nested body is refused cheaply.
size_t jsonDepth(std::string_view body);

/// Reads a request body. `chat` selects the chat shape.
std::optional<ApiError> parseCompletionRequest(std::string_view body,
                                               bool chat,
                                               CompletionRequest &out);

} // namespace steer::serve
