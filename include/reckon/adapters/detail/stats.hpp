// SPDX-License-Identifier: Apache-2.0
// The adapters' one call site into token statistics: a full logits row, or a top-k logprob row.
#pragma once

// Full logits rows go through reckon/numerics (the fused token-statistics kernel). Entropy from
// top-k logprobs (what servers return) is estimated here until reckon/numerics has an entry point
// for it; then entropy_from_top_k's body becomes one call into it and nothing else changes.

#include <reckon/core/types.hpp>
#include <reckon/numerics/token_stats.hpp>

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

/// Appends one token's statistics computed from a full logits row (temperature 1) by
/// reckon::token_row_stats: only the columns `want` asks for.
/// @param logits the row, one value per vocabulary entry
/// @param chosen the sampled token's index into `logits`
/// @param want   the columns to fill (want.top_k <= logits.size())
/// @param out    the statistics to append to (top_k is set to want.top_k)
/// @throws reckon::exception (invalid_argument) for a row with NaN or +inf, or all -inf
inline void append_from_logits(std::span<const float> logits, std::size_t chosen, const stats_request& want,
                               token_stats& out) {
  if (want.none()) return;
  std::vector<std::int32_t> ids(want.top_k);
  std::vector<float> top(want.top_k);
  const row_stats s = token_row_stats(logits, chosen, token_stats_params{}, ids, top);
  if (want.logprob) out.logprob.push_back(static_cast<float>(s.logprob));
  if (want.entropy) {
    out.entropy.push_back(static_cast<float>(s.entropy));
    out.varentropy.push_back(static_cast<float>(s.varentropy));
  }
  if (want.top_k > 0) {
    out.top_k = want.top_k;
    out.top_logprobs.insert(out.top_logprobs.end(), top.begin(), top.end());
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
