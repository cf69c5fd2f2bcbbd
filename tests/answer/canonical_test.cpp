// SPDX-License-Identifier: Apache-2.0
// Tests of canonicalize: one check per documented rule, exact values, totality and linear time.
#include <reckon/answer/canonical.hpp>

#include <support/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace {
std::string key(std::string_view s) { return reckon::canonicalize(s).key; }
} // namespace

TEST_CASE("canonicalize applies each documented rule", "[answer][canonical]") {
  const std::vector<std::pair<std::string, std::string>> cases{
      // spacing, \left \right, math delimiters
      {"\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"},
      {"$ 1 + x $", "1+x"},
      {"\\( 7 \\)", "7"},
      {"\\!3\\,000", "3000"},
      {"1 000 000", "1000000"},
      {"\\cot x", "\\cot x"},
      {"\\cot   x", "\\cot x"},
      // fractions
      {"\\dfrac{1}{2}", "0.5"},
      {"\\tfrac12", "0.5"},
      {"\\frac12", "0.5"},
      {"1/2", "0.5"},
      {"2/4", "0.5"},
      {"\\frac{1}{3}", "\\frac{1}{3}"},
      {"-1/3", "-\\frac{1}{3}"},
      {"\\frac{-1}{3}", "-\\frac{1}{3}"},
      {"\\pi/2", "\\frac{\\pi}{2}"},
      {"3\\pi/4", "\\frac{3\\pi}{4}"},
      {"\\frac ab", "\\frac{a}{b}"},
      {"\\frac123", "1.5"}, // TeX reads \frac{1}{2}3
      {"2\\frac{1}{2}", "2.5"},
      // roots
      {"\\sqrt x", "\\sqrt{x}"},
      {"\\sqrt2", "\\sqrt{2}"},
      {"\\sqrt{16}", "4"},
      {"\\sqrt{\\frac{9}{4}}", "1.5"},
      {"3\\sqrt{13}", "3\\sqrt{13}"},
      {"11\\sqrt2", "11\\sqrt{2}"},
      {"\\sqrt[3]{8}", "2"},
      // numbers
      {"007", "7"},
      {"2.50", "2.5"},
      {"3.0", "3"},
      {".5", "0.5"},
      {"+5", "5"},
      {"-0", "0"},
      {"\xE2\x88\x92" "5", "-5"},
      {"10^{3}", "1000"},
      {"2 \\cdot 3", "6"},
      {"2\\times 3", "6"},
      {"5.", "5"},
      // degrees
      {"90^\\circ", "90"},
      {"90^{\\circ}", "90"},
      {"90\xC2\xB0", "90"},
      {"90 degrees", "90"},
      // text and units
      {"\\text{Evelyn}", "Evelyn"},
      {"\\mbox{Monday}", "Monday"},
      {"10\\text{ cm}", "10"},
      {"5 dollars", "5"},
      {"12 \\mbox{ square feet}", "12"},
      {"3 cm^2", "3"},
      {"\\frac{1}{2}\\text{ inch}", "0.5"},
      {"5i", "5i"},
      {"2x", "2x"},
      // money, percent
      {"\\$1,000", "1000"},
      {"\\$18.00", "18"},
      {"50\\%", "50"},
      {"12.5%", "12.5"},
      // thousands vs tuples vs lists
      {"1,000", "1000"},
      {"1{,}000", "1000"},
      {"1,234,567.89", "1234567.89"},
      {"(1,000)", "(1,0)"},
      {"1, 000", "0,1"},
      {"1,2", "1,2"},
      // leading variable
      {"x = 5", "5"},
      {"y=\\frac{1}{2}", "0.5"},
      {"\\theta = 30^\\circ", "30"},
      {"x + y = 1", "x+y=1"},
      // pi and infinity
      {"\\pi", "\\pi"},
      {"\xCF\x80", "\\pi"},
      {"\\infty", "\\infty"},
      {"\xE2\x88\x9E", "\\infty"},
      {"infinity", "\\infty"},
      {"+\\infty", "\\infty"},
      {"(-\\infty, 3]", "(-\\infty,3]"},
      // tuples, intervals, sets, lists
      {"( 1, 2 ]", "(1,2]"},
      {"[-2, 1)", "[-2,1)"},
      {"(6,31,-1)", "(6,31,-1)"},
      {"\\{3,1\\}", "\\{1,3\\}"},
      {"\\left\\{ 3, 1 \\right\\}", "\\{1,3\\}"},
      {"3, 5, 7", "3,5,7"},
      {"7,3, 5", "3,5,7"},
      {"1,-2", "-2,1"},
      {"(5)", "5"},
      {"((1,2),(3,4))", "((1,2),(3,4))"},
      {"\\text{(A)}", "A"},
      // matrices
      {"\\begin{pmatrix} 1 \\\\ -2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\-2\\end{pmatrix}"},
      {"\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"},
      {"\\begin{pmatrix} 0.50 & \\frac{1}{4} \\end{pmatrix}", "\\begin{pmatrix}0.5&0.25\\end{pmatrix}"},
      // polynomials and other symbolic answers keep their (normalised) text
      {"x^5 - x^4 + x^3", "x^{5}-x^{4}+x^{3}"},
      {"p - q", "p-q"},
      {"6 - 5i", "6-5i"},
      {"52_8", "52_{8}"},
      {"{5}", "5"},
      {"\\binom{5}{2}", "\\binom{5}{2}"},
      {"\\mathbb{R}", "\\mathbb{R}"},
      {"", ""},
      {"   ", ""},
  };
  for (const auto& [in, want] : cases) {
    INFO("input: " << in);
    CHECK(key(in) == want);
  }
}

