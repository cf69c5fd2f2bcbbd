// SPDX-License-Identifier: Apache-2.0
// The one place reckon includes xtensor; copes with the flat (<= 0.25) and nested (0.26+) layouts.
#pragma once

#if __has_include(<xtensor/containers/xtensor.hpp>)
#include <xtensor/containers/xtensor.hpp>
#include <xtensor/core/xmath.hpp>
#include <xtensor/views/xview.hpp>
#else
#include <xtensor/xmath.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>
#endif

namespace reckon::detail {

/// A dense row-major 2-D table of doubles (ZIP-RC's reward x length grid and similar).
using table2d = xt::xtensor<double, 2>;

} // namespace reckon::detail
