// SPDX-License-Identifier: Apache-2.0
// With odr_b_test.cpp: two translation units of one program include the umbrella (an ODR check).
#include <reckon/reckon.hpp>

#include <support/catch.hpp>

TEST_CASE("umbrella header links from translation unit a", "[core][odr]") {
  reckon::random_stream s(reckon::stream_key{.seed = 1});
  CHECK(reckon::uniform01(s) < 1.0);
}
