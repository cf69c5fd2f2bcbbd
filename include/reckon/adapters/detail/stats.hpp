// SPDX-License-Identifier: Apache-2.0
// The adapters' one call site into token statistics: a full logits row, or a top-k logprob row.
#pragma once

// Both go through reckon/numerics: full logits rows through the fused token-statistics kernel,
// top-k logprob rows (what servers return) through its top-k estimator.

#include <reckon/core/types.hpp>
#include <reckon/numerics/token_stats.hpp>
#include <reckon/numerics/topk_stats.hpp>

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

/// Entropy and varentropy of one token's distribution estimated from its top-k logprobs by
/// reckon::topk_row_stats with the unlisted mass lumped as one outcome (a lower bound on the true
/// entropy; exact when the top-k hold all the mass).
/// @param top_logprobs the row (any order; -inf entries are masked tokens)
/// @returns {entropy, varentropy} in nats
/// @throws reckon::exception (invalid_argument) for a row that is not a distribution (NaN, +inf,
///         probabilities summing past 1 beyond rounding)
[[nodiscard]] inline std::pair<float, float> entropy_from_top_k(std::span<const float> top_logprobs) {
  const row_stats s = topk_row_stats(std::nullopt, top_logprobs);
  return {static_cast<float>(s.entropy), static_cast<float>(s.varentropy)};
}

} // namespace reckon::adapters::detail
