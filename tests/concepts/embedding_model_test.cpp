// SPDX-License-Identifier: Apache-2.0
// Conformance tests of embedding_model.
#include <reckon/concepts/archetypes.hpp>
#include <reckon/concepts/embedding_model.hpp>

#include <support/catch.hpp>

#include <span>
#include <string>
#include <vector>

namespace {
using reckon::embedding_batch;
using reckon::result;

struct embed_without_tag {
  result<embedding_batch> embed(std::span<const std::string>);
};
struct tag_without_embed {
  using reckon_model_concept = reckon::embedding_model_tag;
};
struct embed_wrong_return {
  using reckon_model_concept = reckon::embedding_model_tag;
  result<std::vector<std::vector<float>>> embed(std::span<const std::string>);
};

static_assert(reckon::embedding_model<reckon::archetypes::embedding_model>);
static_assert(!reckon::embedding_model<reckon::archetypes::stepping_model>);
static_assert(!reckon::embedding_model<embed_without_tag>);
static_assert(!reckon::embedding_model<tag_without_embed>);
static_assert(!reckon::embedding_model<embed_wrong_return>);
} // namespace

TEST_CASE("the embedding archetype gives one row of one dimension per text", "[concepts][embedding]") {
  reckon::archetypes::embedding_model m;
  const std::vector<std::string> texts{"a", "abc", ""};
  auto out = m.embed(texts);
  REQUIRE(out.has_value());
  const embedding_batch& b = out.value();
  REQUIRE(b.size() == 3);
  CHECK(b.dimension == 2);
  CHECK(b.row(1)[0] == 3.0F);
  CHECK(b.row(2)[0] == 0.0F);
  CHECK(b.usage.engine_calls == 1);
  CHECK(embedding_batch{}.size() == 0);
}
