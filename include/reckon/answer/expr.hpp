// SPDX-License-Identifier: Apache-2.0
// The expression layer: canonical answer text -> a small expression tree, evaluated at points.
#pragma once

#include <reckon/answer/canonical.hpp>
#include <reckon/answer/value.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <complex>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reckon::detail::expr {

using canon::alpha;
using canon::digit;
using canon::num;

/// What the parser reads (canonical text, so spacing and `\dfrac` are already normalised):
/// numbers, `+ - * /` and `\div`, implicit products (`2x`, `x(y+1)`, `2\sin x`), `^{...}`,
/// `!`, `|...|`, `\frac`, `\binom`, `\sqrt`, `\sqrt[n]`, `\pi`, `e`, letters and Greek letters
/// (with subscripts, `x_{1}`) as variables, and the functions `\sin \cos \tan \sec \csc \cot`,
/// their `\arc...` and hyperbolic forms, `\ln`, `\log` (base 10, or `\log_{b}`), `\exp`, with
/// `\sin^{2}x` meaning (sin x)^2 and `\sin^{-1}` the inverse. A function's argument is a group
/// `(...)` or the implicit product that follows (`\sin 2x` is sin(2x); `\sin x\cos x` is a
/// product). A word of three or more letters that is no function name makes the text no
/// expression (it is prose: `odd`, `Evelyn`), and so does anything else unknown (`\infty`).
/// Rule for `i` (as for `e`): a lone `i` is the imaginary unit (`3+2i`, `\frac{1-i\sqrt{3}}{2}`,
/// `i^{2}` = -1, `e^{i\pi}` = -1); `i` is a name only where it carries or sits in a subscript
/// (`i_{1}`, `a_{i}`, `x_i`). So an answer that uses a bare `i` as an integer variable is read as
/// complex: it still equals itself and every rearrangement of itself (a polynomial identity
/// holds at i too), and it also equals forms that differ by i^2 = -1, the one false positive
/// this rule can give.
/// Totality: no exception but bad_alloc; nesting is bounded by `max_depth`, text by `max_bytes`,
/// and parsing is one left-to-right pass.
inline constexpr int max_depth = 64;
inline constexpr std::size_t max_bytes = 4096;

enum class op : std::uint8_t { constant, var, unit, add, sub, mul, div, pow, neg, fn, fact, abs, root, binom, log };
enum class fn : std::uint8_t { sin, cos, tan, sec, csc, cot, asin, acos, atan, sinh, cosh, tanh, ln, exp };

struct node {
  op kind = op::constant;
  fn f = fn::sin;
  std::int32_t a = -1, b = -1; // children (root: a = index, b = radicand; log: a = base, b = argument)
  std::uint32_t var = 0;       // index into tree::vars
  num value{};
};

/// A parsed expression: nodes in creation order, the root, and the variables' names.
struct tree {
  std::vector<node> nodes;
  std::vector<std::string> vars;
  std::int32_t root = -1;
  bool complex = false; // it has the imaginary unit, so values may be complex
};

struct parser {
  std::string_view s;
  tree& t;
  std::size_t p = 0;
  int depth = 0;
  bool bad = false;

  std::int32_t add(node n) {
    t.nodes.push_back(n);
    return static_cast<std::int32_t>(t.nodes.size() - 1);
  }
  std::int32_t make(op k, std::int32_t a, std::int32_t b = -1) {
    if (a < 0 || (b < 0 && k != op::neg && k != op::fact && k != op::abs && k != op::fn)) {
      bad = true;
      return -1;
    }
    node n;
    n.kind = k;
    n.a = a;
    n.b = b;
    return add(n);
  }
  std::int32_t constant(num v) {
    node n;
    n.kind = op::constant;
    n.value = v;
    return add(n);
  }
  std::int32_t variable(std::string_view name) {
    for (std::size_t k = 0; k < t.vars.size(); ++k)
      if (t.vars[k] == name) {
        node n;
        n.kind = op::var;
        n.var = static_cast<std::uint32_t>(k);
        return add(n);
      }
    t.vars.emplace_back(name);
    node n;
    n.kind = op::var;
    n.var = static_cast<std::uint32_t>(t.vars.size() - 1);
    return add(n);
  }

  void ws() {
    while (p < s.size() && s[p] == ' ') ++p;
  }
  bool eat(char c) {
    ws();
    if (p < s.size() && s[p] == c) {
      ++p;
      return true;
    }
    return false;
  }
  std::string_view command() const { // the command name at p, "" when none
    if (p >= s.size() || s[p] != '\\') return {};
    std::size_t e = p + 1;
    while (e < s.size() && alpha(s[e])) ++e;
    return s.substr(p, e - p);
  }
  std::string_view word() const {
    std::size_t e = p;
    while (e < s.size() && alpha(s[e])) ++e;
    return s.substr(p, e - p);
  }

