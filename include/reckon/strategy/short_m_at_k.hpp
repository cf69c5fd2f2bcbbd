// SPDX-License-Identifier: Apache-2.0
// short-m@k: k chains in parallel, the rest stopped once m have finished, a vote over those m.
#pragma once

// Algorithm (Hassid et al. 2025, "Don't Overthink it: Preferring Shorter Thinking Chains for
// Improved LLM Reasoning", §4.1; no reference code): start k chains on one prompt (one begin,
// k - 1 forks: the prompt is prefilled once) and extend every unfinished chain by one step in ONE
// batched extend per step; as soon as m chains have finished, every other chain is released.
// Answer: plurality over those m chains' answers, ties to the answer with the shortest chain
// (ties_to_shortest, aggregate/length_filter.hpp). short-1@k answers with the first chain to
// finish. Length: the Length policy (generated tokens by default; the paper counts thinking tokens).
// Cost: per step one extend of the live chains; no reward-model call (reward-model limits do not
// stop it). Generated tokens are about
// k x the length of the m-th chain to finish (majority@k: the sum of all k lengths).
// Whole samples (run_whole_samples, and run() on a model that samples but cannot step): k complete
// samples in one call; the m shortest finished ones vote, and the result's cost is COUNTED as if
// the other chains had been stopped when the m-th finished: each sample's generated tokens are
// capped at the m-th shortest finished length (the prefill is as spent). The trace states the
// counted and the actual generated tokens; the budget is checked against what is actually spent.
// Deviations: the paper halts chains at token granularity; on a stepping model the run stops after
// the extend in which the m-th chain finishes (extends cut by a step delimiter), and when several
// chains finish in that extend those with the fewest tokens are taken (earlier chains first on
// equal counts). A finished chain without an answer counts towards m and abstains. Fewer than m
// finished at the step cap or at the budget: the vote is over those that did (none: no answer,
// the trace says so); unfinished chains never vote, as the paper excludes chains that never finish
// thinking. A fork refused for capacity runs fewer chains (m is capped at the chains started);
// near a token budget a step's token cap is lowered so that the run never passes the budget.

#include <reckon/aggregate/length_filter.hpp>
#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/fwd.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/answer_key.hpp>
#include <reckon/strategy/detail/guarded_run.hpp>
#include <reckon/strategy/detail/sampling_rounds.hpp>
#include <reckon/strategy/detail/search.hpp>
#include <reckon/strategy/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace reckon {

/// Runtime numbers of short-m@k.
struct short_m_at_k_params {
  std::uint32_t k = 8;           ///< chains started (> 0)
  std::uint32_t m = 1;           ///< finished chains that stop the rest and vote, in [1, k]
  std::uint32_t max_steps = 256; ///< stepping: the most extends of one chain (> 0)
  step_params stepping{};        ///< stepping: each extend's parameters (max_step_tokens is lowered near a token budget)
  sampling_params sampling{};    ///< whole samples: the request's parameters (the seed is set by the run)
};

/// A chain's length for the vote's tie-break and the order of finishing: its generated tokens.
struct generated_length {
  [[nodiscard]] std::uint32_t operator()(const completion& c) const noexcept { return c.tokens; }
};

/// short-m@k with compile-time choices of length and answer key.
/// @tparam Length    `std::uint32_t(const completion&)`: a chain's length (the paper: thinking tokens)
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class Length, class AnswerKey>
class basic_short_m_at_k {
public:
  using params_type = short_m_at_k_params;

  basic_short_m_at_k() = default;
  explicit basic_short_m_at_k(short_m_at_k_params params, Length length = {}, AnswerKey key = {})
      : params_(std::move(params)), length_(std::move(length)), key_(std::move(key)) {}

  /// Runs on one problem: on a stepping model chain by chain, on a model that only samples on
  /// whole samples (run_whole_samples).
  /// @returns the result (no answer when no chain finished), or: invalid_argument (bad params),
  ///          budget_exhausted (not one step or sample affordable), engine_failure (an extend
  ///          returning the wrong number of steps; a model, key or policy that threw), or the
  ///          model's error. Every engine sequence is released on every path out; no exception escapes.
  template <class M>
    requires stepping_model<M> || sampling_model<M>
  result<strategy_result> run(M& model, const problem& p, const budget& limit, const random_stream& stream) const {
    if constexpr (stepping_model<M>)
      return detail::checked_run(
          "short_m_at_k", [&] { return validate_params(true); },
          [&] { return run_stepping(model, p, limit, stream); });
    else
      return run_whole_samples(model, p, limit, stream);
  }

  /// The whole-sample mapping on any sampling model (see the header): k samples, the m shortest
  /// finished vote, the cost counted as if the rest had stopped when the m-th finished.
  template <sampling_model M>
  result<strategy_result> run_whole_samples(M& model, const problem& p, const budget& limit,
                                            const random_stream& stream) const {
    return detail::checked_run(
        "short_m_at_k", [&] { return validate_params(false); },
        [&] { return run_sampled(model, p, limit, stream); });
  }

  [[nodiscard]] const short_m_at_k_params& params() const noexcept { return params_; }

private:
  [[nodiscard]] result<void> validate_params(bool stepping) const {
    if (params_.k == 0) return fail(errc::invalid_argument, "short_m_at_k: k must be > 0");
    if (params_.m == 0 || params_.m > params_.k)
      return fail(errc::invalid_argument,
                  fmt::format("short_m_at_k: m must be in [1, k] = [1, {}] (got {})", params_.k, params_.m));
    if (!stepping) return validate(params_.sampling);
    if (params_.max_steps == 0) return fail(errc::invalid_argument, "short_m_at_k: max_steps must be > 0");
    return validate(params_.stepping);
  }

