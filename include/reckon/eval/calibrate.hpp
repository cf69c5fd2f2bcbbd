// SPDX-License-Identifier: Apache-2.0
// Calibration of the synthetic suite to a recording: pass@k, majority@k and best-of-k curves, and the fit.
#pragma once

// The curves. For each problem with n samples (answer key, correct or not, reward) and each k <= n,
// one estimator serves the recording and the synthetic model alike: the mean over every size-k
// subset of the n samples (a U-statistic, so unbiased for k i.i.d. draws from the problem, for any
// n >= k; the two sides may hold different n):
// - pass@k = 1 - C(n - c, k) / C(n, k) for c correct samples (exact);
// - best-of-k: the sample of largest reward in the subset; a tie in reward shares the credit
//   among the tied samples (exact, by the reward ranks);
// - majority@k: the plurality answer key of the subset (a sample with no answer abstains; all
//   abstaining is wrong); a tie shares the credit among the tied keys, which is the expectation of
//   the first-seen tie-break under a random order of the samples. Every subset is enumerated when
//   C(n, k) <= exact_subsets, else exact_subsets subsets are drawn at random (keyed by the seed and
//   the problem), still unbiased.
// A curve point is the mean over problems, summed in problem order (identical for any thread count).
//
// The fit. Knobs are named setters of suite_params / synthetic_params fields with bounds, so the fit
// runs on whatever the synthetic model is; default_knobs() names the ones this project fits. The
// loss is max |deviation| + rms(deviation) / 4 over every curve point (the goal is the max; the rms
// term breaks ties between fits of equal max). The optimiser is deterministic: a full grid over the
// knobs' coarse values on a smaller suite (grid_problems), then Nelder-Mead in the unit cube of the
// bounds (clamped) on the full suite from the best grid points, with common random numbers (the same
// suite seed and sampling seed for every evaluation), until max_evaluations or a simplex below 1e-3.
// The fitted parameters are then drawn once more on a fresh suite (both seeds + 1), the holdout. On
// the Qwen2.5-Math recording (tests/data/replay), whose curves hinge on its few hard problems, a
// curve point's Monte-Carlo SD across suite seeds is about 0.02 at 300 problems, 0.005 at 3000 and
// 0.003 at 6000, and a fit's max deviation on fresh suites was up to 0.015 when fitted on 3000
// problems, 0.010 on 6000: hence 6000 by default.

#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/eval/answers.hpp>
#include <reckon/eval/harness.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/testing/replay_model.hpp>
#include <reckon/testing/suite.hpp>
#include <reckon/testing/synthetic_model.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace reckon::eval {

/// One sample as the curves see it.
struct scored_sample {
  std::optional<std::string> key; ///< canonical answer key (nullopt: no answer, abstains)
  bool correct = false;           ///< the key matches the gold
  double reward = 0.0;            ///< outcome reward (only its order within the problem matters)
};

/// One point of the three curves.
struct curve_point {
  std::uint32_t k = 0;   ///< samples per problem
  double pass = 0.0;     ///< pass@k: some sample of the k is correct
  double majority = 0.0; ///< majority@k: the plurality answer of the k is correct
  double best_of = 0.0;  ///< best-of-k: the k's largest-reward sample is correct

  friend bool operator==(const curve_point&, const curve_point&) = default;
};

/// The curves at each k, over some problems.
struct curves {
  std::vector<curve_point> points; ///< one per k, in the order asked
  std::size_t problems = 0;        ///< problems averaged over

  friend bool operator==(const curves&, const curves&) = default;
};

/// How curves are estimated.
struct curve_params {
  std::vector<std::uint32_t> ks{1, 2, 4, 8}; ///< k values (non-empty, each > 0 and <= every problem's n)
  std::size_t exact_subsets = 4096;          ///< majority@k enumerates every subset up to this many, else draws this many (> 0)
  std::uint64_t seed = 0;                    ///< keys the drawn subsets (when any are drawn)
};

} // namespace reckon::eval

