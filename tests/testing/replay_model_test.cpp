// SPDX-License-Identifier: Apache-2.0
// Tests of the replay model: parsing (errors name line and field), drawing without replacement, rewards.
#include <reckon/strategy/deepconf.hpp>
#include <reckon/testing/replay_model.hpp>

#include <support/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
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
            .find("line 1, samples[1].reward: expected a finite number") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": 1, \"samples\": [{}]}").find("line 1, gold") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{\"step_rewards\": [0.5, \"x\"]}]}")
            .find("samples[0].step_rewards[1]: expected a finite number") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{\"text\": \"one step\", \"step_rewards\": [0.5, 0.6]}]}")
            .find("2 rewards but the text has 1 steps") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{\"tokens\": -1}]}").find("samples[0].tokens") !=
        std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\" \"samples\": []}").find("line 1, column 33: syntax error") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{\"reward\": 1e999}]}").find("line 1: number overflow") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{\"token_confidences\": [1, -0.5]}]}")
            .find("line 1, samples[0].token_confidences[1]") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{\"tokens\": 3, \"token_confidences\": [1, 2]}]}")
            .find("line 1, samples[0].token_confidences: 2 values for 3 tokens") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{\"token_logprobs\": [-1], \"token_confidences\": [1, 2]}]}")
            .find("line 1, samples[0].token_confidences: 2 values but token_logprobs has 1") != std::string::npos);
  CHECK(error_of("[1, 2]").find("line 1: expected an object") != std::string::npos);
  CHECK(error_of("{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{}]}\n{\"id\": \"a\", \"gold\": \"1\", \"samples\": [{}]}")
            .find("already appeared on line 1") != std::string::npos);
  CHECK(error_of("").find("no usable problem") != std::string::npos);
  const auto bad = load_replay(data_dir + "bad_reward.jsonl");
  REQUIRE(!bad);
  CHECK(bad.error().message.find("line 2, samples[0].reward: expected a finite number") != std::string::npos);
  CHECK(load_replay(data_dir + "no_such_file.jsonl").error().message.find("cannot open") != std::string::npos);
  // regression #19.5: a directory is named as one, not read as an empty recording.
  CHECK(load_replay(data_dir).error().message.find("it is a directory") != std::string::npos);
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

TEST_CASE("regression #14.7: unbounded reward-model scores replay as recorded, on a stated scale", "[testing][replay]") {
  // Qwen2.5-Math-RM scores are raw logits; this line was rejected ("expected a number in [0, 1]").
  const std::string line = R"({"id": "q", "gold": "1", "samples": [{"answer": "1", "reward": -4.3}, )"
                           R"({"answer": "2", "reward": 6.1}, {"answer": "1", "reward": 0.5, "step_rewards": [-1, 2]}]})";
  auto data = parse_replay(line);
  REQUIRE(data.has_value());
  CHECK(data->scale == reward_scale::logit); // the per-file default: a reward outside [0, 1]
  CHECK(data->problems[0].samples[1].reward.value() == 6.1); // the raw value is kept
  auto shared = std::make_shared<const replay_data>(*data);
  replay_model m(shared, 0);
  const problem p = shared->problems[0].as_problem();
  std::vector<double> served;
  for (std::uint64_t k = 0; k < 3; ++k) {
    const std::string steps[2] = {"a", "b"};
    const solution_view v{std::span<const std::string>(steps, k == 2 ? 2 : 1), true, k};
    served.push_back(m.score_outcomes(p, std::span(&v, 1)).value()[0]);
    if (k == 2) {
      const auto s = m.score_steps(p, std::span(&v, 1)).value()[0];
      CHECK(s[0] == Approx(1.0 / (1.0 + std::exp(1.0))).epsilon(1e-12));
      CHECK(s[1] == Approx(1.0 / (1.0 + std::exp(-2.0))).epsilon(1e-12));
    }
  }
  CHECK(served[0] == Approx(1.0 / (1.0 + std::exp(4.3))).epsilon(1e-12));
  CHECK(served[1] == Approx(1.0 / (1.0 + std::exp(-6.1))).epsilon(1e-12));
  CHECK(served[2] == Approx(1.0 / (1.0 + std::exp(-0.5))).epsilon(1e-12));
  // The map keeps the order of the raw values, so argmax selection is unchanged.
  CHECK(std::max_element(served.begin(), served.end()) - served.begin() == 1);
  // Forced prob: the first reward outside [0, 1] is an error naming its line and field.
  const auto forced = parse_replay("\n" + line, replay_params{false, reward_scale::prob});
  REQUIRE(!forced);
  CHECK(forced.error().message == "line 2, samples[0].reward: expected a number in [0, 1] (reward scale 'prob')");
  // A probability file stays on prob by default and is served as is; forced logit maps it.
  const std::string probs = R"({"id": "q", "gold": "1", "samples": [{"answer": "1", "reward": 0.25}]})";
  CHECK(parse_replay(probs).value().scale == reward_scale::prob);
  CHECK(parse_replay(probs).value().served_reward(0.25) == 0.25);
  const auto as_logit = parse_replay(probs, replay_params{false, reward_scale::logit}).value();
  CHECK(as_logit.scale == reward_scale::logit);
  CHECK(as_logit.served_reward(0.25) == Approx(1.0 / (1.0 + std::exp(-0.25))).epsilon(1e-12));
  CHECK(as_logit.served_reward(-800.0) >= 0.0); // no overflow at either end
  CHECK(as_logit.served_reward(800.0) == 1.0);
}

