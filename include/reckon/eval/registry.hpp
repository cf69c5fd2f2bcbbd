// SPDX-License-Identifier: Apache-2.0
// The strategy registry: stable names (as reckon-eval spells them) mapped to runnable strategies.
#pragma once

#include <reckon/aggregate/reduce.hpp>
#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/ledger.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/eval/answers.hpp>
#include <reckon/strategy/best_of_n.hpp>
#include <reckon/strategy/deepconf.hpp>
#include <reckon/strategy/self_consistency.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/testing/replay_model.hpp>
#include <reckon/testing/synthetic_model.hpp>

#include <fmt/format.h>

#include <algorithm>
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

/// The answer key a run uses: recorded answers unless the run asks to extract them from the text.
[[nodiscard]] inline canonical_answer_key key_for(const run_config& c) noexcept {
  canonical_answer_key key;
  key.ignore_recorded = c.extract;
  return key;
}

/// The run's stream: (seed, problem).
[[nodiscard]] inline random_stream stream_for(const problem& p, const run_config& c) noexcept {
  return random_stream(stream_key{c.seed, p.id, 0, 0});
}

/// Sampling parameters of reckon-eval's sample-based runs: no token cap (the budget is n samples).
[[nodiscard]] inline sampling_params uncapped_sampling() {
  sampling_params s;
  s.max_tokens = 1u << 20;
  return s;
}

/// Self-consistency with stopping rule Stop at n = budget (stream and key from the run).
template <class Stop>
struct self_consistency_runner {
  Stop stop{};

  template <class M>
    requires sampling_model<M>
  result<run_outcome> operator()(M& model, const problem& p, const run_config& c) const {
    self_consistency_params params;
    params.n = c.budget;
    params.sampling = uncapped_sampling();
    const basic_self_consistency<Stop, unit_weight, canonical_answer_key> strategy(params, stop, unit_weight{}, key_for(c));
    auto r = strategy.run(model, p, budget{}, stream_for(p, c));
    if (!r) return r.error();
    return run_outcome{std::move(r->answer)};
  }
};

/// Best-of-n with selection Selection and scorer Scorer at n = budget, the model being its own
/// reward model.
template <class Selection, class Scorer>
struct best_of_n_runner {
  template <class M>
    requires sampling_model<M> && (Scorer::template accepts<M>)
  result<run_outcome> operator()(M& model, const problem& p, const run_config& c) const {
    best_of_n_params params;
    params.n = c.budget;
    params.sampling = uncapped_sampling();
    const basic_best_of_n<Selection, Scorer, canonical_answer_key> strategy(params, Scorer{}, key_for(c));
    auto r = strategy.run(model, model, p, budget{}, stream_for(p, c));
    if (!r) return r.error();
    return run_outcome{std::move(r->answer)};
  }
};

/// DeepConf's group window in reckon-eval. The paper's 2048 tokens is a small fraction of its
/// reasoning traces; the synthetic suites' traces average ~310 tokens (mixed: 314), so 2048 would
/// never cut one and online DeepConf would save only by its consensus stop. On the synthetic model
/// the window keeps that proportion: 64 tokens, about a fifth of a trace (on `mixed` at n = 32 it
/// stops 81% of the later traces early). Any other model keeps the paper's 2048 (recordings of
/// reasoning traces, as DeepConf's own, run to thousands of tokens; a recording needs
/// token_confidences, else DeepConf reports an error on it).
template <class M>
inline constexpr std::uint32_t deepconf_window = std::is_same_v<M, synthetic_meter> ? 64 : 2048;

/// The answer of a trace on a recording: a stepped trace (testing::replay_stepper) carries only
/// its text and source, so its recorded answer is read back from the sample it replays.
struct recorded_answer_key {
  const testing::replay_model* recording = nullptr;
  problem prob{};
  canonical_answer_key base{};

  [[nodiscard]] std::optional<std::string> operator()(const completion& c) const {
    if (c.answer || recording == nullptr) return base(c);
    const testing::replay_sample* s = recording->recorded(prob, c.source);
    if (s == nullptr || !s->answer) return base(c);
    completion with_answer = c;
    with_answer.answer = s->answer;
    return base(with_answer);
  }
};

