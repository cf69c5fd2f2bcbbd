// SPDX-License-Identifier: Apache-2.0
// Particle Gibbs: sweeps of a particle filter conditioned on reference particles from the sweep before.
#pragma once

// Algorithm (Puri et al. 2025, "A Probabilistic Inference Approach to Inference-Time Scaling of
// LLMs using Particle-Based Monte Carlo Methods", Particle Gibbs; reference code: its_hub's
// particle_gibbs.py `infer`, and Puri et al.'s particle_gibbs_batch.py): `iterations` sweeps of
// the particle filter of particle_filter.hpp (the same loop, detail::search_run, the same
// weights w = softmax(logit(r) / T) of the latest step's PRM score r). Sweep 1 runs n free
// particles. Each later sweep runs n - R free particles next to the R reference particles drawn at
// the end of the sweep before (conditional SMC): after each step t, n - R offspring are drawn from
// all n (free and references); an offspring of a reference is the reference cut back to its first t
// steps, which continues as a free particle (a copy at or beyond the reference's length is the whole
// reference, finished); the references themselves stay in the population intact. At the end of a
// sweep, the next references are R draws with replacement ~ softmax(final log-weights) over the
// final population (its_hub's random.choices). Answer: from the LAST sweep's final population
// (free particles and references), select_naive (the default, its_hub's ARGMAX) or
// select_weighted (weighted vote).
// The reference's weight at step t is its PARTIAL weight, logit(r_ref,t) / T with r_ref,t the PRM's
// score of its first t steps (its final score once t reaches its length): standard conditional SMC,
// and what its_hub's fix #84 intended; its_hub's code as merged weighs a reference by its FINAL
// weight at every step (the reference is marked stopped, so the branch meant for finished free
// particles takes it).
// Cutting back on fork/release: a stepping model has no sequence "at step t of that text", so
// after every scored step each unfinished particle's sequence is forked once into a snapshot (a
// fork shares the prefix: no prefill, no generated token). A particle's snapshots follow it through
// resampling (shared, released when no particle or reference needs them any more); a reference
// copy at step t is a fork of the reference's snapshot at t. Cost: per sweep as the particle filter
// (one extend and one PRM call per step, the prompt prefilled once per sweep), plus one fork per
// live particle per step; the engine holds the snapshots of the live genealogy (after a sweep:
// at most R x max_steps), so the peak live sequences exceed n. About n + (iterations - 1)(n - R)
// trajectories are generated for n particles per sweep. A rollback_model could instead keep one
// sequence per reference; reckon does not use rollback here (one code path for every engine).
// Deviations: those of particle_filter.hpp (score clamp, budget-lowered step caps, answerless
// particles abstain, a budget-stopped run answers from finished particles); no temperature
// annealing (the references' sweeps do not anneal); a sweep ends, as reckon's particle filter, once
// every free particle has finished, with no further resampling (its_hub resamples once more and
// may revive a reference copy there); a snapshot or reference copy refused for engine capacity is
// a dropped offspring (fewer particles, stated in the trace); a later sweep that the budget does not
// allow leaves the answer of the last sweep that ran (stopped_by says which limit). Ancestor
// sampling (PGAS) is not implemented, as in both references.

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
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace reckon {

/// Runtime numbers of Particle Gibbs.
struct particle_gibbs_params {
  std::uint32_t n = 8;            ///< particles per sweep, references included (> 0; > references when iterations > 1)
  std::uint32_t iterations = 2;   ///< sweeps I (> 0); 1 is the particle filter
  std::uint32_t references = 1;   ///< R reference particles carried into each later sweep (1 <= R < n when iterations > 1)
  std::uint32_t max_steps = 64;   ///< step cap of one sweep: the most scored extends of one particle (> 0)
  step_params stepping{};         ///< each extend's parameters (max_step_tokens is lowered near a token budget)
  double temperature = 1.0;       ///< T in w_i = softmax(logit(r_i) / T) (> 0), for resampling and the reference draw
  std::uint32_t finish_steps = 0; ///< at the step cap, up to this many unscored steps for each unfinished particle (0: none)
  double score_clamp = 1e-6;      ///< r is clamped to [eps, 1 - eps] before the logit, in (0, 0.5)
  vote_params vote{};             ///< tie-break of the final vote
};

/// Particle Gibbs with compile-time choices of resampling scheme, selection and key.
/// @tparam Resampler multinomial_resampler (both references), systematic_, stratified_ or residual_resampler:
///                   the within-sweep resampling (the reference draw is always multinomial, as its_hub)
/// @tparam Selection select_naive (the heaviest final particle's answer, its_hub's ARGMAX) or select_weighted
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class Resampler, class Selection, class AnswerKey>
class basic_particle_gibbs {
  static_assert(resampler<Resampler>, "basic_particle_gibbs: Resampler must satisfy reckon::resampler");
  static_assert(std::is_same_v<Selection, select_naive> || std::is_same_v<Selection, select_weighted>,
                "basic_particle_gibbs: Selection must be select_naive or select_weighted");

public:
  using params_type = particle_gibbs_params;

  basic_particle_gibbs() = default;
  explicit basic_particle_gibbs(particle_gibbs_params params, Resampler scheme = {}, AnswerKey key = {})
      : params_(std::move(params)), scheme_(std::move(scheme)), key_(std::move(key)) {}

  /// Runs on one problem: particles live in `model`, steps are scored by `reward`.
  /// @returns the result, or: invalid_argument (bad params), budget_exhausted (not one step of the
  ///          first sweep affordable), engine_failure (a PRM returning the wrong number of scores, or
  ///          a score that is NaN or outside [0, 1]; an extend returning the wrong number of steps;
  ///          a model, key or policy that threw), or either model's error. Every engine sequence,
  ///          snapshots included, is released exactly once on every path out; no exception escapes.
  template <stepping_model M, process_reward_model R>
  result<strategy_result> run(M& model, R& reward, const problem& p, const budget& limit,
                              const random_stream& stream) const {
    return detail::checked_run(
        "particle_gibbs", [&] { return validate_params(); },
        [&] { return run_checked(model, reward, p, limit, stream); });
  }

  [[nodiscard]] const particle_gibbs_params& params() const noexcept { return params_; }

private:
  [[nodiscard]] result<void> validate_params() const {
    if (params_.n == 0) return fail(errc::invalid_argument, "particle_gibbs: n must be > 0");
    if (params_.iterations == 0) return fail(errc::invalid_argument, "particle_gibbs: iterations must be > 0");
    if (params_.iterations > 1 && (params_.references == 0 || params_.references >= params_.n))
      return fail(errc::invalid_argument,
                  fmt::format("particle_gibbs: references must be in [1, n - 1] = [1, {}] when iterations > 1 (got {})",
                              params_.n - 1, params_.references));
    if (params_.max_steps == 0) return fail(errc::invalid_argument, "particle_gibbs: max_steps must be > 0");
    if (!(params_.temperature > 0.0) || !std::isfinite(params_.temperature))
      return fail(errc::invalid_argument, "particle_gibbs: temperature must be finite and > 0");
    if (!(params_.score_clamp > 0.0 && params_.score_clamp < 0.5))
      return fail(errc::invalid_argument, "particle_gibbs: score_clamp must be in (0, 0.5)");
    return validate(params_.stepping);
  }

  [[nodiscard]] double log_weight_of(double score) const noexcept {
    const double r = std::clamp(score, params_.score_clamp, 1.0 - params_.score_clamp);
    return (std::log(r) - std::log1p(-r)) / params_.temperature;
  }

  // A fork of a particle's sequence after step t, kept so that a copy cut back to t can be forked
  // from it. Released once, by whichever owner lets go of it last.
  template <class M>
  struct snapshot {
    metered<M&>* model = nullptr;
    std::optional<typename M::sequence> handle; // empty: the engine had no capacity for it
    std::uint32_t tokens = 0;                   // the particle's generated tokens after step t
    std::uint64_t source = 0;                   // step t's source
    snapshot() = default;
    snapshot(const snapshot&) = delete;
    snapshot& operator=(const snapshot&) = delete;
    ~snapshot() {
      if (handle) model->release(*handle);
    }
  };

  // What a particle carries besides its path: its snapshots (at[t - 1]: after step t, while it was
  // unfinished) and its PRM score after each scored step (its partial weights).
  template <class M>
  struct lineage {
    std::vector<std::shared_ptr<snapshot<M>>> at;
    std::vector<double> scores;
  };

  // A particle kept past its sweep's path_set: a reference, or a candidate for the next draw.
  template <class M>
  struct record {
    detail::search_path<typename M::sequence> path; // never holds a handle
    lineage<M> line;
  };

  // detail::search_run's hooks for one sweep; `refs` are this sweep's references.
  template <class M>
  struct hooks {
    const basic_particle_gibbs& pg;
    std::vector<record<M>> refs{};
    std::vector<record<M>> final_population{}; // set by finish: free particles that compete, then refs
    std::vector<lineage<M>> lines{};           // aligned with the sweep's set.paths
    bool started = false;
    std::size_t dropped = 0;
    std::vector<solution_view> views{};
    std::vector<double> log_w{}, weights{};
    std::vector<std::size_t> ancestors{}, free_ancestors{}, origin{};

    template <class Ctx>
    void seeds(Ctx& c, std::span<const std::size_t> live, std::vector<std::uint32_t>& ids) {
      if (!started) {
        lines.assign(c.set.paths.size(), lineage<M>{});
        started = true;
      }
      ids.assign(live.begin(), live.end());
    }

    template <class Ctx>
    result<void> score(Ctx& c, std::span<const std::size_t> live, std::uint32_t, bool last) {
      auto& paths = c.set.paths;
      views.clear();
      for (const std::size_t i : live) views.push_back(paths[i].view());
      auto scores = detail::score_views(c.prm, c.p, views);
      if (!scores) return scores.error();
      std::size_t refused = 0;
      for (std::size_t j = 0; j < live.size(); ++j) {
        auto& q = paths[live[j]];
        q.score = scores.value()[j].back();
        q.log_weight = pg.log_weight_of(q.score);
        lines[live[j]].scores.push_back(q.score);
        // No later step cuts back to the cap's step, and a finished particle's record is whole.
        if (last || q.done || !q.handle) continue;
        auto snap = std::make_shared<snapshot<M>>();
        snap->model = &c.model;
        snap->tokens = q.tokens;
        snap->source = q.source;
        auto h = c.model.fork(*q.handle);
        if (h) snap->handle = *h;
        else if (h.error().code == errc::no_capacity) ++refused;
        else return h.error();
        lines[live[j]].at.push_back(std::move(snap));
      }
      if (refused != 0)
        c.out.trace.push_back(trace_event{static_cast<std::uint32_t>(lines[live[0]].scores.size()),
                                          fmt::format("snapshot: no capacity for {} of {}", refused, live.size())});
      return {};
    }

    // Reference j cut back to its first t steps, as a new particle (nullopt: no capacity).
    template <class Ctx>
    result<std::optional<std::pair<detail::search_path<typename M::sequence>, lineage<M>>>> cut(Ctx& c, const record<M>& ref,
                                                                                                std::size_t t) {
      using pair = std::pair<detail::search_path<typename M::sequence>, lineage<M>>;
      if (t >= ref.path.steps.size()) return std::optional<pair>(pair{ref.path, ref.line});
      if (t == 0 || t > ref.line.at.size() || t > ref.line.scores.size() || !ref.line.at[t - 1]->handle)
        return std::optional<pair>{};
      const snapshot<M>& s = *ref.line.at[t - 1];
      auto h = c.model.fork(*s.handle);
      if (!h) {
        if (h.error().code != errc::no_capacity) return h.error();
        return std::optional<pair>{};
      }
      pair out;
      out.first.handle = *h;
      out.first.steps.assign(ref.path.steps.begin(), ref.path.steps.begin() + static_cast<std::ptrdiff_t>(t));
      out.first.tokens = s.tokens;
      out.first.source = s.source;
      out.first.score = ref.line.scores[t - 1];
      out.first.log_weight = pg.log_weight_of(out.first.score);
      out.second.at.assign(ref.line.at.begin(), ref.line.at.begin() + static_cast<std::ptrdiff_t>(t));
      out.second.scores.assign(ref.line.scores.begin(), ref.line.scores.begin() + static_cast<std::ptrdiff_t>(t));
      return std::optional<pair>(std::move(out));
    }

    template <class Ctx>
    result<bool> select(Ctx& c, std::uint32_t step, bool last) {
      auto& paths = c.set.paths;
      bool all_done = true;
      // A whole-reference copy that is capped, not finished, holds no sequence: it cannot move either.
      for (const auto& q : paths) all_done = all_done && (q.done || !q.handle);
      if (all_done) return true;
      if (last) return false;
      if (auto why = c.limit.check(c.spent())) {
        c.out.stopped_by = why;
        return true;
      }
      // Every particle's weight at step t = step + 1: free particles' latest, references' partial.
      const std::size_t t = step + 1;
      log_w.clear();
      for (const auto& q : paths) log_w.push_back(q.log_weight);
      for (const auto& r : refs) {
        const auto& s = r.line.scores;
        log_w.push_back(s.empty() ? r.path.log_weight : pg.log_weight_of(s[std::min(t, s.size()) - 1]));
      }
      weights.resize(log_w.size());
      (void)normalise_log_weights(log_w, weights);
      ancestors.assign(pg.params_.n - refs.size(), 0);
      random_stream rs = c.stream.substream(detail::strategy_channel, step);
      pg.scheme_(std::span<const double>(weights), std::span<std::size_t>(ancestors), rs);
      free_ancestors.clear();
      for (const std::size_t a : ancestors)
        if (a < paths.size()) free_ancestors.push_back(a);
      std::size_t lost = 0;
      if (free_ancestors.empty()) {
        std::vector<std::size_t> none;
        c.set.keep_only(none);
        origin.clear();
      } else {
        auto d = c.set.reassign(free_ancestors, &origin);
        if (!d) return d.error();
        lost += d.value();
      }
      std::vector<lineage<M>> next;
      next.reserve(ancestors.size());
      for (const std::size_t o : origin) next.push_back(lines[o]);
      std::size_t from_refs = 0;
      for (const std::size_t a : ancestors) {
        if (a < lines.size()) continue;
        auto copy = cut(c, refs[a - lines.size()], t);
        if (!copy) return copy.error();
        if (!*copy) {
          ++lost;
          continue;
        }
        ++from_refs;
        paths.push_back(std::move((*copy)->first));
        next.push_back(std::move((*copy)->second));
      }
      lines.swap(next);
      dropped += lost;
      c.out.trace.push_back(trace_event{step, fmt::format("resampled {}: {} from references{}", ancestors.size(), from_refs,
                                                          lost ? fmt::format(", {} dropped (engine capacity)", lost) : "")});
      return false;
    }

    template <class Ctx>
    void finish(Ctx& c, std::uint32_t steps, bool capped) {
      final_population.clear();
      for (std::size_t i = 0; i < c.set.paths.size(); ++i) {
        const auto& q = c.set.paths[i];
        if (!(q.done || capped)) continue;
        record<M> r;
        r.path.steps = q.steps;
        r.path.tokens = q.tokens;
        r.path.source = q.source;
        r.path.done = q.done;
        r.path.score = q.score;
        r.path.log_weight = q.log_weight;
        r.line = lines[i];
        final_population.push_back(std::move(r));
      }
      const std::size_t free_count = final_population.size();
      for (const auto& r : refs) final_population.push_back(r);
      std::vector<std::optional<std::string>> answers;
      log_w.clear();
      for (const auto& r : final_population) {
        answers.push_back(pg.key_(r.path.as_completion()));
        log_w.push_back(r.path.log_weight);
      }
      weights.assign(log_w.size(), 0.0);
      if (!log_w.empty()) (void)normalise_log_weights(log_w, weights);
      detail::choose_answer(answers, weights, std::is_same_v<Selection, select_naive>, pg.params_.vote, c.out);
      c.out.trace.push_back(trace_event{steps, fmt::format("{} steps, {} particles and {} references compete{}", steps,
                                                           free_count, refs.size(),
                                                           dropped ? " (fewer: engine capacity)" : "")});
    }
  };

  template <class M, class R>
  result<strategy_result> run_checked(M& model, R& reward, const problem& p, const budget& limit,
                                      const random_stream& stream) const {
    metered<M&> m(model);
    metered<R&> prm(reward);
    hooks<M> h{*this}; // after the meters: its snapshots are released through them
    std::optional<strategy_result> last;
    std::vector<trace_event> trace;
    for (std::uint32_t sweep = 0; sweep < params_.iterations; ++sweep) {
      if (sweep > 0) {
        if (auto why = limit.check(detail::combined_ledger(m, prm))) {
          last->stopped_by = why;
          trace.push_back(trace_event{sweep, fmt::format("sweep {} not started: {}", sweep + 1, *why)});
          break;
        }
      }
      h.started = false;
      h.lines.clear();
      h.dropped = 0;
      const detail::search_shape shape{"particle_gibbs", params_.n - h.refs.size(), params_.max_steps,
                                       params_.finish_steps, params_.stepping};
      // Sweep 1 draws as the particle filter does; later sweeps draw from their own streams.
      const random_stream sweep_stream = sweep == 0 ? stream : stream.substream(detail::strategy_channel + 1, sweep);
      auto r = detail::search_run(m, prm, p, limit, sweep_stream, shape, h);
      if (!r) {
        if (r.error().code != errc::budget_exhausted || !last) return r.error();
        last->stopped_by = detail::tighter_token_limit(limit, detail::combined_ledger(m, prm));
        trace.push_back(trace_event{sweep, fmt::format("sweep {}: no step affordable", sweep + 1)});
        break;
      }
      for (auto& e : r.value().trace) trace.push_back(trace_event{e.round, fmt::format("sweep {}: {}", sweep + 1, e.what)});
      last = std::move(r.value());
      if (last->stopped_by || sweep + 1 == params_.iterations) break;
      // The next references: R draws ~ softmax(final log-weights) over the final population.
      std::vector<record<M>> next;
      if (!h.final_population.empty()) {
        std::vector<double> lw, w(h.final_population.size());
        for (const auto& q : h.final_population) lw.push_back(q.path.log_weight);
        (void)normalise_log_weights(lw, w);
        std::vector<std::size_t> drawn(params_.references);
        random_stream rs = stream.substream(detail::strategy_channel + 2, sweep);
        multinomial_resampler{}(std::span<const double>(w), std::span<std::size_t>(drawn), rs);
        for (const std::size_t d : drawn) next.push_back(h.final_population[d]);
      }
      h.final_population.clear();
      h.refs = std::move(next);
      trace.push_back(trace_event{sweep, fmt::format("sweep {}: {} references drawn", sweep + 1, h.refs.size())});
    }
    h.refs.clear();
    h.final_population.clear();
    h.lines.clear();
    last->trace = std::move(trace);
    last->cost = detail::combined_ledger(m, prm);
    return std::move(*last);
  }

  particle_gibbs_params params_{};
  Resampler scheme_{};
  AnswerKey key_{};
};

/// Puri et al.'s Particle Gibbs: multinomial resampling every step, the heaviest final particle's answer.
using particle_gibbs = basic_particle_gibbs<multinomial_resampler, select_naive, canonical_answer_key>;
/// The same sweeps answering with the weighted vote of the last sweep's final population.
using weighted_particle_gibbs = basic_particle_gibbs<multinomial_resampler, select_weighted, canonical_answer_key>;

} // namespace reckon
