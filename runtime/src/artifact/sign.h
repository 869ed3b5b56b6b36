//===- sign.h - Artifact signatures (internal) ------------------*- C++ -*-===//
#pragma once

#include "steer/artifact/artifact.h"

#include <span>
#include <string_view>

namespace steer {

/// The trailer that signs the concatenation of `pieces` (every byte of the
/// artifact before the trailer).
StatusOr<std::string> signatureTrailer(std::span<const std::string_view> pieces,
                                       const SigningKey &key);

/// The signer's key from the trailer of a file of `size` bytes at `p`;
/// checks the trailer's structure only (verifySignature checks validity).
StatusOr<VerifyKey> readSignatureTrailer(const uint8_t *p, uint64_t size,
                                         const std::string &path);

} // namespace steer
