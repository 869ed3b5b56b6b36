//===- chat.h - Chat layouts: messages to a prompt --------------*- C++ -*-===//
//
// A Steerling instruct checkpoint uses the reference's layout (its Hugging
// Face chat_template): for each message
//   <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|endofchunk|><|eot_id|>
// then <|start_header_id|>assistant<|end_header_id|>\n\n, generation ending
// at <|eot_id|>. Special tokens are placed by id and the text between them
// is encoded on its own, as a Hugging Face tokenizer splits the rendered
// template; special-token text inside a message stays text.
//
// A base model has no chat layout of its own; one is declared with the
// model in a file steer_chat.json beside its config.json (or given with
// --chat-template NAME=FILE):
//   {"system": "...{content}...", "user": "...", "assistant": "...",
//    "stop": ["..."]}
// Each role's text holds {content} once; messages are rendered in order and
// concatenated; "stop" texts end every chat reply.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "api.h"
#include "steer/session/session.h"

#include <string>
#include <vector>

namespace steer::serve {

struct ChatTemplate {
  enum class Kind { kNone, kInstruct, kText };
  Kind kind = Kind::kNone;
  std::string system, user, assistant;
  std::vector<std::string> stop;
  std::string source; // where it came from, for /v1/models and errors

  /// A steer_chat.json file.
  static StatusOr<ChatTemplate> load(const std::string &path);
  /// The reference's instruct layout.
  static ChatTemplate instruct();

  /// The prompt's token ids: the messages and the generation prompt.
  StatusOr<std::vector<int64_t>>
  render(const Session &session,
         const std::vector<ChatMessage> &messages) const;
};

} // namespace steer::serve
