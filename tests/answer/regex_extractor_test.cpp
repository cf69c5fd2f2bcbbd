// SPDX-License-Identifier: Apache-2.0
// Tests of regex_extractor: last match, capture group, window, bad patterns.
#include <reckon/answer/pipeline.hpp>
#include <reckon/answer/regex_extractor.hpp>

#include <support/catch.hpp>

#include <optional>
#include <string>

using opt = std::optional<std::string>;

TEST_CASE("regex_extractor returns the last match's group", "[answer][regex]") {
  const reckon::regex_extractor r("Result: (-?[0-9]+)");
  CHECK(r("Result: 7\nResult: 9") == opt("9"));
  CHECK(r("nothing") == std::nullopt);
  const reckon::regex_extractor whole("[0-9]+", {.group = 3});
  CHECK(whole("a 12 b 34") == opt("34"));
  const reckon::regex_extractor icase("answer=([a-z]+)", {.icase = true});
  CHECK(icase("ANSWER=Yes") == opt("Yes"));
  CHECK(reckon::extract_answer_key("Result: 0010", r) == opt("10"));
}

TEST_CASE("regex_extractor searches only the final window", "[answer][regex]") {
  const reckon::regex_extractor r("Result: ([0-9]+)", {.window = 16});
  const std::string text = "Result: 1" + std::string(100, ' ');
  CHECK(r(text) == std::nullopt);
  const std::string big = std::string(1u << 20, 'a') + "Result: 5";
  CHECK(reckon::regex_extractor("Result: ([0-9]+)")(big) == opt("5"));
}

TEST_CASE("regex_extractor rejects a bad pattern", "[answer][regex]") {
  CHECK_THROWS_AS(reckon::regex_extractor("(unclosed"), reckon::exception);
}
