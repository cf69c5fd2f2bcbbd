// SPDX-License-Identifier: Apache-2.0
// self_rating_model: a stepping model that rates how hard its own coming sub-problems are (SCALE).
#pragma once

#include <reckon/concepts/stepping_model.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <concepts>
#include <cstdint>
#include <span>
#include <vector>

namespace reckon {

/// Self-rated difficulties and what rating them cost.
struct difficulty_ratings {
  std::vector<double> difficulty; ///< one rating in [0, 1] (0: elementary, 1: needs extensive thought) per item asked for
  reckon::usage usage;            ///< cost of the call (a rating is a short generation: SCALE caps it at 64 tokens)
};

/// A stepping model that rates the difficulty of its own sub-problems (Xiao et al., SCALE, AAAI
/// 2026, stage 2):
/// - `m.rate_plan(problem, seed)` -> `result<difficulty_ratings>`: the model's plan of the problem,
///   one rating per planned sub-problem (step), in order, from the prompt alone; its size is the
///   planned number of steps (>= 1). SCALE's reference code (thinking_scores) rates this way.
/// - `m.rate_next(seqs, seeds)` -> `result<difficulty_ratings>`: for each live sequence, the rating
///   of its next step given the steps it has solved so far (the paper's Eq. 3); `seeds[i]` seeds
///   sequence i's rating; `seqs` and `seeds` have the same length.
///
/// Customization: add `reckon::self_rating_model_tag` to a stepping model's capabilities and
/// provide both calls; an LLM adapter asks its model SCALE's SCORE_INSTRUCTION and parses a float.
/// ```
/// struct my_engine : my_stepping_engine {
///   using reckon_model_concept = reckon::capabilities<reckon::stepping_model_tag, reckon::self_rating_model_tag>;
///   reckon::result<reckon::difficulty_ratings> rate_plan(const reckon::problem&, std::uint64_t seed);
///   reckon::result<reckon::difficulty_ratings> rate_next(std::span<const sequence>, std::span<const std::uint64_t> seeds);
/// };
/// ```
/// Cost: one engine call each; a rating generates a few tokens and prefills its context.
template <class M>
concept self_rating_model = stepping_model<M> && declares_capability<M, self_rating_model_tag> &&
                            requires(M& m, const problem& p, std::uint64_t seed,
                                     std::span<const typename M::sequence> seqs, std::span<const std::uint64_t> seeds) {
                              { m.rate_plan(p, seed) } -> std::same_as<result<difficulty_ratings>>;
                              { m.rate_next(seqs, seeds) } -> std::same_as<result<difficulty_ratings>>;
                            };

} // namespace reckon