  static std::optional<fn> function(std::string_view name) {
    struct entry {
      std::string_view name;
      fn f;
    };
    static constexpr entry table[] = {
        {"sin", fn::sin},     {"cos", fn::cos},       {"tan", fn::tan},       {"sec", fn::sec},
        {"csc", fn::csc},     {"cot", fn::cot},       {"arcsin", fn::asin},   {"arccos", fn::acos},
        {"arctan", fn::atan}, {"sinh", fn::sinh},     {"cosh", fn::cosh},     {"tanh", fn::tanh},
        {"ln", fn::ln},       {"exp", fn::exp},       {"asin", fn::asin},     {"acos", fn::acos},
        {"atan", fn::atan}};
    for (const auto& e : table)
      if (e.name == name) return e.f;
    return std::nullopt;
  }
  static bool greek(std::string_view name) {
    static constexpr std::string_view list[] = {
        "alpha", "beta",  "gamma", "delta", "epsilon", "varepsilon", "zeta",  "eta",   "theta", "vartheta",
        "iota",  "kappa", "lambda", "mu",   "nu",      "xi",         "rho",   "sigma", "tau",   "upsilon",
        "phi",   "varphi", "chi",  "psi",   "omega",   "Gamma",      "Delta", "Theta", "Lambda", "Xi",
        "Sigma", "Phi",   "Psi",   "Omega"};
    for (auto w : list)
      if (w == name) return true;
    return false;
  }

  bool starts_factor() {
    ws();
    if (p >= s.size()) return false;
    const char c = s[p];
    if (digit(c) || c == '.' || c == '(' || c == '{' || alpha(c)) return true;
    if (c == '\\') {
      const auto name = command();
      return name.size() > 1 && name != "\\div";
    }
    return false;
  }

  struct level {
    int& d;
    bool ok;
    explicit level(int& counter) : d(counter), ok(++counter <= max_depth) {}
    ~level() { --d; }
  };

  std::int32_t sum() {
    level guard(depth);
    if (!guard.ok) {
      bad = true;
      return -1;
    }
    std::int32_t v = -1;
    if (eat('-')) v = make(op::neg, product());
    else {
      eat('+');
      v = product();
    }
    while (!bad) {
      if (eat('+')) v = make(op::add, v, product());
      else if (eat('-')) v = make(op::sub, v, product());
      else break;
    }
    return v;
  }
  std::int32_t product() {
    std::int32_t v = unary();
    while (!bad) {
      if (eat('*')) v = make(op::mul, v, unary());
      else if (eat('/')) v = make(op::div, v, unary());
      else if (command() == "\\div") {
        p += 4;
        v = make(op::div, v, unary());
      } else if (starts_factor()) v = make(op::mul, v, power());
      else break;
    }
    return v;
  }
  std::int32_t unary() {
    level guard(depth);
    if (!guard.ok) {
      bad = true;
      return -1;
    }
    if (eat('-')) return make(op::neg, unary());
    if (eat('+')) return unary();
    return power();
  }
  // The exponent or subscript after `^` / `_`: a brace group, or one character.
  std::int32_t script() {
    ws();
    if (p < s.size() && s[p] == '{') {
      ++p;
      auto v = sum();
      if (!eat('}')) bad = true;
      return v;
    }
    if (p < s.size() && digit(s[p])) return constant(canon::from_rational(rational{s[p++] - '0', 1}));
    return primary();
  }
  std::int32_t power() {
    level guard(depth);
    if (!guard.ok) {
      bad = true;
      return -1;
    }
    std::int32_t b = primary();
    while (!bad && eat('!')) b = make(op::fact, b);
    if (!bad && eat('^')) b = make(op::pow, b, script());
    while (!bad && eat('!')) b = make(op::fact, b);
    return b;
  }
  std::int32_t group(char open, char close) {
    if (!eat(open)) {
      bad = true;
      return -1;
    }
    auto v = sum();
    if (!eat(close)) bad = true;
    return v;
  }
  // A function's argument: `(...)`, or the implicit product of factors that follows, up to the
  // next function or operator.
  std::int32_t argument() {
    ws();
    if (p < s.size() && s[p] == '(') return power();
    std::int32_t v = power();
    while (!bad) {
      ws();
      if (p >= s.size()) break;
      const char c = s[p];
      if (c == '\\') {
        const auto name = command();
        if (!greek(name.substr(1)) && name != "\\pi" && name != "\\frac" && name != "\\sqrt") break;
      } else if (!(digit(c) || alpha(c))) {
        break;
      } else if (alpha(c) && function(word())) {
        break;
      }
      v = make(op::mul, v, power());
    }
    return v;
  }
  std::int32_t apply(fn f, std::int32_t exponent, bool inverse) {
    if (inverse) {
      switch (f) {
      case fn::sin: f = fn::asin; break;
      case fn::cos: f = fn::acos; break;
      case fn::tan: f = fn::atan; break;
      default: bad = true; return -1;
      }
    }
    node n;
    n.kind = op::fn;
    n.f = f;
    n.a = argument();
    if (n.a < 0) {
      bad = true;
      return -1;
    }
    auto v = add(n);
    return exponent >= 0 ? make(op::pow, v, exponent) : v;
  }
  std::int32_t function_call(fn f) {
    // `\sin^{2}x`: the power applies to the value; `\sin^{-1}` is the inverse.
    std::int32_t exponent = -1;
    bool inverse = false;
    ws();
    if (p < s.size() && s[p] == '^') {
      ++p;
      if (s.substr(p, 4) == "{-1}") {
        p += 4;
        inverse = true;
      } else {
        exponent = script();
      }
    }
    return apply(f, exponent, inverse);
  }
  std::int32_t name_with_subscript(std::string_view base) {
    const std::size_t from = p - base.size();
    if (p < s.size() && s[p] == '_') {
      ++p;
      if (p < s.size() && s[p] == '{') {
        int d = 0;
        while (p < s.size()) {
          if (s[p] == '{') ++d;
          else if (s[p] == '}' && --d == 0) break;
          ++p;
        }
        if (p >= s.size()) {
          bad = true;
          return -1;
        }
        ++p;
      } else if (p < s.size() && (alpha(s[p]) || digit(s[p]))) {
        ++p;
      } else {
        bad = true;
        return -1;
      }
    }
    return variable(s.substr(from, p - from));
  }

