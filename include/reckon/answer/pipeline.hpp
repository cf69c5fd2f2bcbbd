// SPDX-License-Identifier: Apache-2.0
// extract_and_canonicalize: a completion's text -> its canonical answer, or no answer.
#pragma once

#include <reckon/answer/canonical.hpp>
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

/// The voting key alone: `extract_and_canonicalize(text, extract)->key`, or nullopt.
template <answer_extractor E = default_extractor>
[[nodiscard]] std::optional<std::string> extract_answer_key(std::string_view text, const E& extract = E{}) {
  auto a = extract_and_canonicalize(text, extract);
  if (!a) return std::nullopt;
  return std::move(a->key);
}

} // namespace reckon
