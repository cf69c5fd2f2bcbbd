// SPDX-License-Identifier: Apache-2.0
// SCALE: selective per-step effort, System 1 below a self-rated difficulty threshold and System 2 above it.
#pragma once

// Algorithm (Xiao et al., "SCALE: Selective Resource Allocation", AAAI 2026, arXiv:2512.00466,
// Eqs. 1-7; reference code: XiaoYang66/DualThinking, inference/cot_dual_thinking.py): a problem
// is decomposed into sub-problems, each sub-problem's difficulty d_i in [0, 1] is self-rated, and
// the sub-problems are solved in order, each with the solved ones in context (Eqs. 5-6): sub-
// problem i in System 2 (deliberate, thinking mode) when d_i > tau (strict, Eq. 4), else in System 1
// (direct, non-thinking mode). The last sub-problem is forced to System 2 (the code sets d_n = 0.9).
// Here a sub-problem is one reasoning step of a stepping model and the effort is the step's
// step_params::effort; the decomposition and the ratings come from a self_rating_model: rate_plan
// gives the planned steps, one rating each, from the prompt alone (the code's thinking_scores,
// which rates every step before solving any: policy rate_upfront, the default), and rate_next
// rates the next step with the solved steps in context (the paper's Eq. 3: policy rate_in_context;
// the plan then gives only the step count). The answer is the chain's final step's.
// Cost: one plan call, then per step one extend of the one chain (plus, in context, one rating
// call before it): 1 + s (or 1 + 2s) sequential engine calls for s steps; one live sequence.
// Deviations: the code samples K = 8 outlines and lets the model pick one (stage 1); here the
// model's plan is one call (a stepping model has no outline text to pick among). The code
// overwrites the last outline step with the original question; here the planned last step, and
// every step past the plan (a path may run longer than planned; up front it keeps the last
// planned rating), is forced to System 2 when force_last (a path that ends before its planned
// last step has none). A rating that is NaN or
// outside [0, 1], or a plan with no step, is an engine_failure (the code re-asks until it parses a
// number in [0, 1]). One token cap per mode: System 2's is deliberate_step_tokens (the paper's
// scaling varies it; the code uses one cap for both). Near a token budget a step's cap is lowered
// so that the run never passes the budget; a rating call is made only when `rating_reserve`
// generated tokens plus its context's prefill (the prompt reserve, plus the chain's tokens in
// context) still fit, so a run stays within its token limits when the model's rating stays within
// that reserve. A chain cut by the step cap or the budget before its last step gives no answer.