  std::int32_t primary() {
    level guard(depth);
    if (!guard.ok) {
      bad = true;
      return -1;
    }
    ws();
    if (p >= s.size()) {
      bad = true;
      return -1;
    }
    const char c = s[p];
    if (digit(c) || c == '.') {
      const std::string_view literal = canon::decimal_run(s, p);
      auto v = !literal.empty() ? canon::parse_decimal(literal) : std::nullopt; // a lone '.' is none
      if (!v) {
        bad = true;
        return -1;
      }
      return constant(*v);
    }
    if (c == '(') return group('(', ')');
    if (c == '{') return group('{', '}');
    if (c == '[') return group('[', ']');
    if (c == '|') {
      ++p;
      auto v = sum();
      if (!eat('|')) bad = true;
      return make(op::abs, v);
    }
    if (alpha(c)) {
      const auto w = word();
      if (w.size() > 1) {
        for (std::size_t len = w.size(); len >= 2; --len) // `sin`, `ln`, `sinx`, `lnx` (a name, then x)
          if (auto f = function(w.substr(0, len)); f && w.size() - len <= 1) {
            p += len;
            return function_call(*f);
          }
        if (w.size() >= 3) {
          bad = true; // prose, not algebra
          return -1;
        }
      }
      ++p;
      if (c == 'e' && (p >= s.size() || s[p] != '_')) {
        return constant(num{std::nullopt, 2.71828182845904523536});
      }
      if (c == 'i' && (p >= s.size() || s[p] != '_')) {
        node n;
        n.kind = op::unit;
        t.complex = true;
        return add(n);
      }
      return name_with_subscript(s.substr(p - 1, 1));
    }
    if (c == '\\') {
      const auto name = command();
      const auto bare = name.substr(1);
      if (name.size() <= 1) {
        bad = true;
        return -1;
      }
      p += name.size();
      if (name == "\\pi") return constant(num{std::nullopt, 3.14159265358979323846});
      if (name == "\\frac") {
        auto a = group('{', '}');
        auto b = group('{', '}');
        return make(op::div, a, b);
      }
      if (name == "\\binom") {
        auto a = group('{', '}');
        auto b = group('{', '}');
        return make(op::binom, a, b);
      }
      if (name == "\\sqrt") {
        std::int32_t index = -1;
        ws();
        if (p < s.size() && s[p] == '[') index = group('[', ']');
        auto x = group('{', '}');
        if (index < 0) index = constant(canon::from_rational(rational{2, 1}));
        return make(op::root, index, x);
      }
      if (name == "\\log" || name == "\\lg") {
        std::int32_t base = -1;
        ws();
        if (p < s.size() && s[p] == '_') {
          ++p;
          base = script();
        }
        if (base < 0) base = constant(canon::from_rational(rational{name == "\\lg" ? 2 : 10, 1}));
        std::int32_t exponent = -1;
        ws();
        if (p < s.size() && s[p] == '^') {
          ++p;
          exponent = script();
        }
        const auto arg = argument();
        auto v = make(op::log, base, arg);
        return exponent >= 0 ? make(op::pow, v, exponent) : v;
      }
      if (auto f = function(bare)) return function_call(*f);
      if (greek(bare)) return name_with_subscript(name);
      bad = true;
      return -1;
    }
    bad = true;
    return -1;
  }
};

