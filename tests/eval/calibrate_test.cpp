// SPDX-License-Identifier: Apache-2.0
// Tests of calibration: the curve estimators by hand, the recording's grading, and the fit on the fixture.
#include <reckon/eval/calibrate.hpp>

#include <support/catch.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

using namespace reckon;
using namespace reckon::eval;
using reckon::test::Approx;

namespace {

scored_sample cal_sample(std::optional<std::string> key, bool correct, double reward) {
  return scored_sample{std::move(key), correct, reward};
}

const std::string& cal_fixture_path() {
  static const std::string path = RECKON_TEST_DATA_DIR "/replay/qwen25_math_cot_100.jsonl";
  return path;
}

const testing::replay_data& cal_recording() {
  static const testing::replay_data data = testing::load_replay(cal_fixture_path()).value();
  return data;
}

calibration_knob cal_knob(const std::string& name) {
  for (auto& k : default_knobs())
    if (k.name == name) return k;
  FAIL("no default knob " << name);
  return {};
}

} // namespace

TEST_CASE("curves: pass@k, majority@k and best-of-k over every subset, by hand", "[eval][calibrate]") {
  // A: one right answer (a) and a wrong one twice (b); a has the largest reward.
  const std::vector<scored_sample> a{cal_sample("a", true, 0.9), cal_sample("b", false, 0.8),
                                     cal_sample("b", false, 0.1), cal_sample("c", false, 0.5)};
  // B: an abstention tied in reward with a right answer; a wrong answer tied with the other right one.
  const std::vector<scored_sample> b{cal_sample(std::nullopt, false, 1.0), cal_sample("x", true, 1.0),
                                     cal_sample("y", false, 0.0), cal_sample("x", true, 0.0)};
  const std::vector<std::vector<scored_sample>> problems{a, b};
  curve_params cp;
  cp.ks = {1, 2, 4};
  const auto c = compute_curves(problems, cp).value();
  REQUIRE(c.points.size() == 3);
  CHECK(c.problems == 2);
  // A: pass 1/4, 1 - C(3,2)/C(4,2) = 1/2, 1; best-of 1/4, 3/6 (every pair holding a), 1;
  //    majority 1/4, (3 ties a-b/a-c at 1/2 + 3 pairs without a) / 6 = 1/4, 0 (b leads 2 to 1).
  // B: pass 1/2, 5/6, 1; best-of 1/2, (1/2 + 0 + 0 + 1 + 1 + 1/2) / 6 = 1/2, 1/2 (x and the
  //    abstention tie at reward 1); majority 1/2 (the abstention never wins), 4/6, 1.
  CHECK(c.points[0].k == 1);
  CHECK(c.points[0].pass == Approx((0.25 + 0.5) / 2));
  CHECK(c.points[0].best_of == Approx((0.25 + 0.5) / 2));
  CHECK(c.points[0].majority == Approx((0.25 + 0.5) / 2));
  CHECK(c.points[1].pass == Approx((0.5 + 5.0 / 6) / 2));
  CHECK(c.points[1].best_of == Approx((0.5 + 0.5) / 2));
  CHECK(c.points[1].majority == Approx((0.25 + 4.0 / 6) / 2));
  CHECK(c.points[2].pass == Approx(1.0));
  CHECK(c.points[2].best_of == Approx((1.0 + 0.5) / 2));
  CHECK(c.points[2].majority == Approx((0.0 + 1.0) / 2));
}

TEST_CASE("curves: drawn subsets agree with enumerating every subset", "[eval][calibrate]") {
  // 16 samples, k = 8: C(16, 8) = 12870 subsets, drawn (4096) by default, enumerated above that.
  std::vector<std::vector<scored_sample>> problems;
  random_stream s(stream_key{7, 1, 2, 3});
  for (int p = 0; p < 6; ++p) {
    std::vector<scored_sample> row;
    for (int i = 0; i < 16; ++i) {
      const int key = static_cast<int>(uniform01(s) * 4.0);
      row.push_back(cal_sample(std::to_string(key), key == 0, uniform01(s)));
    }
    problems.push_back(std::move(row));
  }
  curve_params drawn;
  drawn.ks = {8};
  curve_params exact = drawn;
  exact.exact_subsets = 20000;
  const auto d = compute_curves(problems, drawn).value();
  const auto e = compute_curves(problems, exact).value();
  // pass and best-of are closed forms either way; majority's draw has SD <= 0.5 / sqrt(4096 x 6).
  CHECK(d.points[0].pass == e.points[0].pass);
  CHECK(d.points[0].best_of == e.points[0].best_of);
  CHECK(d.points[0].majority != e.points[0].majority); // it was drawn, not enumerated
  CHECK(std::abs(d.points[0].majority - e.points[0].majority) < 0.01);
}

