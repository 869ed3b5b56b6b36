//===- device.cpp - What every device shares: buffers ---------------------===//
#include "steer/hal/device.h"

namespace steer::hal {

Buffer &Buffer::operator=(Buffer &&other) noexcept {
  if (this != &other) {
    if (device_ && data_)
      device_->release(data_);
    device_ = other.device_;
    data_ = other.data_;
    size_ = other.size_;
    other.device_ = nullptr;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

Buffer::~Buffer() {
  if (device_ && data_)
    device_->release(data_);
}

StatusOr<Buffer> Device::allocate(int64_t n) {
  if (n < 0)
    return makeError(StatusCode::kInvalidArgument, "allocate: ", n,
                     " values");
  Buffer b;
  if (n == 0)
    return b;
  STEER_ASSIGN_OR_RETURN(b.data_, allocateRaw(n));
  b.device_ = this;
  b.size_ = n;
  return b;
}

} // namespace steer::hal
