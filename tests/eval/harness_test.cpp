// SPDX-License-Identifier: Apache-2.0
// Tests of the evaluation harness: hand-computed replay results, determinism across thread counts.
#include <reckon/eval/harness.hpp>
#include <reckon/eval/strategies.hpp>

#include <support/catch.hpp>

#include <fmt/format.h>

#include <memory>
#include <stdexcept>
#include <string>

using namespace reckon;
using namespace reckon::eval;

namespace {
std::shared_ptr<const testing::replay_data> fixture() {
  return std::make_shared<const testing::replay_data>(
      testing::load_replay(RECKON_TEST_DATA_DIR "/replay/small.jsonl").value());
}

result_row replay_row(const std::string& strategy, bool extract = false, std::uint32_t n = 5) {
  replay_run_params p;
  p.strategy = strategy;
  p.n = n;
  p.trials = 3;
  p.seed = 17;
  p.threads = 2;
  p.extract = extract;
  return run_replay(fixture(), default_registry(), p).value();
}
} // namespace

TEST_CASE("replay reproduces hand-computed majority@5 and best-of-5 on the fixture", "[eval][replay]") {
  // p1 answers {42, 41, 41, 42 (from text), 42} -> 42 right; p2 {7, 8, 8, 7, 8} -> 8 wrong.
  const auto maj = replay_row("majority");
  CHECK(maj.accuracy == 0.5);
  CHECK(maj.problems == 6);
  CHECK(maj.budget == 5);
  CHECK(maj.budget_is_n);
  CHECK(maj.tokens_mean == 42.5); // (50 + 35) / 2
  CHECK(maj.calls_mean == 1.0);
  CHECK(maj.prm_calls_mean == 0.0);
  // ORM argmax: p1 0.95 -> 41, p2 0.6 -> 8: both wrong.
  CHECK(replay_row("best-of-n:orm").accuracy == 0.0);
  // PRM last / min / prod / mean all pick 42 on p1 and 7 (0.9) on p2.
  for (const char* name : {"best-of-n:prm-last", "best-of-n:prm-min", "best-of-n:prm-prod", "best-of-n:prm-mean"}) {
    INFO(name);
    const auto row = replay_row(name);
    CHECK(row.accuracy == 1.0);
    CHECK(row.prm_calls_mean == 1.0);
  }
  // ORM-weighted vote: p1 42 (1.5) beats 41 (1.25); p2 8 (1.3) beats 7 (0.75).
  CHECK(replay_row("weighted-majority").accuracy == 0.5);
  // --extract: only p1's text-only sample answers (42); p2 has no texts, so no answer.
  const auto ext = replay_row("majority", true);
  CHECK(ext.accuracy == 0.5);
  CHECK(ext.answered == 3);
}

TEST_CASE("replay at n = 1 averages the pool's accuracy over trials", "[eval][replay]") {
  replay_run_params p;
  p.strategy = "majority";
  p.n = 1;
  p.trials = 400;
  p.seed = 5;
  const auto row = run_replay(fixture(), default_registry(), p).value();
  // Expected (3/5 + 2/5) / 2 = 0.5; 800 draws: SE 0.018, tolerance 0.06.
  CHECK(row.accuracy == Approx(0.5).margin(0.06));
  CHECK(row.problems == 800);
}

TEST_CASE("replay rejects bad requests clearly", "[eval][replay]") {
  replay_run_params p;
  p.strategy = "majority";
  p.n = 6;
  auto r = run_replay(fixture(), default_registry(), p);
  REQUIRE(!r);
  CHECK(r.error().message == "problem 'p1' (line 1) has 5 samples, fewer than n = 6");
  p.n = 0;
  CHECK(!run_replay(fixture(), default_registry(), p));
  p.n = 1;
  p.trials = 0;
  CHECK(!run_replay(fixture(), default_registry(), p));
  p.trials = 1;
  p.strategy = "nope";
  CHECK(run_replay(fixture(), default_registry(), p).error().message == "unknown strategy 'nope'");
  CHECK(!run_replay(nullptr, default_registry(), p));
}

