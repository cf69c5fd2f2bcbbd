// SPDX-License-Identifier: Apache-2.0
// The strategy registry: stable names (as reckon-eval spells them) mapped to runnable strategies.
#pragma once

#include <reckon/aggregate/reduce.hpp>
#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/ledger.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/eval/answers.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/testing/replay_model.hpp>
#include <reckon/testing/synthetic_model.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace reckon::eval {

/// What a strategy run is given besides the model and the problem.
struct run_config {
  std::uint32_t budget = 1; ///< the budget: n samples for sample-based strategies (> 0)
  std::uint64_t seed = 0;   ///< the run's seed; runners key their streams by (seed, problem.id, ...)
  bool extract = false;     ///< ignore answers recorded upstream; extract them from the text
  ledger* side_costs = nullptr; ///< runners that call a second model (e.g. a slow agent built from
                                ///< model.model().shared_problems()) add its metered ledger here; the
                                ///< harness adds it to the row's costs (set by the harness, may be null)
};

/// What a strategy run returns; its cost is read from the metered model by the harness.
struct run_outcome {
  std::optional<std::string> answer; ///< the canonical answer, or nullopt when the run gave none
};

/// The synthetic model as runners see it: metered, so every call lands in the harness's ledger.
using synthetic_meter = metered<testing::synthetic_model&>;
/// The replay model as runners see it.
using replay_meter = metered<testing::replay_model&>;

/// A type-erased run of one strategy on one problem.
template <class Model>
using runner = std::function<result<run_outcome>(Model&, const problem&, const run_config&)>;

/// One registered strategy.
struct strategy_entry {
  std::string name;                  ///< the stable name, e.g. "best-of-n:prm-last"
  std::string description;           ///< one line for `reckon-eval strategies`
  runner<synthetic_meter> synthetic; ///< runs on the synthetic model (empty: not available)
  runner<replay_meter> replay;       ///< runs on recorded samples (empty: needs more than recordings hold)
};

/// Maps stable names to strategies. A strategy registers once with a generic callable
/// `f(model, problem, config) -> result<run_outcome>`, constrained (a `requires` clause) on the
/// capabilities it needs; the registry instantiates it for each model it can run on.
/// ```
/// registry.add("my-strategy", "what it does", []<class M>(M& model, const reckon::problem& p,
///              const reckon::eval::run_config& c) -> reckon::result<reckon::eval::run_outcome>
///              requires reckon::sampling_model<M> { ... });
/// ```
class strategy_registry {
public:
  /// Registers `fn` under `name`. Throws reckon::exception (invalid_argument) when the name is
  /// empty or taken, or when `fn` runs on neither the synthetic nor the replay model.
  template <class F>
  void add(std::string name, std::string description, F fn) {
    reckon::detail::require(!name.empty(), "strategy_registry::add: empty name");
    reckon::detail::require(find(name) == nullptr, "strategy_registry::add: name already registered");
    strategy_entry e{std::move(name), std::move(description), {}, {}};
    constexpr bool on_synthetic = std::is_invocable_r_v<result<run_outcome>, F&, synthetic_meter&, const problem&, const run_config&>;
    constexpr bool on_replay = std::is_invocable_r_v<result<run_outcome>, F&, replay_meter&, const problem&, const run_config&>;
    static_assert(on_synthetic || on_replay, "a strategy must run on the synthetic or the replay model");
    if constexpr (on_synthetic) e.synthetic = fn;
    if constexpr (on_replay) e.replay = fn;
    entries_.push_back(std::move(e));
  }

