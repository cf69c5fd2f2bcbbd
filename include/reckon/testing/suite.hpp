// SPDX-License-Identifier: Apache-2.0
// Synthetic benchmark problems and the named suites (`easy`, `mixed`, `hard`) generated from a seed.
#pragma once

// What a problem hides and what it shows. The prompt names the problem by a letter code of its id
// and nothing else: no difficulty, gold, step count or trap (a test asserts it holds no digit).
//
// Trap steps (issue 14; the `standard` parameter set): a problem of difficulty d holds a trap with
// probability trap_rate * d^2 (0.6 d^2: about 12% of `easy`, 20% of `mixed`, 30% of `hard`). The
// trap is one step, at 20-60% of the solution, that a sample passes with probability trap_solve
// only, and whose error leads to the problem's most likely wrong answer (distractor 0), so votes
// converge on it. Half of the traps are never passed (trap_solve = 0: the model lacks the idea),
// the others with trap_solve uniform in [0.05, 0.35]; so pass@k saturates below 1 on every suite,
// lowest on `hard`. Reward models misjudge a trap's error with a stated probability per problem
// (reward_params::trap_misjudge, synthetic_model.hpp). The rates are a prior, not fitted:
// Snell et al. (2024) and HF search-and-learn report problems that no number of samples solves
// and PRM search over-optimising on them; the figures above only make that possible.
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/random/stream.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace reckon::testing {

/// One synthetic problem: the hidden facts the synthetic model's generative process runs on.
struct synthetic_problem {
  std::uint64_t id = 0;                   ///< problem::id; keys every random stream of this problem
  std::string name;                       ///< "<suite>-<index>", stable across runs
  double difficulty = 0.0;                ///< in [0, 1]; the per-step error probability rises with it
  std::uint32_t steps = 1;                ///< reasoning steps of a full solution (>= 1)
  std::uint32_t prompt_tokens = 1;        ///< tokens of the prompt (prefilled once per sequence tree)
  double step_tokens = 40.0;              ///< mean tokens of one step (before the agent's token scale)
  std::string gold;                       ///< the correct final answer (an integer, as text)
  std::vector<std::string> distractors;   ///< the wrong answers an error can lead to (never the gold)
  std::vector<double> distractor_weights; ///< probability of each distractor given an error; sums to 1, descending
  std::uint32_t trap_step = 0;            ///< 1-based index of the trap step; 0: no trap
  double trap_solve = 1.0;                ///< probability that a sample passes the trap step (when there is one)

  /// The reckon::problem handed to strategies: the prompt names the problem by a letter code of its
  /// id and says nothing a strategy could read to cheat (no difficulty, gold, step count or trap).
  [[nodiscard]] reckon::problem as_problem() const {
    std::string code;
    for (std::uint64_t v = id; code.size() < 8; v /= 26) code += static_cast<char>('a' + v % 26);
    return reckon::problem{id, fmt::format("Synthetic problem {}. Solve it step by step.", code)};
  }
};

/// How a suite's problems are drawn. Difficulty is u^difficulty_power for u uniform in [0, 1):
/// power 1 is uniform; power > 1 leans easy; power < 1 leans hard.
struct suite_params {
  std::size_t size = 300;              ///< number of problems (> 0)
  double difficulty_power = 1.0;       ///< shape of the difficulty mix (> 0), see above
  std::uint32_t min_steps = 2;         ///< steps at difficulty 0 (>= 1)
  std::uint32_t max_steps = 10;        ///< steps at difficulty 1 (>= min_steps)
  std::uint32_t min_distractors = 2;   ///< fewest wrong answers a problem has (>= 1)
  std::uint32_t max_distractors = 6;   ///< most wrong answers (>= min_distractors)
  double min_skew = 0.5;               ///< distractor weights are (j + 1)^-skew, skew uniform in [min_skew, max_skew]
  double max_skew = 2.5;               ///< see min_skew (>= min_skew)
  double min_step_tokens = 25.0;       ///< mean step tokens drawn uniform in [min_step_tokens, max_step_tokens]
  double max_step_tokens = 75.0;       ///< see min_step_tokens
  std::uint32_t min_prompt_tokens = 40;  ///< prompt tokens drawn uniform in [min, max]
  std::uint32_t max_prompt_tokens = 200; ///< see min_prompt_tokens
  double trap_rate = 0.6;              ///< a problem holds a trap with probability trap_rate * difficulty^2, in [0, 1]
  double trap_unsolvable = 0.5;        ///< fraction of traps never passed (trap_solve = 0), in [0, 1]
  double trap_solve_min = 0.05;        ///< the other traps: trap_solve uniform in [trap_solve_min, trap_solve_max]
  double trap_solve_max = 0.35;        ///< see trap_solve_min (<= 1)
};

/// Every field of `p` but its size, as text: what a cache of fits over suites drawn with `p` keys on.
[[nodiscard]] inline std::string fingerprint(const suite_params& p) {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", p.difficulty_power, p.min_steps, p.max_steps,
                     p.min_distractors, p.max_distractors, p.min_skew, p.max_skew, p.min_step_tokens, p.max_step_tokens,
                     p.min_prompt_tokens, p.max_prompt_tokens, p.trap_rate, p.trap_unsolvable, p.trap_solve_min,
                     p.trap_solve_max);
}

