// SPDX-License-Identifier: Apache-2.0
// The default answer key of sample-based strategies: the completion's canonical answer string.
#pragma once

#include <reckon/answer/canonical.hpp>
#include <reckon/answer/pipeline.hpp>
#include <reckon/core/types.hpp>

#include <optional>
#include <string>

namespace reckon {

/// Maps a completion to the key it votes with: an upstream answer (completion::answer, e.g. from a
/// recording) is canonicalised unless `ignore_recorded`; otherwise the answer is extracted from the text with
/// default_extractor and canonicalised. nullopt when there is none (the completion abstains).
///
/// Customization: any callable `std::optional<std::string>(const completion&)` can replace it as a
/// strategy's AnswerKey policy (a task-specific extractor, a regex, a classifier).
struct canonical_answer_key {
  bool ignore_recorded = false; ///< extract from the text even when completion::answer is set

  [[nodiscard]] std::optional<std::string> operator()(const completion& c) const {
    if (c.answer && !ignore_recorded) {
      canonical_answer a = canonicalize(*c.answer);
      if (a.key.empty()) return std::nullopt;
      return std::move(a.key);
    }
    return extract_answer_key(c.text);
  }
};

} // namespace reckon