  /// The strategy named `name`, or nullptr.
  [[nodiscard]] const strategy_entry* find(std::string_view name) const noexcept {
    for (const auto& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }
  /// Every strategy, in registration order.
  [[nodiscard]] const std::vector<strategy_entry>& entries() const noexcept { return entries_; }

private:
  std::vector<strategy_entry> entries_;
};

namespace builtin {

/// A completion as a solution view: its text split after each blank line ("\n\n"), the steps the
/// synthetic model writes and the split replay step_rewards align with.
struct split_completion {
  std::vector<std::string> steps; ///< the steps, each with its delimiter
  std::uint64_t source = 0;       ///< the completion's source
  /// The view (valid while this object lives).
  [[nodiscard]] solution_view view() const { return solution_view{steps, true, source}; }
};

/// Splits a completion's text into steps after each "\n\n" (a text without one is one step).
[[nodiscard]] inline split_completion split_steps(const completion& c) {
  split_completion out;
  out.source = c.source;
  std::size_t pos = 0;
  while (pos < c.text.size()) {
    std::size_t end = c.text.find("\n\n", pos);
    end = end == std::string::npos ? c.text.size() : end + 2;
    out.steps.push_back(c.text.substr(pos, end - pos));
    pos = end;
  }
  if (out.steps.empty()) out.steps.emplace_back();
  return out;
}

/// n samples of `p` in one call, seeded from the (seed, problem) stream.
template <class M>
  requires sampling_model<M>
result<sample_batch> draw(M& model, const problem& p, const run_config& c) {
  if (c.budget == 0) return fail(errc::invalid_argument, "budget (n) must be > 0");
  random_stream stream(stream_key{c.seed, p.id, 0, 0});
  sampling_params sp;
  sp.seed = request_seed(stream);
  sp.max_tokens = 1u << 20;
  return model.sample(p, sp, c.budget);
}

/// The answers of a batch.
inline std::vector<std::optional<std::string>> answers(const sample_batch& b, const run_config& c) {
  std::vector<std::optional<std::string>> out;
  out.reserve(b.completions.size());
  for (const auto& comp : b.completions) out.push_back(answer_of(comp, c.extract));
  return out;
}

/// Self-consistency at fixed n: the plurality answer (ties: seen first).
struct majority {
  template <class M>
    requires sampling_model<M>
  result<run_outcome> operator()(M& model, const problem& p, const run_config& c) const {
    auto batch = draw(model, p, c);
    if (!batch) return batch.error();
    return run_outcome{plurality_vote(answers(batch.value(), c)).winner()};
  }
};

/// The ORM-weighted vote: a* = argmax_a sum_{i: ans_i = a} orm_i.
struct weighted_majority {
  template <class M>
    requires sampling_model<M> && outcome_reward_model<M>
  result<run_outcome> operator()(M& model, const problem& p, const run_config& c) const {
    auto batch = draw(model, p, c);
    if (!batch) return batch.error();
    std::vector<split_completion> split;
    std::vector<solution_view> views;
    for (const auto& comp : batch.value().completions) split.push_back(split_steps(comp));
    for (const auto& s : split) views.push_back(s.view());
    auto scores = model.score_outcomes(p, views);
    if (!scores) return scores.error();
    const std::vector<double>& weights = scores.value();
    if (weights.size() != views.size()) return fail(errc::engine_failure, "ORM returned the wrong number of scores");
    return run_outcome{weighted_vote(answers(batch.value(), c), weights).winner()};
  }
};

/// Best-of-n: the answer of the highest-scoring sample (ORM, or PRM steps reduced); ties: first.
struct best_of_n {
  std::optional<step_reduction> reduction; ///< nullopt: score with the ORM

  template <class M>
    requires sampling_model<M> && outcome_reward_model<M> && process_reward_model<M>
  result<run_outcome> operator()(M& model, const problem& p, const run_config& c) const {
    auto batch = draw(model, p, c);
    if (!batch) return batch.error();
    std::vector<split_completion> split;
    std::vector<solution_view> views;
    for (const auto& comp : batch.value().completions) split.push_back(split_steps(comp));
    for (const auto& s : split) views.push_back(s.view());
    std::vector<double> scores;
    if (!reduction) {
      auto s = model.score_outcomes(p, views);
      if (!s) return s.error();
      scores = std::move(s).value();
    } else {
      auto s = model.score_steps(p, views);
      if (!s) return s.error();
      const std::vector<std::vector<double>>& steps = s.value();
      if (steps.size() != views.size()) return fail(errc::engine_failure, "PRM returned the wrong number of candidates");
      for (std::size_t i = 0; i < steps.size(); ++i) {
        if (steps[i].size() != views[i].steps.size()) return fail(errc::engine_failure, "PRM returned the wrong number of step scores");
        try {
          scores.push_back(reduce_steps(*reduction, steps[i]));
        } catch (const reckon::exception& e) {
          return fail(errc::engine_failure, fmt::format("PRM score out of range: {}", e.error().message));
        }
      }
    }
    if (scores.size() != views.size()) return fail(errc::engine_failure, "reward model returned the wrong number of scores");
    std::size_t best = 0;
    for (std::size_t i = 1; i < scores.size(); ++i)
      if (scores[i] > scores[best]) best = i;
    return run_outcome{answer_of(batch.value().completions[best], c.extract)};
  }
};

} // namespace builtin

/// The reducer suffixes of `best-of-n:<reducer>`.
[[nodiscard]] inline std::vector<std::string_view> best_of_n_reducers() {
  return {"orm", "prm-last", "prm-min", "prm-prod", "prm-mean"};
}

/// Registers the strategies reckon ships. Strategy issues add one line each here.
inline void register_builtin_strategies(strategy_registry& r) {
  r.add("majority", "self-consistency: plurality vote over n samples (budget: n)", builtin::majority{});
  r.add("weighted-majority", "vote over n samples weighted by the ORM score (budget: n)", builtin::weighted_majority{});
  for (const std::string_view red : best_of_n_reducers()) {
    std::optional<step_reduction> how;
    if (red != "orm") how = parse_step_reduction(red.substr(4));
    r.add(fmt::format("best-of-n:{}", red),
          red == "orm" ? std::string("best-of-n: the sample the ORM scores highest (budget: n)")
                       : fmt::format("best-of-n: the sample with the highest PRM {} step score (budget: n)", red.substr(4)),
          builtin::best_of_n{how});
  }
}

/// The registry reckon-eval uses: every built-in strategy, registered once (thread-safe).
[[nodiscard]] inline const strategy_registry& default_registry() {
  static const strategy_registry registry = [] {
    strategy_registry r;
    register_builtin_strategies(r);
    return r;
  }();
  return registry;
}

} // namespace reckon::eval