namespace reckon::detail::calibrate {

[[nodiscard]] inline double choose(std::size_t n, std::size_t k) noexcept {
  if (k > n) return 0.0;
  k = std::min(k, n - k);
  double c = 1.0;
  for (std::size_t i = 1; i <= k; ++i) c = c * static_cast<double>(n - k + i) / static_cast<double>(i);
  return c;
}

// One problem's samples, with answer keys mapped to small indices (-1: abstains).
struct indexed_problem {
  std::vector<int> key;          // per sample
  std::vector<bool> key_correct; // per distinct key
  std::vector<bool> correct;     // per sample
  std::vector<double> reward;    // per sample
};

inline indexed_problem index_problem(std::span<const eval::scored_sample> samples) {
  indexed_problem p;
  std::unordered_map<std::string, int> ids;
  for (const auto& s : samples) {
    int id = -1;
    if (s.key) {
      const auto [it, fresh] = ids.try_emplace(*s.key, static_cast<int>(p.key_correct.size()));
      if (fresh) p.key_correct.push_back(s.correct);
      id = it->second;
    }
    p.key.push_back(id);
    p.correct.push_back(s.correct);
    p.reward.push_back(s.reward);
  }
  return p;
}

// Credit of the plurality of one subset (indices `members`): the correct share of the tied leaders.
inline double majority_credit(const indexed_problem& p, std::span<const std::size_t> members, std::vector<int>& counts) {
  std::fill(counts.begin(), counts.end(), 0);
  int top = 0;
  for (const std::size_t i : members)
    if (p.key[i] >= 0) top = std::max(top, ++counts[static_cast<std::size_t>(p.key[i])]);
  if (top == 0) return 0.0;
  int tied = 0, good = 0;
  for (std::size_t j = 0; j < counts.size(); ++j)
    if (counts[j] == top) {
      ++tied;
      good += p.key_correct[j] ? 1 : 0;
    }
  return static_cast<double>(good) / tied;
}

inline double majority_at(const indexed_problem& p, std::size_t k, const eval::curve_params& cp, std::uint64_t problem_key) {
  const std::size_t n = p.key.size();
  std::vector<int> counts(p.key_correct.size());
  std::vector<std::size_t> members(k);
  double sum = 0.0, count = 0.0;
  if (choose(n, k) <= static_cast<double>(cp.exact_subsets)) {
    // Lexicographic k-combinations of 0..n-1.
    for (std::size_t i = 0; i < k; ++i) members[i] = i;
    while (true) {
      sum += majority_credit(p, members, counts);
      count += 1.0;
      std::size_t i = k;
      while (i > 0 && members[i - 1] == n - k + (i - 1)) --i;
      if (i == 0) break;
      ++members[i - 1];
      for (std::size_t j = i; j < k; ++j) members[j] = members[j - 1] + 1;
    }
  } else {
    random_stream s(stream_key{cp.seed, problem_key, static_cast<std::uint32_t>(k), 0x4D414A});
    std::vector<std::size_t> perm(n);
    for (std::size_t d = 0; d < cp.exact_subsets; ++d) {
      for (std::size_t i = 0; i < n; ++i) perm[i] = i;
      for (std::size_t i = 0; i < k; ++i) {
        const auto j = i + static_cast<std::size_t>(uniform01(s) * static_cast<double>(n - i));
        std::swap(perm[i], perm[std::min(j, n - 1)]);
        members[i] = perm[i];
      }
      sum += majority_credit(p, members, counts);
      count += 1.0;
    }
  }
  return sum / count;
}

// Best-of-k by reward ranks: P(the subset's largest reward is v) = [C(below + tied, k) - C(below, k)]
// / C(n, k); given v, each of the tied samples is the pick with equal chance.
inline double best_of_at(const indexed_problem& p, std::size_t k) {
  const std::size_t n = p.reward.size();
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p.reward[a] < p.reward[b]; });
  const double all = choose(n, k);
  double credit = 0.0;
  for (std::size_t lo = 0; lo < n;) {
    std::size_t hi = lo, good = 0;
    while (hi < n && p.reward[order[hi]] == p.reward[order[lo]]) good += p.correct[order[hi++]] ? 1 : 0;
    const double top = (choose(hi, k) - choose(lo, k)) / all;
    credit += top * static_cast<double>(good) / static_cast<double>(hi - lo);
    lo = hi;
  }
  return credit;
}

} // namespace reckon::detail::calibrate

