//===- status.cpp - Errors for the Steer runtime --------------------------===//
#include "steer/base/status.h"
#include "steer/text/utf8.h"

namespace steer {

std::string_view statusCodeName(StatusCode code) {
  switch (code) {
  case StatusCode::kOk:
    return "ok";
  case StatusCode::kInvalidArgument:
    return "invalid argument";
  case StatusCode::kNotFound:
    return "not found";
  case StatusCode::kOutOfRange:
    return "out of range";
  case StatusCode::kDataLoss:
    return "data loss";
  case StatusCode::kUnsupported:
    return "unsupported";
  case StatusCode::kUnavailable:
    return "unavailable";
  case StatusCode::kIo:
    return "i/o error";
  case StatusCode::kInternal:
    return "internal error";
  }
  return "unknown";
}

Status::Status(StatusCode code, std::string message) {
  if (code == StatusCode::kOk)
    return;
  state_ = std::make_shared<State>(State{code, std::move(message), {}});
}

const std::vector<std::string> &Status::context() const {
  static const std::vector<std::string> empty;
  return state_ ? state_->context : empty;
}

Status &Status::withContext(std::string line) & {
  if (state_) {
    // Copy on write: statuses may share state after a copy.
    if (state_.use_count() > 1)
      state_ = std::make_shared<State>(*state_);
    state_->context.push_back(std::move(line));
  }
  return *this;
}

Status &&Status::withContext(std::string line) && {
  withContext(std::move(line));
  return std::move(*this);
}

std::string Status::toString() const {
  if (ok())
    return "ok";
  // Messages quote input (names, paths, policy lines): printed as they
  // are, a control character or a bidi override in one would restyle the
  // terminal or hide text.
  std::string out = "error: ";
  out += displayText(state_->message);
  for (const std::string &line : state_->context) {
    out += "\n  ";
    out += displayText(line);
  }
  return out;
}

} // namespace steer
