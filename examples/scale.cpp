// SPDX-License-Identifier: Apache-2.0
// SCALE: each step in System 1 (standard) or System 2 (deliberate) by its self-rated difficulty,
// against every step in System 1 and every step in System 2.
#include <reckon/reckon.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <fmt/format.h>

namespace {
// One chain with every step at one effort level (no ratings): the uniform baselines.
std::optional<std::string> uniform_chain(reckon::testing::synthetic_model& model, const reckon::problem& p,
                                         reckon::effort_level effort, std::uint64_t seed, std::uint64_t& tokens) {
  auto seq = model.begin(p).value();
  reckon::completion c;
  const reckon::step_params sp{.effort = effort};
  for (std::uint64_t k = 0; k < 64 && !model.is_done(seq); ++k) {
    const std::uint64_t s = seed * 1000 + k;
    auto b = model.extend(std::span(&seq, 1), sp, std::span(&s, 1)).value();
    c.text += b.steps[0].text;
    tokens += b.steps[0].tokens;
  }
  model.release(seq);
  return reckon::canonical_answer_key{}(c);
}
} // namespace

int main() {
  const auto suite = reckon::testing::make_suite("mixed").value();
  // The synthetic model's deliberate steps err and write as its slow agent (half the errors, 1.5x
  // the tokens); it rates a step at the problem's difficulty plus noise (SD 0.15), a trap it sees at 1.
  reckon::testing::synthetic_model model(suite);

  // The reference code's SCALE: every planned step rated up front, tau 0.5, the last step deliberate.
  const reckon::scale up_front(reckon::scale_params{.tau = 0.5});
  // The paper's: each step rated just before it, with the solved steps in context.
  const reckon::basic_scale<reckon::rate_in_context> in_context(reckon::scale_params{.tau = 0.5});

  int right[4] = {0, 0, 0, 0};
  std::uint64_t tokens[4] = {0, 0, 0, 0}, system2 = 0, steps = 0;
  const std::size_t n = suite.problems.size();
  for (const auto& q : suite.problems) {
    const reckon::problem p = q.as_problem();
    const reckon::random_stream stream(reckon::stream_key{.seed = 1, .problem = p.id});
    auto a = up_front.run(model, p, reckon::budget{}, stream);
    auto b = in_context.run(model, p, reckon::budget{}, stream);
    if (!a || !b) return fmt::print("scale error: {}\n", a ? b.error() : a.error()), 1;
    right[0] += a->answer == q.gold ? 1 : 0;
    right[1] += b->answer == q.gold ? 1 : 0;
    tokens[0] += a->cost.generated_tokens;
    tokens[1] += b->cost.generated_tokens;
    for (const auto& e : a->trace) {
      steps += e.what.find(" -> system ") != std::string::npos ? 1 : 0;
      system2 += e.what.find(" -> system 2") != std::string::npos ? 1 : 0;
    }
    right[2] += uniform_chain(model, p, reckon::effort_level::standard, q.id, tokens[2]) == q.gold ? 1 : 0;
    right[3] += uniform_chain(model, p, reckon::effort_level::deliberate, q.id, tokens[3]) == q.gold ? 1 : 0;
  }
  const char* names[4] = {"SCALE, rated up front", "SCALE, rated in context", "every step System 1", "every step System 2"};
  for (int s = 0; s < 4; ++s)
    fmt::print("{:<24} {:3}/{} right, {:6.1f} generated tokens a problem{}\n", names[s], right[s], n,
               static_cast<double>(tokens[s]) / n, s < 2 ? " (ratings included)" : "");
  fmt::print("up front: {} of {} steps ({:.0f}%) in System 2\n", system2, steps, 100.0 * system2 / steps);
}
