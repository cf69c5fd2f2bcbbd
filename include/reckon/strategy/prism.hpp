// SPDX-License-Identifier: Apache-2.0
// PRISM: a population of whole solutions, PRM-weighted, clone-capped resampling and reviser refinement.
#pragma once

// Algorithm (Sharma et al. 2026, "PRISM"; reference: github.com/Rituraj003/PRISM,
// src/methods/composable/pop_to_pop/prism.py): sample n whole solutions (one sampling call) and
// score each with the PRM (steps split at step_delimiter, reduced by Reduce; s in [0, 1], energy
// -log s, weight w = s^(1/T), T = 0.7; weights are kept as log w = log(s) / T, so a small T cannot
// underflow them). A solution whose AnswerKey gives no answer scores 0 and is not sent to the PRM
// (the reference's missing-answer rule). For d rounds: if ESS = (sum w)^2 / sum w^2 < 0.5 n and
// not every score is below zero_score (1e-6, the reference's all-bad threshold), resample
// systematically with a clone cap of ceil(0.3 n) copies per distinct solution: a draw of a
// solution already at the cap goes instead to a particle drawn uniformly at random among those
// whose solution is under the cap (as the reference; the draws come from the run's stream). Then
// every solution with s < perfect_score (1 - 1e-6, the reference's) is rewritten by the reviser
// given its per-step PRM scores (with probability 0.1 asked for a different approach), re-scored,
// and accepted with probability min(1, w'/w) = min(1, exp(log w' - log w)) (if w = 0: iff s' > s).
// The acceptance step is a heuristic, NOT exact Metropolis-Hastings (the proposal is not
// symmetric and no proposal ratio enters), as the authors say. A failed revision keeps the member
// (as the reference): a reviser error or a batch of the wrong size keeps every member of that
// round, and so does a PRM failure on the revisions (the reference's verifier fallback scores such
// a revision 0, so it is rejected); each is stated in the trace. Answer: the PRM-score-weighted
// vote; ties broken by the larger max score, then more votes, then the smaller canonical string.
// Cost: one sampling call (n completions) and one PRM call, then per round one revise call (the
// solutions with s < perfect_score: each prefills its prompt and candidate) and one PRM call.
// Budget: before each PRM call only the limits that call spends are checked (prm calls, prm
// tokens, wall time, deadline), so samples and revisions already paid for are scored and used
// (a budget that forbids the first PRM call leaves an unscored vote, said in the trace); the full
// budget is checked before each engine call, PRM limits included, so no revision is paid for
// that could not be scored. Near a token budget only the revisions the
// budget can pay for are asked for, lowest scores first, each counted at max_tokens generated
// plus its candidate's tokens and the prompt's prefill (as measured on the sampling calls) towards
// max_total_tokens; a reviser whose prompt prefills more than that can pass max_total_tokens by
// the difference, and the sampling call by its prompt prefill (sampling_rounds).
// Deviations: the population is built by sampling whole solutions (not by stepping); when fewer
// than n / cap distinct solutions exist the cap is raised to ceil(n / distinct) (stated in the
// trace; the reference lets the draw exceed the cap once no solution is under it); an answerless
// revision is scored 0 at once (the reference asks its verifier and zeroes it only when the next
// round re-scores the population), so it is never accepted over a member; a failed revision is not
// retried (the reference tries a failed rewrite twice); a PRM failure on the initial samples
// fails the run (engine_failure) where the reference scores them ~0 (0 or 1e-6), since a
// run with no scores at all would be a plain majority vote reported as PRISM; the vote reuses the
// scores already computed (the reference's PRM-score vote re-scores the final population, one PRM
// pass more), counts every member (the reference counts those with s > 0) and breaks a full tie
// by the smaller string (the reference: the larger), so that an unscored population is a majority
// vote decided like reckon's other votes.

