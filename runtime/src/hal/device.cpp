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

namespace {
Status noGradients(const Device &device, const char *op) {
  return makeError(StatusCode::kUnsupported, "the ", device.info().backend,
                   " device has no gradient ops (", op,
                   "): input attribution runs on the cpu device");
}
} // namespace

Status Device::linearBackward(const float *, int64_t, const Weight &,
                              float *) {
  return noGradients(*this, "linear_backward");
}
Status Device::rmsNormBackward(const float *, const float *, int64_t, int64_t,
                               const Weight &, double, float *) {
  return noGradients(*this, "rms_norm_backward");
}
Status Device::attentionPrologueBackward(const QkvSpec &, const float *,
                                         int64_t, const float *, const float *,
                                         const float *, float *) {
  return noGradients(*this, "attention_prologue_backward");
}
Status Device::attentionBackward(const float *, const float *, const float *,
                                 int64_t, int64_t, int64_t, int64_t, int64_t,
                                 const float *, float *, float *, float *) {
  return noGradients(*this, "attention_backward");
}
Status Device::mlpActivationBackward(const float *, int64_t, int64_t, MlpType,
                                     Activation, const float *, float *) {
  return noGradients(*this, "mlp_activation_backward");
}
Status Device::knownHeadBackward(const KnownHeadSpec &, int64_t,
                                 std::span<const int64_t>,
                                 std::span<const float>, int64_t,
                                 const float *, float *) {
  return noGradients(*this, "known_head_backward");
}
Status Device::unknownHeadBackward(const UnknownHeadSpec &, int64_t,
                                   std::span<const int64_t>,
                                   std::span<const float>, int64_t,
                                   const float *, float *) {
  return noGradients(*this, "unknown_head_backward");
}

} // namespace steer::hal
