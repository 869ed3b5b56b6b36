//===- tokenize.cpp - steer-run tokenize / detokenize ---------------------===//
#include "steer/cli/commands.h"
#include "steer/text/tokenizer.h"

#include <nlohmann/json.hpp>

namespace steer::cli {

StatusOr<std::vector<int64_t>> parseIdList(const std::string &text,
                                           const std::string &what) {
  std::vector<int64_t> ids;
  size_t entry = 0;
  // Comma-separated, spaces around an entry allowed ("1, 2"); an empty
  // entry (",,1" or a trailing comma) is a typo, not nothing.
  if (text.find_first_not_of(" \t") == std::string::npos)
    return makeError(StatusCode::kInvalidArgument, what,
                     ": no token ids given");
  for (size_t pos = 0; pos <= text.size();) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos)
      end = text.size();
    std::string item = text.substr(pos, end - pos);
    pos = end + 1;
    const size_t first = item.find_first_not_of(" \t");
    item = first == std::string::npos
               ? std::string()
               : item.substr(first, item.find_last_not_of(" \t") - first + 1);
    if (item.empty())
      return makeError(StatusCode::kInvalidArgument, what, ": entry ", entry,
                       " is empty (a stray comma?)");
    size_t used = 0;
    long long v = 0;
    bool okNumber = item.find_first_not_of("-0123456789") == std::string::npos;
    if (okNumber) {
      try {
        v = std::stoll(item, &used);
      } catch (...) {
        okNumber = false;
      }
    }
    if (!okNumber || used != item.size())
      return makeError(StatusCode::kInvalidArgument, what, ": entry ", entry,
                       " ('", item, "') is not an integer in range");
    ids.push_back(v);
    ++entry;
  }
  if (ids.empty())
    return makeError(StatusCode::kInvalidArgument, what,
                     ": no token ids given");
  return ids;
}

StatusOr<std::string> tokenize(const TokenizeOptions &options) {
  STEER_ASSIGN_OR_RETURN(
      auto tok, Tokenizer::create(options.instruct ? TokenizerLayout::kInstruct
                                                   : TokenizerLayout::kBase));
  STEER_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tok->encode(options.text),
                         "while tokenizing --text");
  std::vector<int64_t> all;
  if (options.bosEos)
    all.push_back(tok->bosId());
  all.insert(all.end(), ids.begin(), ids.end());
  if (options.bosEos)
    all.push_back(tok->eosId());
  if (options.json) {
    nlohmann::ordered_json j;
    j["ids"] = all;
    j["tokens"] = nlohmann::json::array();
    for (int64_t id : all) {
      STEER_ASSIGN_OR_RETURN(std::string piece,
                             tok->decode(std::span<const int64_t>(&id, 1)));
      j["tokens"].push_back(piece);
    }
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  std::string out;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i)
      out += ',';
    out += std::to_string(all[i]);
  }
  return out + "\n";
}

StatusOr<std::string> detokenize(const DetokenizeOptions &options) {
  STEER_ASSIGN_OR_RETURN(
      auto tok, Tokenizer::create(options.instruct ? TokenizerLayout::kInstruct
                                                   : TokenizerLayout::kBase));
  STEER_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                         parseIdList(options.ids, "--ids"));
  STEER_ASSIGN_OR_RETURN(std::string text,
                         tok->decode(ids, options.skipSpecial),
                         "while decoding --ids");
  return text + "\n";
}

} // namespace steer::cli