#include <reckon/aggregate/reduce.hpp>
#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/reviser.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/fwd.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/resample/systematic.hpp>
#include <reckon/resample/weights.hpp>
#include <reckon/strategy/answer_key.hpp>
#include <reckon/strategy/best_of_n.hpp>
#include <reckon/strategy/detail/guarded_run.hpp>
#include <reckon/strategy/detail/sampling_rounds.hpp>
#include <reckon/strategy/detail/search.hpp>
#include <reckon/strategy/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace reckon {

/// Runtime numbers of PRISM.
struct prism_params {
  std::uint32_t n = 16;                ///< population size (> 0)
  std::uint32_t rounds = 3;            ///< d refinement rounds (0: score the samples and vote)
  double temperature = 0.7;            ///< T in w = s^(1/T) (> 0)
  double ess_fraction = 0.5;           ///< resample when ESS < ess_fraction * n, in [0, 1]
  double clone_cap = 0.3;              ///< at most ceil(clone_cap * n) copies of one distinct solution, in (0, 1]
  double new_approach = 0.1;           ///< probability of asking the reviser for a different approach, in [0, 1]
  double zero_score = 1e-6;            ///< every score below this counts as ~0: resampling is skipped (>= 0)
  double perfect_score = 1.0 - 1e-6;   ///< a score at or above this is not revised, in (0, 1]
  sampling_params sampling{};          ///< the initial samples and the revisions (seeds are set per call)
  std::string step_delimiter = "\n\n"; ///< where a solution is split into steps for the PRM (non-empty)
};

/// Systematic resampling with a clone cap (PRISM): draws `ancestors.size()` offspring from
/// `weights` systematically, then limits every distinct solution (equal `identity`) to `cap`
/// offspring: going through the draws in order, a draw whose solution is already at the cap is
/// replaced by a particle drawn uniformly from `rng` among those whose solution is still under
/// it (the reference's fallback), so the excess spreads at random over the under-cap solutions
/// rather than following the weights. When distinct * cap < n the cap cannot hold and is raised
/// to ceil(n / distinct). Returns the cap applied. Ancestors come out sorted ascending.
/// Throws reckon::exception (invalid_argument) on bad weights (as systematic_resampler), spans of
/// different lengths, or cap = 0.
template <class Stream = random_stream>
std::size_t clone_capped_systematic(std::span<const double> weights, std::span<const std::uint64_t> identity,
                                    std::size_t cap, std::span<std::size_t> ancestors, Stream& rng) {
  detail::require(weights.size() == identity.size(), "clone_capped_systematic: weights and identities differ in length");
  detail::require(cap > 0, "clone_capped_systematic: cap must be > 0");
  systematic_resampler{}(weights, ancestors, rng);
  const std::size_t n = ancestors.size();
  std::unordered_map<std::uint64_t, std::size_t> group_of;
  std::vector<std::size_t> group(weights.size());
  for (std::size_t i = 0; i < weights.size(); ++i)
    group[i] = group_of.try_emplace(identity[i], group_of.size()).first->second;
  const std::size_t distinct = group_of.size();
  const std::size_t effective = std::max(cap, (n + distinct - 1) / distinct);
  std::vector<std::size_t> per_group(distinct, 0);
  std::vector<std::size_t> open;
  for (std::size_t& a : ancestors) {
    if (per_group[group[a]] >= effective) {
      open.clear();
      for (std::size_t i = 0; i < weights.size(); ++i)
        if (per_group[group[i]] < effective) open.push_back(i);
      // distinct * effective >= n and fewer than n draws are placed: some solution is under the cap.
      const auto pick = static_cast<std::size_t>(uniform01(rng) * static_cast<double>(open.size()));
      a = open[std::min(pick, open.size() - 1)];
    }
    ++per_group[group[a]];
  }
  std::sort(ancestors.begin(), ancestors.end());
  return effective;
}

