//===- safetensors.cpp - Zero-copy .safetensors reader --------------------===//
#include "steer/io/safetensors.h"
#include "steer/io/json.h"
#include "steer/text/utf8.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace steer {
namespace {

using Json = nlohmann::json;

bool readU64(const Json &j, uint64_t &out) {
  if (!j.is_number_unsigned() &&
      !(j.is_number_integer() && j.get<int64_t>() >= 0))
    return false;
  out = j.get<uint64_t>();
  return true;
}

} // namespace

StatusOr<std::map<std::string, TensorView>>
SafetensorsFile::parse(const uint8_t *data, uint64_t size,
                       std::string_view path,
                       std::map<std::string, std::string> *metadata) {
  auto bad = [&](auto &&...pieces) {
    return makeError(StatusCode::kDataLoss, path, ": ", pieces...);
  };
  if (size < 8)
    return bad("file is ", size,
               " bytes, too short for the 8-byte header length; the file is "
               "truncated or not safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | data[i];
  if (n > kMaxSafetensorsHeader)
    return bad("header length ", n, " exceeds the ", kMaxSafetensorsHeader,
               "-byte limit; the file is corrupt or not safetensors");
  if (n > size - 8)
    return bad("header length ", n, " runs past the end of the file (", size,
               " bytes); the file is truncated");
  std::string_view text(reinterpret_cast<const char *>(data + 8), n);
  size_t badAt = 0;
  if (!isValidUtf8(text, badAt))
    return bad("header is not valid UTF-8 (byte ", 8 + badAt, ")");

  Json header;
  DuplicateKeys dup;
  try {
    header = Json::parse(text.begin(), text.end(), dup.callback<Json>());
  } catch (const Json::parse_error &e) {
    return bad("header is not valid JSON at byte ",
               8 + (e.byte ? e.byte - 1 : 0), ": ", e.what());
  } catch (const Json::exception &e) {
    // Numbers out of range and the like: JSON, but not what we can read.
    return bad("header cannot be read: ", e.what());
  }
  if (!header.is_object())
    return bad("header must be a JSON object, got ", header.type_name());
  if (dup.found())
    return bad("header names '", dup.first(),
               "' twice; a tensor name must be unique");

  const uint8_t *base = data + 8 + n;
  const uint64_t dataSize = size - 8 - n;
  std::map<std::string, TensorView> out;
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, std::string>> ranges;
  for (auto &[name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object())
        return bad("'__metadata__' must be an object of strings");
      for (auto &[k, v] : entry.items()) {
        if (!v.is_string())
          return bad("'__metadata__' value for '", k, "' must be a string");
        if (metadata)
          (*metadata)[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string &tensorName = name; // Lambdas cannot capture bindings.
    auto badTensor = [&](auto &&...pieces) {
      return bad("tensor '", tensorName, "': ", pieces...);
    };
    if (!entry.is_object())
      return badTensor("entry must be an object");
    auto dt = entry.find("dtype");
    auto sh = entry.find("shape");
    auto off = entry.find("data_offsets");
    if (dt == entry.end() || sh == entry.end() || off == entry.end())
      return badTensor("needs 'dtype', 'shape' and 'data_offsets'");
    if (entry.size() != 3)
      for (auto &[key, value] : entry.items())
        if (key != "dtype" && key != "shape" && key != "data_offsets")
          return badTensor("unknown key '", key,
                           "' (an entry has dtype, shape and data_offsets)");
    if (!dt->is_string())
      return badTensor("'dtype' must be a string");
    std::optional<DType> dtype = dtypeFromName(dt->get<std::string>());
    if (!dtype)
      return makeError(StatusCode::kUnsupported, path, ": tensor '", name,
                       "': dtype ", dt->get<std::string>(),
                       " is not supported (F32, F16, BF16, I64, I32 are); "
                       "convert the checkpoint");
    if (!sh->is_array())
      return badTensor("'shape' must be an array");
    TensorView view;
    view.dtype = *dtype;
    // Count elements with overflow checks: a hostile shape must not wrap.
    uint64_t elems = 1;
    for (const Json &d : *sh) {
      uint64_t v = 0;
      if (!readU64(d, v) || v > (uint64_t(1) << 48))
        return badTensor("'shape' entries must be non-negative integers");
      if (v != 0 && elems > (uint64_t(1) << 62) / v)
        return badTensor("shape is too large");
      elems *= v;
      view.shape.push_back(static_cast<int64_t>(v));
    }
    uint64_t begin = 0, end = 0;
    if (!off->is_array() || off->size() != 2 || !readU64((*off)[0], begin) ||
        !readU64((*off)[1], end))
      return badTensor("'data_offsets' must be [begin, end] of non-negative "
                       "integers");
    if (begin > end)
      return badTensor("data_offsets [", begin, ", ", end, "] run backwards");
    if (end > dataSize)
      return badTensor("data_offsets [", begin, ", ", end,
                       "] run past the data section (", dataSize,
                       " bytes); the file is truncated");
    const uint64_t want = elems * dtypeSize(*dtype);
    if (end - begin != want)
      return badTensor("data_offsets [", begin, ", ", end, "] hold ",
                       end - begin, " bytes but ", dt->get<std::string>(),
                       " x shape needs ", want);
    view.data = base + begin;
    view.bytes = want;
    view.fileOffset = 8 + n + begin;
    ranges.push_back({{begin, end}, name});
    out.emplace(name, std::move(view));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first.first < ranges[i - 1].first.second)
      return bad("tensors '", ranges[i - 1].second, "' and '", ranges[i].second,
                 "' overlap (bytes ", ranges[i].first.first, " to ",
                 std::min(ranges[i].first.second, ranges[i - 1].first.second),
                 " of the data section)");
  return out;
}

StatusOr<std::unique_ptr<SafetensorsFile>>
SafetensorsFile::open(const std::string &path) {
  auto file = std::make_unique<SafetensorsFile>();
  STEER_ASSIGN_OR_RETURN(file->file_, MappedFile::open(path));
  STEER_ASSIGN_OR_RETURN(
      file->tensors_,
      parse(file->file_.data(), file->file_.size(), path, &file->metadata_));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | file->file_.data()[i];
  file->headerBytes_ = n;
  return file;
}

const TensorView *SafetensorsFile::find(const std::string &name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

} // namespace steer
