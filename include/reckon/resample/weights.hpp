// SPDX-License-Identifier: Apache-2.0
// Particle weights: normalisation (also from log-weights, max-shifted), effective sample size, checks.
#pragma once

#include <reckon/core/result.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace reckon {

namespace detail {

/// Throws invalid_argument "<who>: <what>" unless `condition` holds; builds the message only on failure.
inline void require_named(bool condition, const char* who, const char* what) {
  if (!condition) throw exception(errc::invalid_argument, std::string(who) + ": " + what);
}

/// Checks resampling weights (non-empty, finite, >= 0, positive finite sum) and returns their sum.
/// `who` names the caller in the message.
inline double checked_weight_total(std::span<const double> weights, const char* who) {
  require_named(!weights.empty(), who, "no weights");
  double total = 0.0;
  for (const double w : weights) {
    require_named(std::isfinite(w), who, "weights must be finite (got NaN or inf)");
    require_named(w >= 0.0, who, "weights must be >= 0");
    total += w;
  }
  require_named(total > 0.0, who, "weights are all zero");
  require_named(std::isfinite(total), who, "the sum of the weights overflows");
  return total;
}

/// The index of the last positive weight (precondition: one exists).
inline std::size_t last_positive(std::span<const double> weights) noexcept {
  std::size_t i = weights.size();
  while (i > 0 && !(weights[i - 1] > 0.0)) --i;
  return i - 1;
}

/// Inverse-CDF of ascending points: ancestors[k] = the i with cum_{i-1} <= point(k) < cum_i, where
/// cum are the running sums of `weights` and point(k) ascends in [0, total). One merge pass, O(n + N).
/// Zero-weight indices are never chosen; a point pushed past the end by rounding goes to the last
/// positive weight.
template <class Point>
void inverse_cdf(std::span<const double> weights, std::span<std::size_t> ancestors, Point&& point) {
  const std::size_t last = last_positive(weights);
  std::size_t i = 0;
  double cum = weights[0];
  for (std::size_t k = 0; k < ancestors.size(); ++k) {
    const double u = point(k);
    while (u >= cum && i < last) cum += weights[++i];
    ancestors[k] = i;
  }
}

} // namespace detail

/// Writes weights[i] / sum(weights) into `out`.
/// Throws reckon::exception (invalid_argument) when `weights` is empty, `out` has another length,
/// a weight is NaN, infinite or negative, or all weights are zero.
inline void normalise_weights(std::span<const double> weights, std::span<double> out) {
  detail::require(weights.size() == out.size(), "normalise_weights: input and output differ in length");
  const double total = detail::checked_weight_total(weights, "normalise_weights");
  for (std::size_t i = 0; i < weights.size(); ++i) out[i] = weights[i] / total;
}
/// normalise_weights into a new vector.
[[nodiscard]] inline std::vector<double> normalise_weights(std::span<const double> weights) {
  std::vector<double> out(weights.size());
  normalise_weights(weights, out);
  return out;
}

/// Writes w_i = exp(l_i - max_j l_j) / sum_k exp(l_k - max_j l_j) into `out`: normalised weights from
/// log-weights, shifted by the maximum so that log-weights near -1000 (or 1000) work. A log-weight
/// of -inf is a zero weight. Returns the log of the normaliser, log sum_i exp(l_i).
/// Throws reckon::exception (invalid_argument) when `log_weights` is empty, `out` has another length,
/// a log-weight is NaN or +inf, or all are -inf.
inline double normalise_log_weights(std::span<const double> log_weights, std::span<double> out) {
  detail::require(!log_weights.empty(), "normalise_log_weights: no weights");
  detail::require(log_weights.size() == out.size(), "normalise_log_weights: input and output differ in length");
  double top = -std::numeric_limits<double>::infinity();
  for (const double l : log_weights) {
    detail::require(!std::isnan(l), "normalise_log_weights: a log-weight is NaN");
    detail::require(l < std::numeric_limits<double>::infinity(), "normalise_log_weights: a log-weight is +inf");
    if (l > top) top = l;
  }
  detail::require(std::isfinite(top), "normalise_log_weights: all log-weights are -inf (all weights zero)");
  double total = 0.0; // >= 1: the maximum contributes exp(0)
  for (std::size_t i = 0; i < log_weights.size(); ++i) {
    out[i] = std::exp(log_weights[i] - top);
    total += out[i];
  }
  for (double& w : out) w /= total;
  return top + std::log(total);
}
/// normalise_log_weights into a new vector.
[[nodiscard]] inline std::vector<double> normalise_log_weights(std::span<const double> log_weights) {
  std::vector<double> out(log_weights.size());
  (void)normalise_log_weights(log_weights, out);
  return out;
}

/// Effective sample size (sum w)^2 / sum w^2 of unnormalised weights, in [1, n]. Scaled by the
/// largest weight first, so huge or tiny weights do not overflow. Throws like normalise_weights.
[[nodiscard]] inline double effective_sample_size(std::span<const double> weights) {
  (void)detail::checked_weight_total(weights, "effective_sample_size");
  double top = 0.0;
  for (const double w : weights) top = w > top ? w : top;
  double sum = 0.0;
  double sum_sq = 0.0;
  for (const double w : weights) {
    const double x = w / top;
    sum += x;
    sum_sq += x * x;
  }
  return sum * sum / sum_sq;
}

/// Effective sample size from log-weights (max-shifted). Throws like normalise_log_weights.
[[nodiscard]] inline double effective_sample_size_log(std::span<const double> log_weights) {
  const std::vector<double> w = normalise_log_weights(log_weights);
  return effective_sample_size(w);
}

} // namespace reckon
