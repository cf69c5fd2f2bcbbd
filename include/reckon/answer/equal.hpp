// SPDX-License-Identifier: Apache-2.0
// answers_equal: whether two answers are the same, by canonical key, structure, exact value and
// tolerance, relation, then symbolic identity at sample points.
#pragma once

#include <reckon/answer/canonical.hpp>
#include <reckon/answer/expr.hpp>
#include <reckon/core/result.hpp>

#include <algorithm>
#include <cmath>
#include <string_view>
#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace reckon {

namespace detail {

// A list's shape with set braces removed, so that `\{1,2\}` and the bare list `1, 2` (both
// unordered) compare alike.
inline std::string_view list_shape(std::string_view shape) noexcept {
  if (shape.size() >= 4 && shape.substr(0, 2) == "\\{" && shape.substr(shape.size() - 2) == "\\}")
    return shape.substr(2, shape.size() - 4);
  return shape;
}
// Sets, bare lists and unions are unordered; tuples, intervals and matrices are not.
inline bool unordered(std::string_view list_shape) noexcept {
  return list_shape.empty() || (list_shape[0] == '#');
}

inline bool answers_equal_checked(const canonical_answer& a, const canonical_answer& b, double tolerance);

// The digits after the point when a key is a plain decimal (`-0.333333` -> 6), else -1.
inline int decimal_places(std::string_view key) noexcept {
  std::size_t p = !key.empty() && key[0] == '-' ? 1 : 0;
  const std::size_t int_begin = p;
  while (p < key.size() && canon::digit(key[p])) ++p;
  if (p == int_begin || p >= key.size() || key[p] != '.') return -1;
  const std::size_t frac_begin = ++p;
  while (p < key.size() && canon::digit(key[p])) ++p;
  if (p != key.size() || p == frac_begin) return -1;
  return static_cast<int>(p - frac_begin);
}

// Rule: a decimal written with k >= 6 places (k <= 15) stands for any value that rounds to it
// at k places: `0.333333` == `\frac13`, `0.707107` == `\frac{\sqrt2}{2}`; `0.3333` and `0.33`
// are not `\frac13` (fewer places are a different, coarser answer; the tolerance still applies).
inline bool rounds_to(const canonical_answer& literal, double other) noexcept {
  const int k = decimal_places(literal.key);
  if (k < 6 || k > 15 || !literal.value) return false;
  return std::abs(literal.value->approx - other) <= 0.5 * std::pow(10.0, -k) * (1 + 1e-6);
}

// The value of an answer with no variables that only the expression layer can evaluate
// (`\cos\frac{\pi}{7}`, `\log_2 10`).
inline std::optional<double> constant_value(const canonical_answer& a) {
  if (a.value) return a.value->approx;
  auto t = expr::parse(a.key);
  if (!t || !t->vars.empty()) return std::nullopt;
  auto v = expr::eval(*t, t->root, {});
  if (!v || !v->real()) return std::nullopt; // `2i` is no real number
  return v->re.ap;
}

// Every element of `a` pairs with a distinct equal element of `b` (greedy, first fit); with
// `answers_equal_checked` symmetric, `matched(a, b) || matched(b, a)` is symmetric too.
inline bool matched(const canonical_answer& a, const canonical_answer& b, double tolerance) {
  std::vector<char> used(b.elements.size(), 0);
  for (const auto& x : a.elements) {
    bool found = false;
    for (std::size_t k = 0; k < b.elements.size() && !found; ++k)
      if (!used[k] && answers_equal_checked(x, b.elements[k], tolerance)) {
        used[k] = 1;
        found = true;
      }
    if (!found) return false;
  }
  return true;
}

// The relation an answer states: its top-level `lhs op rhs`, or `assigned = key` when a leading
// assignment was dropped (`y = 2x+1` keeps `y`), so that equations compare with it.
inline std::optional<expr::relation> relation_of(const canonical_answer& a, bool other_is_relation) {
  canon::context cx;
  const auto r = canon::split_relations(a.key, cx);
  if (r.ops.size() == 1) return expr::parse_relation(r.sides[0], r.ops[0], r.sides[1]);
  if (r.ops.empty() && other_is_relation && !a.assigned.empty()) return expr::parse_relation(a.assigned, "=", a.key);
  return std::nullopt;
}

// The symbolic layer (see answers_equal): relations by proportional one-sided forms, other
// expressions by their values at shared sample points.
inline bool symbolic_equal(const canonical_answer& a, const canonical_answer& b, double tolerance) {
  if (a.key.size() > expr::max_bytes || b.key.size() > expr::max_bytes) return false;
  canon::context cx;
  const bool ra = canon::split_relations(a.key, cx).ops.size() == 1;
  const bool rb = canon::split_relations(b.key, cx).ops.size() == 1;
  if (ra != rb) {
    // Rule: `m+n=17` or `\angle ABC = 60` against a number: the equation's constant side is the
    // answer it reports (so `x+y=1` also equals `1`; an equation never equals an expression
    // with variables).
    const auto& rel = ra ? a : b;
    const auto& other = ra ? b : a;
    const auto r = canon::split_relations(rel.key, cx);
    if (r.ops[0] == "=" && constant_value(other)) {
      for (auto side : {r.sides[1], r.sides[0]}) {
        if (!canon::is_constant(side)) continue;
        const auto c = canonicalize(side);
        return c.key == other.key || (c.value && other.value && answers_equal_checked(c, other, tolerance)) ||
               (constant_value(c) && answers_equal_checked(c, other, tolerance));
      }
    }
  }
  if (ra || rb) {
    auto x = relation_of(a, rb);
    auto y = relation_of(b, ra);
    if (!x || !y || x->op != y->op) return false;
    return expr::proportional(x->diff, y->diff, x->op == "<" || x->op == "\\leq", tolerance);
  }
  auto x = expr::parse(a.key);
  if (!x) return false;
  auto y = expr::parse(b.key);
  if (!y) return false;
  return expr::same_function(*x, *y, tolerance);
}

inline bool answers_equal_checked(const canonical_answer& a, const canonical_answer& b, double tolerance) {
  if (a.key == b.key) return true;
  if (!a.elements.empty() || !b.elements.empty()) {
    const auto sa = list_shape(a.shape), sb = list_shape(b.shape);
    if (sa != sb || a.elements.size() != b.elements.size()) return false;
    if (unordered(sa)) return matched(a, b, tolerance) || matched(b, a, tolerance);
    for (std::size_t i = 0; i < a.elements.size(); ++i)
      if (!answers_equal_checked(a.elements[i], b.elements[i], tolerance)) return false;
    return true;
  }
  if ((a.value || b.value) && decimal_places((a.value ? a : b).key) >= 6) {
    const auto& literal = a.value ? a : b;
    const auto& other = a.value ? b : a;
    if (auto v = constant_value(other); v && rounds_to(literal, *v)) return true;
  }
  if (a.value && b.value && decimal_places(b.key) >= 6 && rounds_to(b, a.value->approx)) return true;
  if (a.value && b.value) {
    const auto& x = *a.value;
    const auto& y = *b.value;
    if (x.exact && y.exact) {
      if (*x.exact == *y.exact) return true;
      if (x.exact->is_integer() && y.exact->is_integer()) return false; // distinct integers never match
    }
    return std::abs(x.approx - y.approx) <= tolerance * std::max(std::abs(x.approx), std::abs(y.approx));
  }
  return symbolic_equal(a, b, tolerance);
}
} // namespace detail