TEST_CASE("canonicalize computes exact values and doubles", "[answer][canonical]") {
  auto a = reckon::canonicalize("0.15");
  REQUIRE(a.value);
  REQUIRE(a.value->exact);
  CHECK(*a.value->exact == reckon::rational{3, 20});
  CHECK(a.value->approx == 0.15);

  auto b = reckon::canonicalize("\\frac{6}{-8}");
  REQUIRE(b.value);
  CHECK(b.value->exact == reckon::rational{-3, 4});
  CHECK(b.key == "-0.75");

  auto c = reckon::canonicalize("\\frac{\\pi}{2}");
  REQUIRE(c.value);
  CHECK_FALSE(c.value->exact);
  CHECK(c.value->approx == reckon::test::Approx(1.5707963267948966));
  CHECK(c.key == "\\frac{\\pi}{2}");

  // Past int64: no exact value, a double, and the digits as key.
  auto d = reckon::canonicalize("123456789012345678901234567890");
  REQUIRE(d.value);
  CHECK_FALSE(d.value->exact);
  CHECK(d.value->approx == reckon::test::Approx(1.2345678901234568e29));
  CHECK(d.key == "123456789012345678901234567890");

  auto e = reckon::canonicalize("\\frac123"); // TeX reads \frac{1}{2}3
  REQUIRE(e.value);
  CHECK(e.value->exact == reckon::rational{3, 2});

  CHECK_FALSE(reckon::canonicalize("x+1").value);
  CHECK_FALSE(reckon::canonicalize("\\infty").value);
  CHECK_FALSE(reckon::canonicalize("1/0").value);
  CHECK_FALSE(reckon::canonicalize("1.2.3").value);
  CHECK_FALSE(reckon::canonicalize("\\sqrt{-4}").value);
  CHECK(reckon::canonicalize("2^{-2}").value->exact == reckon::rational{1, 4});
  CHECK_FALSE(reckon::canonicalize("2^{100}").value->exact); // overflow: a double only
  CHECK(reckon::canonicalize("2^{100}").value->approx == reckon::test::Approx(1.2676506002282294e30));
  CHECK(reckon::canonicalize("9223372036854775807").value->exact ==
        reckon::rational{9223372036854775807, 1});
}

