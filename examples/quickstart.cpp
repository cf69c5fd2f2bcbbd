// SPDX-License-Identifier: Apache-2.0
// README's quick start, built and run in CI so that it stays true.
#include <reckon/reckon.hpp>
#include <fmt/format.h>

int main() {
  const reckon::problem problem{.id = reckon::stable_id("gsm8k/17"), .prompt = "Janet has 3 apples..."};
  // One independent, reproducible stream per (seed, problem, particle, step).
  for (std::uint32_t particle = 0; particle < 4; ++particle) {
    reckon::random_stream stream(reckon::stream_key{.seed = 7, .problem = problem.id, .particle = particle});
    fmt::print("particle {}: engine seed {:#x}\n", particle, reckon::request_seed(stream));
  }
  // Engine-facing calls return reckon::result<T>: a value or an error with a code.
  reckon::archetypes::sampling_model model;   // the smallest conforming adapter
  auto batch = model.sample(problem, reckon::sampling_params{.max_tokens = 256}, 4);
  if (!batch) return fmt::print("{}\n", batch.error()), 1;
  fmt::print("{} completions, {}\n", batch->completions.size(), batch->usage);
}
