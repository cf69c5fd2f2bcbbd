// SPDX-License-Identifier: Apache-2.0
// When to resample: every step, or when the effective sample size falls below a fraction of n.
#pragma once

#include <reckon/core/result.hpp>
#include <reckon/resample/weights.hpp>

#include <cmath>
#include <concepts>
#include <span>

namespace reckon {

/// A resampling trigger: `t(weights)` says whether to resample particles with these (unnormalised)
/// weights now.
template <class T>
concept resample_trigger = requires(const T& t, std::span<const double> weights) {
  { t(weights) } -> std::convertible_to<bool>;
};

/// Resample at every step (Puri et al. 2025's particle filter). Validates the weights like a
/// resampler would, so bad weights are caught where they arise.
struct always_resample {
  bool operator()(std::span<const double> weights) const {
    (void)detail::checked_weight_total(weights, "always_resample");
    return true;
  }
};

/// Resample when ESS < fraction * n, n = weights.size() (PRISM: fraction 0.5). fraction = 0 never
/// resamples; fraction = 1 resamples unless the weights are all equal.
/// Throws reckon::exception (invalid_argument) when fraction is outside [0, 1] or NaN, or the
/// weights are bad (see effective_sample_size).
struct ess_below {
  double fraction = 0.5; ///< threshold as a fraction of the particle count, in [0, 1]

  bool operator()(std::span<const double> weights) const {
    detail::require(fraction >= 0.0 && fraction <= 1.0, "ess_below: fraction must be in [0, 1]");
    const double ess = effective_sample_size(weights);
    return ess < fraction * static_cast<double>(weights.size());
  }
};

static_assert(resample_trigger<always_resample>);
static_assert(resample_trigger<ess_below>);

} // namespace reckon
