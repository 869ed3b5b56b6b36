//===- api.cpp - The OpenAI request shapes steer-serve accepts ------------===//
#include "api.h"

#include <cmath>
#include <cstdio>
#include <functional>
#include <set>

namespace steer::serve {

using json = nlohmann::json;

nlohmann::ordered_json ApiError::toJson() const {
  nlohmann::ordered_json e;
  e["message"] = message;
  e["type"] = type;
  e["param"] = param.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(param);
  e["code"] = code.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(code);
  return {{"error", e}};
}

std::string jsonText(const nlohmann::ordered_json &j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

ApiError badRequest(std::string param, std::string message) {
  ApiError e;
  e.status = 400;
  e.param = std::move(param);
  e.message = std::move(message);
  return e;
}

size_t jsonDepth(std::string_view body) {
  size_t depth = 0, deepest = 0;
  bool inString = false, escaped = false;
  for (char c : body) {
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

namespace {

constexpr size_t kMaxDepth = 16;
constexpr size_t kMaxStops = 4; // as OpenAI

const char *typeName(const json &v) {
  switch (v.type()) {
  case json::value_t::null:
    return "null";
  case json::value_t::boolean:
    return "a boolean";
  case json::value_t::string:
    return "a string";
  case json::value_t::array:
    return "an array";
  case json::value_t::object:
    return "an object";
  case json::value_t::number_float:
    return "a non-integer number";
  default:
    return "an integer";
  }
}

ApiError wrongType(const std::string &field, const char *want,
                   const json &got) {
  return badRequest(field, "'" + field + "' must be " + want + ", got " +
                               typeName(got));
}

std::optional<ApiError> readString(const json &v, const std::string &field,
                                   std::string &out) {
  if (!v.is_string())
    return wrongType(field, "a string", v);
  out = v.get<std::string>();
  return std::nullopt;
}

std::optional<ApiError> readInt(const json &v, const std::string &field,
                                int64_t lo, int64_t hi,
                                std::optional<int64_t> &out) {
  if (v.is_null())
    return std::nullopt;
  if (!v.is_number_integer())
    return wrongType(field, "an integer", v);
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
    return badRequest(field, "'" + field + "' is out of range [" +
                                 std::to_string(lo) + ", " +
                                 std::to_string(hi) + "]");
  int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    return badRequest(field, "'" + field + "' is " + std::to_string(x) +
                                 "; it must be in [" + std::to_string(lo) +
                                 ", " + std::to_string(hi) + "]");
  out = x;
  return std::nullopt;
}

std::optional<ApiError> readNumber(const json &v, const std::string &field,
                                   double lo, double hi,
                                   std::optional<double> &out) {
  if (v.is_null())
    return std::nullopt;
  if (!v.is_number())
    return wrongType(field, "a number", v);
  double x = v.get<double>();
  if (!(lo <= x && x <= hi)) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "'%s' is %g; it must be in [%g, %g]",
                  field.c_str(), x, lo, hi);
    return badRequest(field, buf);
  }
  out = x;
  return std::nullopt;
}

std::optional<ApiError> readBool(const json &v, const std::string &field,
                                 bool &out) {
  if (v.is_null())
    return std::nullopt;
  if (!v.is_boolean())
    return wrongType(field, "a boolean", v);
  out = v.get<bool>();
  return std::nullopt;
}

/// A field Steer does not implement, accepted only with its "off" value.
std::optional<ApiError> onlyOff(const json &v, const std::string &field,
                                const std::function<bool(const json &)> &off,
                                const char *offText) {
  if (v.is_null() || off(v))
    return std::nullopt;
  return badRequest(field, "'" + field +
                               "' is not supported by steer-serve; it "
                               "accepts only " + offText);
}

std::optional<ApiError> readStop(const json &v, std::vector<std::string> &out) {
  if (v.is_null())
    return std::nullopt;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    if (v.size() > kMaxStops)
      return badRequest("stop", "'stop' holds " + std::to_string(v.size()) +
                                    " sequences; at most " +
                                    std::to_string(kMaxStops) +
                                    " are accepted");
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string())
        return wrongType("stop[" + std::to_string(i) + "]", "a string", v[i]);
      out.push_back(v[i].get<std::string>());
    }
  } else {
    return wrongType("stop", "a string or an array of strings", v);
  }
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i].empty())
      return badRequest("stop", "'stop' sequence " + std::to_string(i) +
                                    " is empty");
  return std::nullopt;
}

