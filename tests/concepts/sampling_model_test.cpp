// SPDX-License-Identifier: Apache-2.0
// Conformance tests of sampling_model: the tag is required, and so is the exact signature.
#include <reckon/concepts/archetypes.hpp>
#include <reckon/concepts/sampling_model.hpp>

#include <support/catch.hpp>

#include <cstdint>

namespace {
using reckon::problem;
using reckon::result;
using reckon::sample_batch;
using reckon::sampling_params;

struct good {
  using reckon_model_concept = reckon::sampling_model_tag;
  result<sample_batch> sample(const problem&, const sampling_params&, std::uint32_t);
};
struct untagged { // looks like a sampler, promises nothing
  result<sample_batch> sample(const problem&, const sampling_params&, std::uint32_t);
};
struct wrong_tag {
  using reckon_model_concept = reckon::stepping_model_tag;
  result<sample_batch> sample(const problem&, const sampling_params&, std::uint32_t);
};
struct returns_plain_batch { // no result<>: cannot report engine errors
  using reckon_model_concept = reckon::sampling_model_tag;
  sample_batch sample(const problem&, const sampling_params&, std::uint32_t);
};
struct no_params {
  using reckon_model_concept = reckon::sampling_model_tag;
  result<sample_batch> sample(const problem&, std::uint32_t);
};
struct takes_string_prompt {
  using reckon_model_concept = reckon::sampling_model_tag;
  result<sample_batch> sample(const char*, const sampling_params&, std::uint32_t);
};
struct no_member {
  using reckon_model_concept = reckon::sampling_model_tag;
};
struct in_a_list {
  using reckon_model_concept = reckon::capabilities<reckon::outcome_reward_model_tag, reckon::sampling_model_tag>;
  result<sample_batch> sample(const problem&, const sampling_params&, std::uint32_t);
};
struct derived_tag : reckon::sampling_model_tag {};
struct own_tag_type {
  using reckon_model_concept = derived_tag;
  result<sample_batch> sample(const problem&, const sampling_params&, std::uint32_t);
};

static_assert(reckon::sampling_model<good>);
static_assert(reckon::sampling_model<in_a_list>);
static_assert(reckon::sampling_model<own_tag_type>);
static_assert(reckon::sampling_model<reckon::archetypes::sampling_model>);
static_assert(reckon::sampling_model<reckon::archetypes::logprob_model>);
static_assert(!reckon::sampling_model<untagged>);
static_assert(!reckon::sampling_model<wrong_tag>);
static_assert(!reckon::sampling_model<returns_plain_batch>);
static_assert(!reckon::sampling_model<no_params>);
static_assert(!reckon::sampling_model<takes_string_prompt>);
static_assert(!reckon::sampling_model<no_member>);
static_assert(!reckon::sampling_model<int>);
static_assert(!reckon::sampling_model<reckon::archetypes::stepping_model>);
} // namespace

TEST_CASE("the sampling archetype returns n completions and their usage", "[concepts][sampling]") {
  reckon::archetypes::sampling_model m;
  auto out = m.sample(problem{1, "q"}, sampling_params{}, 3);
  REQUIRE(out);
  CHECK(out->completions.size() == 3);
  CHECK(out->usage.generated_tokens == 24);
  sampling_params bad;
  bad.max_tokens = 0;
  auto rejected = m.sample(problem{}, bad, 1);
  REQUIRE_FALSE(rejected);
  CHECK(rejected.error().code == reckon::errc::invalid_argument);
}
