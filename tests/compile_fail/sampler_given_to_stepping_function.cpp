// expect: satisf(y|action of) [^ ]*stepping_model
// SPDX-License-Identifier: Apache-2.0
// A function that needs stepping, handed a sampling-only model: the error names stepping_model.
#include <reckon/concepts/archetypes.hpp>
#include <reckon/concepts/stepping_model.hpp>

#include <cstdint>
#include <vector>

namespace {
/// Takes one step from a fresh sequence: the least a stepping strategy does.
template <reckon::stepping_model M>
bool one_step(M& model) {
  auto seq = model.begin(reckon::problem{});
  if (!seq) return false;
  const std::vector<typename M::sequence> seqs{*seq};
  const std::vector<std::uint64_t> seeds{0};
  return model.extend(seqs, reckon::step_params{}, seeds).has_value();
}
} // namespace

int main() {
  reckon::archetypes::sampling_model sampler;
  return one_step(sampler) ? 0 : 1;
}
