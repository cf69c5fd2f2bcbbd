// SPDX-License-Identifier: Apache-2.0
// Self-consistency with adaptive stopping: the same accuracy as a fixed n for fewer samples.
#include <reckon/format.hpp>
#include <reckon/strategy/self_consistency.hpp>
#include <reckon/testing/synthetic_model.hpp>

#include <fmt/format.h>

int main() {
  const auto suite = reckon::testing::make_suite("easy", reckon::testing::default_suite_seed, 100).value();
  reckon::testing::synthetic_model model(suite);

  // Fixed n = 32 asks for everything in one batched call; the adaptive variants sample in rounds
  // and stop once the vote is settled.
  const reckon::self_consistency fixed({.n = 32});
  const reckon::adaptive_self_consistency posterior({.n = 32}); // stop when P(leader is the mode) >= 0.95
  const reckon::esc_self_consistency window({.n = 32}, reckon::stop_window{.window = 5}); // a unanimous window

  auto evaluate = [&](const char* name, const auto& strategy) {
    int correct = 0;
    std::uint64_t tokens = 0, samples = 0;
    for (const auto& q : suite.problems) {
      const reckon::problem p = q.as_problem();
      auto r = strategy.run(model, p, reckon::budget{}, reckon::random_stream({.seed = 1, .problem = p.id}));
      if (!r) {
        fmt::print("{}: {}\n", name, r.error());
        return false;
      }
      correct += r->answer == q.gold;
      tokens += r->cost.generated_tokens;
      samples += r->samples;
    }
    const double n = static_cast<double>(suite.problems.size());
    fmt::print("{:<10} accuracy {:.2f}  samples/problem {:5.1f}  tokens/problem {:6.0f}\n", name, correct / n,
               samples / n, tokens / n);
    return true;
  };
  if (!evaluate("fixed", fixed) || !evaluate("posterior", posterior) || !evaluate("esc", window)) return 1;

  // One run in detail: the trace says what the strategy did and why it stopped.
  const reckon::problem p = suite.problems[0].as_problem();
  auto r = posterior.run(model, p, reckon::budget{}, reckon::random_stream({.seed = 1, .problem = p.id}));
  if (!r) return 1;
  for (const auto& e : r->trace) fmt::print("  round {}: {}\n", e.round, e.what);
  fmt::print("  answer {} with confidence {:.2f}; {}\n", r->answer.value_or("none"), r->confidence, r->cost);
  return 0;
}
