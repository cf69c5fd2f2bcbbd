// SPDX-License-Identifier: Apache-2.0
#include <reckon/random/philox.hpp>

#include <support/catch.hpp>

using reckon::philox4x32;

// Known-answer vectors of Philox4x32-10 from Random123's kat_vectors file.
TEST_CASE("philox4x32-10 matches Random123's known answers", "[random][philox]") {
  STATIC_REQUIRE(philox4x32::block({0, 0, 0, 0}, {0, 0}) ==
                 philox4x32::counter_type{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  STATIC_REQUIRE(philox4x32::block({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}) ==
                 philox4x32::counter_type{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  STATIC_REQUIRE(philox4x32::block({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}) ==
                 philox4x32::counter_type{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}
