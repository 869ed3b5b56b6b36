//===- file.cpp - Whole-file reads, atomic writes, memory maps ------------===//
#include "steer/io/file.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
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
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
  // writer forever; it is refused below as not a regular file.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
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
                     S_ISDIR(st.st_mode)    ? ": it is a directory"
                     : S_ISFIFO(st.st_mode) ? ": it is a pipe (FIFO), not a "
                                              "regular file"
                                            : ": not a regular file");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
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

Status checkOutputPath(const std::string &path,
                       std::span<const std::string> inputs,
                       std::span<const std::string> protectedDirs) {
  if (path == "-")
    return okStatus();
  auto refuse = [&](auto &&...why) {
    return makeError(StatusCode::kInvalidArgument, "refusing to write ", path,
                     ": ", why...);
  };
  if (path.empty())
    return refuse("the output path is empty");
  struct stat out;
  if (::stat(path.c_str(), &out) == 0) {
    if (!S_ISREG(out.st_mode))
      return refuse(S_ISDIR(out.st_mode) ? "it is a directory"
                                         : "it is not a regular file (a "
                                           "device, pipe or socket)",
                    "; give a regular file's path");
    for (const std::string &in : inputs) {
      struct stat st;
      if (!in.empty() && ::stat(in.c_str(), &st) == 0 &&
          st.st_dev == out.st_dev && st.st_ino == out.st_ino)
        return refuse("it is the input ", in,
                      "; writing it would destroy it");
    }
  }
  // The directory the output lands in, resolved, against each protected
  // directory, resolved.
  std::string parent = path.substr(0, path.find_last_of('/') + 1);
  if (parent.empty())
    parent = ".";
  char buf[PATH_MAX];
  if (!::realpath(parent.c_str(), buf))
    return refuse("its directory ", parent, " does not exist");
  std::string where = std::string(buf) + "/";
  for (const std::string &dir : protectedDirs) {
    if (dir.empty() || !::realpath(dir.c_str(), buf))
      continue;
    std::string guarded = std::string(buf) + "/";
    if (where.compare(0, guarded.size(), guarded) == 0)
      return refuse("it is inside ", dir,
                    ", the model being read; write it elsewhere");
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
