// SPDX-License-Identifier: Apache-2.0
// sampling_model: n whole completions of a prompt in one batched call.
#pragma once

#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <concepts>
#include <cstdint>

namespace reckon {

/// A model that returns n whole completions of a prompt in one call.
///
/// `m.sample(problem, params, n)` returns `result<sample_batch>`: exactly n completions in request
/// order (completion i seeded with `request_seed(params.seed, i)`) and the call's usage, or an
/// error. Token statistics are filled only where `params.stats` asks (see logprob_model).
///
/// Customization: opt in with the tag and provide the member.
/// ```
/// struct my_sampler {
///   using reckon_model_concept = reckon::sampling_model_tag;
///   reckon::result<reckon::sample_batch> sample(const reckon::problem&, const reckon::sampling_params&,
///                                               std::uint32_t n);
/// };
/// ```
/// Cost: one engine call (batched over n); the prompt is prefilled once where the engine shares it.
template <class M>
concept sampling_model = declares_capability<M, sampling_model_tag> &&
                         requires(M& m, const problem& p, const sampling_params& params, std::uint32_t n) {
                           { m.sample(p, params, n) } -> std::same_as<result<sample_batch>>;
                         };

} // namespace reckon