TEST_CASE("regression #14.7: a recording with raw reward-model logits replays: argmax on the raw score, sigmoid weights",
          "[eval][replay]") {
  // The file's rewards run from -3 to 6.1; replay used to reject it ("expected a number in [0, 1]").
  const auto data = testing::load_replay(RECKON_TEST_DATA_DIR "/replay/logit_rewards.jsonl");
  REQUIRE(data.has_value());
  CHECK(data->scale == testing::reward_scale::logit);
  const auto shared = std::make_shared<const testing::replay_data>(*data);
  replay_run_params p;
  p.n = 4;
  p.trials = 2;
  p.strategy = "best-of-n:orm";
  // p1: the largest raw score, 4.0, is a wrong "2"; p2: 6.1 is the right "7".
  CHECK(run_replay(shared, default_registry(), p).value().accuracy == 0.5);
  // p1: "1" weighs 2 sigmoid(0.5) = 1.245 against "2"'s sigmoid(4) + sigmoid(-3) = 1.029 (raw
  // scores with negatives clamped would give "2" 4 against 1); p2: "7" 1.267 against 0.195.
  p.strategy = "weighted-majority";
  CHECK(run_replay(shared, default_registry(), p).value().accuracy == 1.0);
  const auto forced = testing::load_replay(RECKON_TEST_DATA_DIR "/replay/logit_rewards.jsonl",
                                           testing::replay_params{false, testing::reward_scale::prob});
  REQUIRE(!forced);
  CHECK(forced.error().message.find("line 1, samples[2].reward: expected a number in [0, 1]") != std::string::npos);
}

TEST_CASE("regression #14.7: DeepConf offline and online run on a recording with token_confidences", "[eval][replay]") {
  // Two problems of 24 recorded 3000-token traces: 16 confident (C = 2) with the gold answer, 8
  // whose confidence drops to 0.5 after token 1000, answering wrong. Whatever the draw, at least 8
  // of the 16 warm-up traces are confident, so the 90th percentile is 2 and only confident traces
  // vote: online stops by consensus after the warm-up (16 traces paid), offline keeps the top 10%.
  std::string text;
  for (const char* id : {"a", "b"}) {
    text += fmt::format(R"({{"id": "{}", "gold": "5", "samples": [)", id);
    for (int i = 0; i < 24; ++i) {
      const bool good = i < 16;
      text += fmt::format(R"({}{{"answer": "{}", "token_confidences": [)", i ? ", " : "", good ? "5" : "6");
      for (int t = 0; t < 3000; ++t) text += (t ? "," : "") + std::string(good || t < 1000 ? "2" : "0.5");
      text += "]}";
    }
    text += "]}\n";
  }
  const auto data = std::make_shared<const testing::replay_data>(testing::parse_replay(text).value());
  replay_run_params p;
  p.n = 24;
  p.trials = 2;
  p.strategy = "deepconf-offline";
  const auto offline = run_replay(data, default_registry(), p).value();
  CHECK(offline.errors == 0); // it was an error on every run: recordings had no top-k logprobs
  CHECK(offline.accuracy == 1.0);
  CHECK(offline.tokens_mean == 72000.0);
  p.strategy = "deepconf-online";
  const auto online = run_replay(data, default_registry(), p).value();
  INFO(online.first_error);
  CHECK(online.errors == 0);
  CHECK(online.accuracy == 1.0);
  CHECK(online.tokens_mean == 48000.0); // counted through the stepper's ledger (side costs)
}

