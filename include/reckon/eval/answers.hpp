// SPDX-License-Identifier: Apache-2.0
// The evaluation harness's answer handling: a completion's canonical answer, and comparison with gold.
#pragma once

// Thin wrappers over reckon/answer/ (the default extractor: the last \boxed{}, "the answer is",
// "####", the last math span, a bare number outside TeX; then canonicalize; gold answers through
// canonicalize_gold), so that the harness and the built-in runners agree on one rule.

#include <reckon/answer/canonical.hpp>
#include <reckon/answer/equal.hpp>
#include <reckon/answer/pipeline.hpp>
#include <reckon/core/types.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace reckon::eval {

/// The canonical key of an answer string (reckon::canonicalize(a).key).
[[nodiscard]] inline std::string canonical_key(std::string_view a) { return canonicalize(a).key; }

/// The canonical answer a text states, or nullopt when it states none (reckon::extract_answer_key).
[[nodiscard]] inline std::optional<std::string> extract_answer(std::string_view text) { return extract_answer_key(text); }

/// A completion's answer: its recorded `answer` (canonicalised; nullopt when empty) unless
/// `force_extract`, else the answer extracted from its text.
[[nodiscard]] inline std::optional<std::string> answer_of(const completion& c, bool force_extract = false) {
  if (!force_extract && c.answer) {
    std::string key = canonical_key(*c.answer);
    if (key.empty()) return std::nullopt;
    return key;
  }
  return extract_answer(c.text);
}

/// Whether `answer` is the gold answer: reckon::answers_equal of the answer and the gold read by
/// canonicalize_gold (a gold holding \boxed{} or "####", as many datasets write it, is extracted
/// from; a bare gold is taken whole).
[[nodiscard]] inline bool answers_match(const std::optional<std::string>& answer, std::string_view gold) {
  return answer.has_value() && answers_equal(canonicalize(*answer), canonicalize_gold(gold));
}

} // namespace reckon::eval