/// DeepConf (offline or online) with the paper's parameters, n = budget traces, n_init = min(16, n),
/// the window deepconf_window (the same for both modes: one calibration). Online on recordings
/// runs on testing::replay_stepper one token a step, so a trace is cut at the token whose window
/// fell below the threshold and only the tokens up to it are paid for (the stepper's ledger is
/// added through run_config::side_costs).
template <class Mode>
struct deepconf_runner {
  template <class M>
    requires logprob_model<M> && (sampling_model<M> || stepping_model<M>)
  result<run_outcome> operator()(M& model, const problem& p, const run_config& c) const {
    deepconf_params params;
    params.n = c.budget;
    params.n_init = std::min<std::uint32_t>(16, c.budget);
    params.window = deepconf_window<M>;
    params.sampling = uncapped_sampling();
    if constexpr (std::is_same_v<M, replay_meter> && std::is_same_v<Mode, deepconf_online>) {
      params.max_step_tokens = 1;
      testing::replay_stepper stepper(model.model());
      metered<testing::replay_stepper&> meter(stepper);
      const basic_deepconf<Mode, recorded_answer_key> strategy(params, recorded_answer_key{&model.model(), p, key_for(c)});
      auto r = strategy.run(meter, p, budget{}, stream_for(p, c));
      if (c.side_costs != nullptr) *c.side_costs += meter.ledger();
      if (!r) return r.error();
      return run_outcome{std::move(r->answer)};
    } else {
      const basic_deepconf<Mode, canonical_answer_key> strategy(params, key_for(c));
      auto r = strategy.run(model, p, budget{}, stream_for(p, c));
      if (!r) return r.error();
      return run_outcome{std::move(r->answer)};
    }
  }
};

/// Registers best-of-n (naive or weighted) with one scorer under `name`.
template <class Selection, class Scorer>
void add_best_of_n(strategy_registry& r, std::string name, std::string description) {
  r.add(std::move(name), std::move(description), best_of_n_runner<Selection, Scorer>{});
}

} // namespace builtin

/// The reducer suffixes of `best-of-n:<reducer>` and `weighted-best-of-n:<reducer>`.
[[nodiscard]] inline std::vector<std::string_view> best_of_n_reducers() {
  return {"orm", "prm-last", "prm-min", "prm-prod", "prm-mean"};
}

/// Registers the sample-based strategies (issue 7): majority, weighted-majority, adaptive-sc, esc,
/// best-of-n:<reducer>, weighted-best-of-n:<reducer>, deepconf-offline, deepconf-online. The budget
/// is n samples (traces) per problem.
inline void register_builtin_strategies(strategy_registry& r) {
  using namespace builtin;
  r.add("majority", "self-consistency: plurality vote over n samples (budget: n)",
        self_consistency_runner<stop_never>{});
  r.add("adaptive-sc", "self-consistency, stopping when the Beta posterior of the leader reaches 0.95 (budget: at most n)",
        self_consistency_runner<stop_posterior>{});
  r.add("esc", "early-stopping self-consistency: windows of 5, stop at the first unanimous one (budget: at most n)",
        self_consistency_runner<stop_window>{});
  add_best_of_n<select_weighted, orm_scorer>(r, "weighted-majority",
                                             "vote over n samples weighted by the ORM score (= weighted-best-of-n:orm)");
  const auto describe = [](std::string_view how, std::string_view red) {
    return red == "orm" ? fmt::format("{} by ORM score (budget: n)", how)
                        : fmt::format("{} by PRM step scores reduced by {} (budget: n)", how, red.substr(4));
  };
  const std::string naive = "best-of-n: the best sample";
  const std::string weighted = "weighted best-of-n: the answer with the largest summed score";
  add_best_of_n<select_naive, orm_scorer>(r, "best-of-n:orm", describe(naive, "orm"));
  add_best_of_n<select_naive, prm_scorer<reduce_last>>(r, "best-of-n:prm-last", describe(naive, "prm-last"));
  add_best_of_n<select_naive, prm_scorer<reduce_min>>(r, "best-of-n:prm-min", describe(naive, "prm-min"));
  add_best_of_n<select_naive, prm_scorer<reduce_prod>>(r, "best-of-n:prm-prod", describe(naive, "prm-prod"));
  add_best_of_n<select_naive, prm_scorer<reduce_mean>>(r, "best-of-n:prm-mean", describe(naive, "prm-mean"));
  add_best_of_n<select_weighted, orm_scorer>(r, "weighted-best-of-n:orm", describe(weighted, "orm"));
  add_best_of_n<select_weighted, prm_scorer<reduce_last>>(r, "weighted-best-of-n:prm-last", describe(weighted, "prm-last"));
  add_best_of_n<select_weighted, prm_scorer<reduce_min>>(r, "weighted-best-of-n:prm-min", describe(weighted, "prm-min"));
  add_best_of_n<select_weighted, prm_scorer<reduce_prod>>(r, "weighted-best-of-n:prm-prod", describe(weighted, "prm-prod"));
  add_best_of_n<select_weighted, prm_scorer<reduce_mean>>(r, "weighted-best-of-n:prm-mean", describe(weighted, "prm-mean"));
  r.add("deepconf-offline",
        "DeepConf offline: n traces, keep the 10% most confident answered ones (lowest 64-token group, about a fifth "
        "of a synthetic trace), weighted vote (budget: n)",
        deepconf_runner<deepconf_offline>{});
  r.add("deepconf-online",
        "DeepConf online: 16 warm-up traces set the threshold; later traces cut as soon as a 64-token window (about a "
        "fifth of a synthetic trace) falls below it; consensus stop (budget: at most n)",
        deepconf_runner<deepconf_online>{});
}

} // namespace reckon::eval
