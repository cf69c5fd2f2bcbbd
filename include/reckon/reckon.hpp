// SPDX-License-Identifier: Apache-2.0
// The umbrella header: all of reckon's core (not the engine adapters, not testing/).
#pragma once

#include <reckon/version.hpp>
#include <reckon/fwd.hpp>

#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <reckon/random/philox.hpp>
#include <reckon/random/stream.hpp>

#include <reckon/format.hpp>