/// Parses canonical text; nullopt when it is no expression this layer reads.
inline std::optional<tree> parse(std::string_view s) {
  if (s.empty() || s.size() > max_bytes) return std::nullopt;
  tree t;
  t.nodes.reserve(s.size() / 2 + 4);
  parser ps{s, t};
  t.root = ps.sum();
  ps.ws();
  if (ps.bad || t.root < 0 || ps.p != s.size()) return std::nullopt;
  return t;
}

inline std::optional<num> finite(double d) {
  if (!std::isfinite(d)) return std::nullopt;
  return num{std::nullopt, d};
}

// The real value of node `n` whose children have the real values `ca` and `cb` (unused ones
// empty); nullopt outside the real domain (a root of a negative, a log of a non-positive, a
// division by zero, an overflow). Exact rationals are kept through + - * /, integer powers,
// perfect-square roots, factorials and binomials of small integers; everything else is a double.
inline std::optional<num> real_op(const node& n, const std::optional<num>& ca, const std::optional<num>& cb) {
  switch (n.kind) {
  case op::constant: return n.value;
  case op::var:
  case op::unit: return std::nullopt; // evaluated by eval
  case op::add:
  case op::sub:
  case op::mul:
  case op::div: {
    auto a = ca;
    if (!a) return std::nullopt;
    auto b = cb;
    const char c = n.kind == op::add ? '+' : n.kind == op::sub ? '-' : n.kind == op::mul ? '*' : '/';
    return canon::combine(a, b, c);
  }
  case op::neg: {
    auto a = ca;
    if (!a) return std::nullopt;
    return canon::combine(num{rational{0, 1}, 0.0}, a, '-');
  }
  case op::pow: {
    auto b = ca;
    auto e = cb;
    if (!b || !e) return std::nullopt;
    num r;
    if (b->ex && e->ex && e->ex->is_integer()) r.ex = rational_pow(*b->ex, e->ex->num);
    if (r.ex) return canon::from_rational(*r.ex);
    if (b->ap < 0) {
      // A negative base takes only an integer exponent, or a rational one with an odd
      // denominator (a real odd root).
      if (e->ex && e->ex->den % 2 == 1) {
        const double m = std::pow(-b->ap, e->ap);
        return finite(e->ex->num % 2 == 0 ? m : -m);
      }
      if (std::nearbyint(e->ap) != e->ap) return std::nullopt;
    }
    if (b->ap == 0 && e->ap < 0) return std::nullopt;
    return finite(std::pow(b->ap, e->ap));
  }
  case op::root: {
    auto index = ca;
    auto x = cb;
    if (!index || !x || !index->ex || !index->ex->is_integer() || index->ex->num < 2 || index->ex->num > 64)
      return std::nullopt;
    const auto k2 = index->ex->num;
    if (k2 == 2 && x->ex && x->ex->num >= 0) {
      auto rn = exact_isqrt(x->ex->num);
      auto rd = exact_isqrt(x->ex->den);
      if (rn && rd) return canon::from_rational(rational{*rn, *rd});
    }
    if (x->ap < 0) {
      if (k2 % 2 == 0) return std::nullopt;
      return finite(-std::pow(-x->ap, 1.0 / static_cast<double>(k2)));
    }
    const double r = std::pow(x->ap, 1.0 / static_cast<double>(k2));
    if (x->ex && x->ex->is_integer() && std::abs(r) < 1e6) {
      const auto ri = static_cast<std::int64_t>(std::llround(r));
      std::int64_t pw = 1;
      bool fits = true;
      for (std::int64_t q = 0; q < k2 && fits; ++q) fits = checked_mul(pw, ri, pw);
      if (fits && pw == x->ex->num) return canon::from_rational(rational{ri, 1});
    }
    return finite(r);
  }
  case op::abs: {
    auto a = ca;
    if (!a) return std::nullopt;
    if (a->ex) return canon::from_rational(rational{a->ex->num < 0 ? -a->ex->num : a->ex->num, a->ex->den});
    return finite(std::abs(a->ap));
  }
  case op::fact: {
    auto a = ca;
    if (!a || !a->ex || !a->ex->is_integer() || a->ex->num < 0 || a->ex->num > 20) return std::nullopt;
    std::int64_t r = 1;
    for (std::int64_t q = 2; q <= a->ex->num; ++q) r *= q;
    return canon::from_rational(rational{r, 1});
  }
  case op::binom: {
    auto a = ca;
    auto b = cb;
    if (!a || !b || !b->ex || !b->ex->is_integer()) return std::nullopt;
    if (!a->ex || !a->ex->is_integer()) {
      // binom(n, k) for any n and a small integer k: n(n-1)...(n-k+1) / k!, so `\binom{n}{2}`
      // is the polynomial n(n-1)/2.
      const auto count = b->ex->num;
      if (count < 0 || count > 20) return std::nullopt;
      std::optional<num> r = canon::from_rational(rational{1, 1});
      for (std::int64_t j = 0; j < count && r; ++j) {
        auto factor = canon::combine(a, canon::from_rational(rational{j, 1}), '-');
        r = canon::combine(canon::combine(r, factor, '*'), canon::from_rational(rational{j + 1, 1}), '/');
      }
      return r;
    }
    const auto m = a->ex->num, c = b->ex->num;
    if (m < 0 || c < 0 || c > m || m > 66) return std::nullopt;
    std::int64_t r = 1;
    const auto kk = c < m - c ? c : m - c;
    for (std::int64_t q = 1; q <= kk; ++q) {
      if (!checked_mul(r, m - kk + q, r)) return std::nullopt;
      r /= q;
    }
    return canon::from_rational(rational{r, 1});
  }
  case op::log: {
    auto base = ca;
    auto x = cb;
    if (!base || !x || base->ap <= 0 || base->ap == 1 || x->ap <= 0) return std::nullopt;
    const double r = std::log(x->ap) / std::log(base->ap);
    const double rounded = std::nearbyint(r);
    // An integer logarithm of exact values is exact: log_2 8 = 3.
    if (base->ex && x->ex && std::abs(r - rounded) < 1e-9 && std::abs(rounded) <= 62) {
      if (auto pw = rational_pow(*base->ex, static_cast<std::int64_t>(rounded)); pw && *pw == *x->ex)
        return canon::from_rational(rational{static_cast<std::int64_t>(rounded), 1});
    }
    return finite(r);
  }
  case op::fn: {
    auto a = ca;
    if (!a) return std::nullopt;
    const double x = a->ap;
    if (a->ex && a->ex->num == 0) { // the values at 0 that are exact
      switch (n.f) {
      case fn::sin: case fn::tan: case fn::asin: case fn::atan: case fn::sinh: case fn::tanh:
        return canon::from_rational(rational{0, 1});
      case fn::cos: case fn::sec: case fn::cosh: case fn::exp: return canon::from_rational(rational{1, 1});
      default: break;
      }
    }
    switch (n.f) {
    case fn::sin: return finite(std::sin(x));
    case fn::cos: return finite(std::cos(x));
    case fn::tan: return std::abs(std::cos(x)) < 1e-12 ? std::nullopt : finite(std::tan(x));
    case fn::sec: return std::abs(std::cos(x)) < 1e-12 ? std::nullopt : finite(1.0 / std::cos(x));
    case fn::csc: return std::abs(std::sin(x)) < 1e-12 ? std::nullopt : finite(1.0 / std::sin(x));
    case fn::cot: return std::abs(std::sin(x)) < 1e-12 ? std::nullopt : finite(std::cos(x) / std::sin(x));
    case fn::asin: return x < -1 || x > 1 ? std::nullopt : finite(std::asin(x));
    case fn::acos: return x < -1 || x > 1 ? std::nullopt : finite(std::acos(x));
    case fn::atan: return finite(std::atan(x));
    case fn::sinh: return finite(std::sinh(x));
    case fn::cosh: return finite(std::cosh(x));
    case fn::tanh: return finite(std::tanh(x));
    case fn::ln:
      if (a->ex && a->ex->num == 1 && a->ex->den == 1) return canon::from_rational(rational{0, 1});
      return x <= 0 ? std::nullopt : finite(std::log(x));
    case fn::exp: return finite(std::exp(x));
    }
  }
  }
  return std::nullopt;
}

