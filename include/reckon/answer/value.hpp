// SPDX-License-Identifier: Apache-2.0
// The value of a numeric answer: an exact reduced int64 rational where one exists, and a double.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>

namespace reckon {

/// An exact rational number `num / den`, always reduced, with `den > 0`; the sign is on `num`.
/// Neither field is ever INT64_MIN, so negation never overflows.
struct rational {
  std::int64_t num = 0; ///< numerator; carries the sign
  std::int64_t den = 1; ///< denominator; > 0 and coprime with `num`

  /// True when the denominator is 1.
  [[nodiscard]] constexpr bool is_integer() const noexcept { return den == 1; }
  /// The nearest double (both parts are converted first, so very large parts round).
  [[nodiscard]] double to_double() const noexcept {
    return static_cast<double>(num) / static_cast<double>(den);
  }
  friend constexpr bool operator==(const rational&, const rational&) = default;
};

/// The numeric value of an answer.
/// `exact` is set while every step stayed rational and within int64 (`0.15` is exactly 3/20,
/// `\frac{6}{8}` is 3/4, `\sqrt{9/4}` is 3/2); `approx` is always set and finite
/// (`\frac{\pi}{2}` has only `approx`, and so has a 30-digit integer that overflows int64).
struct numeric_value {
  std::optional<rational> exact; ///< the exact value, when there is one
  double approx = 0.0;           ///< the value as a double; finite
};

namespace detail {

inline bool checked_mul(std::int64_t a, std::int64_t b, std::int64_t& r) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  return !__builtin_mul_overflow(a, b, &r);
#else
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  if (a > 0 ? (b > 0 ? a > hi / b : b < lo / a) : (b > 0 ? a < lo / b : (a != 0 && b < hi / a)))
    return false;
  r = a * b;
  return true;
#endif
}

inline bool checked_add(std::int64_t a, std::int64_t b, std::int64_t& r) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  return !__builtin_add_overflow(a, b, &r);
#else
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  if ((b > 0 && a > hi - b) || (b < 0 && a < lo - b)) return false;
  r = a + b;
  return true;
#endif
}

/// num/den reduced with den > 0; nullopt when den == 0 or a part would be INT64_MIN.
inline std::optional<rational> make_rational(std::int64_t num, std::int64_t den) noexcept {
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  if (den == 0 || num == lo || den == lo) return std::nullopt;
  if (den < 0) {
    num = -num;
    den = -den;
  }
  const std::int64_t g = std::gcd(num, den); // both |parts| fit: INT64_MIN was excluded
  if (g > 1) {
    num /= g;
    den /= g;
  }
  return rational{num, den};
}

inline std::optional<rational> rational_add(rational a, rational b) noexcept {
  const std::int64_t g = std::gcd(a.den, b.den);
  std::int64_t x = 0, y = 0, n = 0, d = 0;
  if (!checked_mul(a.num, b.den / g, x) || !checked_mul(b.num, a.den / g, y) ||
      !checked_add(x, y, n) || !checked_mul(a.den / g, b.den, d))
    return std::nullopt;
  return make_rational(n, d);
}

inline std::optional<rational> rational_neg(rational a) noexcept { return rational{-a.num, a.den}; }

inline std::optional<rational> rational_mul(rational a, rational b) noexcept {
  // Cross-reduce first so that products of reduced fractions overflow as late as possible.
  const std::int64_t g1 = a.num == 0 ? 1 : std::gcd(a.num, b.den);
  const std::int64_t g2 = b.num == 0 ? 1 : std::gcd(b.num, a.den);
  std::int64_t n = 0, d = 0;
  if (!checked_mul(a.num / g1, b.num / g2, n) || !checked_mul(a.den / g2, b.den / g1, d))
    return std::nullopt;
  return make_rational(n, d);
}

inline std::optional<rational> rational_div(rational a, rational b) noexcept {
  if (b.num == 0) return std::nullopt;
  return rational_mul(a, rational{b.den, b.num}); // rational_mul moves the sign onto num
}

/// a^e for an integer exponent with |e| <= 64; nullopt on overflow or 0^negative.
inline std::optional<rational> rational_pow(rational a, std::int64_t e) noexcept {
  if (e < -64 || e > 64) return std::nullopt;
  if (e < 0) {
    if (a.num == 0) return std::nullopt;
    auto inv = make_rational(a.den, a.num);
    if (!inv) return std::nullopt;
    a = *inv;
    e = -e;
  }
  rational r{1, 1};
  for (std::int64_t i = 0; i < e; ++i) {
    auto next = rational_mul(r, a);
    if (!next) return std::nullopt;
    r = *next;
  }
  return r;
}

/// The integer square root of v >= 0 when v is a perfect square.
inline std::optional<std::int64_t> exact_isqrt(std::int64_t v) noexcept {
  if (v < 0) return std::nullopt;
  auto r = static_cast<std::int64_t>(std::sqrt(static_cast<double>(v)));
  while (r > 0 && r > v / r) --r;                // r*r > v, without overflow
  while ((r + 1) <= v / (r + 1)) ++r;            // (r+1)^2 <= v
  if (r * r == v) return r;
  return std::nullopt;
}

} // namespace detail
} // namespace reckon