std::optional<ApiError> readPrompt(const json &v, CompletionRequest &out) {
  // A string, an array of one string, or token ids (an array of integers,
  // or an array holding one such array).
  const json *p = &v;
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() ||
                                          (*p)[0].is_array()))
    p = &(*p)[0];
  if (p->is_string()) {
    out.prompt = p->get<std::string>();
    return std::nullopt;
  }
  if (p->is_array() && !p->empty()) {
    std::vector<int64_t> ids;
    for (size_t i = 0; i < p->size(); ++i) {
      const json &t = (*p)[i];
      if (!t.is_number_integer() ||
          (t.is_number_unsigned() && t.get<uint64_t>() > uint64_t(INT64_MAX)))
        return badRequest("prompt", "'prompt' token " + std::to_string(i) +
                                        " is not a token id");
      ids.push_back(t.get<int64_t>());
    }
    out.promptIds = std::move(ids);
    return std::nullopt;
  }
  if (v.is_array() && v.size() > 1)
    return badRequest("prompt", "'prompt' holds " + std::to_string(v.size()) +
                                    " prompts; steer-serve takes one per "
                                    "request");
  return wrongType("prompt", "a string or an array of token ids", v);
}

std::optional<ApiError> readMessages(const json &v, CompletionRequest &out) {
  if (!v.is_array())
    return wrongType("messages", "an array", v);
  if (v.empty())
    return badRequest("messages", "'messages' is empty");
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    const json &m = v[i];
    if (!m.is_object())
      return wrongType(at, "an object", m);
    ChatMessage msg;
    bool haveContent = false;
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (it.key() == "role") {
        if (auto e = readString(it.value(), at + ".role", msg.role))
          return e;
      } else if (it.key() == "content") {
        const json &c = it.value();
        haveContent = true;
        if (c.is_string()) {
          msg.content = c.get<std::string>();
        } else if (c.is_array()) {
          // Content parts: only text.
          for (size_t k = 0; k < c.size(); ++k) {
            const std::string pat = at + ".content[" + std::to_string(k) + "]";
            if (!c[k].is_object() || !c[k].contains("type") ||
                c[k]["type"] != "text" || !c[k].contains("text") ||
                !c[k]["text"].is_string())
              return badRequest(pat, "'" + pat + "' must be a text part "
                                     "({\"type\": \"text\", \"text\": ...}); "
                                     "other parts are not supported");
            msg.content += c[k]["text"].get<std::string>();
          }
        } else {
          return wrongType(at + ".content", "a string or an array of text "
                                            "parts", c);
        }
      } else if (it.key() == "name") {
        std::string ignored;
        if (auto e = readString(it.value(), at + ".name", ignored))
          return e;
      } else {
        return badRequest(at + "." + it.key(),
                          "unknown field '" + at + "." + it.key() + "'");
      }
    }
    if (msg.role.empty())
      return badRequest(at + ".role", "'" + at + ".role' is missing");
    if (msg.role == "developer")
      msg.role = "system";
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant")
      return badRequest(at + ".role",
                        "'" + at + ".role' is '" + msg.role +
                            "'; steer-serve takes system, developer, user "
                            "and assistant messages");
    if (!haveContent)
      return badRequest(at + ".content", "'" + at + ".content' is missing");
    out.messages.push_back(std::move(msg));
  }
  if (out.messages.back().role != "user")
    return badRequest("messages", "the last message must be the user's (the "
                                  "reply is generated after it)");
  return std::nullopt;
}

} // namespace

