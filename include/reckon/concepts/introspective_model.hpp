// SPDX-License-Identifier: Apache-2.0
// introspective_model: a live sequence's joint distribution of final reward x remaining length (ZIP-RC).
#pragma once

#include <reckon/concepts/stepping_model.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/result.hpp>
#include <reckon/detail/xtensor.hpp>

#include <concepts>
#include <span>
#include <vector>

namespace reckon {

/// The joint predictions for a batch of live sequences on one shared grid.
struct introspection {
  std::vector<double> reward_values;      ///< v_b: the reward each of the B_V reward bins stands for
  std::vector<double> remaining_lengths;  ///< the remaining tokens each of the B_T length bins stands for
  std::vector<detail::table2d> joint;     ///< per sequence, q(b, l): B_V x B_T, non-negative, sums to 1
};

/// A stepping model that predicts, for each live sequence, the joint distribution q(b, l) of its
/// final reward bin b and its remaining-length bin l (Manvi et al. 2025, ZIP-RC):
/// `m.introspect(seqs)` -> `result<introspection>`, one table per sequence, in order.
///
/// Customization: add `reckon::introspective_model_tag` to a stepping model's capabilities and
/// provide `introspect`; a ZIP-RC-trained model reads it from reserved logits.
/// Cost: none in tokens; the head rides on the last decode.
template <class M>
concept introspective_model = stepping_model<M> && declares_capability<M, introspective_model_tag> &&
                              requires(M& m, std::span<const typename M::sequence> seqs) {
                                { m.introspect(seqs) } -> std::same_as<result<introspection>>;
                              };

} // namespace reckon
