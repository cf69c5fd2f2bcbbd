// SPDX-License-Identifier: Apache-2.0
// The umbrella header: all of reckon's core (not the engine adapters, not testing/).
#pragma once

#include <reckon/version.hpp>
#include <reckon/fwd.hpp>

#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <reckon/concepts/archetypes.hpp>
#include <reckon/concepts/introspective_model.hpp>
#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/model_traits.hpp>
#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/reviser.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/concepts/tags.hpp>

#include <reckon/random/philox.hpp>
#include <reckon/random/stream.hpp>

#include <reckon/format.hpp>
