// SPDX-License-Identifier: Apache-2.0
// The one header that includes Catch2: v3's split headers where present, else v2's single header.
#pragma once

#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#else
#include <catch2/catch.hpp>
#endif

namespace reckon::test {
// Approx is Catch::Approx in v3 and a global alias of Catch::Detail::Approx in v2.
#if __has_include(<catch2/catch_test_macros.hpp>)
using Catch::Approx;
#else
using ::Approx;
#endif
} // namespace reckon::test