TEST_CASE("curves: errors name the problem and the k", "[eval][calibrate]") {
  const std::vector<std::vector<scored_sample>> two{{cal_sample("1", true, 0.0), cal_sample("2", false, 1.0)},
                                                    {cal_sample("1", true, 0.0)}};
  curve_params cp;
  cp.ks = {1, 2};
  const auto short_pool = compute_curves(two, cp);
  REQUIRE_FALSE(short_pool);
  CHECK(short_pool.error().message == "curves: problem 1 has 1 samples, fewer than k = 2");
  cp.ks = {0};
  CHECK(compute_curves(two, cp).error().message == "curves: k must be > 0");
  cp.ks = {};
  CHECK(compute_curves(two, cp).error().message == "curves: no k values");
  CHECK(compute_curves({}, curve_params{}).error().message == "curves: no problems");
  const std::vector<std::vector<scored_sample>> nan{{cal_sample("1", true, std::nan(""))}};
  cp.ks = {1};
  CHECK(compute_curves(nan, cp).error().message == "curves: problem 0 has a non-finite reward");
}

TEST_CASE("calibrate: the Qwen2.5-Math recording, graded by reckon's answer equality", "[eval][calibrate]") {
  const auto& data = cal_recording();
  REQUIRE(data.problems.size() == 100);
  CHECK(data.scale == testing::reward_scale::logit);
  const auto samples = scored_samples(data).value();
  std::size_t correct = 0, total = 0;
  double lo = 0.0, hi = 0.0;
  for (const auto& row : samples) {
    CHECK(row.size() == 8);
    for (const auto& x : row) {
      correct += x.correct ? 1 : 0;
      ++total;
      lo = std::min(lo, x.reward);
      hi = std::max(hi, x.reward);
    }
  }
  // The recording's grader marks 728 of 800 right; reckon's equality agrees on 799 and also
  // accepts math-72's "10000" for the gold "10{,}000".
  CHECK(total == 800);
  CHECK(correct == 729);
  CHECK(samples[72][7].correct);
  // Rewards stay raw logits (best-of-k compares them as recorded).
  CHECK(lo < -4.0);
  CHECK(hi > 6.0);
}

TEST_CASE("calibrate: a sample without a reward is an error naming its line", "[eval][calibrate]") {
  testing::replay_data data;
  testing::replay_problem p;
  p.id = "q";
  p.gold = "1";
  p.line = 3;
  p.samples.resize(2);
  p.samples[0].answer = "1";
  p.samples[0].reward = 0.5;
  p.samples[1].answer = "2";
  data.problems.push_back(p);
  const auto r = scored_samples(data);
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "line 3, samples[1]: no reward recorded (calibrate needs one per sample)");
  calibration_params cp;
  cp.curve.ks = {1, 2};
  CHECK(calibrate(data, cp).error().message == r.error().message);
  cp.curve.ks = {1, 4};
  CHECK(calibrate(data, cp).error().message == "calibrate: problem 'q' (line 3) has 2 samples, fewer than k = 4");
}

TEST_CASE("calibrate: invalid fit parameters are errors", "[eval][calibrate]") {
  calibration_params cp;
  cp.knobs.clear();
  CHECK(calibrate(cal_recording(), cp).error().message == "calibrate: no knobs to fit");
  cp = calibration_params{};
  cp.knobs = {cal_knob("model.orm.separation")};
  cp.knobs[0].lo = cp.knobs[0].hi;
  CHECK(calibrate(cal_recording(), cp).error().message ==
        "calibrate: knob 'model.orm.separation' needs finite bounds lo < hi");
  cp.knobs = {cal_knob("model.orm.separation")};
  cp.knobs[0].grid = {9.0};
  CHECK(calibrate(cal_recording(), cp).error().message ==
        "calibrate: knob 'model.orm.separation' has a grid value 9 outside [0, 6]");
  cp.knobs = {cal_knob("model.orm.separation")};
  cp.synthetic.samples = 4;
  CHECK(calibrate(cal_recording(), cp).error().message == "calibrate: 4 synthetic samples per problem, fewer than k = 8");
  cp.synthetic.samples = 8;
  cp.suite.difficulty_power = -1.0;
  CHECK(calibrate(cal_recording(), cp).error().message == "make_suite: difficulty_power must be > 0");
}

TEST_CASE("calibrate: a better ORM lifts best-of-k and leaves pass@k alone", "[eval][calibrate]") {
  // A property of any reasonable synthetic model: the ORM ranks samples, it does not make them.
  testing::suite_params sp;
  sp.size = 400;
  synthetic_curve_params cp;
  cp.threads = 2;
  testing::synthetic_params weak, strong;
  weak.orm.separation = 0.0;
  strong.orm.separation = 4.0;
  const auto w = compute_curves(synthetic_samples(sp, weak, cp)).value();
  const auto s = compute_curves(synthetic_samples(sp, strong, cp)).value();
  for (std::size_t i = 0; i < w.points.size(); ++i) CHECK(w.points[i].pass == s.points[i].pass);
  // At k = 8 a d' of 4 (AUC 0.998) must beat a random ranking (best-of-8 = pass@1) by a wide margin.
  CHECK(w.points[3].best_of == Approx(w.points[0].pass).margin(0.03));
  CHECK(s.points[3].best_of > w.points[3].best_of + 0.05);
}

