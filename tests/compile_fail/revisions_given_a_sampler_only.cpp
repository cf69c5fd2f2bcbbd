// expect: reviser(_tag|<reckon::archetypes::sampling_model>)
// SPDX-License-Identifier: Apache-2.0
// Sequential revisions handed a model that samples but cannot revise: the error names the reviser requirement.
#include <reckon/concepts/archetypes.hpp>
#include <reckon/strategy/sequential_revisions.hpp>

int main() {
  reckon::archetypes::sampling_model sampler;
  reckon::archetypes::outcome_reward_model orm;
  auto r = reckon::sequential_revisions().run(sampler, orm, reckon::problem{}, reckon::budget{}, reckon::random_stream{});
  return r ? 0 : 1;
}
