// SPDX-License-Identifier: Apache-2.0
// The evaluation harness's answer handling: extract an answer from a completion, compare it with gold.
#pragma once

// A thin stand-in until reckon/answer/ lands: the last \boxed{...} (nested braces), else the text
// after the last "answer is", else the last number; canonical form trims whitespace, a trailing
// '.', '$' signs, thousands separators and a trailing ".0". The harness calls only these two
// functions, so switching to reckon::extract_and_canonicalize is a two-line change.

#include <reckon/core/types.hpp>

#include <cctype>
#include <optional>
#include <string>
#include <string_view>

namespace reckon::detail {
/// `s` without leading and trailing whitespace.
inline std::string_view trim_space(std::string_view s) noexcept {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}
} // namespace reckon::detail

namespace reckon::eval {

/// The canonical form of an answer string (see the file comment).
[[nodiscard]] inline std::string canonical_answer(std::string_view a) {
  std::string out;
  for (const char c : reckon::detail::trim_space(a))
    if (c != '$' && c != ',') out += c;
  std::string_view v = reckon::detail::trim_space(out);
  while (!v.empty() && v.back() == '.') v.remove_suffix(1);
  std::string s(v);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0 &&
      std::isdigit(static_cast<unsigned char>(s[s.size() - 3])))
    s.resize(s.size() - 2);
  return s;
}

/// The answer a text states, canonicalised, or nullopt when it states none.
[[nodiscard]] inline std::optional<std::string> extract_answer(std::string_view text) {
  const std::size_t boxed = text.rfind("\\boxed{");
  if (boxed != std::string_view::npos) {
    std::size_t i = boxed + 7;
    int depth = 1;
    const std::size_t start = i;
    for (; i < text.size(); ++i) {
      if (text[i] == '{') ++depth;
      else if (text[i] == '}' && --depth == 0) break;
    }
    if (depth == 0) {
      std::string c = canonical_answer(text.substr(start, i - start));
      if (!c.empty()) return c;
    }
  }
  const std::size_t said = text.rfind("answer is");
  if (said != std::string_view::npos) {
    std::string_view rest = text.substr(said + 9);
    const std::size_t end = rest.find('\n');
    std::string c = canonical_answer(rest.substr(0, end));
    if (!c.empty()) return c;
  }
  // The last number: digits with an optional sign, separators and decimal point.
  std::size_t end = text.size();
  while (end > 0 && !std::isdigit(static_cast<unsigned char>(text[end - 1]))) --end;
  if (end == 0) return std::nullopt;
  std::size_t begin = end;
  while (begin > 0 && (std::isdigit(static_cast<unsigned char>(text[begin - 1])) || text[begin - 1] == '.' ||
                       text[begin - 1] == ','))
    --begin;
  if (begin > 0 && text[begin - 1] == '-') --begin;
  return canonical_answer(text.substr(begin, end - begin));
}

/// A completion's answer: its recorded `answer` (canonicalised) unless `force_extract`, else the
/// answer extracted from its text.
[[nodiscard]] inline std::optional<std::string> answer_of(const completion& c, bool force_extract = false) {
  if (!force_extract && c.answer) return canonical_answer(*c.answer);
  return extract_answer(c.text);
}

/// Whether `answer` equals `gold` after canonicalisation.
[[nodiscard]] inline bool answers_match(const std::optional<std::string>& answer, std::string_view gold) {
  return answer.has_value() && canonical_answer(*answer) == canonical_answer(gold);
}

} // namespace reckon::eval
