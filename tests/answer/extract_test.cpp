// SPDX-License-Identifier: Apache-2.0
// Tests of the answer extractors: boxed, "the answer is", "####", last number, first_of.
#include <reckon/answer/extract.hpp>

#include <support/catch.hpp>

#include <algorithm>
#include <optional>
#include <string>

using opt = std::optional<std::string>;

TEST_CASE("boxed_extractor takes the last complete box with nested braces", "[answer][extract]") {
  const reckon::boxed_extractor boxed;
  CHECK(boxed("so $\\boxed{\\frac{1}{2}}$.") == opt("\\frac{1}{2}"));
  CHECK(boxed("\\boxed{1} and later \\boxed{ 2 }") == opt("2"));
  CHECK(boxed("\\fbox{7}") == opt("7"));
  CHECK(boxed("\\boxed {x}") == opt("x"));
  CHECK(boxed("\\boxed{\\{1,2\\}}") == opt("\\{1,2\\}"));      // escaped braces do not count
  CHECK(boxed("\\boxed{1} then \\boxed{2") == opt("1"));        // truncated box: the earlier one
  CHECK(boxed("\\boxed{\\boxed{3}}") == opt("3"));               // the inner box starts last
  CHECK(boxed("\\boxed{1}\\boxed{\\boxed{2} x") == opt("2"));
  CHECK(boxed("\\boxed{1}\\boxed{x \\boxed{2") == opt("1"));
  CHECK(boxed("\\boxed{a\\}b}") == opt("a\\}b"));
  CHECK(boxed("$\\boxed 5$.") == opt("5"));
  CHECK(boxed("\\boxed{}") == std::nullopt);                    // empty boxes are no answer
  CHECK(boxed("\\boxed{ } \\boxed{4} \\boxed{  }") == opt("4"));
  CHECK(boxed("no box here") == std::nullopt);
  CHECK(boxed("\\boxeds{3}") == std::nullopt);
  CHECK(boxed("") == std::nullopt);
  CHECK(boxed("\\boxed") == std::nullopt);
  CHECK(boxed("\\\\boxed{9}") == std::nullopt); // "\\" then the word "boxed"
  CHECK(boxed("}}}\\boxed{1}}}}") == opt("1"));
}

TEST_CASE("answer_is_extractor reads the last 'answer is' / 'answer:'", "[answer][extract]") {
  const reckon::answer_is_extractor ans;
  CHECK(ans("... so the answer is $42$.\nDone") == opt("42"));
  CHECK(ans("Final Answer: 3.5 cm") == opt("3.5 cm"));
  CHECK(ans("**Answer:** 12") == opt("12"));
  CHECK(ans("The answer is 1. Then the answer is 2.") == opt("2"));
  CHECK(ans("The final answer is $\\boxed{7}$. I hope it is correct.") == opt("7"));
  CHECK(ans("THE ANSWER IS: -4") == opt("-4"));
  CHECK(ans("answering is fun") == std::nullopt);
  CHECK(ans("the answer is") == std::nullopt);
  CHECK(ans("the answer is $$.") == std::nullopt);
  CHECK(ans("answer") == std::nullopt);
}

TEST_CASE("gsm8k_extractor reads the line after the last ####", "[answer][extract]") {
  const reckon::gsm8k_extractor g;
  CHECK(g("9 * 2 = 18\n#### 18") == opt("18"));
  CHECK(g("#### 1,000\nextra") == opt("1,000"));
  CHECK(g("#### \n") == std::nullopt);
  CHECK(g("no marker 5") == std::nullopt);
}

TEST_CASE("last_number_extractor finds the last number", "[answer][extract]") {
  const reckon::last_number_extractor last;
  CHECK(last("so she pays $1,250.50 in total.") == opt("1,250.50"));
  CHECK(last("x = -3/4") == opt("-3/4"));
  CHECK(last("between 3 and 7.") == opt("7"));
  CHECK(last("3,5") == opt("5"));             // not a thousands group
  CHECK(last("12,345,678") == opt("12,345,678"));
  CHECK(last("value 0.25") == opt("0.25"));
  CHECK(last("v1.2.3") == opt("2.3"));
  CHECK(last("no digits") == std::nullopt);
  CHECK(last("") == std::nullopt);
}

TEST_CASE("first_of tries extractors in order and skips empty answers", "[answer][extract]") {
  const reckon::default_extractor def;
  CHECK(def("the answer is 3, \\boxed{4}") == opt("4"));
  CHECK(def("the answer is 3") == opt("3"));
  CHECK(def("blah\n#### 8") == opt("8"));
  CHECK(def("we got 9 apples") == opt("9"));
  CHECK(def("nothing") == std::nullopt);
  CHECK(reckon::strict_extractor{}("we got 9 apples") == std::nullopt);

  auto empty = [](std::string_view) -> opt { return std::string("  "); };
  auto seven = [](std::string_view) -> opt { return std::string("7"); };
  const reckon::first_of chain{empty, seven};
  CHECK(chain("x") == opt("7"));
  const reckon::first_of only{empty};
  CHECK(only("x") == std::nullopt);
  static_assert(reckon::answer_extractor<reckon::default_extractor>);
  static_assert(reckon::answer_extractor<decltype(seven)>);
  static_assert(!reckon::answer_extractor<int>);
}

