// SPDX-License-Identifier: Apache-2.0
// Particle filtering over reasoning steps: PRM-weighted particles, resampled by forking, never re-prefilled.
#pragma once

// Algorithm (Puri et al. 2025, "A Probabilistic Inference Approach to Inference-Time Scaling of
// LLMs using Particle-Based Monte Carlo Methods"; reference code: Puri et al.'s
// particle_gibbs_batch.py and its_hub's particle_gibbs.py with one iteration): n particles start
// from one prompt (one begin, n - 1 forks); each step extends every unfinished particle by one
// step in ONE batched extend and scores them in ONE PRM call, which stores each one's latest step
// score r_i. Then every particle's weight, finished ones included, is derived afresh from its
// stored score at the current temperature, w_i = softmax(logit(r_i) / T) (T = 1: the PRM's odds;
// optional linear annealing on Puri's schedule, see temperature_at), and when the Trigger says
// so n offspring are drawn by the Resampler over all particles (finished ones may be drawn); a
// duplicate is a fork of its parent (shared prefix, no prefill), a dropped particle is released.
// Stops when every particle is finished, at the step cap or at the budget; nothing follows the
// last step (no resampling). Particles unfinished at the step cap stay in the final population
// with their latest score and their text's answer, as in both references; with finish_steps > 0
// they are first extended by up to that many unscored steps (detail::finish_paths) so that they
// can reach an answer. Answer (Selection): select_naive, the default, as both references (its_hub's
// ARGMAX; Puri's evaluation takes the highest final reward): the answer of the particle with the
// highest weight; select_weighted (weighted_particle_filter): the weighted vote of the final
// population.
// Cost: per step one extend (live particles' step tokens) and one PRM call; prompt prefilled once;
// finish_steps rounds: one extend each, no PRM call.
// Deviations: scores are clamped to [eps, 1 - eps] before the logit so that 0 and 1 give finite
// weights; a fork refused for capacity leaves fewer particles (stated in the trace); near a token
// budget a step's token cap is lowered so that the run never passes the budget, and a run the
// budget stops answers from its finished particles only (the references have no budget; a
// particle cut there ends where the budget fell, so an answer in its text is an accident); a
// particle whose text holds no answer abstains (the argmax takes the heaviest particle that has
// one, where the references would return the answerless text); a step the budget leaves no PRM
// call for (wall time, deadline) stays unscored and its particles keep their previous score.
// Annealing follows Puri's schedule exactly (step / (anneal_steps - 1) from step 1).

#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/fwd.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/resample/multinomial.hpp>
#include <reckon/resample/resampler.hpp>
#include <reckon/resample/trigger.hpp>
#include <reckon/resample/weights.hpp>
#include <reckon/strategy/answer_key.hpp>
#include <reckon/strategy/best_of_n.hpp>
#include <reckon/strategy/detail/guarded_run.hpp>
#include <reckon/strategy/detail/search.hpp>
#include <reckon/strategy/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace reckon {

/// Runtime numbers of the particle filter.
struct particle_filter_params {
  std::uint32_t n = 16;              ///< particles (> 0)
  std::uint32_t max_steps = 64;      ///< step cap: the most extends of one particle (> 0)
  step_params stepping{};            ///< each extend's parameters (max_step_tokens is lowered near a token budget)
  double temperature = 1.0;          ///< T in w_i = softmax(logit(r_i) / T) (> 0); 1 gives the PRM's odds
  double final_temperature = 0.0;    ///< > 0 with anneal_steps > 0: the T the schedule ends at
  std::uint32_t anneal_steps = 0;    ///< Puri's total_steps of the linear schedule (0: no annealing; see temperature_at)
  std::uint32_t finish_steps = 0;    ///< at the step cap, up to this many more unscored steps for each unfinished particle so it can answer (0: capped particles are kept as they are)
  double score_clamp = 1e-6;         ///< r is clamped to [eps, 1 - eps] before the logit, in (0, 0.5)
  vote_params vote{};                ///< tie-break of the final vote
};

/// Particle filtering with compile-time choices of resampling scheme, trigger, selection and key.
/// @tparam Resampler multinomial_resampler (Puri et al.), systematic_, stratified_ or residual_resampler
/// @tparam Trigger   always_resample (every step, as the paper) or ess_below{tau}
/// @tparam Selection select_naive (the heaviest particle's answer, as the references) or
///                   select_weighted (weighted vote of the final population)
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class Resampler, class Trigger, class Selection, class AnswerKey>
class basic_particle_filter {
  static_assert(resampler<Resampler>, "basic_particle_filter: Resampler must satisfy reckon::resampler");
  static_assert(resample_trigger<Trigger>, "basic_particle_filter: Trigger must satisfy reckon::resample_trigger");
  static_assert(std::is_same_v<Selection, select_naive> || std::is_same_v<Selection, select_weighted>,
                "basic_particle_filter: Selection must be select_naive or select_weighted");

public:
  using params_type = particle_filter_params;

