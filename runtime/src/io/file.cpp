//===- file.cpp - Whole-file reads, atomic writes, memory maps ------------===//
#include "steer/io/file.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace steer {
namespace {

Status osError(std::string_view what, const std::string &path) {
  int err = errno;
  return makeError(err == ENOENT ? StatusCode::kNotFound : StatusCode::kIo,
                   "cannot ", what, " ", path, ": ", std::strerror(err));
}

/// Opens `path` read-only as a regular file; `what` ("read", "map") names
/// the use in errors. The caller closes the descriptor.
StatusOr<int> openRegular(const std::string &path, const char *what,
                          struct stat &st) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return osError("open", path);
  if (::fstat(fd, &st) != 0) {
    Status s = osError("stat", path);
    ::close(fd);
    return s;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return makeError(StatusCode::kInvalidArgument, "cannot ", what, " ", path,
                     S_ISDIR(st.st_mode) ? ": it is a directory"
                                         : ": not a regular file");
  }
  return fd;
}

} // namespace

StatusOr<std::string> readFile(const std::string &path) {
  struct stat st;
  STEER_ASSIGN_OR_RETURN(int fd, openRegular(path, "read", st));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      Status s = osError("read", path);
      ::close(fd);
      return s;
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status
writeFileAtomic(const std::string &path,
                std::span<const std::string_view> pieces,
                const std::function<void(uint64_t, uint64_t)> &progress) {
  uint64_t total = 0, done = 0;
  for (std::string_view piece : pieces)
    total += piece.size();
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return osError("create", tmp);
  for (std::string_view piece : pieces) {
    const char *p = piece.data();
    size_t left = piece.size();
    while (left > 0) {
      // Chunks of 64 MiB keep the progress display moving.
      ssize_t n = ::write(fd, p, std::min<size_t>(left, size_t(64) << 20));
      if (n < 0) {
        if (errno == EINTR)
          continue;
        Status s = osError("write", tmp);
        ::close(fd);
        ::unlink(tmp.c_str());
        return s;
      }
      p += n;
      left -= static_cast<size_t>(n);
      done += static_cast<uint64_t>(n);
      if (progress)
        progress(done, total);
    }
  }
  if (::close(fd) != 0) {
    Status s = osError("close", tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = osError("rename into place", path);
    ::unlink(tmp.c_str());
    return s;
  }
  return okStatus();
}

StatusOr<MappedFile> MappedFile::open(const std::string &path) {
  struct stat st;
  STEER_ASSIGN_OR_RETURN(int fd, openRegular(path, "map", st));
  MappedFile file;
  file.path_ = path;
  file.size_ = static_cast<uint64_t>(st.st_size);
  if (file.size_ > 0) {
    void *p = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      Status s = osError("map", path);
      ::close(fd);
      return s;
    }
    file.data_ = static_cast<const uint8_t *>(p);
  }
  ::close(fd);
  return file;
}

MappedFile::MappedFile(MappedFile &&other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)), path_(std::move(other.path_)) {}

MappedFile &MappedFile::operator=(MappedFile &&other) noexcept {
  if (this != &other) {
    this->~MappedFile();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    path_ = std::move(other.path_);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_)
    ::munmap(const_cast<uint8_t *>(data_), size_);
  data_ = nullptr;
}

} // namespace steer
