// SPDX-License-Identifier: Apache-2.0
// Tests of plurality and weighted votes: tallies, the tie-break policy, abstentions, bad input.
#include <reckon/aggregate/vote.hpp>

#include <support/catch.hpp>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {
using opt = std::optional<std::string>;
bool close(double a, double b) { return std::abs(a - b) <= 1e-12 * (1.0 + std::abs(b)); }
} // namespace

TEST_CASE("plurality vote counts, shares and the leader", "[aggregate][vote]") {
  const std::vector<opt> answers{"4", "5", "4", std::nullopt, "4", "5", "7"};
  const auto t = reckon::plurality_vote(answers);
  REQUIRE(t.leader() != nullptr);
  CHECK(t.winner() == "4");
  CHECK(t.votes == 6);
  CHECK(t.abstentions == 1);
  CHECK(t.total_weight == 6.0);
  REQUIRE(t.answers.size() == 3);
  CHECK(t.answers[0].answer == "4");
  CHECK(t.answers[0].count == 3);
  CHECK(close(t.answers[0].share, 0.5));
  CHECK(t.answers[0].first_seen == 0);
  CHECK(t.answers[1].answer == "5");
  CHECK(t.answers[1].count == 2);
  CHECK(t.answers[2].answer == "7");
  CHECK(t.answers[2].first_seen == 6);
  CHECK(close(t.margin(), 0.5 - 2.0 / 6.0));
  REQUIRE(t.find("5") != nullptr);
  CHECK(t.find("5")->count == 2);
  CHECK(t.find("9") == nullptr);
}

TEST_CASE("vote ties: more weight, then more votes, then first seen or smallest key", "[aggregate][vote]") {
  // Equal counts: the answer seen first wins by default; lexicographic picks "a".
  const std::vector<std::string_view> tied{"b", "a", "a", "b"};
  CHECK(reckon::plurality_vote(tied).winner() == "b");
  CHECK(reckon::plurality_vote(tied, {.tie_break = reckon::tie_break::lexicographic}).winner() == "a");
  // Lexicographic does not depend on the order votes arrive in.
  const std::vector<std::string_view> reversed{"b", "a", "a", "b"};
  CHECK(reckon::plurality_vote(std::vector<std::string_view>(reversed.rbegin(), reversed.rend()),
                               {.tie_break = reckon::tie_break::lexicographic})
            .winner() == "a");
  // Equal weight: more votes wins ("x" has two votes of 1, "y" one vote of 2).
  const std::vector<std::string> answers{"y", "x", "x"};
  const std::vector<double> weights{2.0, 1.0, 1.0};
  CHECK(reckon::weighted_vote(answers, weights).winner() == "x");
  // Larger weight beats more votes.
  const std::vector<double> heavier{2.5, 1.0, 1.0};
  CHECK(reckon::weighted_vote(answers, heavier).winner() == "y");
}

TEST_CASE("weighted vote sums weights per answer", "[aggregate][vote]") {
  const std::vector<opt> answers{"1", "2", "2", std::nullopt};
  const std::vector<double> w{0.9, 0.3, 0.4, 5.0};
  const auto t = reckon::weighted_vote(answers, w);
  CHECK(t.winner() == "1");
  CHECK(close(t.total_weight, 1.6)); // the abstention's weight is not counted
  CHECK(close(t.answers[1].weight, 0.7));
  CHECK(close(t.answers[1].share, 0.7 / 1.6));
  CHECK(t.abstentions == 1);
}

TEST_CASE("weighted_vote_by takes any key and weight functors", "[aggregate][vote]") {
  struct sample {
    std::optional<std::string> answer;
    double confidence;
  };
  const std::vector<sample> samples{{"12", 0.2}, {"13", 0.9}, {"12", 0.3}, {std::nullopt, 1.0}};
  const auto t = reckon::weighted_vote_by(samples, &sample::answer, [](const sample& s) { return s.confidence; });
  CHECK(t.winner() == "13");
  CHECK(close(t.find("12")->weight, 0.5));
  CHECK(t.abstentions == 1);
}

TEST_CASE("the incremental counter matches the batch vote", "[aggregate][vote]") {
  reckon::vote_counter c;
  c.add("a");
  c.add(std::nullopt);
  c.add("b", 3.0);
  c.add("a");
  CHECK(c.size() == 4);
  const auto t = c.tally();
  CHECK(t.winner() == "b");
  CHECK(t.find("a")->count == 2);
  reckon::vote_counter moved = std::move(c);
  moved.add("a", 2.0);
  CHECK(moved.tally().winner() == "a");
}

TEST_CASE("a vote with no answers has no leader", "[aggregate][vote][errors]") {
  const std::vector<opt> none;
  const auto t = reckon::plurality_vote(none);
  CHECK(t.leader() == nullptr);
  CHECK_FALSE(t.winner().has_value());
  CHECK(t.margin() == 0.0);
  const std::vector<opt> abstain{std::nullopt, std::nullopt};
  const auto a = reckon::plurality_vote(abstain);
  CHECK(a.leader() == nullptr);
  CHECK(a.abstentions == 2);
}

TEST_CASE("weighted vote rejects bad weights and mismatched lengths", "[aggregate][vote][errors]") {
  const std::vector<std::string> answers{"1", "2"};
  CHECK_THROWS_AS(reckon::weighted_vote(answers, std::vector<double>{1.0}), reckon::exception);
  CHECK_THROWS_AS(reckon::weighted_vote(answers, std::vector<double>{1.0, std::nan("")}), reckon::exception);
  CHECK_THROWS_AS(reckon::weighted_vote(answers, std::vector<double>{1.0, -0.5}), reckon::exception);
  CHECK_THROWS_AS(reckon::weighted_vote(answers, std::vector<double>{std::numeric_limits<double>::infinity(), 1.0}),
                  reckon::exception);
  try {
    (void)reckon::weighted_vote(answers, std::vector<double>{1.0});
  } catch (const reckon::exception& e) {
    CHECK(e.code() == reckon::errc::invalid_argument);
  }
}

TEST_CASE("all-zero weights fall back to the vote counts", "[aggregate][vote][errors]") {
  const std::vector<std::string> answers{"1", "2", "2"};
  const auto t = reckon::weighted_vote(answers, std::vector<double>{0.0, 0.0, 0.0});
  CHECK(t.winner() == "2");
  CHECK(t.answers[0].share == 0.0);
  CHECK(t.margin() == 0.0);
}

TEST_CASE("many distinct answers are each counted once per vote", "[aggregate][vote]") {
  // 5000 distinct keys, key k voted k % 7 + 1 times: exercises the table's growth and probing.
  reckon::vote_counter c;
  std::size_t expected_votes = 0;
  for (int round = 0; round < 7; ++round)
    for (int k = 0; k < 5000; ++k)
      if (round <= k % 7) {
        c.add(std::to_string(k));
        ++expected_votes;
      }
  const auto t = c.tally();
  CHECK(t.answers.size() == 5000);
  CHECK(t.votes == expected_votes);
  bool all_right = true;
  for (const auto& a : t.answers) all_right = all_right && a.count == static_cast<std::size_t>(std::stoi(a.answer) % 7 + 1);
  CHECK(all_right);
  // Leader: the most votes (7), first seen among those: key 6.
  CHECK(t.winner() == "6");
  // A copy counts on independently.
  reckon::vote_counter copy = c;
  copy.add("6", 100.0);
  CHECK(copy.tally().find("6")->weight == 107.0);
  CHECK(c.tally().find("6")->weight == 7.0);
}