/// A value of the expression layer: a complex number whose parts are `num`s, exact rationals
/// where the operations allow; a real value has an imaginary part of exactly 0.
struct value {
  num re;
  num im{rational{0, 1}, 0.0};
  [[nodiscard]] bool real() const noexcept { return im.ex ? im.ex->num == 0 : im.ap == 0.0; }
};

inline value real_value(num x) { return value{x, num{rational{0, 1}, 0.0}}; }

inline std::optional<value> from_complex(std::complex<double> z) {
  if (!std::isfinite(z.real()) || !std::isfinite(z.imag())) return std::nullopt;
  value v{num{std::nullopt, z.real()}, num{std::nullopt, z.imag()}};
  if (z.imag() == 0.0) v.im = num{rational{0, 1}, 0.0};
  return v;
}
inline std::complex<double> to_complex(const value& v) { return {v.re.ap, v.im.ap}; }

// (a op b) on both parts for + and -, and by the complex product and quotient for * and /; exact
// when every part is.
inline std::optional<value> complex_op(const value& a, const value& b, char op) {
  if (op == '+' || op == '-') {
    auto re = canon::combine(a.re, b.re, op), im = canon::combine(a.im, b.im, op);
    if (!re || !im) return std::nullopt;
    return value{*re, *im};
  }
  if (b.real() && (op == '*' || op == '/')) { // the common case, as exact and as rounded as real arithmetic
    auto re = canon::combine(a.re, b.re, op), im = canon::combine(a.im, b.re, op);
    if (!re || !im) return std::nullopt;
    return value{*re, *im};
  }
  if (op == '*') {
    auto re = canon::combine(canon::combine(a.re, b.re, '*'), canon::combine(a.im, b.im, '*'), '-');
    auto im = canon::combine(canon::combine(a.re, b.im, '*'), canon::combine(a.im, b.re, '*'), '+');
    if (!re || !im) return std::nullopt;
    return value{*re, *im};
  }
  // a / b = a * conj(b) / |b|^2
  const auto den = canon::combine(canon::combine(b.re, b.re, '*'), canon::combine(b.im, b.im, '*'), '+');
  auto re = canon::combine(canon::combine(canon::combine(a.re, b.re, '*'), canon::combine(a.im, b.im, '*'), '+'), den, '/');
  auto im = canon::combine(canon::combine(canon::combine(a.im, b.re, '*'), canon::combine(a.re, b.im, '*'), '-'), den, '/');
  if (!re || !im) return std::nullopt;
  return value{*re, *im};
}