TEST_CASE("calibrate: three knobs fit the Qwen2.5-Math recording within 0.03", "[eval][calibrate]") {
  // The full fit (reckon-eval calibrate: five knobs, 6000 problems, 160 evaluations) comes within
  // 0.004; this one fits difficulty, the per-step error at difficulty 1 and the ORM's separation on
  // 400 problems from a 2 x 2 x 2 grid with 20 evaluations, so its tolerance is wider (the
  // Monte-Carlo SD of a curve point on 400 problems is about 0.014; the fit is checked on its own
  // suite). Untuned, the model misses by far more than that.
  calibration_params cp;
  cp.suite.size = 400;
  cp.grid_problems = 100;
  cp.grid_keep = 1;
  cp.max_evaluations = 20;
  cp.model.step_error_min = 0.001;
  cp.knobs = {cal_knob("suite.difficulty_power"), cal_knob("model.step_error_max"), cal_knob("model.orm.separation")};
  cp.knobs[0].grid = {4.0, 12.0};
  cp.knobs[1].grid = {0.25, 0.45};
  cp.knobs[2].grid = {1.0, 2.0};
  cp.synthetic.threads = 2;
  const auto fit = calibrate(cal_recording(), cp).value();
  INFO(to_table(fit));
  CHECK(fit.max_deviation <= 0.03);
  CHECK(fit.max_deviation == Approx(max_deviation(fit.fitted, fit.target)));
  CHECK(fit.holdout_deviation == Approx(max_deviation(fit.holdout, fit.target)));
  CHECK(fit.holdout != fit.fitted);
  CHECK(fit.fitted.problems == 400);
  CHECK(fit.evaluations <= 8 + 20);
  CHECK(fit.values.size() == 3);
  CHECK(fit.suite.difficulty_power == fit.values[0].second);
  CHECK(fit.model.orm.separation == fit.values[2].second);
  const auto before = compute_curves(synthetic_samples(cp.suite, testing::synthetic_params{}, cp.synthetic)).value();
  CHECK(max_deviation(before, fit.target) > 0.1);
}

TEST_CASE("calibrate: the fit is the same at any thread count", "[eval][calibrate]") {
  calibration_params cp;
  cp.suite.size = 150;
  cp.grid_problems = 50;
  cp.max_evaluations = 8;
  cp.knobs = {cal_knob("suite.difficulty_power"), cal_knob("model.orm.separation")};
  cp.knobs[0].grid = {4.0, 12.0};
  cp.knobs[1].grid = {1.0};
  cp.synthetic.threads = 1;
  const auto one = calibrate(cal_recording(), cp).value();
  cp.synthetic.threads = 3;
  const auto three = calibrate(cal_recording(), cp).value();
  CHECK(one.fitted == three.fitted);
  CHECK(one.values == three.values);
  CHECK(one.evaluations == three.evaluations);
}

TEST_CASE("the calibrated-math suite reproduces the recording's curves within 0.02", "[eval][calibrate]") {
  // The shipped suite (2000 problems, its fitted suite and model parameters) against the Qwen2.5-Math
  // recording it was fitted to: pass@k, majority@k and best-of-k by reward, k = 1, 2, 4, 8. The goal
  // of issue 14 item 6 is 0.02 at every point; the fit reached 0.0035 on 6000 problems.
  const auto recorded = scored_samples(cal_recording()).value();
  const auto suite = testing::make_suite("calibrated-math").value();
  REQUIRE(suite.problems.size() == 2000);
  const testing::synthetic_params mp = testing::params_for(suite);
  CHECK(mp.step_error_max == testing::calibrated_math_params().step_error_max);
  synthetic_curve_params cp;
  cp.threads = 2;
  const auto synthetic = synthetic_samples(suite.params, mp, cp);
  const curves a = compute_curves(recorded).value();
  const curves b = compute_curves(synthetic).value();
  INFO("max deviation " << max_deviation(a, b));
  CHECK(max_deviation(a, b) <= 0.02);
  // The default suite mix (uniform difficulty) with the fitted model misses by far: the check can fail.
  testing::suite_params uniform = suite.params;
  uniform.difficulty_power = 1.0;
  const auto unfitted = synthetic_samples(uniform, mp, cp);
  CHECK(max_deviation(a, compute_curves(unfitted).value()) > 0.1);
}
