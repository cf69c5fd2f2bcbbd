// SPDX-License-Identifier: Apache-2.0
// Tests of answers_equal: keys, exact rationals, relative tolerance, composites, bad tolerances.
#include <reckon/answer/equal.hpp>

#include <support/catch.hpp>

#include <limits>

using reckon::answers_equal;

TEST_CASE("answers_equal: same key, same exact value, or within tolerance", "[answer][equal]") {
  CHECK(answers_equal("\\dfrac{1}{2}", "0.50"));
  CHECK(answers_equal("\\frac12", "1/2"));
  CHECK(answers_equal("90^\\circ", "90"));
  CHECK(answers_equal("\\$1,000", "1000"));
  CHECK(answers_equal("x = 5", "5"));
  CHECK(answers_equal("(3, \\pi/2)", "\\left( 3, \\frac{\\pi}{2} \\right)"));
  CHECK(answers_equal("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}"));  // by tolerance
  CHECK(answers_equal("0.3333333333333", "\\frac13"));                // by tolerance
  CHECK(answers_equal("\\sqrt[3]{27}", "3"));
  CHECK(answers_equal("(1, 0.5)", "(1,\\frac12)"));
  CHECK(answers_equal("\\begin{pmatrix}\\frac{\\sqrt2}{2}\\\\1\\end{pmatrix}",
                      "\\begin{bmatrix}\\frac{1}{\\sqrt{2}}\\\\1\\end{bmatrix}"));
  CHECK(answers_equal("3, 1, 2", "1,2,3"));

  CHECK_FALSE(answers_equal("1000000000", "1000000001")); // distinct integers never match
  CHECK_FALSE(answers_equal("0.5", "50\\%"));              // percent policy: the sign is dropped
  CHECK_FALSE(answers_equal("(1,2)", "[1,2]"));
  CHECK_FALSE(answers_equal("(1,2)", "(1,2,3)"));
  CHECK_FALSE(answers_equal("x+1", "1+x"));
  CHECK_FALSE(answers_equal("\\frac{\\pi}{2}", "1.5708"));
  CHECK(answers_equal("\\frac{\\pi}{2}", "1.5708", 1e-4));
  CHECK_FALSE(answers_equal("0", "1e-12"));
  CHECK_FALSE(answers_equal("\\infty", "-\\infty"));
  CHECK(answers_equal("", ""));
}

TEST_CASE("answers_equal is reflexive and symmetric", "[answer][equal]") {
  const char* xs[] = {"0.5", "\\frac{1}{2}", "\\frac{\\sqrt{2}}{2}", "(1,2)", "x", "", "\\infty", "1,2", "0.3333333333333"};
  for (const char* a : xs) {
    CHECK(answers_equal(a, a));
    for (const char* b : xs) CHECK(answers_equal(a, b) == answers_equal(b, a));
  }
}

TEST_CASE("answers_equal rejects a bad tolerance", "[answer][equal]") {
  const auto a = reckon::canonicalize("1");
  CHECK_THROWS_AS(answers_equal(a, a, -1.0), reckon::exception);
  CHECK_THROWS_AS(answers_equal(a, a, std::numeric_limits<double>::quiet_NaN()), reckon::exception);
  CHECK_THROWS_AS(answers_equal("1", "1", std::numeric_limits<double>::infinity()), reckon::exception);
  CHECK(answers_equal(a, a, 0.0));
}
