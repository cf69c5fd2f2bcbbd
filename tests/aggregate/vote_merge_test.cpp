// SPDX-License-Identifier: Apache-2.0
// Tests of answer_merge: votes for one answer under distinct keys pool (bounded, stated rule), and
// a vote of plain numbers is exactly the vote by key.
#include <reckon/aggregate/vote.hpp>
#include <reckon/answer/canonical.hpp>

#include <support/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {
using merge15_opt = std::optional<std::string>;
reckon::vote_params merge15_by_key() {
  reckon::vote_params p;
  p.merge = reckon::answer_merge::key;
  return p;
}
} // namespace

TEST_CASE("regression #15 vote merge: symbolically equal answers under distinct keys pool their votes",
          "[aggregate][vote][merge]") {
  // Before: the two forms of (x+2)/7 split 2 + 2 and the 3 votes for 5 won.
  const std::vector<merge15_opt> answers{"\\frac{x+2}{7}", "5", "\\frac{x}{7}+\\frac{2}{7}", "5",
                                         "\\frac{x+2}{7}", "5", "\\frac{x}{7}+\\frac{2}{7}"};
  const auto t = reckon::plurality_vote(answers);
  REQUIRE(t.answers.size() == 2);
  CHECK(t.winner() == "\\frac{x+2}{7}"); // the representative: the first-ranked of its keys
  CHECK(t.answers[0].count == 4);
  CHECK(t.answers[0].weight == 4.0);
  CHECK(t.answers[0].share == Approx(4.0 / 7.0));
  CHECK(t.answers[0].first_seen == 0);
  CHECK(t.answers[0].merged == std::vector<std::string>{"\\frac{x}{7}+\\frac{2}{7}"});
  CHECK(t.answers[1].answer == "5");
  CHECK(t.answers[1].count == 3);
  // find() reaches a merged key's votes.
  REQUIRE(t.find("\\frac{x}{7}+\\frac{2}{7}") != nullptr);
  CHECK(t.find("\\frac{x}{7}+\\frac{2}{7}")->count == 4);
  // The policy is explicit: by key, they stay apart.
  const auto k = reckon::plurality_vote(answers, merge15_by_key());
  CHECK(k.winner() == "5");
  CHECK(k.answers.size() == 3);
}

TEST_CASE("regression #15 vote merge: weighted votes pool weights; complex and equation forms merge",
          "[aggregate][vote][merge]") {
  const std::vector<std::string> answers{"3+2i", "2i+3", "4", "y=2x+1", "2x-y+1=0"};
  const std::vector<double> weights{0.3, 0.3, 0.5, 0.2, 0.25};
  const auto t = reckon::weighted_vote(answers, weights);
  REQUIRE(t.answers.size() == 3);
  CHECK(t.winner() == "3+2i");
  CHECK(t.answers[0].weight == Approx(0.6));
  CHECK(t.answers[0].count == 2);
  CHECK(t.answers[1].answer == "4");
  CHECK(t.answers[2].answer == "2x-y+1=0"); // 0.25 outranks 0.2: the representative
  CHECK(t.answers[2].weight == Approx(0.45));
  CHECK(t.answers[2].merged == std::vector<std::string>{"y=2x+1"});
}

TEST_CASE("vote merge: a vote of plain numbers is exactly the vote by key", "[aggregate][vote][merge]") {
  std::mt19937_64 rng(15);
  for (int round = 0; round < 200; ++round) {
    std::vector<merge15_opt> answers;
    const int n = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      const auto v = static_cast<std::int64_t>(rng() % 40) - 20;
      switch (rng() % 4) {
      case 0: answers.emplace_back(std::to_string(v)); break;
      case 1: answers.emplace_back(reckon::canonicalize(std::to_string(v) + "/7").key); break;
      case 2: answers.emplace_back(reckon::canonicalize(std::to_string(v) + "/4").key); break; // decimals
      default: answers.emplace_back(std::nullopt); break;
      }
    }
    for (auto tb : {reckon::tie_break::first_seen, reckon::tie_break::lexicographic}) {
      reckon::vote_params merged, by_key = merge15_by_key();
      merged.tie_break = by_key.tie_break = tb;
      CHECK(reckon::plurality_vote(answers, merged).answers == reckon::plurality_vote(answers, by_key).answers);
    }
  }
}

TEST_CASE("vote merge: equal numbers under non-canonical keys merge; near numbers within the tolerance too",
          "[aggregate][vote][merge]") {
  const std::vector<std::string> answers{"0.5", "\\frac{1}{2}", "1/2", "0.50", "2"};
  const auto t = reckon::plurality_vote(answers);
  REQUIRE(t.answers.size() == 2);
  CHECK(t.winner() == "0.5");
  CHECK(t.answers[0].count == 4);
  // 0.333333 (six places) stands for 1/3 (answers_equal's rounding rule): one answer.
  const std::vector<std::string> thirds{"\\frac{1}{3}", "0.333333", "1"};
  CHECK(reckon::plurality_vote(thirds).answers.size() == 2);
  // Distinct integers never merge, however close.
  const std::vector<std::string> big{"1000000000000", "1000000000001"};
  CHECK(reckon::plurality_vote(big).answers.size() == 2);
}

TEST_CASE("vote merge: only the leading merge_cap buckets are compared; a cluster's members each equal its representative",
          "[aggregate][vote][merge]") {
  // 20 distinct wrong numbers (3 votes each) rank above two forms of x+1 (1 vote each).
  std::vector<std::string> answers;
  for (int k = 0; k < 20; ++k)
    for (int r = 0; r < 3; ++r) answers.push_back(std::to_string(100 + k));
  answers.push_back("x+1");
  answers.push_back("1+x");
  reckon::vote_params small;
  small.merge_cap = 16; // x+1 and 1+x rank 21st and 22nd: beyond the cap, they stay apart
  CHECK(reckon::plurality_vote(answers, small).answers.size() == 22);
  reckon::vote_params large;
  large.merge_cap = 32;
  const auto t = reckon::plurality_vote(answers, large);
  CHECK(t.answers.size() == 21);
  REQUIRE(t.find("1+x") != nullptr);
  CHECK(t.find("1+x")->count == 2);
  // Every merged key equals the key it votes under.
  for (const auto& a : t.answers)
    for (const auto& m : a.merged) CHECK(reckon::answers_equal(a.answer, m));
}

TEST_CASE("vote merge: with the lexicographic tie-break the merged tally does not depend on vote order",
          "[aggregate][vote][merge]") {
  std::vector<std::string> answers{"\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}", "x^2-1", "(x-1)(x+1)", "3", "3", "0.6", "\\frac{3}{5}"};
  reckon::vote_params p;
  p.tie_break = reckon::tie_break::lexicographic;
  const auto want = reckon::plurality_vote(answers, p).answers;
  CHECK(want.size() == 4);
  std::mt19937_64 rng(1515);
  for (int k = 0; k < 50; ++k) {
    std::shuffle(answers.begin(), answers.end(), rng);
    auto got = reckon::plurality_vote(answers, p).answers;
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].answer == want[i].answer);
      CHECK(got[i].count == want[i].count);
      CHECK(got[i].merged == want[i].merged);
    }
  }
}
