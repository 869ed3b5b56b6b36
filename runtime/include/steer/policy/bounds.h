//===- bounds.h - Sane ranges of policy strengths ---------------*- C++ -*-===//
//
// One table for the policy front end's static checks, the steer dialect's
// verifiers and the runtime's artifact loader, so a policy file, hand-written
// IR and an artifact's manifest are held to the same ranges. It lives in the
// runtime, which owns the artifact schema; header only.
//
//===----------------------------------------------------------------------===//
#ifndef STEER_POLICY_BOUNDS_H
#define STEER_POLICY_BOUNDS_H

namespace steer::policy {

/// A closed interval [lo, hi].
struct Range {
  double lo, hi;
  /// False for NaN. Compared at float precision: every strength is stored
  /// as float32, and the float nearest a written bound (1e-6 is
  /// 9.99999997e-07) is that bound.
  bool contains(double v) const {
    const float f = static_cast<float>(v);
    return f >= static_cast<float>(lo) && f <= static_cast<float>(hi);
  }
};

/// 0 would fire on every prompt and 1 on none.
inline constexpr Range kGuardThreshold{1e-6, 1.0 - 1e-6};
/// Known weights are sigmoids: a value outside [0, 1] (a clamp, a target
/// profile's entry) is not a weight.
inline constexpr Range kKnownWeight{0, 1};
inline constexpr Range kClampValue = kKnownWeight;
/// Amplify's target, in logits of peak lm_head alignment.
inline constexpr Range kTargetLogit{-50, 50};
inline constexpr Range kCutoffTokens{1, 1 << 20};
/// Unlearn's raw injection strength and ReLU mask strength.
inline constexpr Range kUnlearnAlpha{-100, 100};
inline constexpr Range kReluStrength{0, 100};

} // namespace steer::policy

#endif // STEER_POLICY_BOUNDS_H
