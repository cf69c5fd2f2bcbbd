// SPDX-License-Identifier: Apache-2.0
// Conformance tests of logprob_model: the tag plus a way to generate (sampling or stepping).
#include <reckon/concepts/archetypes.hpp>
#include <reckon/concepts/logprob_model.hpp>

#include <support/catch.hpp>

namespace {
struct tag_only { // promises statistics but cannot generate
  using reckon_model_concept = reckon::logprob_model_tag;
};
struct stepping_with_stats : reckon::archetypes::stepping_model {
  using reckon_model_concept = reckon::capabilities<reckon::stepping_model_tag, reckon::logprob_model_tag>;
};
struct sampler_with_wrong_signature {
  using reckon_model_concept = reckon::capabilities<reckon::sampling_model_tag, reckon::logprob_model_tag>;
  int sample(int);
};

static_assert(reckon::logprob_model<reckon::archetypes::logprob_model>);
static_assert(reckon::logprob_model<stepping_with_stats>);
static_assert(!reckon::logprob_model<reckon::archetypes::sampling_model>); // no tag
static_assert(!reckon::logprob_model<tag_only>);
static_assert(!reckon::logprob_model<sampler_with_wrong_signature>);
} // namespace

TEST_CASE("the logprob archetype declares its top-k width", "[concepts][logprob]") {
  CHECK(reckon::model_traits<reckon::archetypes::logprob_model>::logprob_top_k == 20);
  CHECK(reckon::model_traits<reckon::archetypes::sampling_model>::logprob_top_k == 0);
}
