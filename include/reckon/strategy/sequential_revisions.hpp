// SPDX-License-Identifier: Apache-2.0
// Sequential revisions: P parallel chains of L attempts, each attempt a revision of its chain's recent ones.
#pragma once

// Algorithm (Snell et al. 2024, "Scaling LLM Test-Time Compute Optimally can be More Effective than
// Scaling Model Parameters", section 6 and the appendix "Revision Model Selection Criteria"; the
// paper has no public code): a generation budget N = P x L is split into P chains of L attempts.
// The first attempt of every chain is a sample a_1 ~ p(.|q) (one batched sampling call for all P);
// then, round by round, every chain's next attempt is a_t ~ reviser(q, a_max(1,t-context) .. a_t-1):
// the reviser sees the `context` (default 4, the paper's) most recent attempts of its chain, the
// latest as revision_request::candidate and the older ones, oldest first, as
// revision_request::history; no feedback text (the paper's reviser gets none: the critique is
// implicit in the earlier attempts). One revise call per round serves every chain (L - 1 rounds).
// L = 1 is parallel best-of-P; P = 1 is fully sequential.
// Selection (the paper's, since ~38% of correct answers get revised into incorrect ones, so the last
// attempt is not taken blindly): select_hierarchical (verifier mode, the default) scores every
// attempt with the Scorer (orm_scorer, or prm_scorer<reduce_last>: the paper's PRM aggregation is the
// last step's score), picks within each chain the answer with the largest summed score (weighted
// best-of-N) and as the chain's representative its highest-scoring attempt with that answer, then
// takes the weighted best-of-N again over the P representatives (their scores summed per answer);
// select_majority (majority mode) is NOT hierarchical: a flat majority vote over all P x L
// attempts (the paper found hierarchical majority unstable for small P or L).
// Cost: one sampling call (P completions; more only when a token budget splits it) and L - 1
// revise calls, so L sequential model rounds; each revision prefills the prompt and its context
// (up to `context` earlier attempts). Hierarchical selection adds one reward call over all P x L
// attempts. No engine sequence is held: nothing to release.
// Budget: the full budget is checked before every engine call (the revise calls included), the
// sampling call never asks for more than the token limits can pay for (sampling_rounds), and a
// revise round asks only for the revisions the token limits can pay for, in chain order, each
// counted at max_tokens generated plus its context's tokens and the prompt's prefill (the largest
// prefill a sampling call reported, at least ceil(prompt characters / 4)) towards max_total_tokens;
// a reviser that prefills more than that (a chat template) can pass max_total_tokens by the
// difference. Chains cut short by the budget keep the attempts they have. The reward call is
// checked with budget::check_reward_call, and its prm tokens (metered's ceil(characters / 4) of
// each attempt) are known before it: when not all attempts fit, the earliest attempts of every
// chain that do (round by round, chain order within a round) are scored and the rest dropped, as if
// the chains had stopped there; when none fits or another limit forbids the call, the answer is the
// flat majority over every attempt (paid for, so still used), with stopped_by naming the limit.
// Majority mode makes no reward call, so the reward limits do not stop its revisions.
// Errors: a reviser error fails the run (a chain that silently stopped growing would report
// best-of-P as revisions), as does a revise answer with too few or too many completions
// (engine_failure); so do a reward model's error, a score that is NaN or outside [0, 1], and
// anything a model, scorer or answer key throws (engine_failure).
// Deviations: the paper's ORM is trained on the reviser's outputs with the earlier revisions in its
// context; reckon's reward concepts score a solution alone, so the verifier sees each attempt
// without its chain. Attempts without an extractable answer never vote; a chain none of whose
// attempts has one has no representative. A PRM scorer sees each attempt split at step_delimiter.

#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/reviser.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/fwd.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/answer_key.hpp>
#include <reckon/strategy/best_of_n.hpp>
#include <reckon/strategy/detail/guarded_run.hpp>
#include <reckon/strategy/detail/sampling_rounds.hpp>
#include <reckon/strategy/detail/search.hpp>
#include <reckon/strategy/rebase.hpp>
#include <reckon/strategy/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace reckon {

