// SPDX-License-Identifier: Apache-2.0
// outcome_reward_model: one score in [0, 1] per finished solution of a batch.
#pragma once

#include <reckon/concepts/tags.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <concepts>
#include <span>
#include <vector>

namespace reckon {

/// An outcome reward model (ORM): `r.score_outcomes(problem, candidates)` returns one score in
/// [0, 1] per candidate (probability that its final answer is correct), in one batched call.
///
/// Customization:
/// ```
/// struct my_orm {
///   using reckon_model_concept = reckon::outcome_reward_model_tag;
///   reckon::result<std::vector<double>> score_outcomes(const reckon::problem&,
///                                                      std::span<const reckon::solution_view>);
/// };
/// ```
/// Cost: one reward-model call per batch.
template <class R>
concept outcome_reward_model = declares_capability<R, outcome_reward_model_tag> &&
                               requires(R& r, const problem& p, std::span<const solution_view> candidates) {
                                 { r.score_outcomes(p, candidates) } -> std::same_as<result<std::vector<double>>>;
                               };

} // namespace reckon
