// SPDX-License-Identifier: Apache-2.0
// Tests of the replay model: parsing (errors name line and field), drawing without replacement, rewards.
#include <reckon/testing/replay_model.hpp>

#include <support/catch.hpp>

#include <algorithm>
#include <set>
#include <string>

using namespace reckon;
using namespace reckon::testing;

namespace {
const std::string data_dir = RECKON_TEST_DATA_DIR "/replay/";

std::string error_of(std::string_view text) {
  auto r = parse_replay(text);
  REQUIRE(!r);
  CHECK(r.error().code == errc::invalid_argument);
  return r.error().message;
}
} // namespace

TEST_CASE("the replay fixture loads", "[testing][replay]") {
  auto data = load_replay(data_dir + "small.jsonl");
  REQUIRE(data.has_value());
  REQUIRE(data->problems.size() == 2);
  const auto& p1 = data->problems[0];
  CHECK(p1.id == "p1");
  CHECK(p1.gold == "42");
  CHECK(p1.line == 1);
  CHECK(data->problems[1].line == 3); // the blank line counts
  REQUIRE(p1.samples.size() == 5);
  CHECK(p1.samples[3].text.value() == "First.\n\nSo \\boxed{42}.");
  CHECK(!p1.samples[3].answer);
  CHECK(p1.samples[0].text.value() == "(recorded step)\n\n(recorded step)"); // placeholder steps, one per reward
  CHECK(data->problems[1].samples[0].tokens == 5);               // from token_logprobs
  CHECK(p1.key == stable_id("p1"));
}

TEST_CASE("replay parse errors name the line and the field", "[testing][replay]") {
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{\"answer\": \"1\"}]}\n{\"id\": 3}")
            .find("line 2, id") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{\"answer\": \"1\"}, {\"reward\": \"high\"}]}")
            .find("line 1, samples[1].reward") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": 1, \"samples\": [{}]}").find("line 1, gold") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{\"step_rewards\": [0.5, 2]}]}")
            .find("samples[0].step_rewards[1]") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{\"text\": \"one step\", \"step_rewards\": [0.5, 0.6]}]}")
            .find("2 rewards but the text has 1 steps") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{\"tokens\": -1}]}").find("samples[0].tokens") !=
        std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\" \"samples\": []}").find("line 1, column 25: expected") != std::string::npos);
  CHECK(error_of("[1, 2]").find("line 1: expected an object") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{}]}\n{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{}]}")
            .find("already appeared on line 1") != std::string::npos);
  CHECK(error_of("").find("no usable problem") != std::string::npos);
  const auto bad = load_replay(data_dir + "bad_reward.jsonl");
  REQUIRE(!bad);
  CHECK(bad.error().message.find("line 2, samples[0].reward") != std::string::npos);
  CHECK(load_replay(data_dir + "no_such_file.jsonl").error().message.find("cannot open") != std::string::npos);
}

TEST_CASE("problems without gold or samples are reported, or skipped and listed", "[testing][replay]") {
  const auto strict = load_replay(data_dir + "incomplete.jsonl");
  REQUIRE(!strict);
  CHECK(strict.error().message.find("line 2: problem 'b' has no gold") != std::string::npos);
  const auto lenient = load_replay(data_dir + "incomplete.jsonl", replay_params{true});
  REQUIRE(lenient.has_value());
  CHECK(lenient->problems.size() == 1);
  REQUIRE(lenient->skipped.size() == 2);
  CHECK(lenient->skipped[0] == "line 2: problem 'b' has no gold");
  CHECK(lenient->skipped[1] == "line 3: problem 'c' has no samples");
}

TEST_CASE("replay draws without replacement, differently per trial", "[testing][replay]") {
  auto data = std::make_shared<const replay_data>(load_replay(data_dir + "small.jsonl").value());
  const problem p1 = data->problems[0].as_problem();
  replay_model m(data, 1);
  auto a = m.sample(p1, {}, 2).value();
  auto b = m.sample(p1, {}, 3).value();
  std::set<std::uint64_t> seen;
  for (const auto& c : a.completions) seen.insert(c.source);
  for (const auto& c : b.completions) seen.insert(c.source);
  CHECK(seen.size() == 5);
  CHECK(m.sample(p1, {}, 1).error().code == errc::no_capacity);
  CHECK(a.usage.engine_calls == 1);
  // Another trial seed gives another order (for at least one of a few seeds), the same seed the same.
  bool differs = false;
  for (std::uint64_t seed = 2; seed < 8; ++seed) {
    m.reset(seed);
    differs |= m.sample(p1, {}, 5).value().completions[0].source != a.completions[0].source;
  }
  CHECK(differs);
  m.reset(1);
  CHECK(m.sample(p1, {}, 2).value().completions[1].source == a.completions[1].source);
  CHECK(m.sample(problem{1, "x"}, {}, 1).error().code == errc::invalid_argument);
  CHECK(m.sample(p1, {}, 0).error().code == errc::invalid_argument);
}

TEST_CASE("replay serves recorded rewards and statistics", "[testing][replay]") {
  auto data = std::make_shared<const replay_data>(load_replay(data_dir + "small.jsonl").value());
  replay_model m(data, 3);
  const problem p2 = data->problems[1].as_problem();
  sampling_params sp;
  sp.stats.logprobs = true;
  auto batch = m.sample(p2, sp, 5).value();
  std::uint64_t tokens = 0;
  for (const auto& c : batch.completions) {
    tokens += c.tokens;
    if (c.source == 0) CHECK(c.stats.logprob.size() == 5);
    const std::string step = "x";
    const solution_view view{std::span<const std::string>(&step, 1), true, c.source};
    CHECK(m.score_outcomes(p2, std::span(&view, 1)).value()[0] == data->problems[1].samples[c.source].reward.value());
    CHECK(m.score_steps(p2, std::span(&view, 1)).value()[0] == data->problems[1].samples[c.source].step_rewards);
  }
  CHECK(batch.usage.generated_tokens == tokens);
  CHECK(tokens == 35);
  const std::string two[2] = {"a", "b"};
  const solution_view wrong_shape{two, true, 0};
  CHECK(m.score_steps(p2, std::span(&wrong_shape, 1)).error().code == errc::invalid_argument);
  const solution_view out_of_range{two, true, 99};
  CHECK(m.score_outcomes(p2, std::span(&out_of_range, 1)).error().code == errc::invalid_argument);
}