  // The vote over the chains that finished first (already in finishing order).
  void vote(const std::vector<completion>& voters, strategy_result& out) const {
    std::vector<std::optional<std::string>> answers;
    std::vector<std::uint32_t> lengths;
    for (const auto& c : voters) {
      answers.push_back(key_(c));
      lengths.push_back(length_(c));
    }
    out.tally = ties_to_shortest(answers, lengths);
    out.answer = out.tally.winner();
    const answer_tally* chosen = out.answer ? out.tally.find(*out.answer) : nullptr;
    out.confidence = chosen ? chosen->share : 0.0;
    out.samples = static_cast<std::uint32_t>(voters.size());
    if (voters.empty()) out.trace.push_back(trace_event{0, "no chain finished: no answer"});
  }

  template <class M>
  result<strategy_result> run_stepping(M& model, const problem& p, const budget& given,
                                       const random_stream& stream) const {
    // It makes no reward-model call, so reward-model limits cannot stop it (as sampling_rounds).
    budget limit = given;
    limit.max_prm_calls = budget::unlimited;
    limit.max_prm_tokens = budget::unlimited;
    metered<M&> m(model);
    strategy_result out;
    if (auto why = limit.check(m.ledger())) return detail::nothing_affordable(why);
    detail::path_set<M> set(m);
    auto started = set.start(p, params_.k, out);
    if (!started) return started.error();
    const std::size_t want = std::min<std::size_t>(params_.m, started.value());
    std::vector<std::size_t> finished; // slots, in finishing order
    std::vector<std::size_t> live, fresh;
    std::vector<std::uint32_t> ids;
    step_params sp = params_.stepping;
    std::uint32_t steps = 0;
    for (std::uint32_t k = 0; k < params_.max_steps && finished.size() < want; ++k) {
      set.live_slots(live, &ids);
      if (live.empty()) break;
      if (auto why = set.afford(limit, m.ledger(), live.size(), params_.stepping.max_step_tokens, sp)) {
        out.stopped_by = why;
        break;
      }
      if (auto ok = set.extend(live, ids, k, sp, stream); !ok) return ok.error();
      ++steps;
      fresh.clear();
      for (const std::size_t i : live)
        if (set.paths[i].done) fresh.push_back(i);
      std::stable_sort(fresh.begin(), fresh.end(),
                       [&](std::size_t a, std::size_t b) { return set.paths[a].tokens < set.paths[b].tokens; });
      finished.insert(finished.end(), fresh.begin(), fresh.end());
    }
    if (steps == 0) return detail::nothing_affordable(out.stopped_by);
    std::size_t stopped = 0;
    for (const auto& q : set.paths) stopped += (q.handle && !q.done) ? 1 : 0;
    set.release_all();
    if (finished.size() >= want)
      out.trace.push_back(trace_event{steps, fmt::format("{} of {} chains finished after {} steps; {} stopped", want,
                                                         set.paths.size(), steps, stopped)});
    else
      out.trace.push_back(trace_event{steps, fmt::format("only {} of {} chains finished ({}); the vote is over them",
                                                         finished.size(), want,
                                                         out.stopped_by ? to_string(*out.stopped_by) : "step cap")});
    finished.resize(std::min(finished.size(), want));
    std::vector<completion> voters;
    for (const std::size_t i : finished) voters.push_back(set.paths[i].as_completion());
    vote(voters, out);
    out.cost = m.ledger();
    return out;
  }

  template <class M>
  result<strategy_result> run_sampled(M& model, const problem& p, const budget& limit, const random_stream& stream) const {
    metered<M&> m(model);
    strategy_result out;
    detail::sampling_rounds<M> rounds(m, p, params_.sampling, limit, stream);
    std::vector<completion> samples;
    auto drawn = rounds.draw(params_.k, samples, out);
    if (!drawn) return drawn.error();
    if (samples.empty()) return detail::nothing_affordable(rounds.stopped_by());
    out.stopped_by = rounds.stopped_by();
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < samples.size(); ++i)
      if (samples[i].finish == finish_reason::eos || samples[i].finish == finish_reason::stop) order.push_back(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return length_(samples[a]) < length_(samples[b]); });
    order.resize(std::min<std::size_t>(order.size(), params_.m));
    std::vector<completion> voters;
    for (const std::size_t i : order) voters.push_back(samples[i]);
    out.cost = m.ledger();
    // The m-th finisher's token count is where the others would have been stopped; with fewer
    // than m finished nobody is stopped early.
    if (order.size() == params_.m) {
      const std::uint32_t stop_at = samples[order.back()].tokens;
      std::uint64_t counted = 0;
      for (const auto& c : samples) counted += std::min(c.tokens, stop_at);
      out.trace.push_back(trace_event{1, fmt::format("whole samples: cost counted as if the other {} chains had stopped "
                                                     "at the {}-th finisher's {} tokens: {} of {} generated tokens",
                                                     samples.size() - order.size(), params_.m, stop_at, counted,
                                                     out.cost.generated_tokens)});
      out.cost.generated_tokens = counted;
    } else {
      out.trace.push_back(trace_event{1, fmt::format("whole samples: only {} of {} finished; the cost is as spent",
                                                     order.size(), params_.m)});
    }
    vote(voters, out);
    return out;
  }

  short_m_at_k_params params_{};
  Length length_{};
  AnswerKey key_{};
};

/// short-m@k by generated tokens, canonical answers (set m and k in the params).
using short_m_at_k = basic_short_m_at_k<generated_length, canonical_answer_key>;

} // namespace reckon
