// SPDX-License-Identifier: Apache-2.0
// The demo: a placeholder until the synthetic benchmark lands. It shows reckon's keyed random
// streams: the same (seed, problem, particle, step) gives the same draws in any order.
#include <reckon/reckon.hpp>

#include <fmt/format.h>

int main() {
  fmt::print("reckon {} demo\n", reckon::version_string);
  const reckon::problem problem{.id = reckon::stable_id("demo-problem"), .prompt = "What is 6 * 7?"};
  for (std::uint32_t particle = 0; particle < 4; ++particle) {
    reckon::random_stream stream(reckon::stream_key{.seed = 2026, .problem = problem.id, .particle = particle});
    fmt::print("particle {}: u = {:.6f}, engine seed = {:#018x}\n", particle, reckon::uniform01(stream),
               reckon::request_seed(stream));
  }
  return 0;
}