/// Runtime numbers of sequential revisions.
struct sequential_revisions_params {
  std::uint32_t chains = 4;            ///< P parallel chains (> 0)
  std::uint32_t length = 4;            ///< L attempts per chain, its first sample included (> 0; 1: best-of-P)
  std::uint32_t context = 4;           ///< most recent earlier attempts a revision sees (> 0; the paper's 4)
  sampling_params sampling{};          ///< the samples and the revisions (seeds are set per call)
  std::string step_delimiter = "\n\n"; ///< where a PRM scorer splits an attempt into steps (non-empty)
  vote_params vote{};                  ///< tie-break of every vote
};

/// Verifier-mode selection: weighted best-of-N within each chain, then across the chains' representatives.
struct select_hierarchical {};

namespace detail::revisions {

/// A chain's attempts, oldest first.
using chain = std::vector<completion>;

/// Revises every chain shorter than `length` once per round (one batched revise call a round)
/// until each has `length` attempts or the budget stops it: the full budget is checked before
/// every call, and a round asks only for the revisions the token limits can pay for (see the
/// header). `spent()` is the run's ledger so far. `round0` numbers the first round (seeds).
/// @returns the limit that stopped the growth (nullopt: every chain is full), or the reviser's
///          error (engine_failure for a batch of the wrong size).
template <class M, class Spent>
result<std::optional<stop_reason>> grow(metered<M&>& m, const problem& p, std::vector<chain>& chains, std::uint32_t length,
                                        std::uint32_t context, const sampling_params& sp, const budget& limit, Spent&& spent,
                                        std::uint64_t prompt_prefill, const random_stream& stream, strategy_result& out) {
  for (std::uint32_t round = 1;; ++round) {
    std::vector<std::size_t> todo;
    for (std::size_t c = 0; c < chains.size(); ++c)
      if (chains[c].size() < length) todo.push_back(c);
    if (todo.empty()) return std::optional<stop_reason>{};
    const ledger now = spent();
    if (auto why = limit.check(now)) return why;
    const std::uint64_t gen_left = limit.max_generated_tokens - std::min(limit.max_generated_tokens, now.generated_tokens);
    const std::uint64_t total_left = limit.max_total_tokens - std::min(limit.max_total_tokens, now.total_tokens());
    const std::uint64_t gen_each = sp.max_tokens;
    std::uint64_t gen = 0, total = 0;
    std::optional<stop_reason> short_by;
    std::size_t fit = 0;
    for (; fit < todo.size(); ++fit) {
      const chain& c = chains[todo[fit]];
      std::uint64_t cost = gen_each + prompt_prefill;
      for (std::size_t i = c.size() - std::min<std::size_t>(context, c.size()); i < c.size(); ++i) cost += c[i].tokens;
      if (gen + gen_each > gen_left) {
        short_by = stop_reason::generated_tokens;
        break;
      }
      if (total + cost > total_left) {
        short_by = stop_reason::total_tokens;
        break;
      }
      gen += gen_each;
      total += cost;
    }
    if (fit == 0) return short_by;
    if (fit < todo.size())
      out.trace.push_back(trace_event{round, fmt::format("budget ({}): {} of {} revisions affordable", *short_by, fit, todo.size())});
    todo.resize(fit);

    // Views into the chains' own texts: nothing is appended to a chain until the call returns.
    std::vector<std::vector<solution_view>> history(todo.size());
    std::vector<revision_request> requests(todo.size());
    for (std::size_t j = 0; j < todo.size(); ++j) {
      const chain& c = chains[todo[j]];
      const std::size_t from = c.size() - std::min<std::size_t>(context, c.size());
      for (std::size_t i = from; i + 1 < c.size(); ++i)
        history[j].push_back(solution_view{std::span<const std::string>(&c[i].text, 1), true, c[i].source});
      random_stream rs = stream.substream(static_cast<std::uint32_t>(todo[j]), strategy_channel + 1 + round);
      requests[j].candidate = solution_view{std::span<const std::string>(&c.back().text, 1), true, c.back().source};
      requests[j].seed = request_seed(rs);
      requests[j].history = history[j];
    }
    sampling_params call = sp;
    random_stream cs = stream.substream(strategy_channel + 1, round);
    call.seed = request_seed(cs);
    auto revised = m.revise(p, std::span<const revision_request>(requests), call);
    if (!revised) return revised.error();
    auto& got = revised.value().completions;
    if (got.size() != requests.size())
      return fail(errc::engine_failure,
                  fmt::format("sequential_revisions: the reviser returned {} completions for {} requests", got.size(), requests.size()));
    for (std::size_t j = 0; j < todo.size(); ++j) chains[todo[j]].push_back(std::move(got[j]));
    out.trace.push_back(trace_event{round, fmt::format("round {}: revised {} chains", round, todo.size())});
    if (short_by) return short_by;
  }
}

/// Verifier-mode selection over chains whose attempts have `answers` and `scores` (scores >= 0):
/// per chain the answer with the largest summed score and, as its representative, its
/// highest-scoring attempt with that answer (ties: the earlier); then the weighted vote over the
/// representatives. Returns the across-chain tally (leader first).
inline vote_tally hierarchical_tally(const std::vector<std::vector<std::optional<std::string>>>& answers,
                                     const std::vector<std::vector<double>>& scores, const vote_params& vote) {
  std::vector<std::optional<std::string>> reps;
  std::vector<double> weights;
  for (std::size_t c = 0; c < answers.size(); ++c) {
    const vote_tally within = weighted_vote(answers[c], scores[c], vote);
    const auto best = within.winner();
    if (!best) continue; // nothing in this chain answered
    std::optional<double> top;
    for (std::size_t t = 0; t < answers[c].size(); ++t)
      if (answers[c][t] == best && (!top || scores[c][t] > *top)) top = scores[c][t];
    reps.push_back(best);
    weights.push_back(*top);
  }
  return weighted_vote(reps, weights, vote);
}

/// Majority mode: the plurality vote over every attempt of every chain.
inline vote_tally flat_tally(const std::vector<std::vector<std::optional<std::string>>>& answers, const vote_params& vote) {
  std::vector<std::optional<std::string>> all;
  for (const auto& c : answers) all.insert(all.end(), c.begin(), c.end());
  return plurality_vote(all, vote);
}

/// `chains` chains started from `samples`: chain c gets the samples c, c + P, c + 2P, ... (P =
/// chains), so samples beyond one per chain become the chains' earliest attempts (compute-optimal's
/// probe samples when there are more of them than chains).
inline std::vector<chain> deal(std::span<const completion> samples, std::size_t chains) {
  std::vector<chain> out(chains);
  for (std::size_t i = 0; i < samples.size(); ++i) out[i % chains].push_back(samples[i]);
  return out;
}

} // namespace detail::revisions

