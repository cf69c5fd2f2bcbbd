// SPDX-License-Identifier: Apache-2.0
// Tests of the conformance checks: reckon's own models pass; broken models are caught.
#include <reckon/concepts/archetypes.hpp>
#include <reckon/testing/conformance.hpp>
#include <reckon/testing/replay_model.hpp>
#include <reckon/testing/synthetic_model.hpp>

#include <support/catch.hpp>

using namespace reckon;
using namespace reckon::testing;

namespace {
// Returns one completion too few, and ignores n = 0.
struct short_sampler {
  using reckon_model_concept = sampling_model_tag;
  result<sample_batch> sample(const problem&, const sampling_params&, std::uint32_t n) {
    sample_batch b;
    b.completions.resize(n > 0 ? n - 1 : 0);
    b.usage.engine_calls = 1;
    return b;
  }
};
// Scores outside [0, 1] with the wrong shape.
struct wild_prm {
  using reckon_model_concept = process_reward_model_tag;
  result<std::vector<std::vector<double>>> score_steps(const problem&, std::span<const solution_view> c) {
    return std::vector<std::vector<double>>(c.size(), std::vector<double>{1.5});
  }
};
} // namespace

TEST_CASE("the synthetic and replay models conform", "[testing][conformance]") {
  synthetic_model m(make_suite("mixed", 1, 10).value());
  const problem p = m.problems().problems[9].as_problem();
  CHECK(check_sampling(m, p).to_string() == "");
  CHECK(check_stepping(m, p).to_string() == "");
  auto c = m.generate(m.problems().problems[9], 1);
  const std::vector<std::string> steps{c.text};
  const solution_view view{steps, true, 0};
  CHECK(check_process_reward(m, p, std::span(&view, 1)).ok());
  CHECK(check_outcome_reward(m, p, std::span(&view, 1)).ok());
  CHECK(m.live_sequences() == 0);

  auto data = std::make_shared<const replay_data>(load_replay(RECKON_TEST_DATA_DIR "/replay/small.jsonl").value());
  replay_model r(data, 1);
  // Replay draws without replacement: the same seed does not give the same texts.
  auto report = check_sampling(r, data->problems[0].as_problem(), 2, false);
  CHECK(report.failures.empty());
}

TEST_CASE("conformance checks catch broken adapters", "[testing][conformance]") {
  short_sampler s;
  const auto report = check_sampling(s, problem{1, "x"}, 3);
  REQUIRE(!report.ok());
  CHECK(report.failures[0] == "sample(n = 3) returned 2 completions");
  CHECK(report.to_string().find("n = 0") != std::string::npos);
  wild_prm w;
  const std::string two[2] = {"a", "b"};
  const solution_view view{two, true, 0};
  const auto prm = check_process_reward(w, problem{1, "x"}, std::span(&view, 1));
  REQUIRE(prm.failures.size() == 2);
  CHECK(prm.failures[0] == "candidate 0: 1 scores for 2 steps");
  // The archetype's fork is a fresh sequence whose every step is final: nothing to fork, passes.
  archetypes::stepping_model a;
  CHECK(check_stepping(a, problem{1, "x"}).ok());
}