namespace reckon::eval {

/// The curves of `problems` (each a list of its samples) at cp.ks. Errors (invalid_argument): no
/// problems, no ks, k = 0, exact_subsets = 0, a non-finite reward, or a problem with fewer samples
/// than the largest k (naming its index).
[[nodiscard]] inline result<curves> compute_curves(std::span<const std::vector<scored_sample>> problems,
                                                   const curve_params& cp = {}) {
  if (problems.empty()) return fail(errc::invalid_argument, "curves: no problems");
  if (cp.ks.empty()) return fail(errc::invalid_argument, "curves: no k values");
  if (cp.exact_subsets == 0) return fail(errc::invalid_argument, "curves: exact_subsets must be > 0");
  std::uint32_t kmax = 0;
  for (const auto k : cp.ks) {
    if (k == 0) return fail(errc::invalid_argument, "curves: k must be > 0");
    kmax = std::max(kmax, k);
  }
  for (std::size_t i = 0; i < problems.size(); ++i) {
    if (problems[i].size() < kmax)
      return fail(errc::invalid_argument,
                  fmt::format("curves: problem {} has {} samples, fewer than k = {}", i, problems[i].size(), kmax));
    for (const auto& s : problems[i])
      if (!std::isfinite(s.reward)) return fail(errc::invalid_argument, fmt::format("curves: problem {} has a non-finite reward", i));
  }
  curves out;
  out.problems = problems.size();
  for (const auto k : cp.ks) out.points.push_back(curve_point{k, 0.0, 0.0, 0.0});
  for (std::size_t i = 0; i < problems.size(); ++i) {
    const auto p = detail::calibrate::index_problem(problems[i]);
    std::size_t c = 0;
    for (const bool b : p.correct) c += b ? 1 : 0;
    const std::size_t n = p.correct.size();
    for (auto& pt : out.points) {
      pt.pass += 1.0 - detail::calibrate::choose(n - c, pt.k) / detail::calibrate::choose(n, pt.k);
      pt.majority += detail::calibrate::majority_at(p, pt.k, cp, i);
      pt.best_of += detail::calibrate::best_of_at(p, pt.k);
    }
  }
  const double np = static_cast<double>(problems.size());
  for (auto& pt : out.points) {
    pt.pass /= np;
    pt.majority /= np;
    pt.best_of /= np;
  }
  return out;
}

/// A recording's samples as the curves see them: the recorded answer's canonical key (extracted
/// from the text when no answer is recorded), graded by answers_match against the gold, and the
/// raw recorded reward. Errors (invalid_argument): a sample without a reward (naming its line).
[[nodiscard]] inline result<std::vector<std::vector<scored_sample>>> scored_samples(const testing::replay_data& data) {
  std::vector<std::vector<scored_sample>> out;
  out.reserve(data.problems.size());
  for (const auto& p : data.problems) {
    std::vector<scored_sample> row;
    for (std::size_t i = 0; i < p.samples.size(); ++i) {
      const auto& s = p.samples[i];
      if (!s.reward)
        return fail(errc::invalid_argument, fmt::format("line {}, samples[{}]: no reward recorded (calibrate needs one per sample)",
                                                        p.line, i));
      scored_sample x;
      if (s.answer) {
        if (std::string key = canonical_key(*s.answer); !key.empty()) x.key = std::move(key);
      } else if (s.text) {
        x.key = extract_answer(*s.text);
      }
      x.correct = answers_match(x.key, p.gold);
      x.reward = *s.reward;
      row.push_back(std::move(x));
    }
    out.push_back(std::move(row));
  }
  return out;
}

/// How the synthetic side of a calibration is drawn.
struct synthetic_curve_params {
  std::string suite_name = "calibrated-math";             ///< names the suite's problems (keys their randomness)
  std::uint64_t suite_seed = testing::default_suite_seed; ///< the suite's seed
  std::uint64_t seed = 0;                                 ///< sampling seed: problem i's request seed is request_seed(seed, i)
  std::uint32_t samples = 8;                              ///< samples per problem (>= the largest k)
  std::size_t threads = 0;                                ///< worker threads (0: hardware concurrency)
};

/// The synthetic model's samples on the suite drawn from `sp` (sp.size problems): `samples` whole
/// completions per problem (sample(), no token cap to speak of), each keyed by answer_of(), graded
/// by answers_match, rewarded by the model's ORM (score_outcomes). Throws reckon::exception on
/// invalid parameters (as make_suite and synthetic_model do).
[[nodiscard]] inline std::vector<std::vector<scored_sample>> synthetic_samples(const testing::suite_params& sp,
                                                                                const testing::synthetic_params& mp,
                                                                                const synthetic_curve_params& cp) {
  detail::require(cp.samples > 0, "synthetic_samples: samples must be > 0");
  const auto shared = std::make_shared<const testing::suite>(testing::make_suite(cp.suite_name, cp.suite_seed, sp));
  testing::validate(mp);
  const std::size_t np = shared->problems.size();
  std::size_t threads = cp.threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : cp.threads;
  threads = std::min(threads, np);
  std::vector<std::vector<scored_sample>> out(np);
  parallel_for(threads, threads, [&](std::size_t t) {
    testing::synthetic_model model(shared, mp);
    for (std::size_t i = t; i < np; i += threads) {
      const testing::synthetic_problem& q = shared->problems[i];
      const problem prob = q.as_problem();
      sampling_params s;
      s.max_tokens = 1u << 24;
      s.seed = request_seed(cp.seed, static_cast<std::uint32_t>(i));
      auto batch = model.sample(prob, s, cp.samples);
      if (!batch) throw reckon::exception(batch.error());
      std::vector<std::string> texts;
      texts.reserve(cp.samples);
      for (const auto& c : batch->completions) texts.push_back(c.text);
      std::vector<solution_view> views;
      views.reserve(cp.samples);
      for (std::size_t j = 0; j < texts.size(); ++j)
        views.push_back(solution_view{std::span<const std::string>(&texts[j], 1), true, batch->completions[j].source});
      auto rewards = model.score_outcomes(prob, views);
      if (!rewards) throw reckon::exception(rewards.error());
      auto& row = out[i];
      for (std::size_t j = 0; j < batch->completions.size(); ++j) {
        scored_sample x;
        x.key = answer_of(batch->completions[j]);
        x.correct = answers_match(x.key, q.gold);
        x.reward = (*rewards)[j];
        row.push_back(std::move(x));
      }
    }
  });
  return out;
}

/// One free parameter of the fit: a named setter of the suite's or the model's parameters.
struct calibration_knob {
  std::string name;          ///< what it sets, e.g. "suite.difficulty_power"
  double lo = 0.0;           ///< lower bound
  double hi = 1.0;           ///< upper bound (> lo)
  std::vector<double> grid;  ///< coarse values tried first (each in [lo, hi]; empty: the midpoint)
  std::function<void(testing::suite_params&, testing::synthetic_params&, double)> set; ///< applies a value
};

/// The knobs this project fits: difficulty mix (difficulty_power), per-step error range
/// (step_error_min, step_error_max), distractor concentration (the skew range, centred on `skew`
/// with the default width 2, floored at 0) and ORM quality (orm.separation). A bias or difficulty
/// shift of the ORM moves every sample of a problem alike, so best-of-k cannot see it; the PRM is
/// not fitted, since a recording of whole-solution rewards says nothing of it.
[[nodiscard]] inline std::vector<calibration_knob> default_knobs() {
  std::vector<calibration_knob> k;
  k.push_back({"suite.difficulty_power", 0.2, 24.0, {1.0, 4.0, 12.0},
               [](testing::suite_params& s, testing::synthetic_params&, double v) { s.difficulty_power = v; }});
  k.push_back({"model.step_error_min", 0.0, 0.1, {0.0, 0.02},
               [](testing::suite_params&, testing::synthetic_params& m, double v) { m.step_error_min = v; }});
  k.push_back({"model.step_error_max", 0.05, 0.95, {0.15, 0.4, 0.7},
               [](testing::suite_params&, testing::synthetic_params& m, double v) {
                 m.step_error_max = std::max(v, m.step_error_min);
               }});
  k.push_back({"suite.skew", 0.0, 6.0, {0.5, 1.5, 3.0},
               [](testing::suite_params& s, testing::synthetic_params&, double v) {
                 s.min_skew = std::max(0.0, v - 1.0);
                 s.max_skew = v + 1.0;
               }});
  k.push_back({"model.orm.separation", 0.0, 6.0, {1.0, 2.5, 4.0},
               [](testing::suite_params&, testing::synthetic_params& m, double v) { m.orm.separation = v; }});
  return k;
}

/// What a calibration fits and how.
struct calibration_params {
  curve_params curve{};                  ///< the k values and the estimator
  synthetic_curve_params synthetic{};    ///< the synthetic side's suite name, seeds, samples, threads
  testing::suite_params suite{};         ///< starting point; suite.size is the fit's suite size (default 6000)
  testing::synthetic_params model{};     ///< starting point of the model (fields no knob sets keep these)
  std::vector<calibration_knob> knobs = default_knobs(); ///< the free parameters (non-empty)
  std::size_t grid_problems = 500;       ///< suite size of the coarse grid (0: suite.size)
  std::size_t grid_keep = 2;             ///< best grid points Nelder-Mead starts from (>= 1)
  std::size_t max_evaluations = 160;     ///< full-suite evaluations across all Nelder-Mead runs (>= 1)
  progress_fn progress{};                ///< optional: (evaluations done, evaluation budget)