/// Whether two canonical answers are the same answer. Layers, in order; the first that decides
/// gives the verdict:
/// 1. equal keys -> true (`0.5` == `\frac{1}{2}`; `x\geq5` == `[5,\infty)`, canonicalize's rules).
/// 2. composites: same shape and size, then elementwise by these rules. Tuples, intervals and
///    matrices are ordered; sets, bare lists and unions are unordered and a set equals a bare list
///    (`\{1,2,3\}` == `3, 2, 1`), paired by value (`\{\frac{\sqrt2}{2},1\}` == `1,\frac{1}{\sqrt2}`).
/// 3. two numbers (both have `value`): equal exact rationals, or (unless both are integers, which
///    must match exactly) |x - y| <= tolerance * max(|x|, |y|). `\frac{\sqrt{2}}{2}` ==
///    `\frac{1}{\sqrt{2}}`; `0.3333333333333` == `\frac13`; `1000000000` != `1000000001`.
///    A decimal written with 6 to 15 places also equals any number (or constant expression) that
///    rounds to it: `0.333333` == `\frac13`, `0.900969` == `\cos\frac{\pi}{7}`; `0.33` != `\frac13`.
/// 4. relations (one top-level `=`, `\neq`, `<`, `>`, `\leq`, `\geq`): both sides moved to one
///    side and `>`/`\geq` turned round, then equal when the operators match and the one-sided
///    forms are proportional at every sample point (any constant for `=` and `\neq`, a positive
///    one for inequalities): `2x+4y-3=0` == `y=-\frac{1}{2}x+\frac{3}{4}` (an assignment the
///    canonical form dropped, `y = ...`, is put back to compare with an equation);
///    `x+y<1` != `x+y>1`; `x^2=4` != `x=2`.
/// 5. expressions (`detail::expr`): both parsed and evaluated at 8 shared sample points (exact
///    rationals where the operations allow, doubles elsewhere); equal when at least 3 points lie
///    in both domains and the values agree at each, exactly or within
///    tolerance * max(1, |x|, |y|): `\frac{x}{7}+\frac{2}{7}` == `\frac{x+2}{7}`, `\sec^2 y` ==
///    `\tan^2 y+1`, `x+1` == `1+x`; `(x+1)^2` != `x^2+1`. A lone `i` is the imaginary unit
///    (expr.hpp states the rule): `i^2` == `-1`, `\frac{1+i}{1-i}` == `i`, `3+2i` == `2i+3`.
///    False positives: see expr.hpp.
/// Symmetric: answers_equal(a, b) == answers_equal(b, a) always (fuzzed); reflexive.
///
/// Cost: layers 1-3 O(total key length) with no allocation; layers 4-5 parse both keys (linear)
/// and evaluate 8 times, a few microseconds for a typical answer (answer_bench).
/// @param tolerance relative tolerance for inexact values, >= 0 and finite (default 1e-9)
/// @throws reckon::exception (invalid_argument) when the tolerance is negative, NaN or infinite
[[nodiscard]] inline bool answers_equal(const canonical_answer& a, const canonical_answer& b,
                                        double tolerance = 1e-9) {
  detail::require(std::isfinite(tolerance) && tolerance >= 0.0,
                  "answers_equal: the tolerance must be finite and >= 0");
  return detail::answers_equal_checked(a, b, tolerance);
}

/// Whether two answers' texts are the same answer: canonicalises both, then compares as above.
/// Example: `answers_equal("\\dfrac{1}{2}", "0.50")` is true.
[[nodiscard]] inline bool answers_equal(std::string_view a, std::string_view b, double tolerance = 1e-9) {
  detail::require(std::isfinite(tolerance) && tolerance >= 0.0,
                  "answers_equal: the tolerance must be finite and >= 0");
  return detail::answers_equal_checked(canonicalize(a), canonicalize(b), tolerance);
}

} // namespace reckon
