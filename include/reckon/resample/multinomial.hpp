// SPDX-License-Identifier: Apache-2.0
// Multinomial resampling in O(n): sorted uniforms from exponential spacings, then one merge pass.
#pragma once

#include <reckon/random/stream.hpp>
#include <reckon/resample/weights.hpp>

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

namespace reckon {

/// Multinomial resampling: each of the n offspring picks ancestor i independently with probability
/// w_i / sum(w) (Puri et al. 2025 use it for particle filtering). Offspring counts are
/// Multinomial(n, w), so their variance n w_i (1 - w_i) is the largest of the four schemes.
///
/// Algorithm: n sorted uniforms without a sort, by exponential spacings (E_1..E_{n+1} i.i.d.
/// Exp(1); U_(k) = (E_1 + ... + E_k) / (E_1 + ... + E_{n+1}) are the order statistics of n uniforms),
/// merged with the running sum of the weights. O(n + N) time, n + 1 draws, n doubles of scratch.
/// Ancestors come out sorted ascending.
///
/// Errors: throws reckon::exception (invalid_argument) when the weights are empty, NaN, infinite,
/// negative or all zero, or when no offspring are asked for (n = 0).
struct multinomial_resampler {
  /// Fills `ancestors` (its size is the number of offspring n) with ancestor indices into `weights`.
  template <class Stream = random_stream>
  void operator()(std::span<const double> weights, std::span<std::size_t> ancestors, Stream& rng) const {
    const double total = detail::checked_weight_total(weights, "multinomial_resampler");
    detail::require(!ancestors.empty(), "multinomial_resampler: no offspring asked for (n = 0)");
    const std::size_t n = ancestors.size();
    std::vector<double> spacings(n);
    double sum = 0.0;
    for (std::size_t k = 0; k < n; ++k) {
      sum += -std::log1p(-uniform01(rng)); // Exp(1); 1 - U is in (0, 1]
      spacings[k] = sum;
    }
    sum += -std::log1p(-uniform01(rng)); // E_{n+1}
    const double scale = total / sum;
    detail::inverse_cdf(weights, ancestors, [&](std::size_t k) { return spacings[k] * scale; });
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
