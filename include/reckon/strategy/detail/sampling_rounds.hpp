// SPDX-License-Identifier: Apache-2.0
// Shared by sample-based strategies: batched sampling rounds that respect a budget and key seeds.
#pragma once

#include <reckon/budget/budget.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace reckon::detail {

/// Draws completions in batched rounds through a metered model, never starting a round the budget
/// forbids and never asking for more samples than the remaining token budget can pay for if every
/// one of them reached params.max_tokens: a run never exceeds max_generated_tokens. Under a
/// max_total_tokens limit a round also reserves the prefill its call will add, which the engine
/// reports only afterwards: the largest prefill a call of this run has reported, and before the
/// first call ceil(prompt characters / 4) (metered's stated estimate). So a run passes
/// max_total_tokens only when its first call prefills more than that estimate (a chat template, a
/// system prompt), and then by at most the difference, once.
/// Only the limits a sampling call spends stop a round (tokens, engine calls, wall time, deadline):
/// reward-model limits are the reward call's to check (budget::check_reward_call), so that
/// max_prm_calls = 0 forbids scoring, not sampling.
/// Round r's request seed comes from stream (seed, problem, particle 0, step r), so a run's samples
/// depend only on (seed, problem, round), not on thread count or other problems.
template <class M>
class sampling_rounds {
public:
  sampling_rounds(metered<M&>& model, const problem& p, const sampling_params& params, const budget& limit,
                  const random_stream& stream)
      : model_(model), problem_(p), params_(params), limit_(limit), stream_(stream) {
    limit_.max_prm_calls = budget::unlimited;
    limit_.max_prm_tokens = budget::unlimited;
  }

  /// Requests up to `want` more completions and appends them to `out`. Returns the number drawn
  /// (0 when the budget stopped it: then stopped_by() says which limit), or the model's error. A
  /// model returning a different number of completions than asked is an engine_failure.
  result<std::uint32_t> draw(std::uint32_t want, std::vector<completion>& out, strategy_result& log) {
    if (want == 0) return std::uint32_t{0};
    if (auto why = limit_.check(model_.ledger())) {
      stopped_by_ = why;
      return std::uint32_t{0};
    }
    const ledger& spent = model_.ledger();
    const std::uint64_t per_sample = params_.max_tokens; // validated > 0
    const std::uint64_t generated_left =
        limit_.max_generated_tokens - std::min(limit_.max_generated_tokens, spent.generated_tokens);
    std::uint64_t total_left = limit_.max_total_tokens - std::min(limit_.max_total_tokens, spent.total_tokens());
    if (limit_.max_total_tokens != budget::unlimited) {
      const std::uint64_t reserve = std::max(max_prefill_, estimate_tokens(problem_.prompt.size()));
      total_left = total_left > reserve ? total_left - reserve : 0;
    }
    const std::uint64_t affordable = std::min(generated_left, total_left) / per_sample;
    if (affordable == 0) {
      // The tighter of the two token limits is the one that stopped the run.
      stopped_by_ = total_left < generated_left ? stop_reason::total_tokens : stop_reason::generated_tokens;
      return std::uint32_t{0};
    }
    const std::uint64_t prefilled_before = spent.prefilled_tokens;
    const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(want, affordable));
    sampling_params request = params_;
    random_stream round_stream = stream_.substream(0, round_);
    request.seed = request_seed(round_stream);
    auto batch = model_.sample(problem_, request, n);
    max_prefill_ = std::max(max_prefill_, model_.ledger().prefilled_tokens - prefilled_before);
    if (!batch) return batch.error();
    if (batch->completions.size() != n)
      return fail(errc::engine_failure,
                  fmt::format("model returned {} completions for a request of {}", batch->completions.size(), n));
    for (auto& c : batch->completions) out.push_back(std::move(c));
    log.trace.push_back(trace_event{round_, fmt::format("sampled {} (total {})", n, out.size())});
    ++round_;
    return n;
  }

  /// The budget limit that stopped the last draw, if one did.
  [[nodiscard]] std::optional<stop_reason> stopped_by() const noexcept { return stopped_by_; }
  /// Rounds drawn so far.
  [[nodiscard]] std::uint32_t rounds() const noexcept { return round_; }

private:
  metered<M&>& model_;
  const problem& problem_;
  sampling_params params_;
  budget limit_; // by value (a temporary budget{} must not dangle), without the reward-model limits
  random_stream stream_;
  std::uint32_t round_ = 0;
  std::uint64_t max_prefill_ = 0; // the largest prefill one call has reported
  std::optional<stop_reason> stopped_by_;
};

/// The error a strategy returns when the budget allowed no sample at all.
[[nodiscard]] inline error nothing_affordable(std::optional<stop_reason> why) {
  return fail(errc::budget_exhausted,
              fmt::format("the budget allowed no sample ({})", why ? to_string(*why) : std::string_view("limit")));
}

} // namespace reckon::detail