/// The suite parameters of the `lenient` set: no traps (every problem solvable step by step), as
/// reckon's figures before issue 14 were measured.
[[nodiscard]] inline suite_params lenient_suite_params() {
  suite_params p;
  p.trap_rate = 0.0;
  return p;
}

/// A named set of synthetic problems.
struct suite {
  std::string name;                        ///< the suite's name, e.g. "mixed"
  std::uint64_t seed = 0;                  ///< the seed it was generated from
  suite_params params{};                   ///< the parameters it was generated with (size aside, to make kin suites)
  std::vector<synthetic_problem> problems; ///< in index order
};

/// The names of the built-in suites, in the order the tool lists them.
[[nodiscard]] inline std::vector<std::string_view> suite_names() { return {"easy", "mixed", "hard", "calibrated-math"}; }

/// One line on what a built-in suite is, or an empty view for an unknown name.
[[nodiscard]] inline std::string_view suite_description(std::string_view name) {
  if (name == "easy") return "300 problems leaning easy (difficulty u^2, mean 0.33)";
  if (name == "mixed") return "300 problems of uniform difficulty (mean 0.5)";
  if (name == "hard") return "300 problems leaning hard (difficulty u^0.5, mean 0.67)";
  if (name == "calibrated-math")
    return "2000 problems fitted to a real recording (Qwen2.5-Math, 100 MATH problems x 8; with calibrated_math_params())";
  return {};
}

/// The `calibrated-math` suite's fitted suite parameters (difficulty mix and distractor skew): the
/// output of `reckon-eval calibrate --data tests/data/replay/qwen25_math_cot_100.jsonl --threads 2`
/// on the standard instrument (eval/calibrate.hpp). The recording: QwenLM/Qwen2.5-Math,
/// evaluation/data/eval_rm_maj_example/math_cot_100.jsonl (100 MATH problems x 8 chains of thought of
/// Qwen2.5-Math-7B-Instruct with Qwen2.5-Math-RM-72B scores), MIT licence, Copyright (c) 2024 Zhibin
/// Gou. Fitted curves (recording / synthetic), k = 1, 2, 4, 8: pass@k 0.911/0.908, 0.935/0.939,
/// 0.956/0.957, 0.970/0.970; majority@k 0.911/0.908, 0.911/0.908, 0.921/0.922, 0.925/0.927; best-of-k
/// by reward 0.911/0.908, 0.930/0.928, 0.941/0.941, 0.950/0.950 (max deviation 0.0035 on the fit's
/// suite, 0.0083 on a fresh one). The data pin the curves, not each parameter (a fit on another
/// suite size lands elsewhere with curves as good); 2000 problems keep the suite's Monte-Carlo noise
/// under the 0.02 goal. The model's fitted half is calibrated_math_params() (synthetic_model.hpp).
[[nodiscard]] inline suite_params calibrated_math_suite_params() {
  suite_params p;
  p.size = 2000;
  p.difficulty_power = 12.087627216152358;
  p.min_skew = 1.1061526542798323;
  p.max_skew = 3.1061526542798323;
  return p;
}

