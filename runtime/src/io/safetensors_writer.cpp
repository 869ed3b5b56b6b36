//===- safetensors_writer.cpp - Writing .safetensors files ----------------===//
#include "steer/io/safetensors_writer.h"

#include "steer/io/file.h"
#include "steer/model/layout.h"

#include <nlohmann/json.hpp>

namespace steer {

Status SafetensorsWriter::add(const std::string &name, DType dtype,
                              std::vector<int64_t> shape, std::string bytes) {
  if (name.empty() || name == "__metadata__")
    return makeError(StatusCode::kInvalidArgument, "invalid tensor name '",
                     name, "'");
  for (int64_t d : shape)
    if (d < 0)
      return makeError(StatusCode::kInvalidArgument, "tensor '", name,
                       "' has a negative dimension");
  uint64_t want = static_cast<uint64_t>(numElements(shape)) * dtypeSize(dtype);
  if (bytes.size() != want)
    return makeError(StatusCode::kInvalidArgument, "tensor '", name,
                     "': ", bytes.size(), " bytes given, shape and dtype need ",
                     want);
  if (tensors_.count(name))
    return makeError(StatusCode::kInvalidArgument, "tensor '", name,
                     "' added twice");
  dataBytes_ += want;
  tensors_.emplace(name, Entry{dtype, std::move(shape), std::move(bytes)});
  return okStatus();
}

Status SafetensorsWriter::write(const std::string &path) const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (auto &[k, v] : metadata_)
      meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (auto &[name, entry] : tensors_) {
    uint64_t end = offset + entry.bytes.size();
    header[name] = {{"dtype", std::string(dtypeName(entry.dtype))},
                    {"shape", entry.shape},
                    {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string json = header.dump();
  while ((8 + json.size()) % 8 != 0)
    json += ' ';
  std::string prefix(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i)
    prefix[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  std::vector<std::string_view> pieces{prefix, json};
  for (auto &[name, entry] : tensors_)
    pieces.push_back(entry.bytes);
  return writeFileAtomic(path, pieces).withContext("while writing " + path);
}

} // namespace steer