std::optional<ApiError> parseCompletionRequest(std::string_view body,
                                               bool chat,
                                               CompletionRequest &out) {
  out = CompletionRequest();
  out.chat = chat;
  if (size_t depth = jsonDepth(body); depth > kMaxDepth)
    return badRequest("", "the body nests " + std::to_string(depth) +
                              " levels deep; at most " +
                              std::to_string(kMaxDepth) + " are accepted");
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error &e) {
    return badRequest("", std::string("the body is not valid JSON: ") +
                              e.what());
  }
  if (!j.is_object())
    return badRequest("", std::string("the body must be a JSON object, got ") +
                              typeName(j));
  bool haveModel = false, haveInput = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string &k = it.key();
    const json &v = it.value();
    std::optional<ApiError> e;
    if (k == "model") {
      haveModel = true;
      e = readString(v, k, out.model);
    } else if (k == "policy") {
      if (!v.is_null()) {
        std::string p;
        e = readString(v, k, p);
        out.policy = p;
      }
    } else if (!chat && k == "prompt") {
      haveInput = true;
      e = readPrompt(v, out);
    } else if (chat && k == "messages") {
      haveInput = true;
      e = readMessages(v, out);
    } else if (k == "max_tokens" || (chat && k == "max_completion_tokens")) {
      if (out.maxTokens && !v.is_null())
        return badRequest(k, "give one of 'max_tokens' and "
                             "'max_completion_tokens'");
      e = readInt(v, k, 1, INT32_MAX, out.maxTokens);
    } else if (k == "steps") {
      e = readInt(v, k, 1, INT32_MAX, out.steps);
    } else if (k == "temperature") {
      e = readNumber(v, k, 0, 100, out.temperature);
    } else if (k == "top_p") {
      e = readNumber(v, k, 0, 1, out.topP);
    } else if (k == "repetition_penalty") {
      e = readNumber(v, k, 1, 1000, out.repetitionPenalty);
    } else if (k == "seed") {
      if (!v.is_null()) {
        if (!v.is_number_integer())
          e = wrongType(k, "an integer", v);
        else if (!v.is_number_unsigned() && v.get<int64_t>() < 0)
          e = badRequest(k, "'seed' must be non-negative");
        else
          out.seed = v.get<uint64_t>();
      }
    } else if (k == "stop") {
      e = readStop(v, out.stop);
    } else if (k == "stream") {
      e = readBool(v, k, out.stream);
    } else if (k == "stream_options") {
      if (!v.is_null()) {
        if (!v.is_object())
          e = wrongType(k, "an object", v);
        else
          for (auto s = v.begin(); s != v.end() && !e; ++s) {
            if (s.key() == "include_usage")
              e = readBool(s.value(), "stream_options.include_usage",
                           out.includeUsage);
            else
              e = badRequest("stream_options." + s.key(),
                             "unknown field 'stream_options." + s.key() + "'");
          }
      }
    } else if (k == "n" || (!chat && k == "best_of")) {
      e = onlyOff(v, k, [](const json &x) { return x == 1; }, "1");
    } else if (k == "presence_penalty" || k == "frequency_penalty") {
      e = onlyOff(v, k,
                  [](const json &x) { return x.is_number() && x == 0; }, "0");
    } else if (k == "logit_bias") {
      e = onlyOff(v, k,
                  [](const json &x) { return x.is_object() && x.empty(); },
                  "{} (steer the logits with a compiled policy)");
    } else if (k == "logprobs") {
      e = onlyOff(v, k, [](const json &x) { return x == false; },
                  "null or false");
    } else if (k == "top_logprobs" || (!chat && k == "suffix")) {
      e = onlyOff(v, k, [](const json &) { return false; }, "null");
    } else if (!chat && k == "echo") {
      e = onlyOff(v, k, [](const json &x) { return x == false; }, "false");
    } else if (chat && k == "response_format") {
      e = onlyOff(v, k,
                  [](const json &x) {
                    return x.is_object() && x.size() == 1 &&
                           x.contains("type") && x["type"] == "text";
                  },
                  "{\"type\": \"text\"}");
    } else if (chat && (k == "tools" || k == "tool_choice" ||
                        k == "functions" || k == "function_call" ||
                        k == "parallel_tool_calls")) {
      e = onlyOff(v, k, [](const json &) { return false; }, "null");
    } else if (k == "user") {
      std::string ignored;
      if (!v.is_null())
        e = readString(v, k, ignored);
    } else {
      e = badRequest(k, "unknown field '" + k + "'");
    }
    if (e)
      return e;
  }
  if (!haveModel)
    return badRequest("model", "'model' is missing");
  if (!haveInput)
    return chat ? badRequest("messages", "'messages' is missing")
                : badRequest("prompt", "'prompt' is missing");
  return std::nullopt;
}

} // namespace steer::serve