namespace {
// One problem whose samples are 20-token traces: `good` ones at confidence 1 throughout, the rest
// at 1 for 8 tokens and 0.2 after, each with its answer.
std::string confidence_line(const std::vector<std::pair<bool, std::string>>& traces) {
  std::string line = R"({"id": "c", "gold": "1", "samples": [)";
  for (std::size_t i = 0; i < traces.size(); ++i) {
    line += (i ? ", " : "") + std::string(R"({"answer": ")") + traces[i].second + R"(", "text": "abcdefghij", "token_confidences": [)";
    for (int t = 0; t < 20; ++t) line += (t ? "," : "") + std::string(traces[i].first || t < 8 ? "1" : "0.2");
    line += "]}";
  }
  return line + "]}";
}
} // namespace

TEST_CASE("regression #14.7: token_confidences are served to DeepConf as token_stats::confidence", "[testing][replay]") {
  auto data = std::make_shared<const replay_data>(
      parse_replay(confidence_line({{true, "1"}, {true, "1"}, {false, "3"}, {false, "3"}})).value());
  CHECK(data->problems[0].samples[0].tokens == 20); // from token_confidences
  replay_model m(data, 5);
  const problem p = data->problems[0].as_problem();
  sampling_params sp;
  CHECK(m.sample(p, sp, 1).value().completions[0].stats.confidence.empty()); // not asked for
  sp.stats.top_k = 20;
  CHECK(m.sample(p, sp, 1).value().completions[0].stats.confidence.size() == 20);
  // Offline DeepConf on the recording (it used to need top-k rows, which a recording lacks): the
  // low-confidence traces are filtered out, the confident answer wins, every token paid for.
  m.reset(5);
  deepconf_params dp;
  dp.n = 4;
  dp.window = 4;
  dp.eta = 50;
  const deepconf_offline_strategy offline(dp);
  const auto r = offline.run(m, p, budget{}, random_stream(stream_key{1, p.id, 0, 0}));
  REQUIRE(r.has_value());
  CHECK(r->answer.value() == "1");
  CHECK(r->cost.generated_tokens == 80);
}

TEST_CASE("regression #14.7: online DeepConf cuts a recorded trace at its first full window below the threshold",
          "[testing][replay]") {
  // Two confident warm-up traces that disagree (no consensus), then two traces that fall below
  // the threshold (1.0): the window [5, 8] is the first full one below it (mean 0.8), so each is
  // cut after 9 tokens and only those are paid: 20 + 20 + 9 + 9. As whole traces they cost 80.
  auto data = std::make_shared<const replay_data>(
      parse_replay(confidence_line({{true, "1"}, {true, "2"}, {false, "3"}, {false, "3"}})).value());
  const problem p = data->problems[0].as_problem();
  std::uint64_t seed = 0;
  for (; seed < 64; ++seed) {
    replay_model twin(data, seed);
    const auto order = twin.draw(p, 4).value();
    if (order[0] < 2 && order[1] < 2) break; // the warm-up draws the confident traces
  }
  REQUIRE(seed < 64);
  deepconf_params dp;
  dp.n = 4;
  dp.n_init = 2;
  dp.window = 4;
  dp.eta = 100;
  dp.max_step_tokens = 1;
  const deepconf_online_strategy online(dp);
  replay_model m(data, seed);
  replay_stepper stepper(m);
  const auto r = online.run(stepper, p, budget{}, random_stream(stream_key{1, p.id, 0, 0}));
  REQUIRE(r.has_value());
  CHECK(r->cost.generated_tokens == 58);
  CHECK(r->samples == 4);
  bool cut = false;
  for (const auto& e : r->trace) cut |= e.what.find("2 traces, 2 cut below the threshold (2 stopped early)") != std::string::npos;
  CHECK(cut);
  CHECK(r->answer != std::optional<std::string>("3")); // cut traces do not vote
}

TEST_CASE("replay_stepper hands out a recorded trace a step at a time", "[testing][replay]") {
  auto data = std::make_shared<const replay_data>(parse_replay(confidence_line({{false, "3"}})).value());
  const problem p = data->problems[0].as_problem();
  replay_model m(data, 0);
  replay_stepper s(m);
  const auto q = s.begin(p).value();
  CHECK(s.begin(p).error().code == errc::no_capacity); // the pool's one sample is drawn
  CHECK(s.fork(q).error().code == errc::unsupported);
  step_params sp;
  sp.max_step_tokens = 8;
  sp.stats.top_k = 20;
  const std::uint64_t seed = 0;
  std::string text;
  std::vector<float> conf;
  std::uint64_t tokens = 0, calls = 0;
  bool done = false;
  while (!done) {
    auto b = s.extend(std::span(&q, 1), sp, std::span(&seed, 1)).value();
    REQUIRE(b.steps.size() == 1);
    text += b.steps[0].text;
    conf.insert(conf.end(), b.steps[0].stats.confidence.begin(), b.steps[0].stats.confidence.end());
    CHECK(b.steps[0].tokens <= 8);
    CHECK(b.steps[0].source == 0);
    tokens += b.usage.generated_tokens;
    calls += b.usage.engine_calls;
    done = b.steps[0].done;
  }
  CHECK(text == "abcdefghij"); // the slices join to the recorded text
  CHECK(conf == data->problems[0].samples[0].token_confidences);
  CHECK(tokens == 20);
  CHECK(calls == 1);
  s.release(q);
  CHECK(s.extend(std::span(&q, 1), sp, std::span(&seed, 1)).error().code == errc::invalid_argument);
}
