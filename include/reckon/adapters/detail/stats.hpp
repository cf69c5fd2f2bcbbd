// SPDX-License-Identifier: Apache-2.0
// The adapters' one call site into token statistics: a full logits row, or a top-k logprob row.
#pragma once

// Both go through reckon/numerics: full logits rows through the fused sampler (numerics/sample_row.hpp),
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

/// Appends the columns `want` asks for from statistics already computed (e.g. by sample_row, in
/// the pass that drew the token): logprob, entropy and varentropy, and `top_logprobs` (want.top_k
/// entries) as one row of the top-k column.
inline void append_stats(const row_stats& s, std::span<const float> top_logprobs, const stats_request& want,
                         token_stats& out) {
  if (want.logprob) out.logprob.push_back(static_cast<float>(s.logprob));
  if (want.entropy) {
    out.entropy.push_back(static_cast<float>(s.entropy));
    out.varentropy.push_back(static_cast<float>(s.varentropy));
  }
  if (want.top_k > 0) {
    reckon::detail::require(top_logprobs.size() == want.top_k, "append_stats: top_logprobs must hold want.top_k entries");
    out.top_k = want.top_k;
    out.top_logprobs.insert(out.top_logprobs.end(), top_logprobs.begin(), top_logprobs.end());
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