TEST_CASE("canonical keys are stable under a second canonicalisation", "[answer][canonical]") {
  for (const char* s : {"\\left( 3, \\frac{\\pi}{2} \\right)", "\\dfrac{1}{3}", "x^5 - x^4", "90^\\circ",
                        "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", "7,3, 5", "\\cot x", "(-\\infty, 3]",
                        "3\\sqrt{13}", "\\frac{\\sqrt{3}}{2}", "0.125", "-\\frac{1}{3}", "52_8"}) {
    INFO("input: " << s);
    const auto once = key(s);
    CHECK(key(once) == once);
  }
}

TEST_CASE("composite answers carry elements and a shape", "[answer][canonical]") {
  auto t = reckon::canonicalize("(1, \\frac{1}{2}]");
  CHECK(t.shape == "(#,#]");
  REQUIRE(t.elements.size() == 2);
  CHECK(t.elements[1].value->exact == reckon::rational{1, 2});
  auto m = reckon::canonicalize("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}");
  CHECK(m.shape == "\\begin{pmatrix}#&#\\\\#&#\\end{pmatrix}");
  CHECK(m.elements.size() == 4);
  CHECK(reckon::canonicalize("5").elements.empty());
  CHECK(reckon::canonicalize("5").shape.empty());
}

TEST_CASE("canonicalize is total on malformed input", "[answer][canonical]") {
  for (const char* s : {"{", "}", "\\", "\\frac", "\\frac{", "\\frac{1}", "\\sqrt[", "\\sqrt[3", "^", "_", "^{",
                        "\\begin{pmatrix}", "\\end{pmatrix}", "(", ")", "(,", ",", ",,,", "\\left", "\\left.",
                        "$", "$$", "\\text{", "\\{", "\\}", "x=", "=", "-", "--5", "1e5", "\xFF\xFE", "\xE2\x88",
                        "\\frac{}{}", "\\sqrt{}", "2^{}", "1,000,", ",1,000", "\\$", "%", "\\boxed{1}"}) {
    INFO("input: " << s);
    CHECK_NOTHROW(reckon::canonicalize(s));
  }
  std::string with_nul("1\0" "2", 3);
  CHECK_NOTHROW(reckon::canonicalize(with_nul));
}

TEST_CASE("canonicalize does linear work on adversarial inputs", "[answer][canonical][linear]") {
  // The work counter counts loop iterations over characters and tokens. The parser runs here with
  // no length guard on 64 KiB inputs: a quadratic pass would count about n^2 / 2 = 2e9 steps;
  // the bound is 16 steps per byte (the worst input measured takes about 11).
  const std::size_t n = 1u << 16;
  auto repeat = [&](std::string_view unit) {
    std::string s;
    s.reserve(n + unit.size());
    while (s.size() < n) s += unit;
    return s;
  };
  const std::string inputs[] = {
      std::string(n, '{'),  std::string(n, '}'),   std::string(n, '\\'), std::string(n, '('),
      std::string(n, ')'),  std::string(n, ','),   std::string(n, '9'),  std::string(n, '^'),
      repeat("{}"),         repeat("\\frac"),      repeat("\\sqrt["),    repeat("\\frac{1}{"),
      repeat("1,"),         repeat("(1,"),         repeat("\\left("),    repeat("\\text{"),
      repeat("x^"),         repeat("1+"),          repeat("2^{"),        repeat("\\{"),
      repeat("\\begin{pmatrix}"), repeat("&\\\\"), repeat("((1,2),"),    repeat("\xE2\x88\x92"),
      repeat("1/"),         repeat("}{"),          repeat("cm "),        repeat("1.2"),
      repeat("\\sqrt{"),    repeat("1,000,"),      repeat("-("),         repeat("\\frac12"),
  };
  for (const auto& s : inputs) {
    reckon::detail::canon::context cx;
    (void)reckon::detail::canon::canonicalize(s, cx, s.size());
    INFO("input starts with: " << s.substr(0, 16) << "  steps: " << cx.steps);
    CHECK(cx.steps <= 16 * s.size());
  }
}

