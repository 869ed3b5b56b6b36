//===- status.h - Errors for the Steer runtime ------------------*- C++ -*-===//
//
// The runtime never aborts on bad input. Every fallible call returns a
// `Status` (or a `StatusOr<T>`), both marked [[nodiscard]] so that an ignored
// error is a compile error under -Werror. A status carries a code, a message
// that names the file, field and position where it can, and a stack of context
// lines added on the way up ("while loading checkpoint DIR").
//
// Ownership: a Status owns its message; it is cheap to move and the OK status
// allocates nothing.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cassert>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace steer {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument, // Input that is malformed or inconsistent.
  kNotFound,        // A file, tensor or key that does not exist.
  kOutOfRange,      // An index, id or offset past its bound.
  kDataLoss,        // Truncated or corrupt data (checksums, short files).
  kUnsupported,     // Well-formed input this build cannot handle.
  kUnavailable,     // A device or library that is not present.
  kIo,              // The operating system refused a read or write.
  kInternal,        // A broken invariant inside Steer: a bug.
};

/// Short lowercase name of a code ("invalid argument").
std::string_view statusCodeName(StatusCode code);

class [[nodiscard]] Status {
public:
  /// The OK status.
  Status() = default;
  Status(StatusCode code, std::string message);

  bool ok() const { return !state_; }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  /// The innermost message, without context lines.
  std::string_view message() const {
    return state_ ? std::string_view(state_->message) : std::string_view();
  }
  /// Context lines, outermost last.
  const std::vector<std::string> &context() const;

  /// Adds a context line ("while reading FILE"). No-op on OK.
  Status &&withContext(std::string line) &&;
  Status &withContext(std::string line) &;

  /// "error: MESSAGE\n  while ...\n  while ..." for printing to a user.
  std::string toString() const;

  /// Explicitly drops an error the caller has decided not to act on.
  void ignoreError() const {}

private:
  struct State {
    StatusCode code;
    std::string message;
    std::vector<std::string> context;
  };
  std::shared_ptr<State> state_;
};

inline Status okStatus() { return Status(); }

// Overloads used by makeError; kept public so callers can extend them.
inline void appendPiece(std::string &out, std::string_view s) { out += s; }
inline void appendPiece(std::string &out, const char *s) { out += s; }
inline void appendPiece(std::string &out, const std::string &s) { out += s; }
inline void appendPiece(std::string &out, char c) { out += c; }
template <typename T>
requires std::is_arithmetic_v<T>
inline void appendPiece(std::string &out, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(v));
    out += buf;
  } else {
    out += std::to_string(v);
  }
}

/// Builds a status from pieces streamed together: `error(kNotFound, "no
/// tensor '", name, "' in ", path)`.
template <typename... Args> Status makeError(StatusCode code, Args &&...args) {
  std::string message;
  (appendPiece(message, std::forward<Args>(args)), ...);
  return Status(code, std::move(message));
}

/// A value or the error explaining why there is none.
template <typename T> class [[nodiscard]] StatusOr {
public:
  StatusOr(T value) : value_(std::move(value)) {}
  StatusOr(Status status) : status_(std::move(status)) {
    assert(!status_.ok() && "StatusOr built from an OK status has no value");
    if (status_.ok())
      status_ = Status(StatusCode::kInternal, "StatusOr built from OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status &status() const { return status_; }
  Status takeStatus() && { return std::move(status_); }

  T &value() & {
    assert(ok());
    return *value_;
  }
  const T &value() const & {
    assert(ok());
    return *value_;
  }
  T &&value() && {
    assert(ok());
    return std::move(*value_);
  }
  T &operator*() & { return value(); }
  const T &operator*() const & { return value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }

private:
  std::optional<T> value_;
  Status status_;
};

} // namespace steer

#define STEER_CONCAT_INNER_(a, b) a##b
#define STEER_CONCAT_(a, b) STEER_CONCAT_INNER_(a, b)

/// Returns the status of `expr` from the enclosing function if it is an
/// error, after adding the context line built from the remaining arguments
/// (if any).
#define STEER_RETURN_IF_ERROR(expr, ...)                                       \
  do {                                                                         \
    ::steer::Status steer_status_ = (expr);                                    \
    if (!steer_status_.ok())                                                   \
      return ::steer::detail::addContext(std::move(steer_status_)              \
                                             __VA_OPT__(, ) __VA_ARGS__);      \
  } while (false)

/// `STEER_ASSIGN_OR_RETURN(auto x, makeX(), "while making x")`.
#define STEER_ASSIGN_OR_RETURN(lhs, expr, ...)                                 \
  STEER_ASSIGN_OR_RETURN_IMPL_(STEER_CONCAT_(steer_or_, __LINE__), lhs,        \
                               expr __VA_OPT__(, ) __VA_ARGS__)
#define STEER_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr, ...)                      \
  auto tmp = (expr);                                                           \
  if (!tmp.ok())                                                               \
    return ::steer::detail::addContext(std::move(tmp).takeStatus()             \
                                           __VA_OPT__(, ) __VA_ARGS__);        \
  lhs = std::move(tmp).value()

namespace steer::detail {
inline Status addContext(Status status) { return status; }
template <typename... Args> Status addContext(Status status, Args &&...args) {
  std::string line;
  (appendPiece(line, std::forward<Args>(args)), ...);
  return std::move(status).withContext(std::move(line));
}
} // namespace steer::detail
