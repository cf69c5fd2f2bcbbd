// SPDX-License-Identifier: Apache-2.0
// README's quick start, built and run in CI so that it stays true.
#include <reckon/reckon.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <fmt/format.h>

int main() {
  // The embedded synthetic reasoning model: it samples, steps, forks and is its own PRM.
  const auto suite = reckon::testing::make_suite("hard").value();
  reckon::testing::synthetic_model model(suite);
  const reckon::problem problem = suite.problems[7].as_problem();
  const reckon::random_stream stream(reckon::stream_key{.seed = 7, .problem = problem.id});
  const reckon::budget limit{.max_generated_tokens = 20'000};

  const reckon::self_consistency majority(reckon::self_consistency_params{.n = 16});
  const reckon::particle_filter filter(reckon::particle_filter_params{.n = 16});
  for (const auto& run : {majority.run(model, problem, limit, stream), filter.run(model, model, problem, limit, stream)}) {
    if (!run) return fmt::print("error: {}\n", run.error()), 1;
    fmt::print("answer {} (confidence {:.2f}, gold {}): {}\n", run->answer.value_or("none"), run->confidence,
               suite.problems[7].gold, run->cost);
  }
}
