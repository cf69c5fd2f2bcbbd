// SPDX-License-Identifier: Apache-2.0
// embedding_model: a batch of texts to vectors (ETS's semantic clusters of a search frontier's steps).
#pragma once

#include <reckon/concepts/tags.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace reckon {

/// Vectors of a batch of texts, row-major: text i's vector is values[i * dimension, (i + 1) * dimension).
struct embedding_batch {
  std::size_t dimension = 0;   ///< the length of every vector (> 0 when the batch is not empty)
  std::vector<float> values{}; ///< texts x dimension floats, row-major
  reckon::usage usage{};       ///< cost of the call (prefilled_tokens: tokens read; engine_calls: requests)

  /// Text i's vector. Precondition: i < size().
  [[nodiscard]] std::span<const float> row(std::size_t i) const noexcept {
    return std::span<const float>(values).subspan(i * dimension, dimension);
  }
  /// The number of vectors.
  [[nodiscard]] std::size_t size() const noexcept { return dimension == 0 ? 0 : values.size() / dimension; }
};

/// A model that embeds texts (Hooper et al., ETS, 2025: the semantic-coverage term of its selection
/// clusters each frontier node's newest step by cosine distance between such vectors; its code uses
/// a math-similarity sentence encoder).
/// - `m.embed(texts)` -> `result<embedding_batch>`: one vector per text, in order, every vector of
///   one length. Only directions matter to reckon (cosine distance), so vectors need not be
///   normalised; a zero vector is allowed and is far from everything (see aggregate/cluster.hpp).
///
/// Customization: add `reckon::embedding_model_tag` to the capabilities and provide `embed`; the
/// OpenAI adapter calls /v1/embeddings, the llama.cpp adapter reads pooled embeddings.
/// ```
/// struct my_encoder {
///   using reckon_model_concept = reckon::embedding_model_tag;
///   reckon::result<reckon::embedding_batch> embed(std::span<const std::string> texts);
/// };
/// ```
/// Cost: one engine call per batch; it reads every text once (no generation).
template <class M>
concept embedding_model = declares_capability<M, embedding_model_tag> &&
                          requires(M& m, std::span<const std::string> texts) {
                            { m.embed(texts) } -> std::same_as<result<embedding_batch>>;
                          };

} // namespace reckon
