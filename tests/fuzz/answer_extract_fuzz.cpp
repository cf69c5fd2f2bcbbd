// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: every built-in extractor and extract_and_canonicalize on any bytes.
#include <reckon/answer/pipeline.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {
template <class E>
void check(const E& extract, std::string_view text) {
  const auto raw = extract(text);
  if (raw && raw->empty()) std::abort(); // "no answer" is nullopt, never an empty string
  const auto a = reckon::extract_and_canonicalize(text, extract);
  if (a && a->key.empty()) std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check(reckon::boxed_extractor{}, text);
  check(reckon::answer_is_extractor{}, text);
  check(reckon::gsm8k_extractor{}, text);
  check(reckon::last_number_extractor{}, text);
  check(reckon::default_extractor{}, text);
  return 0;
}
