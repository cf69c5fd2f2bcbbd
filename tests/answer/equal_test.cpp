// SPDX-License-Identifier: Apache-2.0
// Tests of answers_equal: keys, exact rationals, relative tolerance, composites, bad tolerances.
#include <reckon/answer/equal.hpp>

#include <support/catch.hpp>

#include <limits>
#include <utility>

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
  CHECK(answers_equal("x+1", "1+x")); // the symbolic layer (#15.4) sees one function
  CHECK_FALSE(answers_equal("x+1", "x+2"));
  CHECK_FALSE(answers_equal("\\frac{\\pi}{2}", "1.5708"));
  CHECK(answers_equal("\\frac{\\pi}{2}", "1.5708", 1e-4));
  CHECK_FALSE(answers_equal("0", "1e-12"));
  CHECK_FALSE(answers_equal("\\infty", "-\\infty"));
  CHECK(answers_equal("", ""));
}

TEST_CASE("regression #20: the default tolerance is 1e-9 relative to the larger magnitude", "[answer][equal]") {
  // Pairs 0.9e-9 and 1.1e-9 apart relative to max(|x|, |y|), at three magnitudes: a default of
  // 1e-6 (or 1e-8) accepts the outside pairs, one of 1e-10 rejects the inside ones. Both overloads
  // carry the default, so both are pinned. Double rounding (~1e-16 relative) is far below the 1e-10
  // margin on either side.
  const std::pair<const char*, const char*> inside[] = {
      {"1", "1.0000000009"}, {"1000", "1000.0000009"}, {"0.001", "0.0010000000009"}, {"-2", "-2.0000000018"}};
  const std::pair<const char*, const char*> outside[] = {
      {"1", "1.0000000011"}, {"1000", "1000.0000011"}, {"0.001", "0.0010000000011"}, {"-2", "-2.0000000022"}};
  for (const auto& [a, b] : inside) {
    INFO(a << " vs " << b);
    CHECK(answers_equal(a, b));
    CHECK(answers_equal(reckon::canonicalize(a), reckon::canonicalize(b)));
  }
  for (const auto& [a, b] : outside) {
    INFO(a << " vs " << b);
    CHECK_FALSE(answers_equal(a, b));
    CHECK_FALSE(answers_equal(reckon::canonicalize(a), reckon::canonicalize(b)));
  }
  // Relative, not absolute: 1e6 and 1e6 + 5e-4 differ by 5e-10 of their size; 1e-12 and 2e-12
  // differ by far less than 1e-9 in absolute terms but by half their size.
  CHECK(answers_equal("1000000", "1000000.0005"));
  CHECK_FALSE(answers_equal("0.000000000001", "0.000000000002"));
  // The scale is the larger magnitude: |1 - 2| = 1 <= 0.5 * 2, but > 0.5 * 1.
  CHECK(answers_equal("1.5", "3", 0.5));
  CHECK_FALSE(answers_equal("1.5", "3", 0.49));
  CHECK(answers_equal("-1.5", "-3", 0.5));
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

TEST_CASE("regression #15.2: number forms a model writes equal the plain number", "[answer][equal]") {
  // Each pair failed before #15: a decimal comma, a leading dot, spaced or `\!` digit groups,
  // an approximation after the value, an assignment, a choice letter in text.
  CHECK(answers_equal(".4", "0.4"));
  CHECK(answers_equal("1 000", "1000"));
  CHECK(answers_equal("11,\\!111", "11111"));
  CHECK(answers_equal("1000,99", "1000.99"));
  CHECK(answers_equal("2,74", "2.74"));
  CHECK(answers_equal("-2,5", "-2.5") == false); // one digit each side: a list, not -2.5
  CHECK(answers_equal("1,000", "1000"));          // a three-digit group is thousands
  CHECK(answers_equal("1000,5", "1000.5"));
  CHECK(answers_equal("x = 1/3 \\approx 0.33", "\\frac13"));
  CHECK(answers_equal("x \\approx 0.33", "0.33"));
  CHECK(answers_equal("k = \\frac{1}{3}", "\\frac13"));
  CHECK(answers_equal("x_{1} = 3", "3"));
  CHECK(answers_equal("\\text{(C)}", "C"));
  CHECK(answers_equal("\\textbf{(B)}", "B"));
  CHECK_FALSE(answers_equal("(C)", "D"));
  CHECK(answers_equal("\\binom{5}{2} = 10", "10"));
  CHECK(answers_equal("x \\approx 3.14", "3.14"));
  CHECK(answers_equal("5 \\text{ apples}", "5"));
}

TEST_CASE("regression #15.3: structures compare as intervals, sets and matrices", "[answer][equal]") {
  CHECK(answers_equal("(1, +\\infty)", "(1,\\infty)"));
  CHECK(answers_equal("(-\\infty, 2) \\cup (3, \\infty)", "(3,\\infty)\\cup(-\\infty,2)"));
  CHECK_FALSE(answers_equal("(-\\infty,2)\\cup(3,\\infty)", "(-\\infty,2]\\cup(3,\\infty)"));
  CHECK(answers_equal("\\{1,2,3\\}", "3, 2, 1")); // a set and a bare list are both unordered
  CHECK_FALSE(answers_equal("\\{1,2\\}", "\\{1,2,3\\}"));
  CHECK(answers_equal("\\{\\frac{\\sqrt2}{2}, 1\\}", "1, \\frac{1}{\\sqrt2}")); // matched by value
  CHECK(answers_equal("(1, 4.5)", "(1,\\frac92)"));
  CHECK_FALSE(answers_equal("(4.5, 1)", "(1,\\frac92)")); // tuples are ordered
  CHECK(answers_equal("x \\geq 5", "5 \\leq x"));
  CHECK(answers_equal("x >= 5", "x \\ge 5"));
  CHECK(answers_equal("x \\geq 5", "[5, \\infty)"));
  CHECK(answers_equal("x < 5", "(-\\infty,5)"));
  CHECK_FALSE(answers_equal("x > 5", "x \\geq 5"));
  CHECK(answers_equal("-2 \\le x \\le 7", "x \\in [-2,7]"));
  CHECK(answers_equal("7 > x \\geq -2", "[-2, 7)"));
  CHECK(answers_equal("x \\neq 3", "x != 3"));
  CHECK(answers_equal("x \\ne 3", "3 \\neq x"));
  CHECK(answers_equal("(p,q)=(3,2)", "(3,2)"));
  CHECK_FALSE(answers_equal("(a,b) = (2,3)", "(3,2)"));
  CHECK(answers_equal("x = 2, x = 3", "3, 2"));
  CHECK(answers_equal("\\pm 1", "\\{-1, 1\\}"));
  CHECK(answers_equal("1 \\pm \\sqrt{2}", "1-\\sqrt2, 1+\\sqrt2"));
  CHECK(answers_equal("\\left[\\begin{array}{cc}1&2\\\\3&4\\end{array}\\right]",
                      "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"));
  CHECK(answers_equal("\\begin{pmatrix} 0.5 \\\\ 1 \\end{pmatrix}", "\\begin{bmatrix}\\frac12\\\\1\\end{bmatrix}"));
  CHECK_FALSE(answers_equal("\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"));
  CHECK_FALSE(answers_equal("\\begin{pmatrix}1&2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"));
}

TEST_CASE("regression #15.3: finite-set unions, 'or'/'and' lists and Unicode Greek letters", "[answer][equal]") {
  CHECK(answers_equal("\\{1,3\\} \\cup \\{2,4\\}", "\\{1,2,3,4\\}"));
  CHECK_FALSE(answers_equal("\\{1,3\\} \\cup \\{2\\}", "\\{1,2,3,4\\}"));
  CHECK(answers_equal("x=2 \\text{ or } x=-2", "\\pm 2"));
  CHECK(answers_equal("2 \\text{ and } 3", "\\{3, 2\\}"));
  CHECK(answers_equal("\xCE\xB1 + \xCE\xB2", "\\beta + \\alpha"));
  CHECK(answers_equal("2\xCF\x80", "2\\pi"));
}

TEST_CASE("regression #15.2: a decimal with six or more places equals what rounds to it", "[answer][equal]") {
  CHECK(answers_equal("0.333333", "\\frac13"));
  CHECK(answers_equal("\\frac13", "0.333333"));
  CHECK(answers_equal("0.707107", "\\frac{\\sqrt2}{2}"));
  CHECK(answers_equal("0.900969", "\\cos\\frac{\\pi}{7}"));
  CHECK(answers_equal("-3.141593", "-\\pi"));
  CHECK_FALSE(answers_equal("0.333334", "\\frac13")); // rounds elsewhere
  CHECK_FALSE(answers_equal("0.3333", "\\frac13"));   // four places: a coarser, different answer
  CHECK_FALSE(answers_equal("2.0000001", "2"));
  CHECK_FALSE(answers_equal("0.333333", "0.333334"));
}

TEST_CASE("regression #15.4: an equation with a constant side equals that number", "[answer][equal]") {
  CHECK(answers_equal("m+n=17", "17"));
  CHECK(answers_equal("17", "m+n=17"));
  CHECK(answers_equal("\\angle ABC = 60^\\circ", "60"));
  CHECK(answers_equal("a+b+c = \\frac{3}{2}", "1.5"));
  CHECK_FALSE(answers_equal("m+n=17", "18"));
  CHECK_FALSE(answers_equal("x+y=1", "x+y")); // an expression with variables is no reported value
  CHECK(answers_equal("f^{-1}(x) = \\frac{x-3}{2}", "\\frac{x}{2}-\\frac32"));
  CHECK(answers_equal("\\frac{-1 \\pm \\sqrt{5}}{2}", "\\frac{-1+\\sqrt5}{2}, \\frac{-1-\\sqrt5}{2}"));
}

TEST_CASE("regression #15.2: repeating decimals, binomials of a variable, \\pm in a tuple", "[answer][equal]") {
  CHECK(answers_equal("0.\\overline{3}", "\\frac13"));
  CHECK(answers_equal("0.1\\overline{6}", "\\frac16"));
  CHECK(answers_equal("-1.\\overline{142857}", "-\\frac87"));
  CHECK_FALSE(answers_equal("0.\\overline{3}", "0.3"));
  CHECK(answers_equal("\\binom{n}{2}", "\\frac{n(n-1)}{2}"));
  CHECK(answers_equal("\\binom{n+1}{3}", "\\frac{(n+1)n(n-1)}{6}"));
  CHECK_FALSE(answers_equal("\\binom{n}{2}", "\\frac{n(n+1)}{2}"));
  CHECK(answers_equal("(\\pm 3, 0)", "(3,0),(-3,0)"));
  CHECK_FALSE(answers_equal("(\\pm 3, 0)", "(3,0),(0,-3)"));
}