/// Sequential revisions with compile-time choices of selection, scorer and answer key.
/// @tparam Selection select_hierarchical (verifier mode) or select_majority (flat majority vote)
/// @tparam Scorer    orm_scorer or prm_scorer<reduce_last | reduce_min | reduce_prod | reduce_mean>
///                   (scores in [0, 1]; unused by select_majority)
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class Selection, class Scorer, class AnswerKey>
class basic_sequential_revisions {
  static_assert(std::is_same_v<Selection, select_hierarchical> || std::is_same_v<Selection, select_majority>,
                "sequential_revisions: Selection must be select_hierarchical or select_majority");
  static_assert(!requires { requires static_cast<bool>(Scorer::log_scores); },
                "sequential_revisions: a log-score scorer cannot weigh a vote; use a scorer with scores in [0, 1]");

public:
  using params_type = sequential_revisions_params;

  basic_sequential_revisions() = default;
  explicit basic_sequential_revisions(sequential_revisions_params params, Scorer scorer = {}, AnswerKey key = {})
      : params_(std::move(params)), scorer_(std::move(scorer)), key_(std::move(key)) {}

  /// Runs on one problem: `model` samples and revises, `reward` scores every attempt (verifier mode).
  /// @returns the result (confidence: the winner's share of the across-chain tally, or of the flat
  ///          vote), or: invalid_argument (bad params), budget_exhausted (no first attempt
  ///          affordable), engine_failure (a reviser batch of the wrong size, a score that is NaN or
  ///          outside [0, 1], anything thrown), or a model's error. See the header for the budget.
  template <class M, class R>
    requires sampling_model<M> && reviser<M> && (Scorer::template accepts<R>) && std::is_same_v<Selection, select_hierarchical>
  result<strategy_result> run(M& model, R& reward, const problem& p, const budget& limit, const random_stream& stream) const {
    return detail::checked_run(
        "sequential_revisions", [&] { return check_params(); },
        [&] { return run_checked(model, &reward, p, limit, stream); });
  }

