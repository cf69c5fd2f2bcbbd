// SPDX-License-Identifier: Apache-2.0
// Tests of extract_and_canonicalize and extract_answer_key.
#include <reckon/answer/pipeline.hpp>

#include <support/catch.hpp>

#include <optional>
#include <string>

TEST_CASE("extract_and_canonicalize finds and canonicalises the answer", "[answer][pipeline]") {
  auto a = reckon::extract_and_canonicalize("We compute... so $\\boxed{\\dfrac{2}{4}}$.");
  REQUIRE(a);
  CHECK(a->key == "0.5");
  CHECK(reckon::extract_answer_key("The answer is $x = 7$.") == std::optional<std::string>("7"));
  CHECK(reckon::extract_answer_key("She has 1,200 apples.") == std::optional<std::string>("1200"));
  CHECK(reckon::extract_answer_key("#### 18") == std::optional<std::string>("18"));
}

TEST_CASE("no answer and empty answers never vote", "[answer][pipeline]") {
  CHECK_FALSE(reckon::extract_and_canonicalize("no digits at all"));
  CHECK_FALSE(reckon::extract_and_canonicalize("\\boxed{\\,}"));     // empty once canonical
  CHECK_FALSE(reckon::extract_and_canonicalize("\\boxed{$ $}"));
  CHECK_FALSE(reckon::extract_and_canonicalize("we got 9", reckon::strict_extractor{}));
  auto custom = [](std::string_view t) -> std::optional<std::string> {
    const auto p = t.rfind("ANSWER:");
    if (p == std::string_view::npos) return std::nullopt;
    return std::string(t.substr(p + 7));
  };
  CHECK(reckon::extract_answer_key("x ANSWER: 0.250", custom) == std::optional<std::string>("0.25"));
  CHECK_FALSE(reckon::extract_answer_key("x", custom));
}
