//===- tokenizer.h - cl100k_base with Steerling's special tokens -*- C++
//-*-===//
//
// Byte-level BPE over the cl100k_base ranks (embedded at build time from the
// npm package tiktoken's encoders/cl100k_base.json), the cl100k split
// pattern (PCRE2, UTF + Unicode properties), and Steerling's special tokens:
//
//   base layout (vocab 100281)      instruct layout (vocab 100284)
//   100257 <|endoftext|> (EOS)       as base, plus
//   100277 <|pad|>                   100281 <|start_header_id|>
//   100278 <|bos|>                   100282 <|end_header_id|>
//   100279 <|endofchunk|>            100283 <|eot_id|>
//   100280 <|mask|>
//
// As in the reference (`encode(text, disallowed_special=())`), special-token
// text inside input is encoded as ordinary text. Decoding joins the tokens'
// bytes and replaces invalid UTF-8 the way tiktoken's lossy decode does
// (each maximal invalid subsequence becomes U+FFFD).
//
// Thread safety: a Tokenizer is immutable after load; encode/decode may run
// concurrently.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/base/status.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace steer {

enum class TokenizerLayout { kBase, kInstruct };

class Tokenizer {
public:
  /// The embedded cl100k ranks with the given layout's special tokens.
  static StatusOr<std::unique_ptr<Tokenizer>> create(TokenizerLayout layout);
  /// Ranks from a tiktoken-format JSON file (pat_str, special_tokens,
  /// bpe_ranks) instead of the embedded copy.
  static StatusOr<std::unique_ptr<Tokenizer>> fromJson(std::string_view json,
                                                       std::string_view path,
                                                       TokenizerLayout layout);

  ~Tokenizer();

  /// Token ids of `text`. Fails only on invalid UTF-8 (naming the byte).
  StatusOr<std::vector<int32_t>> encode(std::string_view text) const;

  /// The bytes of the tokens joined, as UTF-8 with invalid sequences
  /// replaced by U+FFFD. Special tokens decode to their text unless
  /// `skipSpecial`. An id outside the vocabulary, or one of cl100k's unused
  /// ids, is an error naming the id and its position.
  StatusOr<std::string> decode(std::span<const int64_t> ids,
                               bool skipSpecial = false) const;
  /// Raw bytes of one token (no UTF-8 repair); empty for specials.
  StatusOr<std::string> tokenBytes(int64_t id) const;

  int64_t vocabSize() const { return vocabSize_; }
  TokenizerLayout layout() const { return layout_; }
  bool isSpecial(int64_t id) const;
  /// Name of a special token ("<|mask|>"), or empty.
  std::string_view specialName(int64_t id) const;

  int64_t eosId() const { return 100257; }
  int64_t padId() const { return 100277; }
  int64_t bosId() const { return 100278; }
  int64_t endOfChunkId() const { return 100279; }
  int64_t maskId() const { return 100280; }

private:
  Tokenizer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t vocabSize_ = 0;
  TokenizerLayout layout_ = TokenizerLayout::kBase;
};

/// Replaces each maximal invalid UTF-8 subsequence with U+FFFD (the WHATWG
/// and Python "replace" behaviour).
std::string utf8Lossy(std::string_view bytes);

} // namespace steer