namespace detail {

/// One member of PRISM's population.
struct prism_member {
  completion sample;                ///< the whole solution
  std::vector<std::string> steps;   ///< its steps (split at the delimiter)
  std::vector<double> step_scores;  ///< the PRM's score of each step
  std::optional<std::string> answer; ///< its AnswerKey answer (none: scored 0 without the PRM)
  double score = 0.0;               ///< s: the reduced score
};

/// PRISM's final vote: weight = sum of s per answer; ties by max s, then count, then the smaller key.
inline void prism_vote(const std::vector<std::optional<std::string>>& answers, const std::vector<double>& scores,
                       strategy_result& out) {
  struct entry {
    std::string key;
    double weight = 0.0;
    double best = 0.0;
    std::size_t count = 0;
    std::size_t first = 0;
  };
  std::vector<entry> entries;
  std::unordered_map<std::string, std::size_t> index;
  vote_tally t;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i]) {
      ++t.abstentions;
      continue;
    }
    auto [it, fresh] = index.try_emplace(*answers[i], entries.size());
    if (fresh) entries.push_back(entry{*answers[i], 0.0, 0.0, 0, i});
    entry& e = entries[it->second];
    e.weight += scores[i];
    e.best = std::max(e.best, scores[i]);
    ++e.count;
    ++t.votes;
    t.total_weight += scores[i];
  }
  std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) {
    if (a.weight != b.weight) return a.weight > b.weight;
    if (a.best != b.best) return a.best > b.best;
    if (a.count != b.count) return a.count > b.count;
    return a.key < b.key;
  });
  for (const auto& e : entries)
    t.answers.push_back(answer_tally{e.key, e.count, e.weight, t.total_weight > 0.0 ? e.weight / t.total_weight : 0.0, e.first});
  out.tally = std::move(t);
  out.answer = out.tally.winner();
  out.confidence = out.tally.leader() ? out.tally.leader()->share : 0.0;
  out.samples = static_cast<std::uint32_t>(answers.size());
}

} // namespace detail

/// PRISM with compile-time choices of the PRM step reduction and the answer key.
/// @tparam Reduce    reduce_last | reduce_min | reduce_prod | reduce_mean: a solution's score s from its step scores
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class Reduce, class AnswerKey>
class basic_prism {
public:
  using params_type = prism_params;

  basic_prism() = default;
  explicit basic_prism(prism_params params, Reduce reduce = {}, AnswerKey key = {})
      : params_(std::move(params)), reduce_(std::move(reduce)), key_(std::move(key)) {}

  /// Runs on one problem: `model` samples and revises, `reward` scores steps.
  /// @returns the result, or: invalid_argument (bad params), budget_exhausted (no sample
  ///          affordable), engine_failure (the PRM failing on the initial samples: an error, the
  ///          wrong number of scores, a NaN or out-of-range score; a model returning the wrong
  ///          number of samples; anything thrown, e.g. by the AnswerKey), or the sampler's error.
  ///          A reviser's failure, or the PRM's on the revisions, is not an error: the members
  ///          are kept (see the trace).
  template <class M, process_reward_model R>
    requires sampling_model<M> && reviser<M>
  result<strategy_result> run(M& model, R& reward, const problem& p, const budget& limit,
                              const random_stream& stream) const {
    return detail::checked_run(
        "prism", [&] { return validate_params(); }, [&] { return run_checked(model, reward, p, limit, stream); });
  }

  [[nodiscard]] const prism_params& params() const noexcept { return params_; }
  /// The clone cap ceil(clone_cap * n).
  [[nodiscard]] std::size_t cap() const noexcept {
    return static_cast<std::size_t>(std::ceil(params_.clone_cap * static_cast<double>(params_.n) - 1e-9));
  }

private:
  using member = detail::prism_member;

