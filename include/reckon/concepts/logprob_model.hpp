// SPDX-License-Identifier: Apache-2.0
// logprob_model: a sampling or stepping model that returns token statistics when asked up front.
#pragma once

#include <reckon/concepts/model_traits.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/concepts/tags.hpp>

namespace reckon {

/// A model that fills `token_stats` (chosen-token logprobs, entropy/varentropy, top-k logprobs)
/// for the statistics requested in `sampling_params::stats` / `step_params::stats`. Engines compute
/// them only for flagged positions, so a strategy asks before generating, never after.
/// `model_traits<M>::logprob_top_k` says the widest top-k it serves; `full_logits` says whether
/// entropy and varentropy are exact or estimated from the top-k.
///
/// Customization: add `reckon::logprob_model_tag` to the adapter's capabilities.
/// Cost: none in engine calls; the statistics ride on the generating call.
template <class M>
concept logprob_model = declares_capability<M, logprob_model_tag> && (sampling_model<M> || stepping_model<M>);

} // namespace reckon