  basic_particle_filter() = default;
  explicit basic_particle_filter(particle_filter_params params, Resampler scheme = {}, Trigger trigger = {},
                                 AnswerKey key = {})
      : params_(std::move(params)), scheme_(std::move(scheme)), trigger_(std::move(trigger)), key_(std::move(key)) {}

  /// Runs on one problem: particles live in `model`, steps are scored by `reward`.
  /// @returns the result, or: invalid_argument (bad params), budget_exhausted (not one step
  ///          affordable), engine_failure (a PRM returning the wrong number of scores, or a score
  ///          that is NaN or outside [0, 1]; an extend returning the wrong number of steps; a
  ///          model, key or policy that threw), or either model's error. Every engine sequence is
  ///          released on every path out; no exception escapes.
  template <stepping_model M, process_reward_model R>
  result<strategy_result> run(M& model, R& reward, const problem& p, const budget& limit,
                              const random_stream& stream) const {
    return detail::checked_run(
        "particle_filter", [&] { return validate_params(); },
        [&] { return run_checked(model, reward, p, limit, stream); });
  }

  [[nodiscard]] const particle_filter_params& params() const noexcept { return params_; }

  /// T after `step` steps (1-based; step 0 gives temperature): Puri's temperature_linear_annealing
  /// (particle_gibbs_batch.py), called with current_step = the steps taken so far, so the first
  /// weighting (after step 1) already uses step 1 / (anneal_steps - 1) of the way and T reaches
  /// final_temperature after step anneal_steps - 1 (at once when anneal_steps is 1).
  [[nodiscard]] double temperature_at(std::uint32_t step) const noexcept {
    if (params_.anneal_steps == 0 || step == 0) return params_.temperature;
    if (step >= params_.anneal_steps || params_.anneal_steps <= 1) return params_.final_temperature;
    const double t = static_cast<double>(step) / static_cast<double>(params_.anneal_steps - 1);
    return params_.temperature + (params_.final_temperature - params_.temperature) * t;
  }

private:
  [[nodiscard]] result<void> validate_params() const {
    if (params_.n == 0) return fail(errc::invalid_argument, "particle_filter: n must be > 0");
    if (params_.max_steps == 0) return fail(errc::invalid_argument, "particle_filter: max_steps must be > 0");
    if (!(params_.temperature > 0.0) || !std::isfinite(params_.temperature))
      return fail(errc::invalid_argument, "particle_filter: temperature must be finite and > 0");
    if (params_.anneal_steps > 0 && (!(params_.final_temperature > 0.0) || !std::isfinite(params_.final_temperature)))
      return fail(errc::invalid_argument, "particle_filter: final_temperature must be finite and > 0 when annealing");
    if (!(params_.score_clamp > 0.0 && params_.score_clamp < 0.5))
      return fail(errc::invalid_argument, "particle_filter: score_clamp must be in (0, 0.5)");
    return validate(params_.stepping);
  }

  // Every particle's log-weight from its stored score at T: finished particles are re-weighed
  // with the live ones, so a changing T never leaves a stale weight behind.
  template <class Paths>
  void reweigh(Paths& paths, double T) const {
    const double eps = params_.score_clamp;
    for (auto& q : paths) {
      const double r = std::clamp(q.score, eps, 1.0 - eps);
      q.log_weight = (std::log(r) - std::log1p(-r)) / T;
    }
  }

  // detail::search_run's hooks: scoring and re-weighing, resampling, the final selection.
  struct hooks {
    const basic_particle_filter& pf;
    std::size_t capacity_dropped = 0;
    std::vector<solution_view> views{};
    std::vector<double> log_w{}, weights{};
    std::vector<std::size_t> ancestors{};

