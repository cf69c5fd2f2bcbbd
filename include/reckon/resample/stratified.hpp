// SPDX-License-Identifier: Apache-2.0
// Stratified resampling: one uniform per stratum [k/n, (k+1)/n), one merge pass.
#pragma once

#include <reckon/random/stream.hpp>
#include <reckon/resample/weights.hpp>

#include <cstddef>
#include <span>
#include <vector>

namespace reckon {

/// Stratified resampling: points (k + u_k) / n for k = 0..n-1 with independent u_k ~ U[0, 1),
/// each mapped through the inverse CDF of the weights. Offspring-count variance is at most
/// multinomial's; draws in different strata are independent. O(n + N) time, n draws, no scratch.
/// Ancestors come out sorted ascending.
///
/// Errors: as multinomial_resampler.
struct stratified_resampler {
  /// Fills `ancestors` (its size is the number of offspring n) with ancestor indices into `weights`.
  template <class Stream = random_stream>
  void operator()(std::span<const double> weights, std::span<std::size_t> ancestors, Stream& rng) const {
    const double total = detail::checked_weight_total(weights, "stratified_resampler");
    detail::require(!ancestors.empty(), "stratified_resampler: no offspring asked for (n = 0)");
    const double step = total / static_cast<double>(ancestors.size());
    detail::inverse_cdf(weights, ancestors,
                        [&](std::size_t k) { return (static_cast<double>(k) + uniform01(rng)) * step; });
  }
  /// Returns n ancestor indices.
  template <class Stream = random_stream>
  [[nodiscard]] std::vector<std::size_t> operator()(std::span<const double> weights, std::size_t n, Stream& rng) const {
    std::vector<std::size_t> out(n);
    (*this)(weights, std::span<std::size_t>(out), rng);
    return out;
  }
};

} // namespace reckon