  [[nodiscard]] result<void> validate_params() const {
    if (params_.n == 0) return fail(errc::invalid_argument, "prism: n must be > 0");
    if (!(params_.temperature > 0.0) || !std::isfinite(params_.temperature))
      return fail(errc::invalid_argument, "prism: temperature must be finite and > 0");
    if (!(params_.ess_fraction >= 0.0 && params_.ess_fraction <= 1.0))
      return fail(errc::invalid_argument, "prism: ess_fraction must be in [0, 1]");
    if (!(params_.clone_cap > 0.0 && params_.clone_cap <= 1.0))
      return fail(errc::invalid_argument, "prism: clone_cap must be in (0, 1]");
    if (!(params_.new_approach >= 0.0 && params_.new_approach <= 1.0))
      return fail(errc::invalid_argument, "prism: new_approach must be in [0, 1]");
    if (!(params_.zero_score >= 0.0) || !std::isfinite(params_.zero_score))
      return fail(errc::invalid_argument, "prism: zero_score must be finite and >= 0");
    if (!(params_.perfect_score > 0.0 && params_.perfect_score <= 1.0))
      return fail(errc::invalid_argument, "prism: perfect_score must be in (0, 1]");
    if (params_.step_delimiter.empty()) return fail(errc::invalid_argument, "prism: step_delimiter must not be empty");
    return validate(params_.sampling);
  }

  // Splits and keys every member; those with an answer are scored in one PRM call, the others get
  // 0 on every step without one. Returns the limit that forbade the PRM call (then no member
  // with an answer is scored), nullopt when done, or the PRM's error.
  template <class M, class R>
  result<std::optional<stop_reason>> score(metered<M&>& m, metered<R&>& prm, const problem& p, const budget& limit,
                                           std::vector<member>& members) const {
    std::vector<solution_view> views;
    std::vector<std::size_t> asked;
    for (std::size_t i = 0; i < members.size(); ++i) {
      member& q = members[i];
      q.steps = detail::split_steps(q.sample.text, params_.step_delimiter);
      q.answer = key_(q.sample);
      q.step_scores.assign(q.steps.size(), 0.0);
      q.score = 0.0;
      if (!q.answer) continue;
      views.push_back(solution_view{q.steps, true, q.sample.source});
      asked.push_back(i);
    }
    if (views.empty()) return std::optional<stop_reason>{};
    if (auto why = limit.check_reward_call(detail::combined_ledger(m, prm))) return why;
    auto scores = detail::score_views(prm, p, views);
    if (!scores) return scores.error();
    for (std::size_t j = 0; j < asked.size(); ++j) {
      member& q = members[asked[j]];
      q.step_scores = std::move(scores.value()[j]);
      q.score = reduce_(std::span<const double>(q.step_scores));
    }
    return std::optional<stop_reason>{};
  }

  // log w = log(s) / T: the weight in log space, -inf for s = 0 (w = 0).
  [[nodiscard]] double log_weight(double s) const {
    return s > 0.0 ? std::log(s) / params_.temperature : -std::numeric_limits<double>::infinity();
  }

  // The members to revise this round that the token budget can pay for, lowest scores first
  // (each: max_tokens generated, and towards the total also its candidate and the prompt's
  // prefill), in index order; `why` is the limit that cut the list short, if one did.
  [[nodiscard]] std::vector<std::size_t> affordable(const std::vector<member>& pop, std::vector<std::size_t> todo,
                                                    const budget& limit, const ledger& spent,
                                                    std::uint64_t prompt_prefill, std::optional<stop_reason>& why) const {
    const std::uint64_t gen_left =
        limit.max_generated_tokens - std::min(limit.max_generated_tokens, spent.generated_tokens);
    const std::uint64_t total_left = limit.max_total_tokens - std::min(limit.max_total_tokens, spent.total_tokens());
    std::stable_sort(todo.begin(), todo.end(), [&](std::size_t a, std::size_t b) { return pop[a].score < pop[b].score; });
    const std::uint64_t gen_each = params_.sampling.max_tokens;
    std::uint64_t gen = 0, total = 0;
    std::size_t fit = 0;
    for (; fit < todo.size(); ++fit) {
      const std::uint64_t cost = gen_each + prompt_prefill + pop[todo[fit]].sample.tokens;
      if (gen + gen_each > gen_left) {
        why = stop_reason::generated_tokens;
        break;
      }
      if (total + cost > total_left) {
        why = stop_reason::total_tokens;
        break;
      }
      gen += gen_each;
      total += cost;
    }
    todo.resize(fit);
    std::sort(todo.begin(), todo.end());
    return todo;
  }