    template <class Ctx>
    void seeds(Ctx&, std::span<const std::size_t> live, std::vector<std::uint32_t>& ids) const {
      ids.assign(live.begin(), live.end());
    }
    template <class Ctx>
    result<void> score(Ctx& c, std::span<const std::size_t> live, std::uint32_t step, bool) {
      auto& paths = c.set.paths;
      views.clear();
      for (const std::size_t i : live) views.push_back(paths[i].view());
      auto scores = detail::score_views(c.prm, c.p, views);
      if (!scores) return scores.error();
      for (std::size_t j = 0; j < live.size(); ++j) paths[live[j]].score = scores.value()[j].back();
      pf.reweigh(paths, pf.temperature_at(step + 1));
      return {};
    }
    template <class Ctx>
    result<bool> select(Ctx& c, std::uint32_t step, bool last) {
      auto& paths = c.set.paths;
      bool all_done = true;
      for (const auto& q : paths) all_done = all_done && q.done;
      if (all_done) return true;
      // Nothing follows the last step, nor one the budget forbids: a resampling there would only
      // re-count the final weights.
      if (last) return false;
      if (auto why = c.limit.check(c.spent())) {
        c.out.stopped_by = why;
        return true;
      }
      log_w.resize(paths.size());
      for (std::size_t i = 0; i < paths.size(); ++i) log_w[i] = paths[i].log_weight;
      weights.resize(paths.size());
      (void)normalise_log_weights(log_w, weights);
      if (!pf.trigger_(std::span<const double>(weights))) return false;
      ancestors.assign(pf.params_.n, 0);
      random_stream rs = c.stream.substream(detail::strategy_channel, step);
      pf.scheme_(std::span<const double>(weights), std::span<std::size_t>(ancestors), rs);
      auto dropped = c.set.reassign(ancestors);
      if (!dropped) return dropped.error();
      if (dropped.value() != 0) {
        capacity_dropped += dropped.value();
        c.out.trace.push_back(trace_event{step, fmt::format("fork: no capacity; {} offspring dropped, {} particles",
                                                            dropped.value(), paths.size())});
      }
      std::size_t distinct = 0;
      for (std::size_t i = 0; i < ancestors.size(); ++i) distinct += (i == 0 || ancestors[i] != ancestors[i - 1]) ? 1 : 0;
      c.out.trace.push_back(trace_event{step, fmt::format("resampled: {} distinct ancestors of {}", distinct, ancestors.size())});
      return false;
    }
    template <class Ctx>
    void finish(Ctx& c, std::uint32_t steps, bool capped) {
      const auto& paths = c.set.paths;
      std::size_t unfinished = 0;
      for (const auto& q : paths) unfinished += q.done ? 0 : 1;
      if (capped)
        c.out.trace.push_back(trace_event{steps, fmt::format("step cap {} reached: {} particles unfinished", pf.params_.max_steps,
                                                             unfinished)});
      // The final population competes: finished particles, and capped ones with their text's answer.
      std::vector<std::optional<std::string>> answers;
      log_w.clear();
      for (const auto& q : paths)
        if (q.done || capped) {
          answers.push_back(pf.key_(q.as_completion()));
          log_w.push_back(q.log_weight);
        }
      weights.assign(log_w.size(), 0.0);
      if (!log_w.empty()) (void)normalise_log_weights(log_w, weights);
      detail::choose_answer(answers, weights, std::is_same_v<Selection, select_naive>, pf.params_.vote, c.out);
      c.out.trace.push_back(trace_event{steps, fmt::format("{} steps, {} particles compete ({} finished){}", steps, answers.size(),
                                                           paths.size() - unfinished,
                                                           capacity_dropped ? " (fewer: engine capacity)" : "")});
    }
  };

  template <class M, class R>
  result<strategy_result> run_checked(M& model, R& reward, const problem& p, const budget& limit,
                                      const random_stream& stream) const {
    hooks h{*this};
    const detail::search_shape shape{"particle_filter", params_.n, params_.max_steps, params_.finish_steps, params_.stepping};
    return detail::search_run(model, reward, p, limit, stream, shape, h);
  }

  particle_filter_params params_{};
  Resampler scheme_{};
  Trigger trigger_{};
  AnswerKey key_{};
};

/// Puri et al.'s particle filter: multinomial resampling at every step, the heaviest particle's answer.
using particle_filter = basic_particle_filter<multinomial_resampler, always_resample, select_naive, canonical_answer_key>;
/// The same filter answering with the weighted vote of its final population.
using weighted_particle_filter =
    basic_particle_filter<multinomial_resampler, always_resample, select_weighted, canonical_answer_key>;
/// Systematic resampling when ESS < tau n (construct with ess_below{tau}; 0.5 by default), the heaviest particle's answer.
using ess_particle_filter = basic_particle_filter<systematic_resampler, ess_below, select_naive, canonical_answer_key>;

} // namespace reckon
