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

TEST_CASE("regression #15.5: gold answers are extracted when they are not bare", "[answer][pipeline]") {
  using reckon::extract_gold;
  CHECK(extract_gold("\\frac{1}{2}") == "\\frac{1}{2}");                     // bare: whole
  CHECK(extract_gold("x + 1 = 2") == "x + 1 = 2");                           // never searched for numbers
  CHECK(extract_gold("5 apples") == "5 apples");
  CHECK(extract_gold("$\\frac{1}{2}$") == "\\frac{1}{2}");                   // LaTeX in delimiters
  CHECK(extract_gold("\\(3\\sqrt2\\)") == "3\\sqrt2");
  CHECK(extract_gold("so the sum is $\\boxed{12}$.") == "12");               // a solution with a box
  CHECK(extract_gold("\\$5 each, $x=2$ and \\boxed{7}") == "7");              // the box wins
  CHECK(extract_gold("9 * 2 = 18\n#### 18") == "18");                        // GSM8K
  CHECK(extract_gold("costs \\$5") == "costs \\$5");                         // money is no delimiter
  CHECK(reckon::answers_equal(reckon::canonicalize_gold("The answer is $\\boxed{0.5}$."),
                              reckon::canonicalize("\\frac12")));
  CHECK(reckon::matches_gold("we get $\\frac12$", "$0.5$"));
  CHECK_FALSE(reckon::matches_gold("we get $\\frac13$", "$0.5$"));
  CHECK_FALSE(reckon::matches_gold("no answer here", "5"));
}
