//===- sign.cpp - Ed25519 signatures of artifacts (libsodium) -------------===//
//
// Why libsodium: it is Debian's well-kept, misuse-resistant crypto library
// with one call each for keys, detached signatures and hashing, and it is
// all an artifact signature needs (OpenSSL would do too, at more surface).
// The signature covers the BLAKE2b-256 digest of every byte before the
// trailer, so header, manifest and every tensor byte are authenticated; the
// xxh64 checksums inside stay for accident detection only.
//
//===----------------------------------------------------------------------===//
#include "sign.h"

#include "steer/io/file.h"

#include <sodium.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace steer {
namespace {

constexpr char kTrailerMagic[8] = {'S', 'T', 'E', 'E', 'R', 'S', 'I', 'G'};
constexpr std::string_view kSecretHeader = "steer-signing-key 1\n";
constexpr std::string_view kPublicHeader = "steer-verify-key 1\n";

Status initSodium() {
  if (sodium_init() < 0)
    return makeError(StatusCode::kInternal, "libsodium failed to initialise");
  return okStatus();
}

std::string toHex(const uint8_t *p, size_t n) {
  std::string out(2 * n + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), p, n);
  out.pop_back();
  return out;
}

/// Reads "HEADER" + hex of exactly `n` bytes (+ optional newline).
Status readKeyFile(const std::string &path, std::string_view header,
                   uint8_t *out, size_t n) {
  STEER_ASSIGN_OR_RETURN(std::string text, readFile(path));
  if (text.rfind(header, 0) != 0)
    return makeError(StatusCode::kInvalidArgument, path, ": not a ",
                     header.substr(0, header.size() - 3),
                     " file (it must start with '",
                     header.substr(0, header.size() - 1),
                     "'; make one with steer-run keygen)");
  std::string_view hex = std::string_view(text).substr(header.size());
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r'))
    hex.remove_suffix(1);
  size_t got = 0;
  if (hex.size() != 2 * n ||
      sodium_hex2bin(out, n, hex.data(), hex.size(), nullptr, &got, nullptr) !=
          0 ||
      got != n)
    return makeError(StatusCode::kInvalidArgument, path, ": the key must be ",
                     2 * n, " hex digits on the second line");
  return okStatus();
}

Status writeNew(const std::string &path, const std::string &text, int mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    return makeError(StatusCode::kInvalidArgument, "cannot create ", path,
                     ": ", std::strerror(errno),
                     errno == EEXIST ? " (keys are never overwritten)" : "");
  bool ok = ::write(fd, text.data(), text.size()) ==
            static_cast<ssize_t>(text.size());
  ok = (::close(fd) == 0) && ok;
  if (!ok)
    return makeError(StatusCode::kIo, "cannot write ", path);
  return okStatus();
}

} // namespace

Status generateSigningKey(const std::string &prefix) {
  if (prefix.empty() || prefix.back() == '/')
    return makeError(StatusCode::kInvalidArgument, "keygen: the prefix '",
                     prefix, "' names no file; give e.g. keys/release");
  STEER_RETURN_IF_ERROR(initSodium());
  SigningKey key;
  crypto_sign_keypair(key.publicKey.data(), key.secret.data());
  const std::string pub =
      std::string(kPublicHeader) + toHex(key.publicKey.data(), 32) + "\n";
  std::string secret =
      std::string(kSecretHeader) + toHex(key.secret.data(), 64) + "\n";
  Status s = writeNew(prefix + ".key", secret, 0600);
  sodium_memzero(secret.data(), secret.size());
  sodium_memzero(key.secret.data(), key.secret.size());
  STEER_RETURN_IF_ERROR(s);
  return writeNew(prefix + ".pub", pub, 0644);
}

StatusOr<SigningKey> loadSigningKey(const std::string &path) {
  STEER_RETURN_IF_ERROR(initSodium());
  SigningKey key;
  STEER_RETURN_IF_ERROR(
      readKeyFile(path, kSecretHeader, key.secret.data(), key.secret.size()));
  crypto_sign_ed25519_sk_to_pk(key.publicKey.data(), key.secret.data());
  return key;
}

StatusOr<VerifyKey> loadVerifyKey(const std::string &path) {
  STEER_RETURN_IF_ERROR(initSodium());
  VerifyKey key;
  STEER_RETURN_IF_ERROR(readKeyFile(path, kPublicHeader, key.publicKey.data(),
                                    key.publicKey.size()));
  return key;
}

StatusOr<std::string> signatureTrailer(std::span<const std::string_view> pieces,
                                       const SigningKey &key) {
  STEER_RETURN_IF_ERROR(initSodium());
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, 32);
  for (std::string_view piece : pieces)
    crypto_generichash_update(
        &state, reinterpret_cast<const unsigned char *>(piece.data()),
        piece.size());
  unsigned char digest[32];
  crypto_generichash_final(&state, digest, sizeof(digest));
  std::string trailer(kSignatureTrailer, '\0');
  auto *out = reinterpret_cast<unsigned char *>(trailer.data());
  crypto_sign_detached(out, nullptr, digest, sizeof(digest),
                       key.secret.data());
  std::memcpy(out + 64, key.publicKey.data(), 32);
  std::memcpy(out + 96, kTrailerMagic, 8);
  return trailer;
}

StatusOr<VerifyKey> readSignatureTrailer(const uint8_t *p, uint64_t size,
                                         const std::string &path) {
  if (size < 40 + kSignatureTrailer ||
      std::memcmp(p + size - 8, kTrailerMagic, 8) != 0)
    return makeError(StatusCode::kDataLoss, path,
                     ": the header says the artifact is signed but it has no "
                     "signature trailer; it is truncated or was edited");
  VerifyKey key;
  std::memcpy(key.publicKey.data(), p + size - 40, 32);
  return key;
}

Status Artifact::verifySignature(const VerifyKey &key) const {
  STEER_RETURN_IF_ERROR(initSodium());
  if (!signer_)
    return makeError(StatusCode::kInvalidArgument, path(),
                     ": the artifact is not signed, and a signature is "
                     "required; compile it with steerc --sign-key");
  if (sodium_memcmp(signer_->publicKey.data(), key.publicKey.data(), 32) != 0)
    return makeError(StatusCode::kInvalidArgument, path(),
                     ": signed by another key (",
                     toHex(signer_->publicKey.data(), 32).substr(0, 16),
                     "...) than the one required (",
                     toHex(key.publicKey.data(), 32).substr(0, 16), "...)");
  const uint64_t body = file_.size() - kSignatureTrailer;
  unsigned char digest[32];
  crypto_generichash(digest, sizeof(digest), file_.data(), body, nullptr, 0);
  if (crypto_sign_verify_detached(file_.data() + body, digest, sizeof(digest),
                                  key.publicKey.data()) != 0)
    return makeError(StatusCode::kInvalidArgument, path(),
                     ": the signature does not match the artifact's bytes; "
                     "it was modified after signing");
  return okStatus();
}

} // namespace steer