  /// Majority mode needs no reward model.
  template <class M>
    requires sampling_model<M> && reviser<M> && std::is_same_v<Selection, select_majority>
  result<strategy_result> run(M& model, const problem& p, const budget& limit, const random_stream& stream) const {
    return detail::checked_run(
        "sequential_revisions", [&] { return check_params(); },
        [&] { return run_checked(model, static_cast<no_reward*>(nullptr), p, limit, stream); });
  }

  [[nodiscard]] const sequential_revisions_params& params() const noexcept { return params_; }

private:
  struct no_reward {}; // majority mode's absent reward model

  [[nodiscard]] result<void> check_params() const {
    if (params_.chains == 0) return fail(errc::invalid_argument, "sequential_revisions: chains (P) must be > 0");
    if (params_.length == 0) return fail(errc::invalid_argument, "sequential_revisions: length (L) must be > 0");
    if (params_.context == 0) return fail(errc::invalid_argument, "sequential_revisions: context must be > 0");
    if (static_cast<std::uint64_t>(params_.chains) * params_.length > std::numeric_limits<std::uint32_t>::max())
      return fail(errc::invalid_argument, "sequential_revisions: chains x length must fit in 32 bits");
    if (params_.step_delimiter.empty()) return fail(errc::invalid_argument, "sequential_revisions: step_delimiter must not be empty");
    return validate(params_.sampling);
  }

