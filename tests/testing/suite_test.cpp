// SPDX-License-Identifier: Apache-2.0
// Tests of the synthetic suites: names, determinism, difficulty mixes, distractors.
#include <reckon/testing/suite.hpp>

#include <support/catch.hpp>

#include <set>

using namespace reckon::testing;

TEST_CASE("built-in suites exist, are deterministic and differ in difficulty", "[testing][suite]") {
  REQUIRE(suite_names().size() == 4);
  double means[3] = {};
  int i = 0;
  for (auto name : {"easy", "mixed", "hard"}) {
    CHECK(!suite_description(name).empty());
    auto s = make_suite(name);
    REQUIRE(s.has_value());
    CHECK(s->problems.size() == 300);
    auto again = make_suite(name);
    CHECK(again->problems[17].gold == s->problems[17].gold);
    CHECK(again->problems[17].id == s->problems[17].id);
    std::set<std::uint64_t> ids;
    for (const auto& q : s->problems) {
      ids.insert(q.id);
      means[i] += q.difficulty / 300.0;
      CHECK(q.steps >= 2);
      CHECK(q.steps <= 10);
      double total = 0.0;
      for (std::size_t j = 0; j < q.distractors.size(); ++j) {
        CHECK(q.distractors[j] != q.gold);
        total += q.distractor_weights[j];
        if (j > 0) CHECK(q.distractor_weights[j] <= q.distractor_weights[j - 1]);
      }
      CHECK(total == Approx(1.0).epsilon(1e-12));
    }
    CHECK(ids.size() == 300);
    ++i;
  }
  // Mean difficulty: 1/3, 1/2, 2/3 in expectation; SD of a 300-mean <= 0.017, tolerance 0.06.
  CHECK(means[0] == Approx(1.0 / 3).margin(0.06));
  CHECK(means[1] == Approx(0.5).margin(0.06));
  CHECK(means[2] == Approx(2.0 / 3).margin(0.06));
}

TEST_CASE("calibrated-math: the fitted suite, 2000 problems leaning easy, traps and all", "[testing][suite]") {
  CHECK(!suite_description("calibrated-math").empty());
  const auto s = make_suite("calibrated-math").value();
  REQUIRE(s.problems.size() == 2000);
  CHECK(s.params.difficulty_power == calibrated_math_suite_params().difficulty_power);
  double mean = 0.0;
  for (const auto& q : s.problems) mean += q.difficulty / 2000.0;
  // u^12.09 has mean 1/13.09 = 0.076; SD of a 2000-mean < 0.004, tolerance 0.02.
  CHECK(mean == Approx(1.0 / 13.087627216152358).margin(0.02));
  CHECK(make_suite("calibrated-math", default_suite_seed, 50, parameter_set::lenient)->params.trap_rate == 0.0);
}

TEST_CASE("a different seed gives different problems; a larger suite extends a smaller one", "[testing][suite]") {
  auto a = make_suite("mixed", 1, 50).value();
  auto b = make_suite("mixed", 2, 50).value();
  auto c = make_suite("mixed", 1, 80).value();
  CHECK(a.problems.size() == 50);
  int same = 0;
  for (std::size_t i = 0; i < 50; ++i) {
    same += a.problems[i].gold == b.problems[i].gold;
    CHECK(a.problems[i].gold == c.problems[i].gold);
  }
  CHECK(same < 5);
}

TEST_CASE("unknown suites and bad parameters are rejected", "[testing][suite]") {
  auto s = make_suite("medium");
  REQUIRE(!s);
  CHECK(s.error().code == reckon::errc::invalid_argument);
  CHECK(s.error().message.find("easy") != std::string::npos);
  suite_params p;
  p.size = 0;
  CHECK_THROWS_AS(make_suite("x", 1, p), reckon::exception);
  p.size = 3;
  p.max_steps = 1;
  CHECK_THROWS_AS(make_suite("x", 1, p), reckon::exception);
}
