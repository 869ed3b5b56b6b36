//===- tokenizer.cpp - cl100k_base with Steerling's special tokens --------===//
//
// Encoding follows tiktoken: split the text with the cl100k pattern, look
// each piece up whole, and otherwise merge byte pairs lowest rank first
// (leftmost on ties). Short pieces use tiktoken's linear scan; long ones a
// heap over a linked list, which merges in the same order in O(n log n) so
// that a very long word does not cost O(n^2).
//
//===----------------------------------------------------------------------===//
#include "steer/text/tokenizer.h"
#include "steer/text/utf8.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <climits>
#include <queue>
#include <unordered_map>

extern "C" const char steer_cl100k_json[];
extern "C" const char steer_cl100k_json_end[];

namespace steer {
namespace {

using Rank = uint32_t;
constexpr Rank kNoRank = UINT32_MAX;

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const {
    return std::hash<std::string_view>()(s);
  }
};

/// Whitespace as Rust's regex `\s` (Unicode White_Space), which tiktoken's
/// pattern is written for; PCRE2's own `\s` differs on U+180E.
constexpr std::string_view kWhiteSpace =
    "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}"
    "\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

/// Rewrites `\s` and `\S` in a tiktoken pattern to explicit White_Space
/// classes, inside and outside character classes.
std::string rewriteWhitespace(std::string_view pat) {
  std::string out;
  bool inClass = false;
  for (size_t i = 0; i < pat.size(); ++i) {
    char c = pat[i];
    if (c == '\\' && i + 1 < pat.size()) {
      char n = pat[++i];
      if (n == 's')
        out += inClass ? std::string(kWhiteSpace)
                       : "[" + std::string(kWhiteSpace) + "]";
      else if (n == 'S' && !inClass)
        out += "[^" + std::string(kWhiteSpace) + "]";
      else
        out += {c, n};
      continue;
    }
    if (c == '[' && !inClass)
      inClass = true;
    else if (c == ']' && inClass)
      inClass = false;
    out += c;
  }
  return out;
}

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

bool base64Decode(std::string_view in, std::string &out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=')
      break;
    int v = base64Value(c);
    if (v < 0)
      return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return true;
}

} // namespace

struct Tokenizer::Impl {
  std::unordered_map<std::string, Rank, StringHash, std::equal_to<>> ranks;
  std::vector<std::string> bytesOf;  // rank -> bytes ("" when unused)
  std::vector<std::string> specials; // id - kFirstSpecial -> name
  pcre2_code *code = nullptr;

  static constexpr int64_t kFirstSpecial = 100257;

  ~Impl() {
    if (code)
      pcre2_code_free(code);
  }

  Rank rankOf(std::string_view bytes) const {
    auto it = ranks.find(bytes);
    return it == ranks.end() ? kNoRank : it->second;
  }

  void bytePairEncode(std::string_view piece, std::vector<int32_t> &out) const;
  void mergeLinear(std::string_view piece, std::vector<size_t> &bounds) const;
  void mergeHeap(std::string_view piece, std::vector<size_t> &bounds) const;
};

// tiktoken's algorithm: parts[i] = (start, rank of the pair starting there).
void Tokenizer::Impl::mergeLinear(std::string_view piece,
                                  std::vector<size_t> &bounds) const {
  std::vector<std::pair<size_t, Rank>> parts;
  parts.reserve(piece.size() + 1);
  for (size_t i = 0; i + 1 < piece.size(); ++i)
    parts.push_back({i, rankOf(piece.substr(i, 2))});
  parts.push_back({piece.size() - 1, kNoRank});
  parts.push_back({piece.size(), kNoRank});
  auto rankAt = [&](size_t i) {
    if (i + 3 < parts.size())
      return rankOf(
          piece.substr(parts[i].first, parts[i + 3].first - parts[i].first));
    return kNoRank;
  };
  for (;;) {
    Rank best = kNoRank;
    size_t at = 0;
    for (size_t i = 0; i + 1 < parts.size(); ++i)
      if (parts[i].second < best) {
        best = parts[i].second;
        at = i;
      }
    if (best == kNoRank)
      break;
    if (at > 0)
      parts[at - 1].second = rankAt(at - 1);
    parts[at].second = rankAt(at);
    parts.erase(parts.begin() + at + 1);
  }
  bounds.clear();
  for (auto &p : parts)
    bounds.push_back(p.first);
}

