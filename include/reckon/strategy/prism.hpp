// SPDX-License-Identifier: Apache-2.0
// PRISM: a population of whole solutions, PRM-weighted, clone-capped resampling and reviser refinement.
#pragma once

// Algorithm (Sharma et al. 2026, "PRISM"): sample n whole solutions (one sampling call) and score
// each with the PRM (steps split at step_delimiter, reduced by Reduce; s in [0, 1], energy -log s,
// weight w = s^(1/T), T = 0.7). For d rounds: if ESS = (sum w)^2 / sum w^2 < 0.5 n and not all
// scores are ~0, resample systematically with a clone cap of ceil(0.3 n) copies per distinct
// solution (excess draws go to the heaviest under-cap solutions); then every solution with s < 1 is
// rewritten by the reviser given its per-step PRM scores (with probability 0.1 asked for a
// different approach), re-scored, and accepted with probability min(1, w'/w) (if w = 0: iff s' > s).
// The acceptance step is a heuristic, NOT exact Metropolis-Hastings (the proposal is not
// symmetric and no proposal ratio enters), as the authors say. Answer: the PRM-score-weighted vote;
// ties broken by the larger max score, then more votes, then the smaller canonical string.
// Cost: one sampling call (n completions) and one PRM call, then per round one revise call (the
// solutions with s < 1: each prefills its prompt and candidate) and one PRM call.
// Deviations: the population is built by sampling whole solutions (not by stepping); when fewer
// than n / cap distinct solutions exist the cap is raised to ceil(n / distinct) (stated in the
// trace); near a token budget only the revisions the budget can pay for at max_tokens each are
// asked for, lowest scores first.

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
#include <reckon/strategy/detail/sampling_rounds.hpp>
#include <reckon/strategy/detail/search.hpp>
#include <reckon/strategy/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
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
  double zero_score = 1e-9;            ///< every score <= this counts as ~0: resampling is skipped (>= 0)
  sampling_params sampling{};          ///< the initial samples and the revisions (seeds are set per call)
  std::string step_delimiter = "\n\n"; ///< where a solution is split into steps for the PRM (non-empty)
};

/// Systematic resampling with a clone cap (PRISM): draws `ancestors.size()` offspring from
/// `weights` systematically, then limits every distinct solution (equal `identity`) to `cap`
/// offspring; the excess goes, in order of descending weight (ties: lower index), to distinct
/// solutions still under the cap, each filled up to it (their first particle is the ancestor).
/// When distinct * cap < n the cap cannot hold and is raised to ceil(n / distinct).
/// Returns the cap applied. Ancestors come out sorted ascending.
/// Throws reckon::exception (invalid_argument) on bad weights (as systematic_resampler), spans of
/// different lengths, or cap = 0.
template <class Stream = random_stream>
std::size_t clone_capped_systematic(std::span<const double> weights, std::span<const std::uint64_t> identity,
                                    std::size_t cap, std::span<std::size_t> ancestors, Stream& rng) {
  detail::require(weights.size() == identity.size(), "clone_capped_systematic: weights and identities differ in length");
  detail::require(cap > 0, "clone_capped_systematic: cap must be > 0");
  systematic_resampler{}(weights, ancestors, rng);
  const std::size_t n = ancestors.size();
  // Group particles by identity: the representative (first particle) and the group's weight.
  std::unordered_map<std::uint64_t, std::size_t> group_of;
  std::vector<std::size_t> rep;
  std::vector<double> group_weight;
  std::vector<std::size_t> group(weights.size());
  for (std::size_t i = 0; i < weights.size(); ++i) {
    auto [it, fresh] = group_of.try_emplace(identity[i], rep.size());
    if (fresh) {
      rep.push_back(i);
      group_weight.push_back(0.0);
    }
    group[i] = it->second;
    group_weight[it->second] += weights[i];
  }
  const std::size_t distinct = rep.size();
  const std::size_t effective = std::max(cap, (n + distinct - 1) / distinct);
  std::vector<std::size_t> per_group(distinct, 0);
  std::vector<std::size_t> kept;
  kept.reserve(n);
  std::size_t excess = 0;
  for (const std::size_t a : ancestors) {
    if (per_group[group[a]] < effective) {
      ++per_group[group[a]];
      kept.push_back(a);
    } else {
      ++excess;
    }
  }
  std::vector<std::size_t> order(distinct);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return group_weight[a] > group_weight[b]; });
  for (const std::size_t g : order) {
    while (excess > 0 && per_group[g] < effective) {
      ++per_group[g];
      kept.push_back(rep[g]);
      --excess;
    }
  }
  std::sort(kept.begin(), kept.end());
  std::copy(kept.begin(), kept.end(), ancestors.begin());
  return effective;
}

namespace detail {

/// One member of PRISM's population.
struct prism_member {
  completion sample;                ///< the whole solution
  std::vector<std::string> steps;   ///< its steps (split at the delimiter)
  std::vector<double> step_scores;  ///< the PRM's score of each step
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
  ///          affordable), engine_failure (a PRM returning the wrong number of scores or a NaN or
  ///          out-of-range score; a model returning the wrong number of completions), or either
  ///          model's error.
  template <class M, process_reward_model R>
    requires sampling_model<M> && reviser<M>
  result<strategy_result> run(M& model, R& reward, const problem& p, const budget& limit,
                              const random_stream& stream) const {
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
    if (params_.step_delimiter.empty()) return fail(errc::invalid_argument, "prism: step_delimiter must not be empty");
    if (auto ok = validate(params_.sampling); !ok) return ok.error();
    try {
      return run_checked(model, reward, p, limit, stream);
    } catch (const reckon::exception& e) {
      return e.error();
    }
  }

