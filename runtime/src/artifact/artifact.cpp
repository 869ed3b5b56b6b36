//===- artifact.cpp - Compiled Steer artifacts ----------------------------===//
#include "steer/artifact/artifact.h"

#include "sign.h"

#include "steer/model/checkpoint.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <xxhash.h>

#include <climits>
#include <cstring>
#include <google/protobuf/stubs/logging.h>

namespace steer {
namespace {

constexpr uint64_t kHeader = 40;

void putU32(std::string &out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
}
void putU64(std::string &out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t getU64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}
uint32_t getU32(const uint8_t *p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

schema::TensorEntry::DType toSchema(DType t) {
  switch (t) {
  case DType::kF32:
    return schema::TensorEntry::F32;
  case DType::kF16:
    return schema::TensorEntry::F16;
  case DType::kBF16:
    return schema::TensorEntry::BF16;
  case DType::kI64:
    return schema::TensorEntry::I64;
  case DType::kI32:
    return schema::TensorEntry::I32;
  }
  return schema::TensorEntry::DTYPE_UNSPECIFIED;
}

std::optional<DType> fromSchema(schema::TensorEntry::DType t) {
  switch (t) {
  case schema::TensorEntry::F32:
    return DType::kF32;
  case schema::TensorEntry::F16:
    return DType::kF16;
  case schema::TensorEntry::BF16:
    return DType::kBF16;
  case schema::TensorEntry::I64:
    return DType::kI64;
  case schema::TensorEntry::I32:
    return DType::kI32;
  default:
    return std::nullopt;
  }
}

std::string serialize(const schema::Manifest &m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

} // namespace

std::string hashHex(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(h));
  return buf;
}

StatusOr<std::string> hashFile(const std::string &path) {
  STEER_ASSIGN_OR_RETURN(MappedFile f, MappedFile::open(path));
  return hashHex(XXH64(f.data(), f.size(), 0));
}

Status writeArtifact(const std::string &path, schema::Manifest manifest,
                     std::vector<ArtifactTensor> tensors, bool selfContained,
                     const Progress &progress, const SigningKey *signWith) {
  manifest.set_format_version(kArtifactVersion);
  manifest.set_self_contained(selfContained);
  manifest.clear_tensors();
  std::sort(tensors.begin(), tensors.end(),
            [](const ArtifactTensor &a, const ArtifactTensor &b) {
              return a.name < b.name;
            });
  // Tensors are laid out in name order at 64-byte offsets; the data is not
  // copied: pieces point at owned strings or at the mapped checkpoint.
  static const std::string kZeros(64, '\0');
  std::vector<std::string_view> dataPieces;
  uint64_t offset = 0;
  for (const ArtifactTensor &t : tensors) {
    std::string_view bytes = t.data();
    if (numElements(t.shape) * static_cast<int64_t>(dtypeSize(t.dtype)) !=
        static_cast<int64_t>(bytes.size()))
      return makeError(StatusCode::kInternal, "artifact tensor '", t.name,
                       "' has ", bytes.size(), " bytes for its shape");
    const uint64_t aligned = (offset + 63) / 64 * 64;
    if (aligned > offset)
      dataPieces.push_back(
          std::string_view(kZeros).substr(0, aligned - offset));
    schema::TensorEntry *e = manifest.add_tensors();
    e->set_name(t.name);
    e->set_dtype(toSchema(t.dtype));
    for (int64_t d : t.shape)
      e->add_shape(d);
    e->set_offset(aligned);
    e->set_size(bytes.size());
    e->set_xxh64(XXH64(bytes.data(), bytes.size(), 0));
    dataPieces.push_back(bytes);
    offset = aligned + bytes.size();
    if (progress)
      progress("checksumming tensors", offset, 0);
  }
  std::string body = serialize(manifest);
  const uint64_t dataOffset = (kHeader + body.size() + 63) / 64 * 64;
  std::string header(kArtifactMagic, 8);
  putU32(header, kArtifactVersion);
  putU32(header, (selfContained ? kArtifactFlagSelfContained : 0u) |
                     (signWith ? kArtifactFlagSigned : 0u));
  putU64(header, body.size());
  putU64(header, dataOffset);
  putU64(header, XXH64(body.data(), body.size(), 0));
  std::string pad(dataOffset - kHeader - body.size(), '\0');
  std::vector<std::string_view> pieces = {header, body, pad};
  pieces.insert(pieces.end(), dataPieces.begin(), dataPieces.end());
  std::string trailer;
  if (signWith) {
    STEER_ASSIGN_OR_RETURN(trailer, signatureTrailer(pieces, *signWith));
    pieces.push_back(trailer);
  }
  std::function<void(uint64_t, uint64_t)> onWrite;
  if (progress)
    onWrite = [&](uint64_t done, uint64_t total) {
      progress("writing artifact", done, total);
    };
  return writeFileAtomic(path, pieces, onWrite);
}

StatusOr<std::unique_ptr<Artifact>> Artifact::open(const std::string &path) {
  std::unique_ptr<Artifact> a(new Artifact());
  STEER_ASSIGN_OR_RETURN(a->file_, MappedFile::open(path));
  const uint8_t *p = a->file_.data();
  const uint64_t size = a->file_.size();
  auto bad = [&](auto &&...pieces) {
    return makeError(StatusCode::kDataLoss, path, ": ", pieces...);
  };
  if (size < kHeader || std::memcmp(p, kArtifactMagic, 8) != 0)
    return makeError(StatusCode::kInvalidArgument, path,
                     ": not a Steer artifact (no STEERART header); compile "
                     "one with steerc POLICY --model DIR -o FILE");
  const uint32_t version = getU32(p + 8), flags = getU32(p + 12);
  if (version != kArtifactVersion)
    return makeError(StatusCode::kUnsupported, path,
                     ": artifact format version ", version,
                     " is not supported (this runtime reads version ",
                     kArtifactVersion, "); recompile it with this steerc");
  if (flags & ~(kArtifactFlagSelfContained | kArtifactFlagSigned))
    return makeError(StatusCode::kUnsupported, path, ": artifact flags ", flags,
                     " are not supported by this runtime");
  // A signed artifact ends with its trailer; the sections lie before it.
  uint64_t end = size;
  if (flags & kArtifactFlagSigned) {
    STEER_ASSIGN_OR_RETURN(a->signer_, readSignatureTrailer(p, size, path));
    end = size - kSignatureTrailer;
  }
  const uint64_t n = getU64(p + 16), dataOffset = getU64(p + 24);
  if (n > end - kHeader || dataOffset < kHeader + n || dataOffset > end ||
      dataOffset % 64 != 0)
    return bad("the header's sections (manifest ", n, " bytes, data at ",
               dataOffset, ") do not fit the file's ", size,
               " bytes; the artifact is truncated or corrupt");
  if (XXH64(p + kHeader, n, 0) != getU64(p + 32))
    return bad("the manifest's checksum does not match; the artifact was "
               "modified after compilation");
  // A manifest that does not parse is reported here, with the file; the
  // library's own log line (invalid UTF-8 and the like) would say less.
  bool parsed;
  {
    google::protobuf::LogSilencer quiet;
    parsed = n <= static_cast<uint64_t>(INT32_MAX) &&
             a->manifest_.ParseFromArray(p + kHeader, static_cast<int>(n));
  }
  if (!parsed)
    return bad("the manifest does not parse (malformed protobuf, or a "
               "string that is not UTF-8)");
  if (a->manifest_.self_contained() !=
      ((flags & kArtifactFlagSelfContained) != 0))
    return bad("the header's flags and the manifest disagree on whether the "
               "weights are embedded");
  const uint64_t dataSize = end - dataOffset;
  for (const schema::TensorEntry &e : a->manifest_.tensors()) {
    std::optional<DType> dt = fromSchema(e.dtype());
    if (!dt)
      return bad("tensor '", e.name(), "' has an unknown dtype");
    TensorView v;
    v.dtype = *dt;
    v.shape.assign(e.shape().begin(), e.shape().end());
    if (e.offset() > dataSize || e.size() > dataSize - e.offset())
      return bad("tensor '", e.name(),
                 "' lies past the end of the file; the "
                 "artifact is truncated");
    // Each dimension is bounded by the bytes present, so the product
    // cannot overflow before it is compared.
    uint64_t elements = 1;
    for (int64_t d : v.shape) {
      if (d < 0 || static_cast<uint64_t>(d) > dataSize)
        return bad("tensor '", e.name(), "' has dimension ", d);
      elements = d == 0 ? 0 : elements;
      if (elements > dataSize / std::max<uint64_t>(1, d))
        return bad("tensor '", e.name(), "': its shape exceeds the file");
      elements *= static_cast<uint64_t>(d);
    }
    if (elements * dtypeSize(*dt) != e.size())
      return bad("tensor '", e.name(), "': size disagrees with its shape");
    v.data = p + dataOffset + e.offset();
    v.bytes = e.size();
    v.fileOffset = dataOffset + e.offset();
    if (XXH64(v.data, v.bytes, 0) != e.xxh64())
      return bad("tensor '", e.name(),
                 "' does not match its checksum; the "
                 "artifact was modified after compilation");
    if (!a->tensors_.emplace(e.name(), v).second)
      return bad("tensor '", e.name(), "' is listed twice");
  }
  STEER_RETURN_IF_ERROR(validateManifest(*a));
  return a;
}

const TensorView *Artifact::tensor(const std::string &name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

StatusOr<schema::CheckpointRef> describeCheckpoint(const Checkpoint &c,
                                                   const Progress &progress) {
  schema::CheckpointRef ref;
  ref.set_path(c.dir());
  std::vector<std::string> names = {"config.json"};
  for (const auto &f : c.files())
    names.push_back(f->path().substr(f->path().rfind('/') + 1));
  std::sort(names.begin(), names.end());
  uint64_t total = 0, done = 0;
  for (const std::string &name : names) {
    STEER_ASSIGN_OR_RETURN(MappedFile f,
                           MappedFile::open(c.dir() + "/" + name));
    total += f.size();
  }
  for (const std::string &name : names) {
    std::string path = c.dir() + "/" + name;
    STEER_ASSIGN_OR_RETURN(MappedFile f, MappedFile::open(path));
    std::string h = hashHex(XXH64(f.data(), f.size(), 0));
    done += f.size();
    if (progress)
      progress("hashing checkpoint", done, total);
    schema::FileDigest *d = ref.add_files();
    d->set_name(name);
    d->set_size(f.size());
    d->set_xxh64(h);
  }
  return ref;
}

Status verifyCheckpoint(const Artifact &a, const Checkpoint &c) {
  STEER_ASSIGN_OR_RETURN(schema::CheckpointRef now, describeCheckpoint(c));
  const schema::CheckpointRef &want = a.manifest().checkpoint();
  std::map<std::string, std::string> have;
  for (const auto &f : now.files())
    have[f.name()] = f.xxh64();
  for (const auto &f : want.files()) {
    auto it = have.find(f.name());
    if (it == have.end())
      return makeError(StatusCode::kInvalidArgument, a.path(),
                       ": compiled against a checkpoint with ", f.name(),
                       ", which ", c.dir(),
                       " lacks; recompile the policy "
                       "for this checkpoint");
    if (it->second != f.xxh64())
      return makeError(StatusCode::kInvalidArgument, a.path(),
                       ": compiled against a different checkpoint: ", c.dir(),
                       "/", f.name(), " has xxh64 ", it->second,
                       ", the artifact expects ", f.xxh64(),
                       "; recompile the policy for this checkpoint");
  }
  if (want.files_size() != now.files_size())
    return makeError(StatusCode::kInvalidArgument, a.path(), ": ", c.dir(),
                     " has other files than the checkpoint it was compiled "
                     "against; recompile the policy for this checkpoint");
  return okStatus();
}

} // namespace steer
