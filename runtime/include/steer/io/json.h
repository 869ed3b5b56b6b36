//===- json.h - Strict JSON parsing helpers ---------------------*- C++ -*-===//
//
// nlohmann::json keeps the last of two equal keys in one object without a
// word, so a config.json with norm_eps twice, or a safetensors header with a
// tensor named twice, would silently mean whichever came last. Every loader
// parses with DuplicateKeys and refuses such input by name.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <vector>

namespace steer {

/// Records the first key that repeats within one JSON object while
/// nlohmann::basic_json::parse runs (pass callback() as its callback).
class DuplicateKeys {
public:
  template <typename Json = nlohmann::json>
  typename Json::parser_callback_t callback() {
    return [this](int, typename Json::parse_event_t event, Json &parsed) {
      using E = typename Json::parse_event_t;
      if (event == E::object_start) {
        open_.emplace_back();
      } else if (event == E::object_end) {
        if (!open_.empty())
          open_.pop_back();
      } else if (event == E::key && !open_.empty() && parsed.is_string()) {
        const std::string &key = parsed.template get_ref<const std::string &>();
        if (!open_.back().insert(key).second && first_.empty()) {
          first_ = key;
          found_ = true;
        }
      }
      return true;
    };
  }

  /// Whether a key repeated, and the first one that did.
  bool found() const { return found_; }
  const std::string &first() const { return first_; }

private:
  std::vector<std::set<std::string>> open_;
  std::string first_;
  bool found_ = false;
};

} // namespace steer
