// SPDX-License-Identifier: Apache-2.0
// Conformance tests of process_reward_model and outcome_reward_model.
#include <reckon/concepts/archetypes.hpp>
#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>

#include <support/catch.hpp>

#include <span>
#include <string>
#include <vector>

namespace {
using reckon::problem;
using reckon::result;
using reckon::solution_view;
using steps_scores = std::vector<std::vector<double>>;

struct prm_untagged {
  result<steps_scores> score_steps(const problem&, std::span<const solution_view>);
};
struct prm_flat_scores { // one score per candidate is an ORM's shape, not a PRM's
  using reckon_model_concept = reckon::process_reward_model_tag;
  result<std::vector<double>> score_steps(const problem&, std::span<const solution_view>);
};
struct prm_no_result {
  using reckon_model_concept = reckon::process_reward_model_tag;
  steps_scores score_steps(const problem&, std::span<const solution_view>);
};
struct prm_one_at_a_time {
  using reckon_model_concept = reckon::process_reward_model_tag;
  result<std::vector<double>> score_steps(const problem&, const solution_view&);
};
struct orm_tagged_as_prm {
  using reckon_model_concept = reckon::process_reward_model_tag;
  result<std::vector<double>> score_outcomes(const problem&, std::span<const solution_view>);
};
struct orm_untagged {
  result<std::vector<double>> score_outcomes(const problem&, std::span<const solution_view>);
};
struct orm_float_scores {
  using reckon_model_concept = reckon::outcome_reward_model_tag;
  result<std::vector<float>> score_outcomes(const problem&, std::span<const solution_view>);
};

static_assert(reckon::process_reward_model<reckon::archetypes::process_reward_model>);
static_assert(!reckon::process_reward_model<prm_untagged>);
static_assert(!reckon::process_reward_model<prm_flat_scores>);
static_assert(!reckon::process_reward_model<prm_no_result>);
static_assert(!reckon::process_reward_model<prm_one_at_a_time>);
static_assert(!reckon::process_reward_model<reckon::archetypes::outcome_reward_model>);

static_assert(reckon::outcome_reward_model<reckon::archetypes::outcome_reward_model>);
static_assert(!reckon::outcome_reward_model<orm_tagged_as_prm>);
static_assert(!reckon::outcome_reward_model<orm_untagged>);
static_assert(!reckon::outcome_reward_model<orm_float_scores>);
static_assert(!reckon::outcome_reward_model<reckon::archetypes::process_reward_model>);
} // namespace

TEST_CASE("the reward archetypes score every step and every outcome", "[concepts][reward]") {
  const std::vector<std::string> a{"x", "y", "z"};
  const std::vector<std::string> b{"w"};
  const std::vector<solution_view> c{{a, false, 0}, {b, true, 0}};
  reckon::archetypes::process_reward_model prm;
  auto steps = prm.score_steps(problem{}, c);
  REQUIRE(steps);
  REQUIRE(steps->size() == 2);
  CHECK((*steps)[0].size() == 3);
  CHECK((*steps)[1].size() == 1);
  reckon::archetypes::outcome_reward_model orm;
  auto outcomes = orm.score_outcomes(problem{}, c);
  REQUIRE(outcomes);
  CHECK(outcomes->size() == 2);
}
