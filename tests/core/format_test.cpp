// SPDX-License-Identifier: Apache-2.0
#include <reckon/format.hpp>

#include <support/catch.hpp>

#include <fmt/format.h>

TEST_CASE("public types format with fmt", "[core][format]") {
  CHECK(fmt::format("{}", reckon::errc::no_capacity) == "no_capacity");
  CHECK(fmt::format("{:>12}", reckon::errc::timeout) == "     timeout");
  CHECK(fmt::format("{}", reckon::fail(reckon::errc::aborted, "stop")) == "aborted: stop");
  CHECK(fmt::format("{}", reckon::usage{3, 4, 1}) == "prefilled=3 generated=4 calls=1");
  CHECK(fmt::format("{}", reckon::finish_reason::eos) == "eos");
  CHECK(fmt::format("{}", reckon::problem{.id = 9, .prompt = "2+2?"}) == "problem 9 (4 chars)");
  CHECK(fmt::format("{}", reckon::step{.text = "x", .tokens = 3, .finish = reckon::finish_reason::eos, .done = true}) ==
        "step 3 tokens, eos (done)");
  CHECK(fmt::format("{}", reckon::completion{.text = "The answer is 4.", .tokens = 5}) ==
        "completion 5 tokens, eos: \"The answer is 4.\"");
  CHECK(fmt::format("{}", reckon::stream_key{1, 2, 3, 4}) == "seed=1 problem=2 particle=3 step=4");
}
