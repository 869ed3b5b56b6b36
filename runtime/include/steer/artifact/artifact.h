//===- artifact.h - Compiled Steer artifacts --------------------*- C++ -*-===//
//
// A compiled policy in one file. Byte layout (all integers little-endian):
//
//   offset  size  field
//   0       8     magic "STEERART"
//   8       4     format version (u32), kArtifactVersion
//   12      4     flags (u32): bit 0 = self-contained: the checkpoint's
//                 tensors are embedded as "weights.<key>" (memory-mapped at
//                 run time); clear = thin: the checkpoint is linked by path
//                 and per-file xxh64
//   16      8     manifest length N (u64)
//   24      8     data section offset D (u64), a multiple of 64, >= 40 + N
//   32      8     xxh64 of the manifest bytes (u64)
//   40      N     manifest: steer.schema.Manifest (schema/artifact.proto),
//                 protobuf binary, deterministic serialisation
//   40+N    ...   zero bytes up to D
//   D       ...   tensor data: each tensor at D + entry.offset (64-aligned),
//                 entry.size bytes, checked against entry.xxh64 on load
//   end-104 104   signed artifacts only (flags bit 1): the signature trailer
//                 64  Ed25519 signature of the BLAKE2b-256 digest of every
//                     byte before the trailer (header, flags included)
//                 32  the signer's public key
//                 8   magic "STEERSIG"
//
// xxh64 catches accidents only: anyone can recompute it. Authenticity is
// the signature (libsodium's Ed25519): steerc --sign-key signs, steer-run
// --require-signature refuses an artifact not signed by that key.
//
// Loading refuses a wrong magic, an unknown version, a manifest or tensor
// whose checksum does not match (tampering), a file shorter than its
// sections (truncation), and (verifyCheckpoint) a checkpoint whose files
// differ from the ones the artifact was compiled against.
//
// Lifetime: an Artifact owns its memory map; TensorViews and the manifest
// are valid while it lives.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/base/status.h"
#include "steer/io/file.h"
#include "steer/io/safetensors.h"

#include "schema/artifact.pb.h"

#include <array>
#include <functional>
#include <optional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace steer {

class Checkpoint;

inline constexpr char kArtifactMagic[8] = {'S', 'T', 'E', 'E',
                                           'R', 'A', 'R', 'T'};
inline constexpr uint32_t kArtifactVersion = 2;

/// A tensor to write into an artifact.
struct ArtifactTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::string bytes;         // owned data, or
  std::string_view external; // data owned elsewhere (a mapped checkpoint)
  std::string_view data() const {
    return external.data() ? external : std::string_view(bytes);
  }
};

inline constexpr uint32_t kArtifactFlagSelfContained = 1u << 0;
inline constexpr uint32_t kArtifactFlagSigned = 1u << 1;
inline constexpr size_t kSignatureTrailer = 64 + 32 + 8;

/// An Ed25519 key pair for signing artifacts (libsodium), read from and
/// written to small text files: "steer-signing-key 1" and
/// "steer-verify-key 1" headers, then the key in hex.
struct SigningKey {
  std::array<uint8_t, 64> secret{};
  std::array<uint8_t, 32> publicKey{};
};
struct VerifyKey {
  std::array<uint8_t, 32> publicKey{};
};
/// Makes a new key pair and writes PREFIX.key (mode 0600) and PREFIX.pub;
/// refuses to overwrite either.
Status generateSigningKey(const std::string &prefix);
StatusOr<SigningKey> loadSigningKey(const std::string &path);
StatusOr<VerifyKey> loadVerifyKey(const std::string &path);

/// Reports (stage, bytes done, bytes total) during long steps.
using Progress = std::function<void(const char *, uint64_t, uint64_t)>;

/// Writes `manifest` (whose tensor directory is filled in here) and the
/// tensors to `path`, atomically. Same inputs, same bytes.
Status writeArtifact(const std::string &path, schema::Manifest manifest,
                     std::vector<ArtifactTensor> tensors, bool selfContained,
                     const Progress &progress = nullptr,
                     const SigningKey *signWith = nullptr);

class Artifact {
public:
  static StatusOr<std::unique_ptr<Artifact>> open(const std::string &path);

  const std::string &path() const { return file_.path(); }
  const schema::Manifest &manifest() const { return manifest_; }
  const TensorView *tensor(const std::string &name) const;
  const std::map<std::string, TensorView> &tensors() const { return tensors_; }
  bool selfContained() const { return manifest_.self_contained(); }
  /// The signer's public key, when the artifact carries a signature (its
  /// structure is checked at open; its validity by verifySignature).
  const std::optional<VerifyKey> &signer() const { return signer_; }
  /// Refuses an artifact that is unsigned, signed by another key, or whose
  /// bytes changed after signing.
  Status verifySignature(const VerifyKey &key) const;

private:
  MappedFile file_;
  std::optional<VerifyKey> signer_;
  schema::Manifest manifest_;
  std::map<std::string, TensorView> tensors_;
};

/// Fail-closed checks of everything the runtime acts on (Artifact::open
/// runs them): format version, unknown fields, the model config's bounds,
/// and per rule its concept ids, thresholds, values, layers, enums and
/// folded tensors (present, float32, right shape, finite, in range). Errors
/// name the file, the rule and its policy location.
Status validateManifest(const Artifact &artifact);

/// xxh64 of a whole file, as 16 lowercase hex digits.
StatusOr<std::string> hashFile(const std::string &path);
std::string hashHex(uint64_t h);

/// The checkpoint's files and their digests, for a manifest.
StatusOr<schema::CheckpointRef>
describeCheckpoint(const Checkpoint &checkpoint,
                   const Progress &progress = nullptr);

/// Refuses a checkpoint whose files differ from the artifact's record.
Status verifyCheckpoint(const Artifact &artifact, const Checkpoint &checkpoint);

} // namespace steer