// A complex function value by std::complex (principal branches), for a non-real argument.
inline std::optional<value> complex_fn(fn f, std::complex<double> z) {
  using std::complex;
  const complex<double> one(1.0, 0.0);
  switch (f) {
  case fn::sin: return from_complex(std::sin(z));
  case fn::cos: return from_complex(std::cos(z));
  case fn::tan: return from_complex(std::tan(z));
  case fn::sec: return std::abs(std::cos(z)) < 1e-12 ? std::nullopt : from_complex(one / std::cos(z));
  case fn::csc: return std::abs(std::sin(z)) < 1e-12 ? std::nullopt : from_complex(one / std::sin(z));
  case fn::cot: return std::abs(std::sin(z)) < 1e-12 ? std::nullopt : from_complex(std::cos(z) / std::sin(z));
  case fn::asin: return from_complex(std::asin(z));
  case fn::acos: return from_complex(std::acos(z));
  case fn::atan: return from_complex(std::atan(z));
  case fn::sinh: return from_complex(std::sinh(z));
  case fn::cosh: return from_complex(std::cosh(z));
  case fn::tanh: return from_complex(std::tanh(z));
  case fn::ln: return from_complex(std::log(z));
  case fn::exp: return from_complex(std::exp(z));
  }
  return std::nullopt;
}

/// The value of node `k` with variable values `at` (real sample points); nullopt outside the
/// domain. Real operands take the real rules of `real_op` (so `\sqrt{-4}` and `\ln(-1)` stay
/// undefined, as in a real answer); an operand with a nonzero imaginary part, which only the
/// imaginary unit `i` brings in, takes complex arithmetic: exact Gaussian rationals through
/// + - * / and integer powers (`(1+i)^{2}` is exactly `2i`), principal values elsewhere
/// (`e^{i\pi}` is -1 within rounding).
inline std::optional<num> eval_real(const tree& t, std::int32_t k, const std::vector<num>& at);

inline std::optional<value> eval(const tree& t, std::int32_t k, const std::vector<num>& at) {
  if (!t.complex) { // no imaginary unit: real values throughout, at the cost of real arithmetic
    auto r = eval_real(t, k, at);
    if (!r) return std::nullopt;
    return real_value(*r);
  }
  const node& n = t.nodes[static_cast<std::size_t>(k)];
  switch (n.kind) {
  case op::constant: return real_value(n.value);
  case op::var: return real_value(at[n.var]);
  case op::unit: return value{num{rational{0, 1}, 0.0}, num{rational{1, 1}, 1.0}};
  default: break;
  }
  std::optional<value> a, b;
  if (n.a >= 0) {
    a = eval(t, n.a, at);
    if (!a) return std::nullopt;
  }
  if (n.b >= 0) {
    b = eval(t, n.b, at);
    if (!b) return std::nullopt;
  }
  if ((!a || a->real()) && (!b || b->real())) {
    auto r = real_op(n, a ? std::optional<num>(a->re) : std::nullopt, b ? std::optional<num>(b->re) : std::nullopt);
    if (!r) return std::nullopt;
    return real_value(*r);
  }
  const value zero = real_value(num{rational{0, 1}, 0.0});
  switch (n.kind) {
  case op::add: return complex_op(*a, *b, '+');
  case op::sub: return complex_op(*a, *b, '-');
  case op::mul: return complex_op(*a, *b, '*');
  case op::div:
    if (b->re.ap == 0.0 && b->im.ap == 0.0) return std::nullopt;
    return complex_op(*a, *b, '/');
  case op::neg: return complex_op(zero, *a, '-');
  case op::pow: {
    if (b->real() && b->re.ex && b->re.ex->is_integer() && b->re.ex->num >= -64 && b->re.ex->num <= 64) {
      // z^m by repeated squaring, exact for Gaussian rationals.
      std::int64_t m = b->re.ex->num;
      const bool invert = m < 0;
      if (invert) m = -m;
      std::optional<value> r = real_value(num{rational{1, 1}, 1.0}), base = a;
      for (; m > 0 && r && base; m >>= 1) {
        if (m & 1) r = complex_op(*r, *base, '*');
        if (m > 1) base = complex_op(*base, *base, '*');
      }
      if (!r || !base) return std::nullopt;
      if (invert) {
        if (r->re.ap == 0.0 && r->im.ap == 0.0) return std::nullopt;
        return complex_op(real_value(num{rational{1, 1}, 1.0}), *r, '/');
      }
      return r;
    }
    if (a->re.ap == 0.0 && a->im.ap == 0.0) return std::nullopt;
    return from_complex(std::pow(to_complex(*a), to_complex(*b)));
  }
  case op::root: {
    if (!a->real() || !a->re.ex || !a->re.ex->is_integer() || a->re.ex->num < 2 || a->re.ex->num > 64)
      return std::nullopt;
    return from_complex(std::pow(to_complex(*b), 1.0 / static_cast<double>(a->re.ex->num)));
  }
  case op::abs: {
    // |z| = sqrt(re^2 + im^2), exact when that is a perfect square of a rational (|3+4i| = 5).
    auto sq = canon::combine(canon::combine(a->re, a->re, '*'), canon::combine(a->im, a->im, '*'), '+');
    if (!sq) return std::nullopt;
    if (sq->ex && sq->ex->num >= 0) {
      auto rn = exact_isqrt(sq->ex->num);
      auto rd = exact_isqrt(sq->ex->den);
      if (rn && rd) return real_value(canon::from_rational(rational{*rn, *rd}));
    }
    return from_complex(std::complex<double>(std::sqrt(sq->ap), 0.0));
  }
  case op::log: {
    // A real base (> 0, != 1) of a complex argument: the principal log_b z = ln z / ln b.
    if (!a->real() || a->re.ap <= 0 || a->re.ap == 1) return std::nullopt;
    return from_complex(std::log(to_complex(*b)) / std::log(a->re.ap));
  }
  case op::fn: return complex_fn(n.f, to_complex(*a));
  default: return std::nullopt; // factorials and binomials of non-real values
  }
}