TEST_CASE("regression #15.1: without a box the last math span wins over any number inside it", "[answer][extract]") {
  const reckon::default_extractor def;
  // Each used to give a number from inside the LaTeX (13, 3, 2) or nothing (E, odd).
  CHECK(def("So the ratio is $\\frac13$.") == opt("\\frac13"));
  CHECK(def("The length is $\\frac{1}{3}\\text{ meters}$ in all") == opt("\\frac{1}{3}\\text{ meters}"));
  CHECK(def("Thus $x = \\frac{1+\\sqrt{5}}{2}$") == opt("x = \\frac{1+\\sqrt{5}}{2}"));
  CHECK(def("The point is $E$") == opt("E"));
  CHECK(def("so the sum is $odd$.") == opt("odd"));
  // Every delimiter; the last complete span; `\$` is money, not a delimiter.
  CHECK(def("first $1$ then $$2$$") == opt("2"));
  CHECK(def("first \\(3\\) then \\[4\\] end") == opt("4"));
  CHECK(def("costs \\$5 and $y=7$ then \\$9") == opt("y=7"));
  CHECK(def("$2$ and an open $3") == opt("2"));
  CHECK(def("$$ $$ and $ $") == std::nullopt);
  // A chain of equalities gives its last member; a single relation is kept whole.
  CHECK(def("$\\sqrt{100-49} = \\sqrt{51} = 7.14$") == opt("7.14"));
  CHECK(def("$2x + 4y = 3$") == opt("2x + 4y = 3"));
  CHECK(def("$f(x) = \\{a = 1, b = 2\\}$") == opt("f(x) = \\{a = 1, b = 2\\}"));
}

TEST_CASE("regression #15.1: the priority order is box, answer phrase, ####, math span, bare number", "[answer][extract]") {
  const reckon::default_extractor def;
  CHECK(def("$1$ then \\boxed{2} then $3$") == opt("2"));
  CHECK(def("$1$ so the final answer is 4. Then $5$") == opt("4"));
  CHECK(def("$1$\n#### 6\n$7$") == opt("6"));
  CHECK(def("we try $8$ and get 9 apples") == opt("8"));
  CHECK(def("we get 9 apples") == opt("9"));
  // A bare number that is a TeX argument is no answer rather than a wrong one.
  CHECK(def("so x = \\frac{1+\\sqrt{5}}{2}") == std::nullopt);
  CHECK(def("so x = \\frac13") == std::nullopt);
  CHECK(def("so x = y^2") == std::nullopt);
  CHECK(def("so x = 2^{10}") == std::nullopt);
  CHECK(reckon::last_number_extractor{}("the value \\alpha3") == std::nullopt);
  CHECK(reckon::last_number_extractor{}("pay 12 dollars") == opt("12"));
}

TEST_CASE("regression #15.3: boxes in a row are one listed answer; 'or' restates", "[answer][extract]") {
  const reckon::boxed_extractor box;
  CHECK(box("$\\boxed{1}, \\boxed{2}, \\boxed{3}$") == opt("1, 2, 3"));
  CHECK(box("x = \\boxed{-1} and x = \\boxed{4}") == opt("4")); // words between: the last box only
  CHECK(box("\\boxed{-1} and \\boxed{4}") == opt("-1, 4"));
  CHECK(box("$\\boxed{a}$; $\\boxed{b}$") == opt("a, b"));
  CHECK(box("\\boxed{5}, or \\boxed{\\frac{10}{2}}") == opt("\\frac{10}{2}"));
  CHECK(box("\\boxed{1} so then \\boxed{2}") == opt("2"));
  std::string many;
  for (int k = 0; k < 40; ++k) many += "\\boxed{" + std::to_string(k) + "}, ";
  const auto got = box(many);
  REQUIRE(got);
  CHECK(got->rfind("39") == got->size() - 2);
  CHECK(std::count(got->begin(), got->end(), ',') == reckon::boxed_extractor::max_joined - 1);
}

TEST_CASE("extractors are linear on 1 MB adversarial inputs", "[answer][extract][linear]") {
  // Each input would take minutes if any extractor rescanned the text per candidate.
  const std::size_t n = 1u << 20;
  const std::string inputs[] = {
      std::string(n, '{'),         std::string(n, '}'),     std::string(n, '\\'),
      [&] {
        std::string s;
        while (s.size() < n) s += "\\boxed{";
        return s;
      }(),
      [&] {
        std::string s;
        while (s.size() < n) s += "answer is ";
        return s;
      }(),
      [&] {
        std::string s;
        while (s.size() < n) s += "1,";
        return s;
      }(),
      [&] {
        std::string s;
        while (s.size() < n) s += "####";
        return s;
      }(),
      std::string(n, '9'),
      std::string(n, '$'),
      [&] {
        std::string s;
        while (s.size() < n) s += "$x=1$ and ";
        return s;
      }(),
      [&] {
        std::string s;
        while (s.size() < n) s += "\\(\\[\\$";
        return s;
      }(),
      [&] {
        std::string s;
        while (s.size() < n) s += "\\boxed{1}, ";
        return s;
      }(),
  };
  for (const auto& s : inputs) {
    (void)reckon::math_span_extractor{}(s);
    (void)reckon::boxed_extractor{}(s);
    (void)reckon::answer_is_extractor{}(s);
    (void)reckon::gsm8k_extractor{}(s);
    (void)reckon::last_number_extractor{}(s);
    (void)reckon::default_extractor{}(s);
  }
  CHECK(reckon::last_number_extractor{}(std::string(n, '9'))->size() == n);
}

TEST_CASE("regression #15.3: math spans in a row assigning one name are one listed answer", "[answer][extract]") {
  const reckon::math_span_extractor span;
  CHECK(span("The solutions are $x = 1$ and $x = -3$.") == opt("x = 1, x = -3"));
  CHECK(span("so $x=1$, $x=2$ or $x=3$") == opt("x=1, x=2, x=3"));
  CHECK(span("We have $a = 2$ and $b = 3$.") == opt("b = 3"));         // different names
  CHECK(span("$x = 1$ and then we check $x = 2$") == opt("x = 2"));     // words between
  CHECK(span("$x = 1$ and $2$") == opt("2"));
}
