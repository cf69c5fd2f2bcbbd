// SPDX-License-Identifier: Apache-2.0
// Capability tags: an adapter opts in to each capability it promises, so "looks like" is not "promises".
#pragma once

#include <concepts>

namespace reckon {

struct sampling_model_tag {};        ///< promises sampling_model
struct stepping_model_tag {};        ///< promises stepping_model
struct logprob_model_tag {};         ///< promises token statistics when asked (logprob_model)
struct process_reward_model_tag {};  ///< promises process_reward_model
struct outcome_reward_model_tag {};  ///< promises outcome_reward_model
struct reviser_tag {};               ///< promises reviser
struct introspective_model_tag {};   ///< promises introspective_model
struct self_rating_model_tag {};     ///< promises self_rating_model
struct embedding_model_tag {};       ///< promises embedding_model

/// A list of capability tags, for adapters with more than one:
/// `using reckon_model_concept = reckon::capabilities<reckon::sampling_model_tag, reckon::logprob_model_tag>;`
template <class... Tags>
struct capabilities : Tags... {};

/// True when M opts in to `Tag` through its nested `reckon_model_concept` alias.
template <class M, class Tag>
concept declares_capability = requires { typename M::reckon_model_concept; } &&
                              std::derived_from<typename M::reckon_model_concept, Tag>;

} // namespace reckon
