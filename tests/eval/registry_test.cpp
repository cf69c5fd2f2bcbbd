// SPDX-License-Identifier: Apache-2.0
// Tests of the strategy registry: the built-in names, registration rules, capability dispatch.
#include <reckon/eval/strategies.hpp>

#include <support/catch.hpp>

using namespace reckon;
using namespace reckon::eval;

TEST_CASE("the default registry holds the documented names", "[eval][registry]") {
  const auto& r = default_registry();
  // Sample-based strategies run on the synthetic model and on recorded samples.
  for (const char* name : {"majority", "weighted-majority", "adaptive-sc", "esc", "best-of-n:orm", "best-of-n:prm-last",
                           "best-of-n:prm-min", "best-of-n:prm-prod", "best-of-n:prm-mean", "weighted-best-of-n:orm",
                           "weighted-best-of-n:prm-last", "weighted-best-of-n:prm-min", "weighted-best-of-n:prm-prod",
                           "weighted-best-of-n:prm-mean", "deepconf-offline", "deepconf-online"}) {
    INFO(name);
    const auto* e = r.find(name);
    REQUIRE(e != nullptr);
    CHECK(!e->description.empty());
    CHECK(e->synthetic);
    CHECK(e->replay);
  }
  // Step-level search needs a stepping model: synthetic only.
  for (const char* name : {"particle-filter", "prism", "beam-search", "dvts", "rebase", "ets", "particle-gibbs", "short-1",
                           "short-3", "scale"}) {
    INFO(name);
    const auto* e = r.find(name);
    REQUIRE(e != nullptr);
    CHECK(e->synthetic);
    CHECK(!e->replay);
  }
  for (const char* name : {"zip-rc", "odar", "compute-optimal", "slow-best-of-5"}) {
    INFO(name);
    CHECK(r.find(name) != nullptr);
  }
  // Sequential revisions needs a reviser, which recorded samples are not.
  const auto* revisions = r.find("revisions");
  REQUIRE(revisions != nullptr);
  CHECK(!revisions->description.empty());
  CHECK(revisions->synthetic);
  CHECK(!revisions->replay);
  CHECK(r.find("best-of-n") == nullptr);
}

TEST_CASE("registration checks names and dispatches on capabilities", "[eval][registry]") {
  strategy_registry r;
  r.add("stepper", "needs stepping",
        []<class M>(M&, const problem&, const run_config&) -> result<run_outcome>
          requires stepping_model<M>
        { return run_outcome{std::string("1")}; });
  const auto* e = r.find("stepper");
  REQUIRE(e != nullptr);
  CHECK(e->synthetic);
  CHECK(!e->replay); // recordings cannot step
  CHECK_THROWS_AS(r.add("stepper", "again", builtin::self_consistency_runner<stop_never>{}), reckon::exception);
  CHECK_THROWS_AS(r.add("", "empty", builtin::self_consistency_runner<stop_never>{}), reckon::exception);
}

TEST_CASE("answers are extracted and compared canonically", "[eval][answers]") {
  CHECK(extract_answer("first \\boxed{\\frac{1}{2}}. Checking again, it is \\boxed{ 1,234 }.").value() == "1234");
  CHECK(reckon::answers_equal(extract_answer("so \\boxed{1} and \\boxed{2}").value(), "\\{2, 1\\}")); // boxes in a row: one list
  CHECK(extract_answer("The answer is 17.").value() == "17");
  CHECK(extract_answer("we get 3 then -4.5 apples").value() == "-4.5");
  CHECK(!extract_answer("no digits here"));
  CHECK(answers_match(std::string("12.0"), "12"));
  CHECK(answers_match(std::string("$12$"), " 12 "));
  CHECK(!answers_match(std::nullopt, "12"));
  CHECK(answers_match(std::string("0.5"), "so the answer is $\\boxed{\\frac12}$")); // a gold with a box is read like a completion
  CHECK(answers_match(std::string("72"), "she sold 48 + 24 clips\n#### 72"));
  completion c;
  c.text = "\\boxed{3}";
  c.answer = "4";
  CHECK(answer_of(c).value() == "4");
  CHECK(answer_of(c, true).value() == "3");
}
