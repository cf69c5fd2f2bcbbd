// SPDX-License-Identifier: Apache-2.0
// The adapters' one call site into token statistics: a full logits row, or a top-k logprob row.
#pragma once

// TEMPORARY thin local call site: reckon/numerics (token statistics from a logits row, entropy and
// varentropy estimated from top-k logprobs) is being written alongside the adapters. Until it is
// committed, the two functions below compute the statistics here; once it lands, their bodies
// become one call each into reckon::numerics and nothing else in the adapters changes.

#include <reckon/core/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <utility>
#include <vector>

namespace reckon::adapters::detail {

/// Which columns of token_stats an adapter fills, resolved from a request's logprob_params.
struct stats_request {
  bool logprob = false;    ///< fill token_stats::logprob
  bool entropy = false;    ///< fill token_stats::entropy and ::varentropy
  std::uint32_t top_k = 0; ///< width of token_stats::top_logprobs (0: none)

  /// True when nothing is asked.
  [[nodiscard]] bool none() const noexcept { return !logprob && !entropy && top_k == 0; }
};

/// Appends one token's statistics computed from a full logits row (temperature 1).
/// @param logits the row, one value per vocabulary entry (non-empty)
/// @param chosen the sampled token's index into `logits`
/// @param want   the columns to fill; the others stay untouched
/// @param out    the statistics to append to (top_k is set to want.top_k)
inline void append_from_logits(std::span<const float> logits, std::size_t chosen, const stats_request& want,
                               token_stats& out) {
  if (want.none() || logits.empty()) return;
  float max_logit = -std::numeric_limits<float>::infinity();
  for (const float l : logits) max_logit = std::max(max_logit, l);
  double z = 0.0;
  for (const float l : logits) z += std::exp(static_cast<double>(l) - max_logit);
  const double log_z = max_logit + std::log(z);
  if (want.logprob) out.logprob.push_back(static_cast<float>(logits[chosen] - log_z));
  if (want.entropy) {
    double h = 0.0;
    double second = 0.0;
    for (const float l : logits) {
      const double lp = l - log_z;
      const double p = std::exp(lp);
      if (p > 0.0) {
        h -= p * lp;
        second += p * lp * lp;
      }
    }
    out.entropy.push_back(static_cast<float>(h));
    out.varentropy.push_back(static_cast<float>(std::max(0.0, second - h * h)));
  }
  if (want.top_k > 0) {
    out.top_k = want.top_k;
    const std::size_t k = std::min<std::size_t>(want.top_k, logits.size());
    std::vector<float> row(logits.begin(), logits.end());
    std::partial_sort(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(k), row.end(), std::greater<>());
    for (std::size_t i = 0; i < want.top_k; ++i)
      out.top_logprobs.push_back(i < k ? static_cast<float>(row[i] - log_z) : -std::numeric_limits<float>::infinity());
  }
}

/// Entropy and varentropy of one token's distribution estimated from its top-k logprobs: the
/// k listed tokens plus the unlisted mass r = 1 - sum p_i lumped as one outcome (a lower bound on
/// the true entropy; exact when the top-k hold all the mass).
/// @param top_logprobs the row (any order; -inf entries are ignored)
/// @returns {entropy, varentropy} in nats
[[nodiscard]] inline std::pair<float, float> entropy_from_top_k(std::span<const float> top_logprobs) {
  double mass = 0.0;
  double h = 0.0;
  double second = 0.0;
  for (const float lp : top_logprobs) {
    if (!std::isfinite(lp)) continue;
    const double p = std::exp(static_cast<double>(lp));
    mass += p;
    h -= p * lp;
    second += p * static_cast<double>(lp) * lp;
  }
  const double rest = 1.0 - mass;
  if (rest > 1e-12) {
    const double lr = std::log(rest);
    h -= rest * lr;
    second += rest * lr * lr;
  }
  return {static_cast<float>(h), static_cast<float>(std::max(0.0, second - h * h))};
}

} // namespace reckon::adapters::detail