/// The default seed of the built-in suites.
inline constexpr std::uint64_t default_suite_seed = 20260101;

/// Generates a suite named `name` from `seed` with explicit parameters. Problem i depends only on
/// (seed, name, i), so a larger suite extends a smaller one. Throws reckon::exception
/// (invalid_argument) on inconsistent parameters.
[[nodiscard]] inline suite make_suite(std::string_view name, std::uint64_t seed, const suite_params& p) {
  detail::require(p.size > 0, "make_suite: size must be > 0");
  detail::require(std::isfinite(p.difficulty_power) && p.difficulty_power > 0.0, "make_suite: difficulty_power must be > 0");
  detail::require(p.min_steps >= 1 && p.max_steps >= p.min_steps, "make_suite: need 1 <= min_steps <= max_steps");
  detail::require(p.min_distractors >= 1 && p.max_distractors >= p.min_distractors,
                  "make_suite: need 1 <= min_distractors <= max_distractors");
  detail::require(std::isfinite(p.min_skew) && p.min_skew >= 0.0 && p.max_skew >= p.min_skew && std::isfinite(p.max_skew),
                  "make_suite: need 0 <= min_skew <= max_skew");
  detail::require(p.min_step_tokens >= 1.0 && p.max_step_tokens >= p.min_step_tokens && std::isfinite(p.max_step_tokens),
                  "make_suite: need 1 <= min_step_tokens <= max_step_tokens");
  detail::require(p.min_prompt_tokens >= 1 && p.max_prompt_tokens >= p.min_prompt_tokens,
                  "make_suite: need 1 <= min_prompt_tokens <= max_prompt_tokens");
  auto unit = [](double v) { return std::isfinite(v) && v >= 0.0 && v <= 1.0; };
  detail::require(unit(p.trap_rate) && unit(p.trap_unsolvable), "make_suite: trap_rate and trap_unsolvable must be in [0, 1]");
  detail::require(unit(p.trap_solve_min) && unit(p.trap_solve_max) && p.trap_solve_min <= p.trap_solve_max,
                  "make_suite: need 0 <= trap_solve_min <= trap_solve_max <= 1");
  suite out;
  out.name = std::string(name);
  out.seed = seed;
  out.params = p;
  out.problems.reserve(p.size);
  const std::uint64_t suite_key = stable_id(name);
  for (std::size_t i = 0; i < p.size; ++i) {
    synthetic_problem q;
    q.name = fmt::format("{}-{}", name, i);
    q.id = stable_id(q.name);
    random_stream s(stream_key{seed, suite_key, static_cast<std::uint32_t>(i), 0});
    q.difficulty = std::pow(uniform01(s), p.difficulty_power);
    // Steps grow with difficulty, with +-25% jitter, rounded.
    const double span = static_cast<double>(p.max_steps - p.min_steps);
    const double raw = p.min_steps + span * q.difficulty * (0.75 + 0.5 * uniform01(s));
    q.steps = static_cast<std::uint32_t>(std::clamp(std::lround(raw), static_cast<long>(p.min_steps),
                                                    static_cast<long>(p.max_steps)));
    q.prompt_tokens = p.min_prompt_tokens + static_cast<std::uint32_t>(uniform01(s) * (p.max_prompt_tokens - p.min_prompt_tokens + 1));
    q.prompt_tokens = std::min(q.prompt_tokens, p.max_prompt_tokens);
    q.step_tokens = p.min_step_tokens + (p.max_step_tokens - p.min_step_tokens) * uniform01(s);
    const long gold = 10 + static_cast<long>(uniform01(s) * 9990.0);
    q.gold = std::to_string(gold);
    const std::uint32_t m =
        p.min_distractors + static_cast<std::uint32_t>(uniform01(s) * (p.max_distractors - p.min_distractors + 1));
    const std::uint32_t count = std::min(m, p.max_distractors);
    // Wrong answers near the gold (an off-by-something slip), all distinct and never the gold.
    while (q.distractors.size() < count) {
      long offset = 1 + static_cast<long>(uniform01(s) * 40.0);
      if (uniform01(s) < 0.5) offset = -offset;
      const std::string d = std::to_string(gold + offset);
      if (std::find(q.distractors.begin(), q.distractors.end(), d) == q.distractors.end()) q.distractors.push_back(d);
    }
    const double skew = p.min_skew + (p.max_skew - p.min_skew) * uniform01(s);
    double total = 0.0;
    for (std::uint32_t j = 0; j < count; ++j) {
      q.distractor_weights.push_back(std::pow(static_cast<double>(j + 1), -skew));
      total += q.distractor_weights.back();
    }
    for (double& w : q.distractor_weights) w /= total;
    // Traps draw from a stream of their own, so the draws above match the lenient suites'.
    random_stream t(stream_key{seed, suite_key, static_cast<std::uint32_t>(i), 1});
    if (uniform01(t) < p.trap_rate * q.difficulty * q.difficulty) {
      const double at = 0.2 + 0.4 * uniform01(t);
      q.trap_step = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(at * q.steps));
      q.trap_solve = uniform01(t) < p.trap_unsolvable ? 0.0
                                                        : p.trap_solve_min + (p.trap_solve_max - p.trap_solve_min) * uniform01(t);
    }
    out.problems.push_back(std::move(q));
  }
  return out;
}