#include <reckon/budget/budget.hpp>
#include <reckon/budget/ledger.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/self_rating_model.hpp>
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

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace reckon {

/// Runtime numbers of SCALE.
struct scale_params {
  double tau = 0.5;                         ///< threshold in [0, 1]: a step rated above it (strict) is deliberate (the code's --difficulty 0.5; the paper's best is 0.2)
  bool force_last = true;                   ///< the planned last step and any past the plan are deliberate (the code's d_n = 0.9)
  std::uint32_t max_steps = 64;             ///< the most steps of the chain (> 0)
  step_params stepping{};                   ///< every step's parameters; effort must be standard (the run sets each step's); max_step_tokens is System 1's cap, lowered near a token budget
  std::uint32_t deliberate_step_tokens = 0; ///< System 2's cap on a step's tokens (0: stepping.max_step_tokens, as the code's one max_tokens)
  std::uint32_t rating_reserve = 64;        ///< generated tokens reserved for one rating call (> 0; the code's SCORE_MAX_TOKENS)
};

/// Rate every planned step up front, from the prompt alone (SCALE's reference code).
struct rate_upfront {};
/// Rate each step just before it, with the solved steps in context (SCALE's paper, Eq. 3).
struct rate_in_context {};

/// SCALE (Xiao et al., AAAI 2026) with compile-time choices of rating mode and answer key.
/// @tparam Rating    rate_upfront (default) or rate_in_context
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class Rating, class AnswerKey>
class basic_scale {
  static_assert(std::is_same_v<Rating, rate_upfront> || std::is_same_v<Rating, rate_in_context>,
                "basic_scale: Rating must be rate_upfront or rate_in_context");

public:
  using params_type = scale_params;

  basic_scale() = default;
  explicit basic_scale(scale_params params, AnswerKey key = {}) : params_(std::move(params)), key_(std::move(key)) {}

  /// Runs on one problem: one chain, each step's effort chosen by its self-rated difficulty.
  /// @returns the result (answer nullopt when the chain did not finish, or finished without an
  ///          answer), or: invalid_argument (bad params), budget_exhausted (the plan or the first
  ///          step not affordable), engine_failure (a plan with no step; a rating NaN or outside
  ///          [0, 1]; a rating call or an extend returning the wrong number of items; a model or key
  ///          that threw), or the model's error (no_capacity when it cannot begin a sequence).
  ///          The sequence is released on every path out; no exception escapes.
  template <self_rating_model M>
  result<strategy_result> run(M& model, const problem& p, const budget& limit, const random_stream& stream) const {
    return detail::checked_run(
        "scale", [&] { return check_params(); }, [&] { return run_chain(model, p, limit, stream); });
  }

  [[nodiscard]] const scale_params& params() const noexcept { return params_; }

private:
  [[nodiscard]] result<void> check_params() const {
    if (!std::isfinite(params_.tau) || params_.tau < 0.0 || params_.tau > 1.0)
      return fail(errc::invalid_argument, "scale: tau must be in [0, 1]");
    if (params_.max_steps == 0) return fail(errc::invalid_argument, "scale: max_steps must be > 0");
    if (params_.rating_reserve == 0) return fail(errc::invalid_argument, "scale: rating_reserve must be > 0");
    if (params_.stepping.effort != effort_level::standard)
      return fail(errc::invalid_argument, "scale: stepping.effort must be standard (the run sets each step's effort)");
    return validate(params_.stepping);
  }

  // Whether a rating call whose context prefills `context` tokens fits the token limits.
  [[nodiscard]] std::optional<stop_reason> afford_rating(const budget& limit, const ledger& spent,
                                                         std::uint64_t context) const {
    if (auto why = limit.check(spent)) return why;
    const std::uint64_t gen_left = limit.generated_tokens_left(spent);
    const std::uint64_t total_left =
        limit.max_total_tokens == budget::unlimited ? budget::unlimited
                                                    : limit.max_total_tokens - std::min(limit.max_total_tokens, spent.total_tokens());
    if (gen_left <= params_.rating_reserve) return detail::tighter_token_limit(limit, spent);
    if (total_left != budget::unlimited && total_left <= context + params_.rating_reserve) return stop_reason::total_tokens;
    return std::nullopt;
  }

  // Checks one rating call's answer: `want` ratings (0: any number >= 1), each finite in [0, 1].
  [[nodiscard]] static result<void> check_ratings(const difficulty_ratings& r, std::size_t want, const char* call) {
    if (want == 0 ? r.difficulty.empty() : r.difficulty.size() != want)
      return fail(errc::engine_failure, fmt::format("scale: {} returned {} ratings{}", call, r.difficulty.size(),
                                                    want == 0 ? " (a plan needs one step at least)" : fmt::format(" for {}", want)));
    for (const double d : r.difficulty)
      if (!std::isfinite(d) || d < 0.0 || d > 1.0)
        return fail(errc::engine_failure, fmt::format("scale: {} returned a rating outside [0, 1]: {}", call, d));
    return {};
  }

  template <class M>
  result<strategy_result> run_chain(M& model, const problem& p, const budget& given, const random_stream& stream) const {
    // It makes no reward-model call, so reward-model limits cannot stop it.
    budget limit = given;
    limit.max_prm_calls = budget::unlimited;
    limit.max_prm_tokens = budget::unlimited;
    metered<M&> m(model); // it meters the rating calls too
    const auto spent = [&]() -> const ledger& { return m.ledger(); };
    strategy_result out;
    if (auto why = limit.check(spent())) return detail::nothing_affordable(why);
    detail::path_set<M> set(m);
    auto started = set.start(p, 1, out);
    if (!started) return started.error();
    const std::uint64_t prompt = detail::prompt_reserve(model, p);

    if (auto why = afford_rating(limit, spent(), prompt)) return detail::nothing_affordable(why);
    auto plan = m.rate_plan(p, detail::slot_seed(stream, detail::strategy_channel, 0));
    if (!plan) return plan.error();
    if (auto ok = check_ratings(plan.value(), 0, "rate_plan"); !ok) return ok.error();
    const std::vector<double>& planned = plan.value().difficulty;
    out.trace.push_back(trace_event{0, fmt::format("plan: {} steps rated up front", planned.size())});

    const std::uint32_t system2_cap =
        params_.deliberate_step_tokens != 0 ? params_.deliberate_step_tokens : params_.stepping.max_step_tokens;
    std::vector<std::size_t> live;
    std::vector<std::uint32_t> ids;
    std::uint32_t steps = 0, deliberate = 0;
    std::uint64_t system1_tokens = 0, system2_tokens = 0;
    for (std::uint32_t k = 0; k < params_.max_steps; ++k) {
      set.live_slots(live, &ids);
      if (live.empty()) break;
      // Past the plan the chain is still on its last planned sub-problem.
      double d = planned[std::min<std::size_t>(k, planned.size() - 1)];
      if constexpr (std::is_same_v<Rating, rate_in_context>) {
        if (auto why = afford_rating(limit, spent(), prompt + set.paths[live[0]].tokens)) {
          out.stopped_by = why;
          break;
        }
        const std::uint64_t seed = detail::slot_seed(stream, detail::strategy_channel + 1, k);
        const typename M::sequence handle = *set.paths[live[0]].handle;
        auto next = m.rate_next(std::span<const typename M::sequence>(&handle, 1), std::span<const std::uint64_t>(&seed, 1));
        if (!next) return next.error();
        if (auto ok = check_ratings(next.value(), 1, "rate_next"); !ok) return ok.error();
        d = next.value().difficulty[0];
      }
      const bool forced = params_.force_last && k + 1 >= planned.size();
      const bool system2 = forced || d > params_.tau;
      step_params sp = params_.stepping;
      sp.effort = system2 ? effort_level::deliberate : effort_level::standard;
      if (auto why = set.afford(limit, spent(), 1, system2 ? system2_cap : params_.stepping.max_step_tokens, sp)) {
        out.stopped_by = why;
        break;
      }
      const std::uint32_t before = set.paths[live[0]].tokens;
      if (auto ok = set.extend(live, ids, k, sp, stream); !ok) return ok.error();
      const std::uint32_t wrote = set.paths[live[0]].tokens - before;
      ++steps;
      deliberate += system2 ? 1 : 0;
      (system2 ? system2_tokens : system1_tokens) += wrote;
      out.trace.push_back(trace_event{k + 1, fmt::format("step {}: rated {:.3f} -> {}{} ({} tokens)", k + 1, d,
                                                         system2 ? "system 2" : "system 1",
                                                         forced && !(d > params_.tau) ? " (last step forced)" : "", wrote)});
    }
    if (steps == 0) return detail::nothing_affordable(out.stopped_by);
    const detail::search_path<typename M::sequence> chain = set.paths[0];
    set.release_all();
    out.trace.push_back(trace_event{steps, fmt::format("{} steps: {} in system 2 ({} tokens), {} in system 1 ({} tokens){}",
                                                       steps, deliberate, system2_tokens, steps - deliberate, system1_tokens,
                                                       chain.done ? "" : out.stopped_by ? "; cut by the budget: no answer"
                                                                                        : "; step cap reached: no answer")});
    if (chain.done) {
      const std::vector<std::optional<std::string>> answers{key_(chain.as_completion())};
      out.tally = weighted_vote(answers, std::vector<double>{1.0});
      out.answer = out.tally.winner();
      out.confidence = out.answer ? 1.0 : 0.0;
      out.samples = 1;
    }
    out.cost = spent();
    return out;
  }

  scale_params params_{};
  AnswerKey key_{};
};

/// SCALE as its reference code runs it: ratings up front, tau 0.5, the last step deliberate.
using scale = basic_scale<rate_upfront, canonical_answer_key>;

} // namespace reckon
