// SPDX-License-Identifier: Apache-2.0
// reviser: rewrites candidate solutions given per-step feedback (PRISM's refinement move) or the
// earlier attempts of a revision chain (sequential revisions).
#pragma once

#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <concepts>
#include <cstdint>
#include <span>

namespace reckon {

/// One rewrite request: the candidate, the PRM's score of each of its steps, and how to revise.
struct revision_request {
  solution_view candidate;          ///< the solution to rewrite
  std::span<const double> feedback; ///< one PRM score per step of `candidate` (may be empty: no feedback)
  bool new_approach = false;        ///< ask for a different approach rather than a local fix
  std::uint64_t seed = 0;           ///< seeds this rewrite's sampler
  std::span<const solution_view> history{}; ///< earlier attempts in context, oldest first, `candidate` not
                                            ///< included (empty: the candidate alone, as PRISM asks)
};

/// A model that rewrites solutions: `m.revise(problem, requests, params)` returns one whole
/// revised completion per request, in order, in one batched call (`result<sample_batch>`).
///
/// Customization:
/// ```
/// struct my_reviser {
///   using reckon_model_concept = reckon::reviser_tag;
///   reckon::result<reckon::sample_batch> revise(const reckon::problem&,
///                                               std::span<const reckon::revision_request>,
///                                               const reckon::sampling_params&);
/// };
/// ```
/// Cost: one engine call per batch; each revision prefills its candidate, history and feedback.
template <class M>
concept reviser = declares_capability<M, reviser_tag> &&
                  requires(M& m, const problem& p, std::span<const revision_request> requests,
                           const sampling_params& params) {
                    { m.revise(p, requests, params) } -> std::same_as<result<sample_batch>>;
                  };

} // namespace reckon
