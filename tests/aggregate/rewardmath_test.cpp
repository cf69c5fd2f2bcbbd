// SPDX-License-Identifier: Apache-2.0
// Real-data check of the step reductions on RewardMATH with Math-Shepherd scores, when the file exists.
#include <reckon/aggregate/reduce.hpp>

#include <support/catch.hpp>
#include <support/shared_data.hpp>

#include <cstddef>
#include <fstream>
#include <string>
#include <vector>

#if __has_include(<nlohmann/json.hpp>)
#include <nlohmann/json.hpp>

// ../shared/data/rewardmath_math_shepherd.json: 483 problems x 10 solutions, per-step Math-Shepherd
// probabilities in score[i], and "human_to_GPT-4" marking the one correct solution. The counts of
// problems where each reduction ranks the correct solution strictly first were cross-checked with
// an independent Python script. Absent file (a fresh checkout): CTest reports aggregate.shared as
// skipped (see support/shared_data.hpp).
TEST_CASE("step reductions on RewardMATH (Math-Shepherd scores)", "[aggregate][reduce][data][shared]") {
  std::ifstream in(reckon::test::shared_data_file("rewardmath_math_shepherd.json"));
  REQUIRE(in);
  const auto data = nlohmann::json::parse(in);
  REQUIRE(data.size() == 483);
  const reckon::step_reduction order[] = {reckon::step_reduction::last, reckon::step_reduction::min,
                                          reckon::step_reduction::prod, reckon::step_reduction::mean};
  std::size_t strictly_first[4] = {0, 0, 0, 0};
  for (const auto& p : data) {
    const auto refs = p.at("solution_reference").get<std::vector<std::string>>();
    const auto scores = p.at("score").get<std::vector<std::vector<double>>>();
    REQUIRE(scores.size() == refs.size());
    std::size_t correct = refs.size();
    for (std::size_t i = 0; i < refs.size(); ++i)
      if (refs[i] == "human_to_GPT-4") correct = i;
    REQUIRE(correct < refs.size());
    for (std::size_t r = 0; r < 4; ++r) {
      const double mine = reckon::reduce_steps(order[r], scores[correct]);
      bool first = true;
      for (std::size_t i = 0; i < scores.size(); ++i)
        if (i != correct && reckon::reduce_steps(order[r], scores[i]) >= mine) first = false;
      strictly_first[r] += first ? 1 : 0;
    }
  }
  CHECK(strictly_first[0] == 88); // last
  CHECK(strictly_first[1] == 74); // min
  CHECK(strictly_first[2] == 83); // prod
  CHECK(strictly_first[3] == 73); // mean
}
#else
TEST_CASE("step reductions on RewardMATH (Math-Shepherd scores)", "[aggregate][reduce][data][shared]") {
  reckon::test::skip_test_program("nlohmann_json is not installed: the RewardMATH file cannot be read");
}
#endif
