// SPDX-License-Identifier: Apache-2.0
// Conformance tests of introspective_model.
#include <reckon/concepts/archetypes.hpp>
#include <reckon/concepts/introspective_model.hpp>

#include <support/catch.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace {
using reckon::introspection;
using reckon::result;

struct introspect_without_tag : reckon::archetypes::stepping_model {
  result<introspection> introspect(std::span<const sequence>);
};
struct tag_without_introspect : reckon::archetypes::stepping_model {
  using reckon_model_concept = reckon::capabilities<reckon::stepping_model_tag, reckon::introspective_model_tag>;
};
struct introspect_wrong_return : reckon::archetypes::stepping_model {
  using reckon_model_concept = reckon::capabilities<reckon::stepping_model_tag, reckon::introspective_model_tag>;
  result<std::vector<double>> introspect(std::span<const sequence>);
};
struct not_a_stepper { // the head needs live sequences
  using reckon_model_concept = reckon::introspective_model_tag;
  using sequence = int;
  result<introspection> introspect(std::span<const sequence>);
};

static_assert(reckon::introspective_model<reckon::archetypes::introspective_model>);
static_assert(!reckon::introspective_model<reckon::archetypes::stepping_model>);
static_assert(!reckon::introspective_model<introspect_without_tag>);
static_assert(!reckon::introspective_model<tag_without_introspect>);
static_assert(!reckon::introspective_model<introspect_wrong_return>);
static_assert(!reckon::introspective_model<not_a_stepper>);
} // namespace

TEST_CASE("the introspective archetype returns one table per sequence", "[concepts][introspective]") {
  reckon::archetypes::introspective_model m;
  auto a = m.begin(reckon::problem{});
  REQUIRE(a);
  const std::vector<std::uint32_t> seqs{*a, *a};
  auto q = m.introspect(seqs);
  REQUIRE(q);
  CHECK(q->joint.size() == 2);
  CHECK(q->reward_values.size() == 2);
  CHECK(q->joint[0](1, 0) == 1.0);
}