TEST_CASE("roots with huge indices take constant time", "[answer][canonical][linear]") {
  // Found by the fuzzer: the exact check of an integer root multiplied the rounded root k times, so
  // an index of 8e18 with a root of 1 never finished. Each of these must return at once.
  CHECK(reckon::canonicalize("\\sqrt[1000000000000]{1}").key == "1");
  CHECK(reckon::canonicalize("\\sqrt[9000000000000000001]{-1}").key == "-1");
  CHECK(reckon::canonicalize("\\sqrt[9000000000000000000]{0}").key == "0");
  CHECK_NOTHROW(reckon::canonicalize("\\sqrt[8006024407900225522]{8}r1")); // the fuzzer's input, less its leading zeros
  CHECK(reckon::canonicalize("\\sqrt[3]{-8}").key == "-2");
}

namespace {
// A fixed-seed generator for the input classes below (splitmix64: no dependence on <random>'s
// distributions, whose output differs between standard libraries).
struct gen {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
};

std::string without_spaces(std::string_view s) {
  std::string out;
  for (char c : s)
    if (!reckon::detail::canon::space(c)) out += c;
  return out;
}

// n as written with thousands separators: 1234567 -> "1,234,567".
std::string with_commas(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// The key of p/q (q > 0) worked out independently: reduced; a terminating decimal when q has no
// prime factor but 2 and 5, else \frac{p}{q} with the sign in front.
std::string fraction_key(std::int64_t p, std::int64_t q) {
  const std::int64_t g = std::gcd(p, q);
  p /= g, q /= g;
  const std::string sign = p < 0 ? "-" : "";
  const std::uint64_t a = static_cast<std::uint64_t>(p < 0 ? -p : p), b = static_cast<std::uint64_t>(q);
  if (b == 1) return sign + std::to_string(a);
  std::uint64_t rest = b;
  int twos = 0, fives = 0;
  while (rest % 2 == 0) rest /= 2, ++twos;
  while (rest % 5 == 0) rest /= 5, ++fives;
  if (rest != 1) return sign + "\\frac{" + std::to_string(a) + "}{" + std::to_string(b) + "}";
  // a / b = a * 2^(k - twos) * 5^(k - fives) / 10^k with k = max(twos, fives).
  const int k = std::max(twos, fives);
  std::uint64_t scaled = a;
  for (int i = twos; i < k; ++i) scaled *= 2;
  for (int i = fives; i < k; ++i) scaled *= 5;
  std::string digits = std::to_string(scaled);
  if (digits.size() <= static_cast<std::size_t>(k)) digits.insert(0, static_cast<std::size_t>(k) + 1 - digits.size(), '0');
  std::string out = digits.substr(0, digits.size() - static_cast<std::size_t>(k)) + "." +
                    digits.substr(digits.size() - static_cast<std::size_t>(k));
  while (out.back() == '0') out.pop_back();
  return sign + out;
}
} // namespace

TEST_CASE("canonical keys of general input classes are exact", "[answer][canonical]") {
  gen g{20};
  SECTION("integers in any spelling: leading zeros, separators, a sign, a variable, math delimiters") {
    for (int i = 0; i < 300; ++i) {
      const std::uint64_t n = g.below(std::uint64_t{1} << (1 + g.below(40)));
      const std::string want = std::to_string(n), minus = n == 0 ? "0" : "-" + want;
      INFO("n = " << n);
      CHECK(key(want) == want);
      CHECK(key("000" + want) == want);
      CHECK(key(with_commas(n)) == want);
      CHECK(key("+" + want) == want);
      CHECK(key("-" + want) == minus);
      CHECK(key("x = " + want) == want);
      CHECK(key("$" + want + "$") == want);
      CHECK(key("\\$" + with_commas(n)) == want);
    }
  }
  SECTION("fractions p/q, \\frac{p}{q} and \\dfrac{p}{q}: reduced, decimal when it terminates") {
    for (int i = 0; i < 300; ++i) {
      const auto p = static_cast<std::int64_t>(g.below(2000)) - 1000;
      const auto q = static_cast<std::int64_t>(g.below(400)) + 1;
      const std::string want = fraction_key(p, q), ps = std::to_string(p < 0 ? -p : p), qs = std::to_string(q);
      const std::string sign = p < 0 ? "-" : "";
      INFO(p << "/" << q << " -> " << want);
      CHECK(key(sign + ps + "/" + qs) == want);
      CHECK(key(sign + "\\frac{" + ps + "}{" + qs + "}") == want);
      CHECK(key(sign + "\\dfrac{" + ps + "}{" + qs + "}") == want);
    }
  }
  SECTION("sets and bare lists of integers: elements in key (string) order, whatever the input order") {
    for (int i = 0; i < 100; ++i) {
      std::vector<std::string> xs;
      for (std::uint64_t k = 0, m = 2 + g.below(5); k < m; ++k) xs.push_back(std::to_string(g.below(1000) * 7 + k));
      std::string set = "\\{", list;
      for (std::size_t k = 0; k < xs.size(); ++k) {
        set += (k ? ", " : "") + xs[k];
        list += (k ? ", " : "") + xs[k];
      }
      set += "\\}";
      std::sort(xs.begin(), xs.end());
      std::string want, spaced;
      for (std::size_t k = 0; k < xs.size(); ++k) {
        want += (k ? "," : "") + xs[k];
        spaced += (k ? ", " : "") + xs[k];
      }
      INFO("set: " << set);
      CHECK(key(set) == "\\{" + want + "\\}");
      // A list whose comma-joined key would read as one number (`1,250`) is keyed with `, `.
      const bool one_number = reckon::canonicalize(want).elements.empty();
      CHECK(key(list) == (one_number ? spaced : want));
    }
  }
  SECTION("tuples and intervals keep order and brackets, each element canonical") {
    const char* open[] = {"(", "[", "(", "["};
    const char* close[] = {")", "]", "]", ")"};
    for (int i = 0; i < 100; ++i) {
      const auto a = static_cast<std::int64_t>(g.below(200)) - 100, b = static_cast<std::int64_t>(g.below(50)) + 1;
      const std::uint64_t c = g.below(1000);
      const auto s = g.below(4);
      const std::string in = std::string(open[s]) + " " + std::to_string(a) + "/" + std::to_string(b) + " ,  00" +
                             std::to_string(c) + " " + close[s];
      INFO("input: " << in);
      CHECK(key(in) == std::string(open[s]) + fraction_key(a, b) + "," + std::to_string(c) + close[s]);
    }
  }
  SECTION("past the 8 KiB guard, or nested past 48 levels, the key is the text without whitespace") {
    const std::string alphabet = "0123456789abcxyz+-*/^_=,.(){}[]\\$&| \t\n";
    for (int i = 0; i < 20; ++i) {
      std::string s(reckon::detail::canon::max_parsed_bytes + 1 + g.below(4096), ' ');
      for (auto& c : s) c = alphabet[g.below(alphabet.size())];
      CHECK(key(s) == without_spaces(s));
    }
    for (int depth : {49, 60, 200}) {
      const std::string inner = " 1 + " + std::to_string(depth) + " ";
      const std::string s = std::string(static_cast<std::size_t>(depth), '{') + inner + std::string(static_cast<std::size_t>(depth), '}');
      INFO("depth " << depth);
      CHECK(key(s) == without_spaces(s));
    }
    // Within the nesting limit the same text is parsed: the braces go and the sum is worked out.
    CHECK(key(std::string(40, '{') + " 1 + 40 " + std::string(40, '}')) == "41");
  }
}

TEST_CASE("canonicalize takes 1 MB inputs of braces and backslashes in stride", "[answer][canonical][linear]") {
  // Each is past the length guard, so its key is the text itself (there is no whitespace to drop).
  const std::size_t n = 1u << 20;
  for (char c : {'{', '}', '\\', '(', ',', '9', '^', '$'}) {
    const std::string s(n, c);
    const auto a = reckon::canonicalize(s);
    CHECK(a.key == s);
    CHECK_FALSE(a.value);
  }
  CHECK(reckon::canonicalize(std::string(5000, ' ') + std::string(9000, '1')).key == std::string(9000, '1'));
}

TEST_CASE("regression #15.2: canonical keys of number forms, assignments and approximations", "[answer][canonical]") {
  using reckon::canonicalize;
  CHECK(canonicalize("2,74").key == "2.74");
  CHECK(canonicalize("1000,99").key == "1000.99");
  CHECK(canonicalize("-1000,5").key == "-1000.5");
  CHECK(canonicalize("1,5").key == "1,5");       // a list
  CHECK(canonicalize("1, 25").key == "1, 25");   // spaced: a list, keyed so that it stays one
  CHECK(canonicalize("25,1").key == "1, 25");
  CHECK(canonicalize("1,000").key == "1000");
  CHECK(canonicalize("11,\\!111").key == "11111");
  CHECK(canonicalize(".4").key == "0.4");
  CHECK(canonicalize("x = 1/3 \\approx 0.33").key == "\\frac{1}{3}");
  CHECK(canonicalize("x \\approx 0.33").key == "0.33");
  CHECK(canonicalize("3 \xE2\x89\x88 3.0").key == "3");
  const auto tuple = canonicalize("(p,q)=(3,2)");
  CHECK(tuple.key == "(3,2)");
  CHECK(tuple.assigned == "(p,q)");
  const auto line = canonicalize("y = 2x + 1");
  CHECK(line.key == "2x+1");
  CHECK(line.assigned == "y");
  CHECK(canonicalize("f(x) = x^2").key == "x^{2}");
  CHECK(canonicalize("x_{1} = 3").key == "3");
  CHECK(canonicalize("x + y = 1").key == "x+y=1"); // not names only: kept
  CHECK(canonicalize("2x = 4").key == "2x=4");
  CHECK(canonicalize("x = 2 = y").key == "x=2=y"); // two '=': kept
  CHECK(canonicalize("\\binom{5}{2} = 10").key == "10");
  CHECK(canonicalize("\\text{(C)}").key == "C");
}

TEST_CASE("regression #15.3: canonical keys of relations, intervals, unions and matrices", "[answer][canonical]") {
  using reckon::canonicalize;
  CHECK(canonicalize("x \\geq 5").key == "[5,\\infty)");
  CHECK(canonicalize("5 \\leq x").key == "[5,\\infty)");
  CHECK(canonicalize("x >= 5").key == "[5,\\infty)");
  CHECK(canonicalize("x < \\frac12").key == "(-\\infty,0.5)");
  CHECK(canonicalize("-2 \\le x < 7").key == "[-2,7)");
  CHECK(canonicalize("7 > x \\geq -2").key == "[-2,7)");
  CHECK(canonicalize("x \\in [-2,7]").key == "[-2,7]");
  CHECK(canonicalize("\\theta \xE2\x89\xA5 0").key == "[0,\\infty)");
  CHECK(canonicalize("x^2 < 4").key == "x^{2}<4");   // not a lone variable: a relation
  CHECK(canonicalize("-2 < x > 7").key == "-2<x>7"); // mixed directions: no interval
  CHECK(canonicalize("x != 3").key == "x\\neq3");
  CHECK(canonicalize("\\pm 2").key == "-2,2");
  CHECK(canonicalize("(3,\\infty)\\cup(-\\infty,2)").key == "(-\\infty,2)\\cup(3,\\infty)");
  CHECK(canonicalize("(3,\\infty)\\cup(-\\infty,2)").shape == "#\\cup#");
  CHECK(canonicalize("\\left[\\begin{array}{cc}1&2\\\\3&4\\end{array}\\right]").key ==
        "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}");
  CHECK(canonicalize("\\begin{array}{c|c}1&2\\end{array}").key == "\\begin{pmatrix}1&2\\end{pmatrix}");
}