// The value of node `k` of a tree without the imaginary unit (the rules of real_op).
inline std::optional<num> eval_real(const tree& t, std::int32_t k, const std::vector<num>& at) {
  const node& n = t.nodes[static_cast<std::size_t>(k)];
  if (n.kind == op::var) return at[n.var];
  std::optional<num> a, b;
  if (n.a >= 0) {
    a = eval_real(t, n.a, at);
    if (!a) return std::nullopt;
  }
  if (n.b >= 0) {
    b = eval_real(t, n.b, at);
    if (!b) return std::nullopt;
  }
  return real_op(n, a, b);
}

/// Number of points each comparison evaluates, and how many must be in both domains.
///
/// False positives. Two different functions compare equal only when their difference vanishes
/// (within the tolerance) at every sample point in both domains. For a difference that is a
/// nonzero rational function whose numerator has total degree d, evaluated exactly, the
/// Schwartz-Zippel lemma bounds the chance that one point is a root by d/281 (each coordinate
/// takes one of 281 distinct values) for expressions chosen independently of the points, so by
/// (d/281)^3 with the minimum 3 valid points (d = 10: 4.6e-5) and (d/281)^8 with all 8 valid
/// (d = 10: 3.4e-12). The points are a fixed function of the variables' names: a polynomial
/// built to vanish on them would pass, inputs not built that way have the bound. Where doubles
/// are used (roots, trigonometry, logarithms, overflow), differences below
/// tolerance * max(1, |value|) at every point also pass (`x` vs `x + 10^{-12}`). Measured:
/// 0 of 1500 seeded random non-identities (tests/answer/expr_test.cpp). With the imaginary unit
/// the difference is a rational function with Gaussian-rational coefficients, and the same
/// bound holds (the lemma is over any field); measured: 0 of 800 random complex non-identities.
inline constexpr int points = 8;
inline constexpr int min_valid = 3;

/// The value a variable takes at point `j`: a rational p/q with p in [1, 37] and q in [3, 13],
/// drawn from a fixed hash of the variable's name and j, so both sides of a comparison (and any
/// argument order) see the same values. (Positive values keep `\sqrt{x}` and `\ln x` defined.)
inline num sample(std::string_view name, int j) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  h ^= static_cast<std::uint64_t>(j + 1) * 0x9E3779B97F4A7C15ULL;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  const auto pnum = static_cast<std::int64_t>(1 + h % 37);
  const auto qden = static_cast<std::int64_t>(3 + (h >> 20) % 11);
  return canon::from_rational(*make_rational(pnum, qden));
}

// Both parts exact.
inline bool exact(const value& v) noexcept { return v.re.ex && v.im.ex; }
inline double modulus(const value& v) noexcept { return std::hypot(v.re.ap, v.im.ap); }
inline double distance(const value& x, const value& y) noexcept {
  return std::hypot(x.re.ap - y.re.ap, x.im.ap - y.im.ap);
}

