// SPDX-License-Identifier: Apache-2.0
// A broad table of model-output-style answers against gold answers, with the verdict a careful
// grader gives, covering each class of issue #15: extraction, number forms, structures,
// relations, symbolic identities, and gold written as text. Written for reckon (no case comes
// from another grader's suite). Before #15 reckon agreed on 174 of the 359 comparisons below.
#include <reckon/answer/pipeline.hpp>

#include <support/catch.hpp>

#include <iostream>
#include <string>
#include <vector>

namespace {

struct verdict15_case {
  const char* output; // a whole model output, or (wrap = 1) an answer as a model writes it
  const char* gold;
  bool expected;
  int wrap; // 1: also judged boxed and as the closing math span of an output
};

const verdict15_case verdict15_cases[] = {
    // {model output or answer, gold, expected verdict}. wrap: 1 = also try the answer boxed and in a
    // closing math span, as a model would write it.
    // --- extraction (whole outputs) ---
    {"So $\\frac13$ of the cake is left.", "\\frac{1}{3}", true, 0},
    {"The ratio is $\\frac{1+\\sqrt{5}}{2}$.", "2", false, 0},
    {"The ratio is $\\frac{1+\\sqrt{5}}{2}$.", "\\frac{1+\\sqrt5}{2}", true, 0},
    {"The point we want is $E$.", "E", true, 0},
    {"Hence the function is $odd$", "\\text{odd}", true, 0},
    {"Adding up, the final answer is 42.", "42", true, 0},
    {"Final Answer: The final answer is $7$. I hope it is correct.", "7", true, 0},
    {"So in all we get 12 apples", "12", true, 0},
    {"I first thought $x=4$, but checking again, $x=5$.", "5", true, 0},
    {"Solving, \\[ y = 3 \\]", "3", true, 0},
    {"The side is \\( 2\\sqrt{2} \\)", "2\\sqrt2", true, 0},
    {"We have $a = 2$ and then $b = a + 1 = 3$", "3", true, 0},
    {"so the total is 1,250 dollars", "1250", true, 0},
    {"Therefore **Answer:** 17", "17", true, 0},
    {"It is $\\frac{1}{3}\\text{ meters}$ long", "\\frac13", true, 0},
    {"The answer is 6 hours.", "6", true, 0},
    {"We try $3$ first. The answer is 4.", "3", false, 0},
    {"Thus $x = \\frac{1+\\sqrt{5}}{2}$ and so", "\\frac{1+\\sqrt{5}}{2}", true, 0},
    {"The roots are $\\boxed{1}, \\boxed{2}, \\boxed{3}$.", "\\{1,2,3\\}", true, 0},
    {"The roots are $\\boxed{1}$ and $\\boxed{-2}$.", "-2, 1", true, 0},
    {"So $d = \\boxed{15\\frac{39}{40}}$, or $\\boxed{\\frac{639}{40}}$", "\\frac{639}{40}", true, 0},
    {"The probability is $\\dfrac{5}{12}$", "\\frac{5}{12}", true, 0},
    {"so the count is $\\binom{5}{2} = 10$", "10", true, 0},
    {"which gives $n = 7$", "8", false, 0},
    // --- number forms ---
    {".4", "0.4", true, 1},
    {"1 000", "1000", true, 1},
    {"11,\\!111", "11111", true, 1},
    {"1000,99", "1000.99", true, 1},
    {"2,74", "2.74", true, 1},
    {"\\cfrac{2}{3}", "\\frac23", true, 1},
    {"\\tfrac{3}{4}", "0.75", true, 1},
    {"\\frac13", "1/3", true, 1},
    {"\\frac3{3}", "1", true, 1},
    {"\\sqrt3", "\\sqrt{3}", true, 1},
    {"\\textbf{12}", "12", true, 1},
    {"12\\text{ cm}^2", "12", true, 1},
    {"k = \\frac{1}{3}", "\\frac13", true, 1},
    {"x = 1/3 \\approx 0.33", "\\frac{1}{3}", true, 1},
    {"\\text{(C)}", "C", true, 1},
    {"(C)", "C", true, 1},
    {"\\textbf{(B)}", "B", true, 1},
    {"C", "D", false, 1},
    {"0.333", "\\frac13", false, 1},
    {"50\\%", "50", true, 1},
    {"3.0", "3", true, 1},
    {"2.5", "\\frac52", true, 1},
    {"1,000,000", "10^6", true, 1},
    {"7", "7.0001", false, 1},
    {"\\$18.90", "18.9", true, 1},
    {"90^\\circ", "90", true, 1},
    {"2\\frac12", "2.5", true, 1},
    {"5", "6", false, 1},
    {"\\frac12", "\\frac13", false, 1},
    {"-\\frac{3}{4}", "-0.75", true, 1},
    {"\\frac{-3}{4}", "-\\frac34", true, 1},
    {"2,50", "2, 50", false, 1},
    {"\\sqrt{2}", "1.41421356", true, 1},
    {"\\sqrt{2}", "1.4142", false, 1},
    {"\\frac{1}{7}", "0.142857", true, 1},
    {"\\frac{1}{7}", "0.142858", false, 1},
    // --- structures ---
    {"[0,1)", "[0, 1)", true, 1},
    {"[0,1)", "[0,1]", false, 1},
    {"(1, +\\infty)", "(1,\\infty)", true, 1},
    {"(-\\infty, 2) \\cup (3, \\infty)", "(3,\\infty)\\cup(-\\infty,2)", true, 1},
    {"(-\\infty,2)\\cup(3,\\infty)", "(-\\infty,2]\\cup(3,\\infty)", false, 1},
    {"\\{1,2,3\\}", "3, 2, 1", true, 1},
    {"\\{1, 2\\}", "\\{1,2,3\\}", false, 1},
    {"(1, 4.5)", "(1,\\frac92)", true, 1},
    {"(4.5, 1)", "(1, \\frac92)", false, 1},
    {"x \\geq 5", "5 \\leq x", true, 1},
    {"x >= 5", "x \\ge 5", true, 1},
    {"x > 5", "x \\geq 5", false, 1},
    {"-2 \\le x \\le 7", "x \\in [-2,7]", true, 1},
    {"x \\in [-2, 7)", "-2 \\leq x < 7", true, 1},
    {"x \\neq 3", "x != 3", true, 1},
    {"x \\geq 5", "[5, \\infty)", true, 1},
    {"x < 5", "(-\\infty,5)", true, 1},
    {"x < 5", "(-\\infty,5]", false, 1},
    {"(p,q)=(3,2)", "(3,2)", true, 1},
    {"(a,b) = (2,3)", "(3,2)", false, 1},
    {"\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{bmatrix}1 & 2 \\\\ 3 & 4\\end{bmatrix}", true, 1},
    {"\\left[\\begin{array}{cc}1&2\\\\3&4\\end{array}\\right]", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", true, 1},
    {"\\begin{pmatrix} 0.5 \\\\ 1 \\end{pmatrix}", "\\begin{pmatrix}\\frac12\\\\1\\end{pmatrix}", true, 1},
    {"\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", false, 1},
    {"2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}", true, 1},
    {"x + y = 1", "y = 1 - x", true, 1},
    {"x + y = 1", "x - y = 1", false, 1},
    {"y = 2x + 1", "2x+1", true, 1},
    {"x^2 = 4", "x = 2", false, 1},
    {"(1,2)", "(2,1)", false, 1},
    {"1, 2", "2, 1", true, 1},
    {"\\{-1, 1\\}", "\\pm 1", true, 1},
    {"x = 2, x = 3", "2, 3", true, 1},
    // --- symbolic ---
    {"\\frac{x}{7}+\\frac{2}{7}", "\\frac{x+2}{7}", true, 1},
    {"\\sec^2(y)", "\\tan^2(y)+1", true, 1},
    {"\\frac{1}{3x^{2/3}}", "\\frac{1}{3\\sqrt[3]{x}^2}", true, 1},
    {"\\sqrt{x+1}", "\\sqrt{1+x}", true, 1},
    {"(x+1)^2", "x^2+2x+1", true, 1},
    {"(x+1)^2", "x^2+1", false, 1},
    {"\\sin(2x)", "2\\sin x\\cos x", true, 1},
    {"\\sin^2 x + \\cos^2 x", "1", true, 1},
    {"\\ln(x^2)", "2\\ln x", true, 1},
    {"e^{\\ln x}", "x", true, 1},
    {"2^{x+1}", "2\\cdot 2^x", true, 1},
    {"x^2 - y^2", "(x-y)(x+y)", true, 1},
    {"x^2-y^2", "(x-y)^2", false, 1},
    {"\\frac{a}{b}", "\\frac{b}{a}", false, 1},
    {"3\\pi", "\\pi \\cdot 3", true, 1},
    {"\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", true, 1},
    {"2\\sqrt{3}", "\\sqrt{12}", true, 1},
    {"\\sqrt{12}", "3\\sqrt{2}", false, 1},
    {"x+1", "1+x", true, 1},
    {"x+1", "x+2", false, 1},
    {"\\sin x", "\\cos x", false, 1},
    {"xy", "yx", true, 1},
    {"\\frac{x^2-1}{x-1}", "x+1", true, 1},
    {"\\log_2 8", "3", true, 1},
    {"\\cos(\\pi/3)", "\\frac12", true, 1},
    {"f(x)=x^2+1", "x^2+1", true, 1},
    {"\\binom{5}{2}", "10", true, 1},
    {"n(n+1)/2", "\\frac{n^2+n}{2}", true, 1},
    {"2^{10}", "1024", true, 1},
    {"a^2b", "ab^2", false, 1},
    {"\\frac{1}{x} + \\frac{1}{y}", "\\frac{x+y}{xy}", true, 1},
    {"\\alpha + \\beta", "\\beta+\\alpha", true, 1},
    {"\\theta^2", "\\theta\\cdot\\theta", true, 1},
    {"4\\sqrt{x^2}", "4x", true, 1},
    {"\\tan x", "\\frac{\\sin x}{\\cos x}", true, 1},
    {"\\frac{2}{x^2}", "2x^{-2}", true, 1},
    {"e^{2x}", "(e^x)^2", true, 1},
    {"x^3", "x^2", false, 1},
    {"3x+2", "2+3x", true, 1},
    {"\\sqrt{8}", "2\\sqrt2", true, 1},
    {"6\\pi", "18.85", false, 1},
    // --- gold written as text, LaTeX or with a box ---
    {"\\boxed{7}", "The answer is $\\boxed{7}$.", true, 0},
    {"The value is $0.5$", "$\\frac{1}{2}$", true, 0},
    {"So $(1,2)$", "\\boxed{(1,2)}", true, 0},
    {"So $(1,3)$", "\\boxed{(1,2)}", false, 0},
    {"\\boxed{x+1}", "so we get \\( 1+x \\)", true, 0},
};

} // namespace

TEST_CASE("regression #15: a broad table of outputs and golds gets the expected verdicts", "[answer][verdict]") {
  int n = 0, agree = 0;
  for (const auto& c : verdict15_cases) {
    std::vector<std::string> outputs{c.output};
    if (c.wrap) {
      outputs.push_back(std::string("Putting it together, $\\boxed{") + c.output + "}$.");
      outputs.push_back(std::string("Putting it together, we obtain $") + c.output + "$.");
    }
    for (const auto& o : outputs) {
      // A bare answer is judged as an answer; whole outputs go through the default extractor.
      const bool bare = c.wrap && o == c.output;
      const bool got = bare ? reckon::answers_equal(reckon::canonicalize(o), reckon::canonicalize_gold(c.gold))
                            : reckon::matches_gold(o, c.gold);
      ++n;
      agree += got == c.expected ? 1 : 0;
      INFO("output: " << o << "\ngold: " << c.gold);
      CHECK(got == c.expected);
    }
  }
  std::cout << "issue 15 verdict table: " << agree << "/" << n << " agree\n";
}
