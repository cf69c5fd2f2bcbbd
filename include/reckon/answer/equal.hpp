// SPDX-License-Identifier: Apache-2.0
// answers_equal: whether two answers are the same, by canonical key, exact value, then tolerance.
#pragma once

#include <reckon/answer/canonical.hpp>
#include <reckon/core/result.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string_view>

namespace reckon {

namespace detail {
inline bool answers_equal_checked(const canonical_answer& a, const canonical_answer& b, double tolerance) {
  if (a.key == b.key) return true;
  if (!a.elements.empty() || !b.elements.empty()) {
    if (a.shape != b.shape || a.elements.size() != b.elements.size()) return false;
    for (std::size_t i = 0; i < a.elements.size(); ++i)
      if (!answers_equal_checked(a.elements[i], b.elements[i], tolerance)) return false;
    return true;
  }
  if (!a.value || !b.value) return false;
  const auto& x = *a.value;
  const auto& y = *b.value;
  if (x.exact && y.exact) {
    if (*x.exact == *y.exact) return true;
    if (x.exact->is_integer() && y.exact->is_integer()) return false; // distinct integers never match
  }
  return std::abs(x.approx - y.approx) <= tolerance * std::max(std::abs(x.approx), std::abs(y.approx));
}
} // namespace detail

/// Whether two canonical answers are the same answer.
///
/// In order: equal keys -> true; composites (tuples, intervals, lists, sets, matrices) -> same
/// shape and every element equal by these rules; scalars with values -> equal exact rationals, or
/// (unless both are integers, which must match exactly) a relative difference
/// |x - y| <= tolerance * max(|x|, |y|). Examples: `0.5` == `\frac{1}{2}` (same key);
/// `\frac{\sqrt{2}}{2}` == `\frac{1}{\sqrt{2}}` (tolerance); `0.3333333333333` == `\frac13`
/// (tolerance); `1000000000` != `1000000001`; `(1, 0.5)` == `(1,\frac12)`; `x+1` != `1+x`.
/// Sets and lists are compared in key order, so elements equal only within tolerance may pair up
/// wrongly.
///
/// Cost: O(total key length); no allocation.
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
