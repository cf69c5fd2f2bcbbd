// SPDX-License-Identifier: Apache-2.0
// The umbrella header: all of reckon's core (not the engine adapters, not testing/).
#pragma once

#include <reckon/version.hpp>
#include <reckon/fwd.hpp>

#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <reckon/concepts/archetypes.hpp>
#include <reckon/concepts/embedding_model.hpp>
#include <reckon/concepts/introspective_model.hpp>
#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/model_traits.hpp>
#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/reviser.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/self_rating_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/concepts/tags.hpp>

#include <reckon/random/philox.hpp>
#include <reckon/random/stream.hpp>

#include <reckon/numerics/token_stats.hpp>
#include <reckon/numerics/topk_stats.hpp>

#include <reckon/optimize/ets_program.hpp>

#include <reckon/answer/canonical.hpp>
#include <reckon/answer/equal.hpp>
#include <reckon/answer/extract.hpp>
#include <reckon/answer/pipeline.hpp>
#include <reckon/answer/value.hpp>

#include <reckon/budget/budget.hpp>
#include <reckon/budget/ledger.hpp>
#include <reckon/budget/metered.hpp>

#include <reckon/aggregate/cluster.hpp>
#include <reckon/aggregate/length_filter.hpp>
#include <reckon/aggregate/reduce.hpp>
#include <reckon/aggregate/vote.hpp>

#include <reckon/resample/multinomial.hpp>
#include <reckon/resample/resampler.hpp>
#include <reckon/resample/residual.hpp>
#include <reckon/resample/stratified.hpp>
#include <reckon/resample/systematic.hpp>
#include <reckon/resample/trigger.hpp>
#include <reckon/resample/weights.hpp>

#include <reckon/strategy/beam_search.hpp>
#include <reckon/strategy/best_of_n.hpp>
#include <reckon/strategy/compute_optimal.hpp>
#include <reckon/strategy/deepconf.hpp>
#include <reckon/strategy/ets.hpp>
#include <reckon/strategy/odar.hpp>
#include <reckon/strategy/particle_filter.hpp>
#include <reckon/strategy/particle_gibbs.hpp>
#include <reckon/strategy/prism.hpp>
#include <reckon/strategy/rebase.hpp>
#include <reckon/strategy/result.hpp>
#include <reckon/strategy/scale.hpp>
#include <reckon/strategy/self_consistency.hpp>
#include <reckon/strategy/sequential_revisions.hpp>
#include <reckon/strategy/short_m_at_k.hpp>
#include <reckon/strategy/stopping.hpp>
#include <reckon/strategy/zip_rc.hpp>

#include <reckon/format.hpp>