TEST_CASE("the grid is identical for any thread count", "[eval][grid]") {
  const auto suite = testing::make_suite("mixed", 3, 40).value();
  grid_params g;
  g.strategies = {"majority", "best-of-n:prm-last", "weighted-majority"};
  g.budgets = {1, 4};
  g.seed = 9;
  g.threads = 1;
  const auto one = run_grid(suite, default_registry(), g).value();
  g.threads = 3;
  std::size_t ticks = 0, last_total = 0;
  g.progress = [&](std::size_t done, std::size_t total) {
    ticks = done;
    last_total = total;
  };
  const auto three = run_grid(suite, default_registry(), g).value();
  REQUIRE(one.size() == 6);
  CHECK(one == three);
  CHECK(ticks == 240);
  CHECK(last_total == 240);
  CHECK(one[0].strategy == "majority");
  CHECK(one[1].budget == 4);
  CHECK(!one[0].budget_is_n);
  CHECK(one[0].calls_mean == 1.0);
  CHECK(one[2].prm_calls_mean == 1.0);
  CHECK(one[1].tokens_mean > one[0].tokens_mean);
  for (const auto& r : one) {
    CHECK(r.errors == 0);
    CHECK(r.ci_low <= r.accuracy);
    CHECK(r.accuracy <= r.ci_high);
  }
}

TEST_CASE("majority at n = 1 matches the model's stated accuracy", "[eval][grid]") {
  const auto suite = testing::make_suite("mixed").value();
  grid_params g;
  g.strategies = {"majority"};
  g.budgets = {1};
  g.seed = 4;
  const auto row = run_grid(suite, default_registry(), g).value()[0];
  testing::synthetic_model m(suite);
  double expected = 0.0;
  for (const auto& q : suite.problems) expected += m.sample_accuracy(q) / 300.0;
  // 300 Bernoulli draws: SE <= 0.029; tolerance 0.09 (3 SE).
  CHECK(row.accuracy == Approx(expected).margin(0.09));
  CHECK(row.problems == 300);
}

TEST_CASE("the grid rejects bad requests clearly", "[eval][grid]") {
  const auto suite = testing::make_suite("easy", 1, 5).value();
  grid_params g;
  g.budgets = {1};
  CHECK(run_grid(suite, default_registry(), g).error().message == "no strategies given");
  g.strategies = {"majority", "bogus"};
  CHECK(run_grid(suite, default_registry(), g).error().message == "unknown strategy 'bogus'");
  g.strategies = {"majority"};
  g.budgets = {};
  CHECK(!run_grid(suite, default_registry(), g));
  g.budgets = {0};
  CHECK(!run_grid(suite, default_registry(), g));
  g.budgets = {2};
  g.model.step_error_min = -1;
  CHECK(run_grid(suite, default_registry(), g).error().code == errc::invalid_argument);
}

TEST_CASE("wilson95 and parallel_for", "[eval]") {
  const auto [lo, hi] = wilson95(5, 10);
  CHECK(lo == Approx(0.2366).margin(1e-4));
  CHECK(hi == Approx(0.7634).margin(1e-4));
  CHECK(wilson95(0, 10).first == 0.0);
  CHECK_THROWS_AS(wilson95(1, 0), reckon::exception);
  std::vector<int> hits(100, 0);
  parallel_for(100, 4, [&](std::size_t i) { hits[i] += 1; });
  CHECK(std::count(hits.begin(), hits.end(), 1) == 100);
  CHECK_THROWS_AS(parallel_for(10, 2, [](std::size_t i) {
                    if (i == 3) throw std::runtime_error("boom");
                  }),
                  std::runtime_error);
}

TEST_CASE("a run that fails counts as wrong and is reported", "[eval][grid]") {
  strategy_registry r;
  r.add("broken", "always fails",
        []<class M>(M&, const problem&, const run_config&) -> result<run_outcome>
          requires sampling_model<M>
        { return fail(errc::engine_failure, "no engine"); });
  r.add("thrower", "always throws",
        []<class M>(M&, const problem&, const run_config&) -> result<run_outcome>
          requires sampling_model<M>
        { throw std::runtime_error("kaboom"); });
  grid_params g;
  g.strategies = {"broken", "thrower"};
  g.budgets = {1};
  const auto rows = run_grid(testing::make_suite("easy", 1, 4).value(), r, g).value();
  CHECK(rows[0].errors == 4);
  CHECK(rows[0].accuracy == 0.0);
  CHECK(rows[0].first_error == "engine_failure: no engine");
  CHECK(rows[1].first_error == "engine_failure: strategy threw: kaboom");
}
