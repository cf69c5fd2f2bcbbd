// SPDX-License-Identifier: Apache-2.0
// Entropy and varentropy estimated from what servers return: the chosen token's logprob and the top-k logprobs.
#pragma once

// A server (llama-server, vLLM, SGLang, OpenAI-compatible) returns, per generated token, the chosen
// token's logprob and the k most probable tokens' logprobs, not the full distribution. The k
// returned probabilities p_1..p_k leave a tail mass r = 1 - sum_i p_i over the V - k other tokens,
// whose shape is unknown. Two stated treatments, which bracket the true entropy:
//   lumped: the tail is one outcome of probability r. Merging outcomes never raises entropy, so
//           this is a lower bound: H_lumped = H - r H(tail | tail) >= H - r log(V - k).
//   spread: the tail is spread evenly over the V - k unreturned tokens (each then has r / (V - k),
//           at most the smallest returned p whenever the top-k really are the top k). The uniform
//           tail maximises entropy, so this is an upper bound: H_spread <= H + r log(V - k).
// So both biases are at most r log(V - k) nats, and H_lumped <= H <= H_spread. Varentropy has no
// such ordering; each estimate is the exact varentropy of the distribution it assumes.

#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/numerics/token_stats.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>

namespace reckon {

/// Where top-k estimates put the probability mass that the server did not return.
enum class tail_model : std::uint8_t {
  lumped, ///< one outcome of probability r = 1 - sum(top-k p): a lower bound on the entropy
  spread, ///< r spread evenly over the vocab - k unreturned tokens: an upper bound on the entropy
};

/// How top-k logprobs are turned into entropy and varentropy estimates.
struct topk_stats_params {
  tail_model tail = tail_model::lumped; ///< the tail-mass treatment (see topk_stats.hpp)
  std::size_t vocab = 0;                ///< vocabulary size V; required (> k) by tail_model::spread
  /// Tolerance for probabilities that sum past 1 by rounding (servers round logprobs); a larger
  /// excess is an error.
  double sum_tolerance = 1e-3;
};

/// Estimates a token's statistics from a server's chosen-token logprob and top-k logprobs.
/// @param chosen_logprob the sampled token's logprob (copied to `logprob`), or nullopt (NaN)
/// @param top_logprobs the k returned logprobs (any order; -inf allowed for masked tokens)
/// @param params the tail treatment and the vocabulary size
/// @returns entropy and varentropy of the assumed distribution; log_sum_exp is NaN (servers return
///          normalised logprobs, the logits' scale is unknown)
/// @throws reckon::exception (invalid_argument) when top_logprobs is empty, holds a NaN or +inf or a
///         value above sum_tolerance, when the probabilities sum past 1 + sum_tolerance, when the
///         chosen logprob is NaN or positive beyond sum_tolerance, or when tail_model::spread gets
///         vocab <= k.
[[nodiscard]] inline row_stats topk_row_stats(std::optional<double> chosen_logprob, std::span<const float> top_logprobs,
                                              const topk_stats_params& params = {}) {
  using detail::require;
  const std::size_t k = top_logprobs.size();
  require(k > 0, "topk_row_stats: no top-k logprobs");
  require(std::isfinite(params.sum_tolerance) && params.sum_tolerance >= 0.0,
          "topk_row_stats: sum_tolerance must be finite and >= 0");
  require(params.tail != tail_model::spread || params.vocab > k, "topk_row_stats: tail_model::spread needs vocab > k");
  if (chosen_logprob)
    require(!std::isnan(*chosen_logprob) && *chosen_logprob <= params.sum_tolerance,
            "topk_row_stats: the chosen logprob must be <= 0 and not NaN");

  double mass = 0.0;
  for (std::size_t i = 0; i < k; ++i) {
    const float lp = top_logprobs[i];
    require(!std::isnan(lp), "topk_row_stats: top logprob " + std::to_string(i) + " is NaN");
    require(lp <= params.sum_tolerance, "topk_row_stats: top logprob " + std::to_string(i) + " is positive");
    mass += std::exp(std::min(0.0, static_cast<double>(lp)));
  }
  require(mass <= 1.0 + params.sum_tolerance, "topk_row_stats: the top-k probabilities sum past 1");
  require(mass > 0.0, "topk_row_stats: every top-k logprob is -inf");
  // Rounding can push the sum a little past 1: then the returned tokens hold all the mass.
  const double scale = mass > 1.0 ? 1.0 / mass : 1.0;
  const double tail = mass > 1.0 ? 0.0 : 1.0 - mass;

  // The assumed distribution: the k returned outcomes, plus `outcomes` tail outcomes of
  // probability tail / outcomes each (none when the tail is empty).
  const double outcomes = tail <= 0.0 ? 0.0 : (params.tail == tail_model::lumped ? 1.0 : static_cast<double>(params.vocab - k));
  const double tail_lp = tail <= 0.0 ? 0.0 : std::log(tail) - std::log(outcomes);
  const auto lp_of = [scale](float lp) { return std::min(0.0, static_cast<double>(lp)) + std::log(scale); };

  double h = 0.0;
  for (const float lp : top_logprobs) {
    if (lp == -std::numeric_limits<float>::infinity()) continue;
    const double l = lp_of(lp);
    h -= std::exp(l) * l;
  }
  if (tail > 0.0) h -= tail * tail_lp;
  double ve = 0.0; // the two-pass form: sum p (log p + H)^2, no cancellation
  for (const float lp : top_logprobs) {
    if (lp == -std::numeric_limits<float>::infinity()) continue;
    const double l = lp_of(lp);
    ve += std::exp(l) * (l + h) * (l + h);
  }
  if (tail > 0.0) ve += tail * (tail_lp + h) * (tail_lp + h);

  row_stats out;
  out.log_sum_exp = std::numeric_limits<double>::quiet_NaN();
  out.logprob = chosen_logprob ? std::min(0.0, *chosen_logprob) : std::numeric_limits<double>::quiet_NaN();
  out.entropy = std::max(0.0, h);
  out.varentropy = std::max(0.0, ve);
  return out;
}

/// Estimates one token's statistics from server logprobs and appends them to a sequence's column
/// store, with `top_logprobs` as its row of the top-k column: what a remote adapter calls per token.
/// @returns the statistics appended
/// @throws reckon::exception (invalid_argument) as topk_row_stats and append_row_stats.
inline row_stats append_topk_stats(token_stats& store, std::optional<double> chosen_logprob,
                                   std::span<const float> top_logprobs, const topk_stats_params& params = {}) {
  const row_stats s = topk_row_stats(chosen_logprob, top_logprobs, params);
  append_row_stats(store, s, top_logprobs);
  return s;
}

} // namespace reckon
