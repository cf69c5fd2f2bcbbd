// expect: satisf(y|action of) [^ ]*stepping_model
// SPDX-License-Identifier: Apache-2.0
// A metered sampling-only model has no stepping API: calling begin() names the missing capability.
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/archetypes.hpp>

int main() {
  reckon::metered m{reckon::archetypes::sampling_model{}};
  auto seq = m.begin(reckon::problem{});
  return seq ? 0 : 1;
}