// The same merge order with a min-heap keyed on (rank, start): stale
// entries are recognised by comparing against the current rank.
void Tokenizer::Impl::mergeHeap(std::string_view piece,
                                std::vector<size_t> &bounds) const {
  const size_t n = piece.size();
  std::vector<size_t> next(n + 1), prev(n + 1);
  std::vector<Rank> pairRank(n + 1, kNoRank); // rank of part@i + next part
  std::vector<bool> alive(n + 1, true);
  for (size_t i = 0; i <= n; ++i) {
    next[i] = i + 1;
    prev[i] = i == 0 ? SIZE_MAX : i - 1;
  }
  using Entry = std::pair<Rank, size_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
  auto pairAt = [&](size_t i) -> Rank {
    if (i >= n || next[i] >= n)
      return kNoRank;
    size_t end = next[next[i]];
    return rankOf(piece.substr(i, end - i));
  };
  for (size_t i = 0; i + 1 < n; ++i) {
    pairRank[i] = rankOf(piece.substr(i, 2));
    if (pairRank[i] != kNoRank)
      heap.push({pairRank[i], i});
  }
  while (!heap.empty()) {
    auto [rank, i] = heap.top();
    heap.pop();
    if (!alive[i] || pairRank[i] != rank)
      continue; // Stale.
    size_t j = next[i];
    alive[j] = false;
    next[i] = next[j];
    if (next[j] <= n)
      prev[next[j]] = i;
    pairRank[i] = pairAt(i);
    if (pairRank[i] != kNoRank)
      heap.push({pairRank[i], i});
    if (prev[i] != SIZE_MAX) {
      size_t p = prev[i];
      pairRank[p] = pairAt(p);
      if (pairRank[p] != kNoRank)
        heap.push({pairRank[p], p});
    }
  }
  bounds.clear();
  for (size_t i = 0; i < n; i = next[i])
    bounds.push_back(i);
  bounds.push_back(n);
}

void Tokenizer::Impl::bytePairEncode(std::string_view piece,
                                     std::vector<int32_t> &out) const {
  if (piece.size() == 1) {
    out.push_back(static_cast<int32_t>(rankOf(piece)));
    return;
  }
  std::vector<size_t> bounds;
  if (piece.size() < 256)
    mergeLinear(piece, bounds);
  else
    mergeHeap(piece, bounds);
  for (size_t k = 0; k + 1 < bounds.size(); ++k)
    out.push_back(static_cast<int32_t>(
        rankOf(piece.substr(bounds[k], bounds[k + 1] - bounds[k]))));
}

Tokenizer::~Tokenizer() = default;

StatusOr<std::unique_ptr<Tokenizer>>
Tokenizer::fromJson(std::string_view json, std::string_view path,
                    TokenizerLayout layout) {
  auto bad = [&](auto &&...pieces) {
    return makeError(StatusCode::kInvalidArgument, path, ": ", pieces...);
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json.begin(), json.end());
  } catch (const nlohmann::json::exception &e) {
    return bad("not valid JSON: ", e.what());
  }
  if (!j.is_object() || !j.contains("pat_str") || !j["pat_str"].is_string() ||
      !j.contains("bpe_ranks") || !j["bpe_ranks"].is_string())
    return bad("expected tiktoken's encoder format with 'pat_str' and "
               "'bpe_ranks' strings");

  std::unique_ptr<Tokenizer> tok(new Tokenizer());
  tok->impl_ = std::make_unique<Impl>();
  tok->layout_ = layout;
  Impl &impl = *tok->impl_;

  // bpe_ranks: lines of "<tag> <first rank> <base64 token> <base64 token>...",
  // ranks consecutive from the first.
  const std::string &ranks = j["bpe_ranks"].get_ref<const std::string &>();
  std::string bytes;
  size_t lineNo = 0;
  for (size_t pos = 0; pos < ranks.size();) {
    size_t eol = ranks.find('\n', pos);
    if (eol == std::string::npos)
      eol = ranks.size();
    std::string_view line(ranks.data() + pos, eol - pos);
    pos = eol + 1;
    ++lineNo;
    if (line.empty())
      continue;
    size_t a = line.find(' ');
    size_t b = a == std::string_view::npos ? a : line.find(' ', a + 1);
    if (b == std::string_view::npos)
      return bad("bpe_ranks line ", lineNo, " is malformed");
    Rank rank = 0;
    for (char c : line.substr(a + 1, b - a - 1)) {
      if (c < '0' || c > '9')
        return bad("bpe_ranks line ", lineNo, " has a bad rank");
      rank = rank * 10 + static_cast<Rank>(c - '0');
    }
    for (size_t p = b + 1; p <= line.size();) {
      size_t q = line.find(' ', p);
      if (q == std::string_view::npos)
        q = line.size();
      if (q > p) {
        if (!base64Decode(line.substr(p, q - p), bytes) || bytes.empty())
          return bad("bpe_ranks line ", lineNo, " has bad base64 for rank ",
                     rank);
        if (impl.bytesOf.size() <= rank)
          impl.bytesOf.resize(rank + 1);
        impl.bytesOf[rank] = bytes;
        impl.ranks.emplace(bytes, rank);
        ++rank;
      }
      p = q + 1;
    }
  }
  for (int b = 0; b < 256; ++b)
    if (!impl.ranks.count(std::string(1, static_cast<char>(b))))
      return bad("bpe_ranks lacks the single byte ", b,
                 "; not a byte-level BPE");

  static constexpr std::array<const char *, 24> kSpecialNames = {
      "<|endoftext|>",
      "<|fim_prefix|>",
      "<|fim_middle|>",
      "<|fim_suffix|>",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      "<|endofprompt|>",
      "<|pad|>",
      "<|bos|>",
      "<|endofchunk|>",
      "<|mask|>"};
  impl.specials.assign(kSpecialNames.begin(), kSpecialNames.end());
  if (layout == TokenizerLayout::kInstruct) {
    impl.specials.push_back("<|start_header_id|>");
    impl.specials.push_back("<|end_header_id|>");
    impl.specials.push_back("<|eot_id|>");
  }
  tok->vocabSize_ =
      Impl::kFirstSpecial + static_cast<int64_t>(impl.specials.size());

  std::string pattern = rewriteWhitespace(j["pat_str"].get<std::string>());
  int err = 0;
  PCRE2_SIZE errOffset = 0;
  impl.code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()),
                            pattern.size(), PCRE2_UTF | PCRE2_UCP, &err,
                            &errOffset, nullptr);
  if (!impl.code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    return bad("pat_str does not compile at offset ", errOffset, ": ",
               reinterpret_cast<const char *>(msg));
  }
  // JIT is an optimisation; the interpreter gives the same matches.
  (void)pcre2_jit_compile(impl.code, PCRE2_JIT_COMPLETE);
  return tok;
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::create(TokenizerLayout layout) {
  std::string_view json(
      steer_cl100k_json,
      static_cast<size_t>(steer_cl100k_json_end - steer_cl100k_json));
  return fromJson(json, "<embedded cl100k_base.json>", layout);
}