  template <class M, class R>
  result<strategy_result> run_checked(M& model, R& reward, const problem& p, const budget& limit,
                                      const random_stream& stream) const {
    metered<M&> m(model);
    metered<R&> prm(reward);
    strategy_result out;
    std::vector<member> pop;
    {
      detail::sampling_rounds<M> rounds(m, p, params_.sampling, limit, stream);
      std::vector<completion> samples;
      while (samples.size() < params_.n) {
        auto drawn = rounds.draw(params_.n - static_cast<std::uint32_t>(samples.size()), samples, out);
        if (!drawn) return drawn.error();
        if (drawn.value() == 0) break;
      }
      if (samples.empty()) return detail::nothing_affordable(rounds.stopped_by());
      out.stopped_by = rounds.stopped_by();
      for (auto& c : samples) pop.push_back(member{std::move(c), {}, {}, std::nullopt, 0.0});
    }
    // What the engine prefills per call for the prompt: the revisions' prompts are reserved at this.
    const ledger& sampled = m.ledger();
    const std::uint64_t prompt_prefill = sampled.engine_calls == 0 ? 0 : sampled.prefilled_tokens / sampled.engine_calls;
    {
      auto scored = score(m, prm, p, limit, pop);
      if (!scored) return scored.error();
      if (scored.value()) {
        out.stopped_by = scored.value();
        out.trace.push_back(trace_event{0, fmt::format("budget ({}) forbids scoring the samples: an unscored vote", *scored.value())});
      }
    }

    const std::size_t n = pop.size();
    const std::size_t clone_cap = std::max<std::size_t>(1, cap());
    std::vector<double> w(n);
    std::vector<std::uint64_t> identity(n);
    std::vector<std::size_t> ancestors(n);
    for (std::uint32_t r = 0; r < params_.rounds && !out.stopped_by; ++r) {
      // 1. Resample when the weights have degenerated (and carry information at all).
      double top = 0.0;
      for (const auto& q : pop) top = std::max(top, q.score);
      if (top < params_.zero_score || top == 0.0) {
        out.trace.push_back(trace_event{r, "all scores ~0: resampling skipped"});
      } else {
        const double shift = log_weight(top);
        for (std::size_t i = 0; i < n; ++i) w[i] = std::exp(log_weight(pop[i].score) - shift);
        const double ess = effective_sample_size(w);
        if (ess < params_.ess_fraction * static_cast<double>(n)) {
          for (std::size_t i = 0; i < n; ++i) identity[i] = stable_id(pop[i].sample.text);
          random_stream rs = stream.substream(detail::strategy_channel, r);
          const std::size_t applied = clone_capped_systematic(w, identity, clone_cap, ancestors, rs);
          std::vector<member> next;
          next.reserve(n);
          for (const std::size_t a : ancestors) next.push_back(pop[a]);
          pop = std::move(next);
          out.trace.push_back(trace_event{r, fmt::format("resampled (ESS {:.2f} < {:.2f}), clone cap {}{}", ess,
                                                         params_.ess_fraction * static_cast<double>(n), applied,
                                                         applied > clone_cap ? " (raised: too few distinct solutions)" : "")});
        }
      }
      // 2. Refine every solution short of perfect (lowest scores first when the budget is short).
      std::vector<std::size_t> todo;
      for (std::size_t i = 0; i < n; ++i)
        if (pop[i].score < params_.perfect_score) todo.push_back(i);
      if (todo.empty()) {
        out.trace.push_back(trace_event{r, fmt::format("every score is perfect (>= {}): nothing to refine", params_.perfect_score)});
        break;
      }
      const ledger spent = detail::combined_ledger(m, prm);
      if (auto why = limit.check(spent)) {
        out.stopped_by = why;
        break;
      }
      const std::size_t wanted = todo.size();
      std::optional<stop_reason> short_by;
      todo = affordable(pop, std::move(todo), limit, spent, prompt_prefill, short_by);
      if (short_by) {
        out.stopped_by = short_by; // this round is the last, and partial (or none at all)
        if (todo.empty()) break;
        out.trace.push_back(trace_event{r, fmt::format("budget: {} of {} revisions affordable", todo.size(), wanted)});
      }
      std::vector<revision_request> requests;
      std::vector<double> accept_u;
      requests.reserve(todo.size());
      for (const std::size_t i : todo) {
        random_stream rs = stream.substream(static_cast<std::uint32_t>(i), detail::strategy_channel + 1 + r);
        revision_request q;
        q.candidate = solution_view{pop[i].steps, true, pop[i].sample.source};
        q.feedback = pop[i].step_scores;
        q.new_approach = uniform01(rs) < params_.new_approach;
        q.seed = request_seed(rs);
        accept_u.push_back(uniform01(rs));
        requests.push_back(q);
      }
      sampling_params sp = params_.sampling;
      random_stream call = stream.substream(detail::strategy_channel + 1, r);
      sp.seed = request_seed(call);
      auto revised = m.revise(p, requests, sp);
      if (!revised) {
        out.trace.push_back(trace_event{r, fmt::format("round {}: the reviser failed ({}): every member kept", r, revised.error().message)});
        continue;
      }
      auto& got = revised.value().completions;
      if (got.size() != requests.size()) {
        out.trace.push_back(trace_event{r, fmt::format("round {}: the reviser returned {} completions for {} requests: every member kept",
                                                       r, got.size(), requests.size())});
        continue;
      }
      std::vector<member> proposals;
      proposals.reserve(got.size());
      for (auto& c : got) proposals.push_back(member{std::move(c), {}, {}, std::nullopt, 0.0});
      auto scored = score(m, prm, p, limit, proposals);
      if (!scored) {
        out.trace.push_back(trace_event{r, fmt::format("round {}: the PRM failed on the revisions ({}): every member kept", r, scored.error().message)});
        continue;
      }
      if (scored.value()) {
        out.stopped_by = scored.value();
        out.trace.push_back(trace_event{r, fmt::format("round {}: budget ({}) forbids scoring the revisions: every member kept", r, *scored.value())});
        break;
      }
      // 3. Accept with probability min(1, w'/w), the ratio taken in log space; with w = 0, iff s' > s.
      std::size_t accepted = 0;
      for (std::size_t j = 0; j < todo.size(); ++j) {
        member& cur = pop[todo[j]];
        const bool take = cur.score == 0.0 ? proposals[j].score > cur.score
                                           : accept_u[j] < std::exp(log_weight(proposals[j].score) - log_weight(cur.score));
        if (take) {
          cur = std::move(proposals[j]);
          ++accepted;
        }
      }
      out.trace.push_back(trace_event{r, fmt::format("round {}: revised {}, accepted {}", r, todo.size(), accepted)});
    }

    std::vector<std::optional<std::string>> answers;
    std::vector<double> scores;
    for (auto& q : pop) {
      answers.push_back(std::move(q.answer));
      scores.push_back(q.score);
    }
    detail::prism_vote(answers, scores, out);
    out.cost = detail::combined_ledger(m, prm);
    return out;
  }

  prism_params params_{};
  Reduce reduce_{};
  AnswerKey key_{};
};

/// PRISM with the PRM's `last` step score and the canonical answer key.
using prism = basic_prism<reduce_last, canonical_answer_key>;

} // namespace reckon