/// Whether two values agree: exactly when both are exact, else |x - y| <= tol * max(1, |x|, |y|)
/// (moduli, for complex values; the floor of 1: a sum that cancels to zero in doubles leaves
/// rounding dust of about 1e-16).
inline bool close(const value& x, const value& y, double tol) {
  if (exact(x) && exact(y)) return *x.re.ex == *y.re.ex && *x.im.ex == *y.im.ex;
  return distance(x, y) <= tol * std::max({1.0, modulus(x), modulus(y)});
}

/// Ratios agree relative to the larger one, with no absolute floor: |1/x - 1/y| <= tol *
/// max(|1/x|, |1/y|) exactly when |x - y| <= tol * max(|x|, |y|), so swapping the sides of a
/// comparison (which inverts every ratio) gives the same verdict.
inline bool same_ratio(const value& x, const value& y, double tol) {
  if (exact(x) && exact(y)) return *x.re.ex == *y.re.ex && *x.im.ex == *y.im.ex;
  return distance(x, y) <= tol * std::max(modulus(x), modulus(y));
}

/// The values of two trees at the shared sample points (one vector per tree), over the union of
/// their variables; a point is nullopt where either side is undefined.
inline void values_at_points(const tree& a, const tree& b, std::vector<std::optional<value>>& va,
                             std::vector<std::optional<value>>& vb) {
  std::vector<num> at_a(a.vars.size()), at_b(b.vars.size());
  for (int j = 0; j < points; ++j) {
    for (std::size_t k = 0; k < a.vars.size(); ++k) at_a[k] = sample(a.vars[k], j);
    for (std::size_t k = 0; k < b.vars.size(); ++k) at_b[k] = sample(b.vars[k], j);
    auto x = eval(a, a.root, at_a);
    auto y = eval(b, b.root, at_b);
    if (!x || !y) {
      va.emplace_back();
      vb.emplace_back();
    } else {
      va.push_back(x);
      vb.push_back(y);
    }
  }
}

/// Two expressions are the same function: at least `min_valid` of the `points` sample points lie
/// in both domains and the values agree at every such point.
inline bool same_function(const tree& a, const tree& b, double tol) {
  std::vector<std::optional<value>> va, vb;
  values_at_points(a, b, va, vb);
  int valid = 0;
  for (int j = 0; j < points; ++j) {
    if (!va[static_cast<std::size_t>(j)]) continue;
    ++valid;
    if (!close(*va[static_cast<std::size_t>(j)], *vb[static_cast<std::size_t>(j)], tol)) return false;
  }
  return valid >= min_valid;
}

/// Two relations `a op 0` and `b op 0` (a = lhs - rhs) state the same thing: a = c * b for one
/// constant c != 0 at every sample point (c real and > 0 when `positive`, for inequalities);
/// zeros must coincide.
inline bool proportional(const tree& a, const tree& b, bool positive, double tol) {
  std::vector<std::optional<value>> va, vb;
  values_at_points(a, b, va, vb);
  int valid = 0;
  std::optional<value> ratio;
  const value zero = real_value(canon::from_rational(rational{0, 1}));
  for (int j = 0; j < points; ++j) {
    const auto& x = va[static_cast<std::size_t>(j)];
    const auto& y = vb[static_cast<std::size_t>(j)];
    if (!x) continue;
    ++valid;
    const bool zx = close(*x, zero, tol), zy = close(*y, zero, tol);
    if (zx != zy) return false;
    if (zx) continue;
    auto r = complex_op(*x, *y, '/');
    if (!r) return false;
    if (positive && (r->re.ap <= 0 || (!r->real() && std::abs(r->im.ap) > tol * std::abs(r->re.ap)))) return false;
    if (!ratio) ratio = r;
    else if (!same_ratio(*ratio, *r, tol)) return false;
  }
  return valid >= min_valid;
}

/// A relation in one-sided form: `lhs - rhs` and the operator, with `>` and `\geq` turned round
/// (`a > b` is `b - a < 0`), so that equal relations get equal operators.
struct relation {
  tree diff;
  std::string_view op; // "=", "\\neq", "<", "\\leq"
};

inline std::optional<relation> parse_relation(std::string_view lhs, std::string_view op, std::string_view rhs) {
  std::string_view o = op;
  if (op == ">" || op == "\\geq") {
    std::swap(lhs, rhs);
    o = op == ">" ? "<" : "\\leq";
  }
  if (o != "=" && o != "\\neq" && o != "<" && o != "\\leq") return std::nullopt;
  if (lhs.size() + rhs.size() > max_bytes) return std::nullopt;
  std::string text = "(";
  text += lhs;
  text += ")-(";
  text += rhs;
  text += ')';
  auto t = parse(text);
  if (!t) return std::nullopt;
  return relation{std::move(*t), o};
}

} // namespace reckon::detail::expr