  calibration_params() { suite.size = 6000; }
};

/// A fitted calibration.
struct calibration_result {
  curves target;                                 ///< the recording's curves
  curves fitted;                                 ///< the synthetic model's on the fitted suite
  curves holdout;                                ///< the same parameters on a fresh suite (both seeds + 1)
  testing::suite_params suite;                   ///< the fitted suite parameters
  testing::synthetic_params model;               ///< the fitted model parameters
  std::vector<std::pair<std::string, double>> values; ///< each knob's fitted value
  double max_deviation = 0.0;                    ///< max |fitted - target| over every curve point
  double holdout_deviation = 0.0;                ///< max |holdout - target|: the fit's Monte-Carlo noise shows here
  std::size_t evaluations = 0;                   ///< synthetic suites evaluated (grid + refinement)
};

/// Max |a - b| over every point of two curves over the same ks.
[[nodiscard]] inline double max_deviation(const curves& a, const curves& b) {
  detail::require(a.points.size() == b.points.size(), "max_deviation: curves over different ks");
  double m = 0.0;
  for (std::size_t i = 0; i < a.points.size(); ++i) {
    m = std::max({m, std::abs(a.points[i].pass - b.points[i].pass), std::abs(a.points[i].majority - b.points[i].majority),
                  std::abs(a.points[i].best_of - b.points[i].best_of)});
  }
  return m;
}

} // namespace reckon::eval