/// The named parameter sets of the synthetic instrument: `standard` (the default: traps, variable
/// paths, agent-dependent confidence, reward quality falling with difficulty; issue 14) and
/// `lenient` (every problem solvable, every path of a problem the same length: reckon's figures
/// before issue 14, kept so that they can be reproduced).
enum class parameter_set : std::uint8_t { standard, lenient };

/// "standard" or "lenient".
[[nodiscard]] constexpr std::string_view to_string(parameter_set s) noexcept {
  return s == parameter_set::lenient ? "lenient" : "standard";
}

/// The built-in suite `name` ("easy", "mixed", "hard") generated from `seed`, with `size` problems
/// (0: the default 300), under parameter set `set`. Returns errc::invalid_argument naming the known
/// suites for another name.
[[nodiscard]] inline result<suite> make_suite(std::string_view name, std::uint64_t seed = default_suite_seed,
                                              std::size_t size = 0, parameter_set set = parameter_set::standard) {
  suite_params p = set == parameter_set::lenient ? lenient_suite_params() : suite_params{};
  if (name == "calibrated-math") {
    p = calibrated_math_suite_params();
    if (set == parameter_set::lenient) p.trap_rate = 0.0;
  }
  if (size != 0) p.size = size;
  if (name == "easy") p.difficulty_power = 2.0;
  else if (name == "mixed") p.difficulty_power = 1.0;
  else if (name == "hard") p.difficulty_power = 0.5;
  else if (name != "calibrated-math")
    return fail(errc::invalid_argument, fmt::format("unknown suite '{}' (known: easy, mixed, hard, calibrated-math)", name));
  return make_suite(name, seed, p);
}

/// A suite drawn like `kin` (same name and parameters) from another seed and size: the calibration
/// set of a strategy that fits on one suite and runs on another.
[[nodiscard]] inline suite make_kin_suite(const suite& kin, std::uint64_t seed, std::size_t size) {
  suite_params p = kin.params;
  p.size = size;
  return make_suite(kin.name, seed, p);
}

} // namespace reckon::testing
