// SPDX-License-Identifier: Apache-2.0
// Conformance tests of self_rating_model.
#include <reckon/concepts/archetypes.hpp>
#include <reckon/concepts/self_rating_model.hpp>

#include <support/catch.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace {
using reckon::difficulty_ratings;
using reckon::result;

struct rating_without_tag : reckon::archetypes::stepping_model {
  result<difficulty_ratings> rate_plan(const reckon::problem&, std::uint64_t);
  result<difficulty_ratings> rate_next(std::span<const sequence>, std::span<const std::uint64_t>);
};
struct tag_without_rate_next : reckon::archetypes::stepping_model {
  using reckon_model_concept = reckon::capabilities<reckon::stepping_model_tag, reckon::self_rating_model_tag>;
  result<difficulty_ratings> rate_plan(const reckon::problem&, std::uint64_t);
};
struct rating_wrong_return : reckon::archetypes::stepping_model {
  using reckon_model_concept = reckon::capabilities<reckon::stepping_model_tag, reckon::self_rating_model_tag>;
  result<std::vector<double>> rate_plan(const reckon::problem&, std::uint64_t);
  result<difficulty_ratings> rate_next(std::span<const sequence>, std::span<const std::uint64_t>);
};
struct rating_not_a_stepper { // the in-context rating needs live sequences
  using reckon_model_concept = reckon::self_rating_model_tag;
  using sequence = int;
  result<difficulty_ratings> rate_plan(const reckon::problem&, std::uint64_t);
  result<difficulty_ratings> rate_next(std::span<const sequence>, std::span<const std::uint64_t>);
};

static_assert(reckon::self_rating_model<reckon::archetypes::self_rating_model>);
static_assert(!reckon::self_rating_model<reckon::archetypes::stepping_model>);
static_assert(!reckon::self_rating_model<rating_without_tag>);
static_assert(!reckon::self_rating_model<tag_without_rate_next>);
static_assert(!reckon::self_rating_model<rating_wrong_return>);
static_assert(!reckon::self_rating_model<rating_not_a_stepper>);
} // namespace

TEST_CASE("the self-rating archetype rates a plan and one next step per sequence", "[concepts][self_rating]") {
  reckon::archetypes::self_rating_model m;
  const reckon::problem p{.id = 1, .prompt = "q"};
  auto plan = m.rate_plan(p, 7);
  REQUIRE(plan.has_value());
  CHECK(plan.value().difficulty.size() == 1);
  const std::vector<std::uint32_t> seqs{m.begin(p).value(), m.begin(p).value()};
  const std::vector<std::uint64_t> seeds{1, 2};
  auto next = m.rate_next(seqs, seeds);
  REQUIRE(next.has_value());
  CHECK(next.value().difficulty.size() == 2);
  CHECK(next.value().usage.engine_calls == 1);
  CHECK_FALSE(m.rate_next(seqs, std::span(seeds).first(1)).has_value());
}