namespace reckon::detail::calibrate {

inline double loss(const eval::curves& a, const eval::curves& b) {
  double sq = 0.0;
  for (std::size_t i = 0; i < a.points.size(); ++i) {
    const double d[] = {a.points[i].pass - b.points[i].pass, a.points[i].majority - b.points[i].majority,
                        a.points[i].best_of - b.points[i].best_of};
    for (const double x : d) sq += x * x;
  }
  return eval::max_deviation(a, b) + std::sqrt(sq / (3.0 * static_cast<double>(a.points.size()))) / 4.0;
}

struct evaluator {
  const eval::calibration_params& p;
  const eval::curves& target;

  void apply(std::span<const double> unit, testing::suite_params& s, testing::synthetic_params& m) const {
    for (std::size_t i = 0; i < p.knobs.size(); ++i) {
      const auto& k = p.knobs[i];
      k.set(s, m, k.lo + (k.hi - k.lo) * std::clamp(unit[i], 0.0, 1.0));
    }
  }
  eval::curves curves_at(std::span<const double> unit, std::size_t size) const {
    testing::suite_params s = p.suite;
    testing::synthetic_params m = p.model;
    apply(unit, s, m);
    s.size = size;
    const auto samples = eval::synthetic_samples(s, m, p.synthetic);
    return eval::compute_curves(samples, p.curve).value();
  }
  double operator()(std::span<const double> unit, std::size_t size) const { return loss(curves_at(unit, size), target); }
};

// Nelder-Mead (standard coefficients 1, 2, 0.5, 0.5) in the unit cube, points clamped into it.
inline std::pair<std::vector<double>, double> nelder_mead(const std::function<double(std::span<const double>)>& f,
                                                          std::vector<double> start, double start_value, double step,
                                                          std::size_t& budget) {
  const std::size_t d = start.size();
  auto clamp = [](std::vector<double> x) {
    for (double& v : x) v = std::clamp(v, 0.0, 1.0);
    return x;
  };
  std::vector<std::pair<std::vector<double>, double>> simplex;
  simplex.emplace_back(start, start_value);
  for (std::size_t i = 0; i < d && budget > 0; ++i) {
    std::vector<double> x = start;
    x[i] = x[i] + step <= 1.0 ? x[i] + step : x[i] - step;
    --budget;
    simplex.emplace_back(x, f(x));
  }
  if (simplex.size() < d + 1) {
    auto best = std::min_element(simplex.begin(), simplex.end(), [](auto& a, auto& b) { return a.second < b.second; });
    return *best;
  }
  auto by_value = [](const auto& a, const auto& b) { return a.second < b.second; };
  while (budget > 0) {
    std::stable_sort(simplex.begin(), simplex.end(), by_value);
    double size = 0.0;
    for (std::size_t i = 1; i <= d; ++i)
      for (std::size_t j = 0; j < d; ++j) size = std::max(size, std::abs(simplex[i].first[j] - simplex[0].first[j]));
    if (size < 1e-3) break;
    std::vector<double> centre(d, 0.0);
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j) centre[j] += simplex[i].first[j] / static_cast<double>(d);
    auto along = [&](double t) {
      std::vector<double> x(d);
      for (std::size_t j = 0; j < d; ++j) x[j] = centre[j] + t * (simplex[d].first[j] - centre[j]);
      return clamp(std::move(x));
    };
    auto eval = [&](const std::vector<double>& x) {
      --budget;
      return f(x);
    };
    const auto xr = along(-1.0);
    const double fr = eval(xr);
    if (fr < simplex[0].second) {
      if (budget == 0) {
        simplex[d] = {xr, fr};
        break;
      }
      const auto xe = along(-2.0);
      const double fe = eval(xe);
      simplex[d] = fe < fr ? std::make_pair(xe, fe) : std::make_pair(xr, fr);
    } else if (fr < simplex[d - 1].second) {
      simplex[d] = {xr, fr};
    } else {
      if (budget == 0) break;
      const auto xc = fr < simplex[d].second ? along(-0.5) : along(0.5);
      const double fc = eval(xc);
      if (fc < std::min(fr, simplex[d].second)) {
        simplex[d] = {xc, fc};
      } else {
        for (std::size_t i = 1; i <= d && budget > 0; ++i) {
          for (std::size_t j = 0; j < d; ++j) simplex[i].first[j] = simplex[0].first[j] + 0.5 * (simplex[i].first[j] - simplex[0].first[j]);
          simplex[i].second = eval(simplex[i].first);
        }
      }
    }
  }
  return *std::min_element(simplex.begin(), simplex.end(), by_value);
}

} // namespace reckon::detail::calibrate