StatusOr<std::vector<int32_t>> Tokenizer::encode(std::string_view text) const {
  size_t badAt = 0;
  if (!isValidUtf8(text, badAt))
    return makeError(StatusCode::kInvalidArgument,
                     "text is not valid UTF-8 at byte ", badAt);
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  pcre2_match_data *md =
      pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  if (!md)
    return makeError(StatusCode::kInternal, "out of memory for regex matching");
  const auto *subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    int rc = pcre2_match(impl_->code, subject, text.size(), pos,
                         PCRE2_NO_UTF_CHECK, md, nullptr);
    size_t start, end;
    if (rc > 0) {
      PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
      start = ov[0], end = ov[1];
    } else {
      start = text.size(), end = text.size();
    }
    // Text the pattern skipped (it cannot, for cl100k) is encoded as is.
    if (start > pos)
      impl_->bytePairEncode(text.substr(pos, start - pos), out);
    if (end == start) {
      if (end >= text.size())
        break;
      end = start + 1; // Defensive: never loop on an empty match.
    }
    std::string_view piece = text.substr(start, end - start);
    Rank r = impl_->rankOf(piece);
    if (r != kNoRank)
      out.push_back(static_cast<int32_t>(r));
    else
      impl_->bytePairEncode(piece, out);
    pos = end;
  }
  pcre2_match_data_free(md);
  return out;
}

bool Tokenizer::isSpecial(int64_t id) const { return !specialName(id).empty(); }

std::string_view Tokenizer::specialName(int64_t id) const {
  int64_t k = id - Impl::kFirstSpecial;
  if (k < 0 || k >= static_cast<int64_t>(impl_->specials.size()))
    return {};
  return impl_->specials[k];
}

StatusOr<std::string> Tokenizer::tokenBytes(int64_t id) const {
  if (id < 0 || id >= vocabSize_)
    return makeError(StatusCode::kOutOfRange, "token id ", id,
                     " is outside the vocabulary [0, ", vocabSize_, ")");
  if (id < static_cast<int64_t>(impl_->bytesOf.size()) &&
      !impl_->bytesOf[id].empty())
    return impl_->bytesOf[id];
  if (isSpecial(id))
    return std::string();
  return makeError(StatusCode::kOutOfRange, "token id ", id,
                   " is unused in the cl100k vocabulary and has no text");
}

StatusOr<std::string> Tokenizer::decode(std::span<const int64_t> ids,
                                        bool skipSpecial) const {
  std::string bytes;
  for (size_t i = 0; i < ids.size(); ++i) {
    int64_t id = ids[i];
    if (std::string_view name = specialName(id); !name.empty()) {
      if (!skipSpecial)
        bytes += name;
      continue;
    }
    STEER_ASSIGN_OR_RETURN(std::string b, tokenBytes(id), "at position ", i);
    bytes += b;
  }
  return utf8Lossy(bytes);
}

} // namespace steer