  template <class M, class R>
  result<strategy_result> run_checked(M& model, R* reward, const problem& p, const budget& limit,
                                      const random_stream& stream) const {
    constexpr bool verifier = std::is_same_v<Selection, select_hierarchical>;
    metered<M&> m(model);
    strategy_result out;
    std::vector<completion> heads;
    detail::sampling_rounds<M> rounds(m, p, params_.sampling, limit, stream);
    while (heads.size() < params_.chains) {
      auto drawn = rounds.draw(params_.chains - static_cast<std::uint32_t>(heads.size()), heads, out);
      if (!drawn) return drawn.error();
      if (*drawn == 0) break;
    }
    if (heads.empty()) return detail::nothing_affordable(rounds.stopped_by());
    out.stopped_by = rounds.stopped_by();
    if (heads.size() < params_.chains)
      out.trace.push_back(trace_event{0, fmt::format("budget: {} of {} chains", heads.size(), params_.chains)});
    std::vector<detail::revisions::chain> chains = detail::revisions::deal(heads, heads.size());

    const ledger& sampled = m.ledger();
    const std::uint64_t prompt_prefill = std::max<std::uint64_t>(
        sampled.engine_calls == 0 ? 0 : sampled.prefilled_tokens / sampled.engine_calls, detail::estimate_tokens(p.prompt.size()));
    // Majority mode never calls a reward model, so its limits must not stop the revisions.
    budget growth = limit;
    if constexpr (!verifier) {
      growth.max_prm_calls = budget::unlimited;
      growth.max_prm_tokens = budget::unlimited;
    }
    if (!out.stopped_by) {
      auto grown = detail::revisions::grow(m, p, chains, params_.length, params_.context, params_.sampling, growth,
                                           [&] { return m.ledger(); }, prompt_prefill, stream, out);
      if (!grown) return grown.error();
      out.stopped_by = *grown;
    }

    std::vector<std::vector<std::optional<std::string>>> answers(chains.size());
    std::size_t attempts = 0;
    for (std::size_t c = 0; c < chains.size(); ++c) {
      for (const auto& a : chains[c]) answers[c].push_back(key_(a));
      attempts += chains[c].size();
    }
    out.samples = static_cast<std::uint32_t>(attempts);
    auto flat = [&] {
      out.tally = detail::revisions::flat_tally(answers, params_.vote);
      out.answer = out.tally.winner();
      out.confidence = out.tally.leader() ? out.tally.leader()->share : 0.0;
    };
    if constexpr (!verifier) {
      (void)reward;
      flat();
      out.cost = m.ledger();
      return out;
    } else {
      metered<R&> scorer_model(*reward);
      // Round-major order: the prefix that the prm tokens can pay for is the chains cut at a round.
      std::vector<std::pair<std::size_t, std::size_t>> order; // (chain, attempt)
      std::size_t longest = 0;
      for (const auto& c : chains) longest = std::max(longest, c.size());
      for (std::size_t t = 0; t < longest; ++t)
        for (std::size_t c = 0; c < chains.size(); ++c)
          if (t < chains[c].size()) order.emplace_back(c, t);
      std::optional<stop_reason> unaffordable = limit.check_reward_call(detail::combined_ledger(m, scorer_model));
      std::size_t scored = 0;
      if (!unaffordable) {
        const std::uint64_t left = limit.max_prm_tokens - detail::combined_ledger(m, scorer_model).prm_tokens;
        std::uint64_t cost = 0;
        for (; scored < order.size(); ++scored) {
          cost += detail::estimate_tokens(chains[order[scored].first][order[scored].second].text.size());
          if (cost > left) break;
        }
        if (scored == 0) unaffordable = stop_reason::prm_tokens;
      }
      if (unaffordable) {
        out.stopped_by = unaffordable;
        out.trace.push_back(trace_event{0, fmt::format("reward call not affordable ({}): flat majority over {} attempts",
                                                       *unaffordable, attempts)});
        flat();
        out.cost = detail::combined_ledger(m, scorer_model);
        return out;
      }
      if (scored < order.size()) {
        out.stopped_by = stop_reason::prm_tokens;
        out.trace.push_back(trace_event{0, fmt::format("prm tokens allow scoring {} of {} attempts", scored, order.size())});
      }
      std::vector<completion> batch;
      batch.reserve(scored);
      for (std::size_t i = 0; i < scored; ++i) batch.push_back(chains[order[i].first][order[i].second]);
      auto scores = scorer_(scorer_model, p, std::span<const completion>(batch), params_.step_delimiter);
      out.cost = detail::combined_ledger(m, scorer_model);
      if (!scores) return scores.error();
      if (scores->size() != batch.size())
        return fail(errc::engine_failure,
                    fmt::format("sequential_revisions: the scorer returned {} scores for {} attempts", scores->size(), batch.size()));
      std::vector<std::vector<std::optional<std::string>>> kept(chains.size());
      std::vector<std::vector<double>> weights(chains.size());
      for (std::size_t i = 0; i < scored; ++i) {
        const double s = (*scores)[i];
        if (!std::isfinite(s) || s < 0.0 || s > 1.0)
          return fail(errc::engine_failure, fmt::format("sequential_revisions: the scorer returned a score outside [0, 1]: {}", s));
        kept[order[i].first].push_back(answers[order[i].first][order[i].second]);
        weights[order[i].first].push_back(s);
      }
      out.samples = static_cast<std::uint32_t>(scored);
      out.tally = detail::revisions::hierarchical_tally(kept, weights, params_.vote);
      out.answer = out.tally.winner();
      out.confidence = out.tally.leader() ? out.tally.leader()->share : 0.0;
      out.trace.push_back(trace_event{0, fmt::format("hierarchical selection over {} chains ({} attempts)", chains.size(), scored)});
      return out;
    }
  }

  sequential_revisions_params params_{};
  Scorer scorer_{};
  AnswerKey key_{};
};

/// Sequential revisions in verifier mode: hierarchical weighted best-of-N by ORM.
using sequential_revisions = basic_sequential_revisions<select_hierarchical, orm_scorer, canonical_answer_key>;
/// Sequential revisions in majority mode: a flat majority vote over every attempt.
using majority_sequential_revisions = basic_sequential_revisions<select_majority, orm_scorer, canonical_answer_key>;

} // namespace reckon
