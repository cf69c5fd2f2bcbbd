// SPDX-License-Identifier: Apache-2.0
// extract_and_canonicalize: a completion's text -> its canonical answer, or no answer.
#pragma once

#include <reckon/answer/canonical.hpp>
#include <reckon/answer/equal.hpp>
#include <reckon/answer/extract.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace reckon {

/// Extracts the answer from a completion and canonicalises it; what the voting strategies call.
/// @param text the model's output (any bytes)
/// @param extract the extractor (default: `default_extractor`, see its priority order)
/// @returns the canonical answer, or nullopt when the extractor found none or its answer is empty
///          once canonical (e.g. `\boxed{\,}`), so that no empty string ever votes
///
/// Cost: one pass over `text` plus canonicalisation of the extracted answer (about a microsecond
/// for a 4 KB text; see README).
template <answer_extractor E = default_extractor>
[[nodiscard]] std::optional<canonical_answer> extract_and_canonicalize(std::string_view text,
                                                                       const E& extract = E{}) {
  std::optional<std::string> raw = std::invoke(extract, text);
  if (!raw) return std::nullopt;
  canonical_answer a = canonicalize(*raw);
  if (a.key.empty()) return std::nullopt;
  return a;
}

/// The answer a gold field holds. Datasets store gold as a bare answer (`\frac{1}{2}`), as LaTeX
/// in math delimiters (`$\frac{1}{2}$`), or as a solution text ending in `\boxed{}` or `####`.
/// Rule: a gold with a `\boxed{}`/`\fbox{}` gives the box's content (boxes in a row joined, as for
/// model outputs); else one with "####" gives GSM8K's line; else one with a math delimiter (`$`
/// not written `\$`, `\(`, `\[`) gives its last math span; else the whole text is the answer.
/// So a bare gold is never searched for numbers: `x + 1 = 2` and `5 apples` stay whole.
[[nodiscard]] inline std::string extract_gold(std::string_view gold) {
  if (auto b = boxed_extractor{}(gold)) return std::move(*b);
  if (auto g = gsm8k_extractor{}(gold)) return std::move(*g);
  if (auto m = math_span_extractor{}(gold)) return std::move(*m);
  return std::string(gold);
}

/// `canonicalize(extract_gold(gold))`: the gold side, parsed the way outputs are.
[[nodiscard]] inline canonical_answer canonicalize_gold(std::string_view gold) {
  return canonicalize(extract_gold(gold));
}

/// Whether a completion's extracted answer equals the gold answer (`extract_gold` rule), by
/// `answers_equal`; false when the completion has no answer.
template <answer_extractor E = default_extractor>
[[nodiscard]] bool matches_gold(std::string_view text, std::string_view gold, const E& extract = E{},
                                double tolerance = 1e-9) {
  auto a = extract_and_canonicalize(text, extract);
  return a && answers_equal(*a, canonicalize_gold(gold), tolerance);
}

/// The voting key alone: `extract_and_canonicalize(text, extract)->key`, or nullopt.
template <answer_extractor E = default_extractor>
[[nodiscard]] std::optional<std::string> extract_answer_key(std::string_view text, const E& extract = E{}) {
  auto a = extract_and_canonicalize(text, extract);
  if (!a) return std::nullopt;
  return std::move(a->key);
}

} // namespace reckon