namespace reckon::eval {

/// Fits params.knobs so that the synthetic model's curves match the recording's (see the file
/// comment for the loss and the optimiser); deterministic for given params at any thread count.
/// Errors (invalid_argument): no recorded problems, one with fewer samples than the largest k (naming
/// its id and line), the recording's curves cannot be computed (see compute_curves and
/// scored_samples), no knobs, a knob without a setter or with bounds lo >= hi, synthetic.samples
/// below the largest k, grid_keep or max_evaluations of 0, or parameters the suite or the model
/// reject.
[[nodiscard]] inline result<calibration_result> calibrate(const testing::replay_data& data, const calibration_params& params) {
  if (data.problems.empty()) return fail(errc::invalid_argument, "calibrate: no recorded problems");
  if (!params.curve.ks.empty()) {
    const std::uint32_t need = *std::max_element(params.curve.ks.begin(), params.curve.ks.end());
    for (const auto& p : data.problems)
      if (p.samples.size() < need)
        return fail(errc::invalid_argument, fmt::format("calibrate: problem '{}' (line {}) has {} samples, fewer than k = {}",
                                                        p.id, p.line, p.samples.size(), need));
  }
  auto recorded = scored_samples(data);
  if (!recorded) return recorded.error();
  auto target = compute_curves(*recorded, params.curve);
  if (!target) return target.error();
  if (params.knobs.empty()) return fail(errc::invalid_argument, "calibrate: no knobs to fit");
  for (const auto& k : params.knobs) {
    if (!k.set) return fail(errc::invalid_argument, fmt::format("calibrate: knob '{}' has no setter", k.name));
    if (!(std::isfinite(k.lo) && std::isfinite(k.hi) && k.lo < k.hi))
      return fail(errc::invalid_argument, fmt::format("calibrate: knob '{}' needs finite bounds lo < hi", k.name));
    for (const double v : k.grid)
      if (!(v >= k.lo && v <= k.hi))
        return fail(errc::invalid_argument, fmt::format("calibrate: knob '{}' has a grid value {} outside [{}, {}]", k.name, v, k.lo, k.hi));
  }
  const std::uint32_t kmax = *std::max_element(params.curve.ks.begin(), params.curve.ks.end());
  if (params.synthetic.samples < kmax)
    return fail(errc::invalid_argument, fmt::format("calibrate: {} synthetic samples per problem, fewer than k = {}",
                                                    params.synthetic.samples, kmax));
  if (params.grid_keep == 0 || params.max_evaluations == 0)
    return fail(errc::invalid_argument, "calibrate: grid_keep and max_evaluations must be > 0");
  calibration_result out;
  out.target = *target;
  try {
    testing::validate(params.model);
    (void)testing::make_suite(params.synthetic.suite_name, params.synthetic.suite_seed,
                              [&] { auto s = params.suite; s.size = 1; return s; }());
    const detail::calibrate::evaluator ev{params, out.target};
    const std::size_t d = params.knobs.size();
    const std::size_t full = params.suite.size;
    const std::size_t small = params.grid_problems == 0 ? full : std::min(params.grid_problems, full);
    // The coarse grid, in unit coordinates.
    std::vector<std::vector<double>> axes(d);
    std::size_t points = 1;
    for (std::size_t i = 0; i < d; ++i) {
      const auto& k = params.knobs[i];
      if (k.grid.empty()) axes[i] = {0.5};
      for (const double v : k.grid) axes[i].push_back((v - k.lo) / (k.hi - k.lo));
      points *= axes[i].size();
    }
    const std::size_t total = points + params.max_evaluations;
    std::size_t done = 0;
    auto tick = [&] {
      ++done;
      if (params.progress) params.progress(done, total);
    };
    std::vector<std::pair<std::vector<double>, double>> grid;
    for (std::size_t g = 0; g < points; ++g) {
      std::vector<double> x(d);
      for (std::size_t i = 0, r = g; i < d; ++i) {
        x[i] = axes[i][r % axes[i].size()];
        r /= axes[i].size();
      }
      const double v = ev(x, small);
      tick();
      grid.emplace_back(std::move(x), v);
    }
    std::stable_sort(grid.begin(), grid.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    std::size_t budget = params.max_evaluations;
    const std::function<double(std::span<const double>)> f = [&](std::span<const double> x) {
      tick();
      return ev(x, full);
    };
    std::vector<double> best;
    double best_value = std::numeric_limits<double>::infinity();
    const std::size_t starts = std::min(params.grid_keep, grid.size());
    for (std::size_t s = 0; s < starts && budget > 0; ++s) {
      // Each start gets an equal share of what is left, the last one all of it.
      std::size_t share = budget / (starts - s);
      if (share == 0) break;
      const std::size_t before = share;
      --share;
      const double v0 = f(grid[s].first);
      auto [x, v] = detail::calibrate::nelder_mead(f, grid[s].first, v0, 0.15, share);
      budget -= before - share;
      if (v < best_value) {
        best_value = v;
        best = std::move(x);
      }
    }
    out.evaluations = done;
    out.suite = params.suite;
    out.model = params.model;
    ev.apply(best, out.suite, out.model);
    for (std::size_t i = 0; i < d; ++i) {
      const auto& k = params.knobs[i];
      out.values.emplace_back(k.name, k.lo + (k.hi - k.lo) * std::clamp(best[i], 0.0, 1.0));
    }
    out.fitted = ev.curves_at(best, full);
    out.max_deviation = max_deviation(out.fitted, out.target);
    // The fit saw one suite and one set of sampling seeds; a fresh draw of both shows how much of
    // the match is that draw's noise.
    auto fresh = params.synthetic;
    ++fresh.suite_seed;
    ++fresh.seed;
    out.holdout = compute_curves(synthetic_samples(out.suite, out.model, fresh), params.curve).value();
    out.holdout_deviation = max_deviation(out.holdout, out.target);
  } catch (const reckon::exception& e) {
    return e.error();
  }
  return out;
}

/// The calibration as one JSON object: the target, fitted and holdout curves, the knobs' values,
/// the fitted suite and model fields the default knobs set, and both max deviations.
[[nodiscard]] inline std::string to_json(const calibration_result& r) {
  nlohmann::ordered_json j;
  auto curve = [](const curves& c) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (const auto& p : c.points) a.push_back({{"k", p.k}, {"pass", p.pass}, {"majority", p.majority}, {"best_of", p.best_of}});
    return a;
  };
  j["target_problems"] = r.target.problems;
  j["synthetic_problems"] = r.fitted.problems;
  j["target"] = curve(r.target);
  j["fitted"] = curve(r.fitted);
  j["holdout"] = curve(r.holdout);
  nlohmann::ordered_json knobs = nlohmann::ordered_json::object();
  for (const auto& [name, v] : r.values) knobs[name] = v;
  j["knobs"] = knobs;
  j["suite_params"] = {{"difficulty_power", r.suite.difficulty_power}, {"min_steps", r.suite.min_steps},
                       {"max_steps", r.suite.max_steps}, {"min_distractors", r.suite.min_distractors},
                       {"max_distractors", r.suite.max_distractors}, {"min_skew", r.suite.min_skew},
                       {"max_skew", r.suite.max_skew}};
  j["synthetic_params"] = {{"step_error_min", r.model.step_error_min}, {"step_error_max", r.model.step_error_max},
                           {"orm", {{"separation", r.model.orm.separation}, {"noise", r.model.orm.noise},
                                    {"bias", r.model.orm.bias}, {"difficulty_shift", r.model.orm.difficulty_shift}}}};
  j["max_deviation"] = r.max_deviation;
  j["holdout_deviation"] = r.holdout_deviation;
  j["evaluations"] = r.evaluations;
  return j.dump();
}

/// The calibration as text: both curves side by side, the fitted values, the max deviation.
[[nodiscard]] inline std::string to_table(const calibration_result& r) {
  std::string s = fmt::format("recording: {} problems; synthetic: {} problems\n", r.target.problems, r.fitted.problems);
  s += fmt::format("{:>3}  {:>17}  {:>17}  {:>17}\n", "k", "pass@k rec / syn", "maj@k rec / syn", "best@k rec / syn");
  for (std::size_t i = 0; i < r.target.points.size(); ++i) {
    const auto& a = r.target.points[i];
    const auto& b = r.fitted.points[i];
    s += fmt::format("{:>3}  {:>8.3f} / {:.3f}  {:>8.3f} / {:.3f}  {:>8.3f} / {:.3f}\n", a.k, a.pass, b.pass, a.majority,
                     b.majority, a.best_of, b.best_of);
  }
  s += "fitted:\n";
  for (const auto& [name, v] : r.values) s += fmt::format("  {} = {:.4g}\n", name, v);
  s += fmt::format("  (suite_params: difficulty_power {:.4g}, min_skew {:.4g}, max_skew {:.4g}; synthetic_params: "
                   "step_error_min {:.4g}, step_error_max {:.4g}, orm.separation {:.4g})\n",
                   r.suite.difficulty_power, r.suite.min_skew, r.suite.max_skew, r.model.step_error_min,
                   r.model.step_error_max, r.model.orm.separation);
  s += fmt::format("max deviation: {:.4f} on the fit's suite ({} suites evaluated); {:.4f} on a fresh suite "
                   "(suite and sampling seeds + 1)\n",
                   r.max_deviation, r.evaluations, r.holdout_deviation);
  return s;
}

} // namespace reckon::eval
