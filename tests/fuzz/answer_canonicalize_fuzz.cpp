// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: canonicalize and answers_equal on any bytes; checks reflexivity and symmetry.
#include <reckon/answer/equal.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The first '\n' (if any) splits the input into two answers to compare.
  const auto cut = text.find('\n');
  const auto a_text = text.substr(0, cut);
  const auto b_text = cut == std::string_view::npos ? std::string_view{} : text.substr(cut + 1);
  const auto a = reckon::canonicalize(a_text);
  const auto b = reckon::canonicalize(b_text);
  if (!reckon::answers_equal(a, a)) std::abort();
  if (reckon::answers_equal(a, b) != reckon::answers_equal(b, a)) std::abort();
  if (a.value && !std::isfinite(a.value->approx)) std::abort();
  if (a.value && a.value->exact && a.value->exact->den <= 0) std::abort();
  if (a.elements.empty() != a.shape.empty()) std::abort();
  (void)reckon::answers_equal(a_text, b_text, 1e-6);
  return 0;
}
