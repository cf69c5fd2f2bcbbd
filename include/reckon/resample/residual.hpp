// SPDX-License-Identifier: Apache-2.0
// Residual resampling: floor(n w_i) copies deterministically, the remainder multinomially.
#pragma once

#include <reckon/random/stream.hpp>
#include <reckon/resample/multinomial.hpp>
#include <reckon/resample/weights.hpp>

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

namespace reckon {

/// Residual resampling (Liu & Chen 1998): with w normalised, ancestor i first gets floor(n w_i)
/// offspring; the R = n - sum_i floor(n w_i) left over are drawn multinomially (O(n), see
/// multinomial_resampler) with probabilities proportional to the residuals n w_i - floor(n w_i).
/// Expected counts are n w_i; the variance comes only from the R residual draws.
/// O(n + N) time, R + 1 draws, N doubles and R indices of scratch. Ancestors come out sorted ascending.
///
/// Errors: as multinomial_resampler.
struct residual_resampler {
  /// Fills `ancestors` (its size is the number of offspring n) with ancestor indices into `weights`.
  template <class Stream = random_stream>
  void operator()(std::span<const double> weights, std::span<std::size_t> ancestors, Stream& rng) const {
    const double total = detail::checked_weight_total(weights, "residual_resampler");
    detail::require(!ancestors.empty(), "residual_resampler: no offspring asked for (n = 0)");
    const std::size_t n = ancestors.size();
    const double scale = static_cast<double>(n) / total;
    std::vector<std::size_t> counts(weights.size());
    std::vector<double> residual(weights.size());
    std::size_t fixed = 0;
    double residual_total = 0.0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      const double expected = weights[i] * scale;
      const double whole = std::floor(expected);
      counts[i] = static_cast<std::size_t>(whole);
      fixed += counts[i];
      residual[i] = expected - whole;
      residual_total += residual[i];
    }
    // Rounding can push the floors past n by one or two; take the excess back from the last ancestors.
    for (std::size_t i = weights.size(); fixed > n && i > 0; --i)
      while (fixed > n && counts[i - 1] > 0) {
        --counts[i - 1];
        --fixed;
      }
    if (fixed < n) {
      std::vector<std::size_t> extra(n - fixed);
      const std::span<const double> by = residual_total > 0.0 ? std::span<const double>(residual) : weights;
      multinomial_resampler{}(by, std::span<std::size_t>(extra), rng);
      for (const std::size_t i : extra) ++counts[i];
    }
    std::size_t k = 0;
    for (std::size_t i = 0; i < counts.size(); ++i)
      for (std::size_t c = 0; c < counts[i]; ++c) ancestors[k++] = i;
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
