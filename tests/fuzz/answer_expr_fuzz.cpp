// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the expression layer and the gold rule on any bytes. Checks that parsing and
// evaluation (complex values included) are total and finite, that answers_equal is reflexive and symmetric through the symbolic and
// relation layers, and that a gold compares with itself once extracted.
#include <reckon/answer/expr.hpp>
#include <reckon/answer/pipeline.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace ex = reckon::detail::expr;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto cut = text.find('\n');
  const auto a_text = text.substr(0, cut);
  const auto b_text = cut == std::string_view::npos ? std::string_view{} : text.substr(cut + 1);

  // The parser straight on the bytes (not only on canonical text), then evaluation.
  if (auto t = ex::parse(a_text)) {
    if (t->root < 0 || static_cast<std::size_t>(t->root) >= t->nodes.size()) std::abort();
    std::vector<reckon::detail::canon::num> at;
    for (const auto& v : t->vars) at.push_back(ex::sample(v, 0));
    if (auto v = ex::eval(*t, t->root, at); v && (!std::isfinite(v->re.ap) || !std::isfinite(v->im.ap))) std::abort();
  }

  const auto a = reckon::canonicalize(a_text);
  const auto b = reckon::canonicalize(b_text);
  if (!reckon::answers_equal(a, a)) std::abort();
  if (reckon::answers_equal(a, b) != reckon::answers_equal(b, a)) std::abort();
  if (reckon::answers_equal(a, b, 1e-4) != reckon::answers_equal(b, a, 1e-4)) std::abort();

  // A gold is equal to itself after the gold rule, and matching is total on any output.
  const auto g = reckon::canonicalize_gold(b_text);
  if (!reckon::answers_equal(g, g)) std::abort();
  (void)reckon::matches_gold(a_text, b_text);
  return 0;
}
