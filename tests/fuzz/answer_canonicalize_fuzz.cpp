// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: canonicalize and answers_equal on any bytes; checks reflexivity, symmetry and
// that a key canonicalised again is the same key (votes bucket by key and a merged vote re-reads
// keys).
#include <reckon/answer/equal.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {
// (), [] and {} nest properly (escaped `\{` `\}` count as braces too).
bool balanced(std::string_view s) {
  std::string stack;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) c = s[++i];
    if (c == '(' || c == '[' || c == '{') stack += c;
    else if (c == ')' || c == ']' || c == '}') {
      const char open = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (stack.empty() || stack.back() != open) return false;
      stack.pop_back();
    }
  }
  return stack.empty();
}
} // namespace

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
  // Idempotence, where the text and its key both parse (past the size and nesting guards a key is
  // the literal text, which need not be canonical; writing arguments braced can deepen nesting)
  // and the text's brackets balance (the stated scope of the guarantee: an unmatched brace moves
  // what a command takes as its argument from one pass to the next).
  if (balanced(a_text)) {
    reckon::detail::canon::context first, second;
    (void)reckon::detail::canon::canonicalize(a_text, first);
    (void)reckon::detail::canon::canonicalize(a.key, second);
    if (!first.literal && !second.literal && reckon::canonicalize(a.key).key != a.key) std::abort();
  }
  return 0;
}
