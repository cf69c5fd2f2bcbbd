// SPDX-License-Identifier: Apache-2.0
// process_reward_model: a score in [0, 1] for every step of a batch of partial solutions.
#pragma once

#include <reckon/concepts/tags.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <concepts>
#include <span>
#include <vector>

namespace reckon {

/// A process reward model (PRM): `r.score_steps(problem, candidates)` returns, for each candidate,
/// one score in [0, 1] per step (the probability that the solution is correct so far), in one
/// batched call: `result<std::vector<std::vector<double>>>` with `out[i].size() ==
/// candidates[i].steps.size()`. Strategies check the shape and the range and report a violation
/// as `errc::engine_failure`.
///
/// Customization:
/// ```
/// struct my_prm {
///   using reckon_model_concept = reckon::process_reward_model_tag;
///   reckon::result<std::vector<std::vector<double>>> score_steps(const reckon::problem&,
///                                                                std::span<const reckon::solution_view>);
/// };
/// ```
/// Cost: one PRM call per batch; PRM tokens are the candidates' tokens.
template <class R>
concept process_reward_model =
    declares_capability<R, process_reward_model_tag> &&
    requires(R& r, const problem& p, std::span<const solution_view> candidates) {
      { r.score_steps(p, candidates) } -> std::same_as<result<std::vector<std::vector<double>>>>;
    };

} // namespace reckon
