//===- file.h - Whole-file reads, atomic writes, memory maps ----*- C++ -*-===//
//
// Every file the runtime reads or writes goes through here so that errors
// name the path and the operating system's reason, and so that outputs are
// never left half-written: `writeFileAtomic` writes a sibling temporary and
// renames it into place.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/base/status.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace steer {

/// Reads a whole (small) file into memory.
StatusOr<std::string> readFile(const std::string &path);

/// Writes `pieces` one after another to `path` through a temporary file in
/// the same directory, renamed into place once everything is on disk.
/// `progress`, when set, is called with (bytes written, total) as the
/// write proceeds.
Status writeFileAtomic(
    const std::string &path, std::span<const std::string_view> pieces,
    const std::function<void(uint64_t, uint64_t)> &progress = nullptr);
inline Status writeFileAtomic(const std::string &path, std::string_view data) {
  std::string_view pieces[] = {data};
  return writeFileAtomic(path, pieces);
}

/// A read-only memory map of a whole file. Move-only; unmaps on destruction.
/// Views into `data()` stay valid as long as the MappedFile lives.
/// Checks that `path` may be written as a tool's output before any work is
/// done: an existing target must be a regular file (never a device node,
/// FIFO or directory), must not be one of `inputs` (compared by inode, so
/// links and other spellings count), and must not lie inside one of
/// `protectedDirs` (e.g. the checkpoint being compiled). "-" (stdout) is
/// always allowed.
Status checkOutputPath(const std::string &path,
                       std::span<const std::string> inputs,
                       std::span<const std::string> protectedDirs);

class MappedFile {
public:
  static StatusOr<MappedFile> open(const std::string &path);

  MappedFile() = default;
  MappedFile(MappedFile &&other) noexcept;
  MappedFile &operator=(MappedFile &&other) noexcept;
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;
  ~MappedFile();

  const uint8_t *data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string &path() const { return path_; }

private:
  const uint8_t *data_ = nullptr;
  uint64_t size_ = 0;
  std::string path_;
};

} // namespace steer
