//===- chat.cpp - Chat layouts: messages to a prompt ----------------------===//
#include "chat.h"

#include "steer/io/file.h"

#include <nlohmann/json.hpp>

namespace steer::serve {
namespace {

constexpr int64_t kStartHeaderId = 100281, kEndHeaderId = 100282,
                  kEotId = 100283, kEndOfChunkId = 100279;

const std::string kPlaceholder = "{content}";

Status appendText(const Session &session, std::string_view text,
                  std::vector<int64_t> &out) {
  if (text.empty())
    return okStatus();
  STEER_ASSIGN_OR_RETURN(std::vector<int64_t> ids, session.encode(text));
  out.insert(out.end(), ids.begin(), ids.end());
  return okStatus();
}

} // namespace

ChatTemplate ChatTemplate::instruct() {
  ChatTemplate t;
  t.kind = Kind::kInstruct;
  t.source = "built-in (the reference's instruct chat_template)";
  return t;
}

StatusOr<ChatTemplate> ChatTemplate::load(const std::string &path) {
  STEER_ASSIGN_OR_RETURN(std::string text, readFile(path));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error &e) {
    return makeError(StatusCode::kInvalidArgument, path,
                     ": not valid JSON: ", e.what());
  }
  if (!j.is_object())
    return makeError(StatusCode::kInvalidArgument, path,
                     ": must be a JSON object");
  ChatTemplate t;
  t.kind = Kind::kText;
  t.source = path;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string &k = it.key();
    std::string *role = k == "system"      ? &t.system
                        : k == "user"      ? &t.user
                        : k == "assistant" ? &t.assistant
                                           : nullptr;
    if (role) {
      if (!it->is_string())
        return makeError(StatusCode::kInvalidArgument, path, ": field '", k,
                         "' must be a string");
      *role = it->get<std::string>();
      size_t at = role->find(kPlaceholder);
      if (at == std::string::npos ||
          role->find(kPlaceholder, at + 1) != std::string::npos)
        return makeError(StatusCode::kInvalidArgument, path, ": field '", k,
                         "' must hold {content} exactly once");
    } else if (k == "stop") {
      if (!it->is_array())
        return makeError(StatusCode::kInvalidArgument, path,
                         ": field 'stop' must be an array of strings");
      for (size_t i = 0; i < it->size(); ++i) {
        if (!(*it)[i].is_string() || (*it)[i].get<std::string>().empty())
          return makeError(StatusCode::kInvalidArgument, path, ": stop[", i,
                           "] must be a non-empty string");
        t.stop.push_back((*it)[i].get<std::string>());
      }
    } else if (k != "comment") {
      return makeError(StatusCode::kInvalidArgument, path, ": unknown field '",
                       k, "' (fields: system, user, assistant, stop, comment)");
    }
  }
  for (const char *need : {"system", "user", "assistant"})
    if (!j.contains(need))
      return makeError(StatusCode::kInvalidArgument, path, ": field '", need,
                       "' is missing");
  return t;
}

StatusOr<std::vector<int64_t>>
ChatTemplate::render(const Session &session,
                     const std::vector<ChatMessage> &messages) const {
  std::vector<int64_t> ids;
  if (kind == Kind::kInstruct) {
    auto header = [&](std::string_view role) -> Status {
      ids.push_back(kStartHeaderId);
      STEER_RETURN_IF_ERROR(appendText(session, role, ids));
      ids.push_back(kEndHeaderId);
      return okStatus();
    };
    for (const ChatMessage &m : messages) {
      STEER_RETURN_IF_ERROR(header(m.role));
      STEER_RETURN_IF_ERROR(appendText(session, "\n\n" + m.content, ids));
      ids.push_back(kEndOfChunkId);
      ids.push_back(kEotId);
    }
    STEER_RETURN_IF_ERROR(header("assistant"));
    STEER_RETURN_IF_ERROR(appendText(session, "\n\n", ids));
    return ids;
  }
  if (kind != Kind::kText)
    return makeError(StatusCode::kUnsupported, "no chat template");
  std::string text;
  for (const ChatMessage &m : messages) {
    const std::string &form = m.role == "system" ? system
                              : m.role == "user" ? user
                                                 : assistant;
    size_t at = form.find(kPlaceholder);
    text += form.substr(0, at) + m.content +
            form.substr(at + kPlaceholder.size());
  }
  STEER_RETURN_IF_ERROR(appendText(session, text, ids));
  return ids;
}

} // namespace steer::serve