  [[nodiscard]] const prism_params& params() const noexcept { return params_; }
  /// The clone cap ceil(clone_cap * n).
  [[nodiscard]] std::size_t cap() const noexcept {
    return static_cast<std::size_t>(std::ceil(params_.clone_cap * static_cast<double>(params_.n) - 1e-9));
  }

private:
  using member = detail::prism_member;

  // Scores `members[first..]` in one PRM call.
  template <class R>
  result<void> score(metered<R&>& prm, const problem& p, std::vector<member>& members, std::size_t first) const {
    std::vector<solution_view> views;
    views.reserve(members.size() - first);
    for (std::size_t i = first; i < members.size(); ++i) {
      members[i].steps = detail::split_steps(members[i].sample.text, params_.step_delimiter);
      views.push_back(solution_view{members[i].steps, true, members[i].sample.source});
    }
    auto scores = detail::score_views(prm, p, views);
    if (!scores) return scores.error();
    for (std::size_t i = first; i < members.size(); ++i) {
      members[i].step_scores = std::move(scores.value()[i - first]);
      members[i].score = reduce_(std::span<const double>(members[i].step_scores));
    }
    return {};
  }

  [[nodiscard]] double weight(double s) const { return std::pow(s, 1.0 / params_.temperature); }

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
      for (auto& c : samples) pop.push_back(member{std::move(c), {}, {}, 0.0});
    }
    if (auto why = limit.check(detail::combined_ledger(m, prm))) {
      out.stopped_by = why;
    } else if (auto ok = score(prm, p, pop, 0); !ok) {
      return ok.error();
    }

    const std::size_t n = pop.size();
    const std::size_t clone_cap = std::max<std::size_t>(1, cap());
    std::vector<double> w(n);
    std::vector<std::uint64_t> identity(n);
    std::vector<std::size_t> ancestors(n);
    for (std::uint32_t r = 0; r < params_.rounds && !out.stopped_by; ++r) {
      // 1. Resample when the weights have degenerated (and carry information at all).
      double top = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        w[i] = weight(pop[i].score);
        top = std::max(top, pop[i].score);
      }
      if (top <= params_.zero_score) {
        out.trace.push_back(trace_event{r, "all scores ~0: resampling skipped"});
      } else {
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
      // 2. Refine every solution with s < 1 (lowest scores first when the budget is short).
      std::vector<std::size_t> todo;
      for (std::size_t i = 0; i < n; ++i)
        if (pop[i].score < 1.0) todo.push_back(i);
      if (todo.empty()) {
        out.trace.push_back(trace_event{r, "every score is 1: nothing to refine"});
        break;
      }
      const ledger spent = detail::combined_ledger(m, prm);
      if (auto why = limit.check(spent)) {
        out.stopped_by = why;
        break;
      }
      const std::uint64_t affordable = limit.generated_tokens_left(spent) / params_.sampling.max_tokens;
      if (affordable == 0) {
        out.stopped_by = detail::tighter_token_limit(limit, spent);
        break;
      }
      if (todo.size() > affordable) {
        out.stopped_by = detail::tighter_token_limit(limit, spent); // this round is the last, and partial
        out.trace.push_back(trace_event{r, fmt::format("budget: {} of {} revisions affordable", affordable, todo.size())});
        std::stable_sort(todo.begin(), todo.end(), [&](std::size_t a, std::size_t b) { return pop[a].score < pop[b].score; });
        todo.resize(static_cast<std::size_t>(affordable));
        std::sort(todo.begin(), todo.end());
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
      if (!revised) return revised.error();
      auto& got = revised.value().completions;
      if (got.size() != requests.size())
        return fail(errc::engine_failure, fmt::format("reviser returned {} completions for {} requests", got.size(), requests.size()));
      std::vector<member> proposals;
      proposals.reserve(got.size());
      for (auto& c : got) proposals.push_back(member{std::move(c), {}, {}, 0.0});
      if (auto why = limit.check(detail::combined_ledger(m, prm))) {
        out.stopped_by = why; // the revisions stay unscored and are not accepted
        break;
      }
      if (auto ok = score(prm, p, proposals, 0); !ok) return ok.error();
      // 3. Accept with probability min(1, w'/w); with w = 0, iff s' > s.
      std::size_t accepted = 0;
      for (std::size_t j = 0; j < todo.size(); ++j) {
        member& cur = pop[todo[j]];
        const double w_old = weight(cur.score), w_new = weight(proposals[j].score);
        const bool take = w_old == 0.0 ? proposals[j].score > cur.score : accept_u[j] < w_new / w_old;
        if (take) {
          cur = std::move(proposals[j]);
          ++accepted;
        }
      }
      out.trace.push_back(trace_event{r, fmt::format("round {}: revised {}, accepted {}", r, todo.size(), accepted)});
    }

    std::vector<std::optional<std::string>> answers;
    std::vector<double> scores;
    for (const auto& q : pop) {
      answers.push_back(key_(q.sample));
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
