// SPDX-License-Identifier: Apache-2.0
// Tests of budgets: each limit, which one stops a run, composition, bad input.
#include <reckon/budget/budget.hpp>

#include <support/catch.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <limits>

using reckon::budget;
using reckon::ledger;
using reckon::stop_reason;

TEST_CASE("an unlimited budget never stops", "[budget]") {
  budget b;
  ledger l;
  l.generated_tokens = 1'000'000'000;
  l.wall_seconds = 1e9;
  CHECK(b.is_unlimited());
  CHECK_FALSE(b.check(l).has_value());
}

TEST_CASE("each limit names itself when reached", "[budget]") {
  const auto now = budget::clock::now();
  ledger l;
  l.generated_tokens = 10;
  l.prefilled_tokens = 5;
  l.engine_calls = 2;
  l.prm_calls = 3;
  l.prm_tokens = 40;
  l.wall_seconds = 1.5;

  budget b;
  b.max_generated_tokens = 10;
  CHECK(b.check(l, now) == stop_reason::generated_tokens);
  b.max_generated_tokens = 11; // not reached: 10 < 11
  CHECK_FALSE(b.check(l, now).has_value());

  budget t;
  t.max_total_tokens = 15;
  CHECK(t.check(l, now) == stop_reason::total_tokens);
  budget c;
  c.max_engine_calls = 2;
  CHECK(c.check(l, now) == stop_reason::engine_calls);
  budget p;
  p.max_prm_calls = 3;
  CHECK(p.check(l, now) == stop_reason::prm_calls);
  budget pt;
  pt.max_prm_tokens = 40;
  CHECK(pt.check(l, now) == stop_reason::prm_tokens);
  budget w;
  w.max_wall_seconds = 1.0;
  CHECK(w.check(l, now) == stop_reason::wall_time);
  budget d;
  d.deadline = now;
  CHECK(d.check(l, now) == stop_reason::deadline);
  CHECK_FALSE(d.check(l, now - std::chrono::seconds(1)).has_value());
  CHECK(fmt::format("{}", stop_reason::prm_tokens) == "prm_tokens");
}

TEST_CASE("a zero limit stops before the first call", "[budget]") {
  budget b;
  b.max_engine_calls = 0;
  CHECK(b.check(ledger{}) == stop_reason::engine_calls);
}

TEST_CASE("the first limit in stop_reason order is reported", "[budget]") {
  budget b;
  b.max_engine_calls = 1;
  b.max_generated_tokens = 1;
  ledger l;
  l.engine_calls = 5;
  l.generated_tokens = 5;
  CHECK(b.check(l) == stop_reason::generated_tokens);
}

TEST_CASE("budgets compose: a & b is the tighter of both", "[budget]") {
  budget a;
  a.max_generated_tokens = 100;
  a.max_engine_calls = 10;
  budget b;
  b.max_generated_tokens = 50;
  b.max_wall_seconds = 2.0;
  b.deadline = budget::clock::now() + std::chrono::hours(1);
  const budget both = a & b;
  CHECK(both.max_generated_tokens == 50);
  CHECK(both.max_engine_calls == 10);
  CHECK(both.max_wall_seconds == 2.0);
  CHECK(both.deadline == b.deadline);
  CHECK(both.max_prm_calls == budget::unlimited);
  const budget sooner = both & budget::deadline_in(std::chrono::seconds(0));
  CHECK(sooner.deadline < b.deadline);
  CHECK(sooner.check(ledger{}) == stop_reason::deadline);
}

TEST_CASE("generated_tokens_left honours both token limits", "[budget]") {
  budget b;
  b.max_generated_tokens = 100;
  b.max_total_tokens = 120;
  ledger l;
  l.generated_tokens = 30;
  l.prefilled_tokens = 60;
  CHECK(b.generated_tokens_left(l) == 30);
  l.generated_tokens = 200;
  CHECK(b.generated_tokens_left(l) == 0);
  CHECK(budget{}.generated_tokens_left(l) == budget::unlimited - l.total_tokens());
}

TEST_CASE("a NaN or negative wall limit is rejected", "[budget][errors]") {
  budget b;
  b.max_wall_seconds = std::nan("");
  CHECK_THROWS_AS(b.check(ledger{}), reckon::exception);
  b.max_wall_seconds = -1.0;
  CHECK_THROWS_AS(b.check(ledger{}), reckon::exception);
}

TEST_CASE("check_reward_call looks only at what a reward-model call spends", "[budget]") {
  reckon::ledger spent;
  spent.generated_tokens = 100;
  spent.prefilled_tokens = 50;
  spent.engine_calls = 6;
  const reckon::budget tokens_and_calls{.max_generated_tokens = 100, .max_total_tokens = 150, .max_engine_calls = 6};
  CHECK(tokens_and_calls.check(spent).has_value());
  CHECK_FALSE(tokens_and_calls.check_reward_call(spent).has_value()); // the step is paid for: score it
  spent.prm_calls = 3;
  CHECK(reckon::budget{.max_prm_calls = 3}.check_reward_call(spent) == reckon::stop_reason::prm_calls);
  spent.prm_tokens = 10;
  CHECK(reckon::budget{.max_prm_tokens = 10}.check_reward_call(spent) == reckon::stop_reason::prm_tokens);
  spent.wall_seconds = 2.0;
  CHECK(reckon::budget{.max_wall_seconds = 1.0}.check_reward_call(spent) == reckon::stop_reason::wall_time);
  const auto past = reckon::budget::clock::now() - std::chrono::seconds(1);
  CHECK(reckon::budget{.deadline = past}.check_reward_call(spent) == reckon::stop_reason::deadline);
  CHECK_THROWS_AS(reckon::budget{.max_wall_seconds = std::nan("")}.check_reward_call(spent), reckon::exception);
}
