// SPDX-License-Identifier: Apache-2.0
// DeepConf: confidence-filtered, confidence-weighted voting, offline or online with early stopping.
#pragma once

// Algorithm (Fu et al. 2025, "Deep Think with Confidence"): token confidence C_t = -(1/k)
// sum_{j<=k} log P_t(j) over the top-k logprobs (k = 20); group confidence = mean C over a sliding
// window of w tokens (2048; a trace shorter than w is one group); a trace's score is its mean, its
// lowest group, the mean of its bottom 10% groups, or its tail (last w tokens).
// Offline: sample n traces, keep the top eta% by score, vote weighted by score.
// Online: n_init warm-up traces set the threshold s = percentile_{100 - eta} of their lowest-group
// confidences; later traces are cut as soon as a full window's mean falls below s (cut traces do
// not vote); sampling stops when the leader's share of the weighted vote reaches `consensus`
// (0.95) or n traces were started.
// Cost: offline one engine call for n traces; online one extend per step per batch of traces (a
// stepping model), or one sample call per batch (a sampling-only model).
// Deviations: with a sampling-only model a trace cannot be cut early: it is generated whole and
// dropped afterwards if its lowest group is below s (the trace says so). With a stepping model the
// window is checked at every token but a trace is cut at the end of the step in which it fell
// below s (an engine returns a step at a time). Warm-up traces vote if they pass the threshold.

#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/fwd.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/answer_key.hpp>
#include <reckon/strategy/detail/sampling_rounds.hpp>
#include <reckon/strategy/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace reckon {

/// Which per-trace confidence DeepConf ranks and weighs traces by.
enum class trace_score : std::uint8_t {
  mean,         ///< mean token confidence of the whole trace
  lowest_group, ///< the lowest sliding-window (group) confidence (the paper's default for online)
  bottom_10,    ///< mean of the lowest 10% of group confidences
  tail,         ///< mean token confidence of the last `window` tokens
};

/// DeepConf's confidence measures.
namespace deepconf {

/// Token confidences of a trace: C_t = -(1/k) sum_{j<=k} log P_t(j) over the first k entries of
/// each row of stats.top_logprobs. Throws reckon::exception (invalid_argument) when the trace has
/// no top-k rows of width >= k, or a logprob is NaN or positive.
[[nodiscard]] inline std::vector<double> token_confidences(const token_stats& stats, std::uint32_t k) {
  detail::require(k >= 1, "deepconf: k must be >= 1");
  detail::require(stats.top_k >= k, "deepconf: the trace has no top-k logprobs of width k (ask for stats.top_k)");
  const std::size_t tokens = stats.top_logprobs.size() / stats.top_k;
  std::vector<double> out(tokens);
  for (std::size_t t = 0; t < tokens; ++t) {
    double sum = 0.0;
    for (std::uint32_t j = 0; j < k; ++j) {
      const double lp = stats.top_logprobs[t * stats.top_k + j];
      detail::require(!std::isnan(lp) && lp <= 0.0, "deepconf: top-k logprobs must be <= 0 and not NaN");
      sum += std::isinf(lp) ? -1e4 : lp; // a masked alternative counts as very unlikely, not infinitely
    }
    out[t] = -sum / k;
  }
  return out;
}

/// Group confidences: the mean over every full window of `window` consecutive tokens, in order; a
/// trace shorter than the window is one group (its mean). Empty for an empty trace.
[[nodiscard]] inline std::vector<double> group_confidences(std::span<const double> c, std::uint32_t window) {
  detail::require(window >= 1, "deepconf: window must be >= 1");
  std::vector<double> out;
  if (c.empty()) return out;
  if (c.size() <= window) {
    out.push_back(std::accumulate(c.begin(), c.end(), 0.0) / static_cast<double>(c.size()));
    return out;
  }
  double sum = std::accumulate(c.begin(), c.begin() + window, 0.0);
  out.push_back(sum / window);
  for (std::size_t t = window; t < c.size(); ++t) {
    sum += c[t] - c[t - window];
    out.push_back(sum / window);
  }
  return out;
}

/// A trace's score by `how` from its token confidences (0 for an empty trace).
[[nodiscard]] inline double score(std::span<const double> c, trace_score how, std::uint32_t window) {
  if (c.empty()) return 0.0;
  switch (how) {
  case trace_score::mean: return std::accumulate(c.begin(), c.end(), 0.0) / static_cast<double>(c.size());
  case trace_score::lowest_group: {
    const auto g = group_confidences(c, window);
    return *std::min_element(g.begin(), g.end());
  }
  case trace_score::bottom_10: {
    auto g = group_confidences(c, window);
    const std::size_t keep = std::max<std::size_t>(1, g.size() / 10);
    std::nth_element(g.begin(), g.begin() + static_cast<std::ptrdiff_t>(keep - 1), g.end());
    std::sort(g.begin(), g.begin() + static_cast<std::ptrdiff_t>(keep));
    return std::accumulate(g.begin(), g.begin() + static_cast<std::ptrdiff_t>(keep), 0.0) / static_cast<double>(keep);
  }
  case trace_score::tail: {
    const std::size_t from = c.size() > window ? c.size() - window : 0;
    return std::accumulate(c.begin() + static_cast<std::ptrdiff_t>(from), c.end(), 0.0) /
           static_cast<double>(c.size() - from);
  }
  }
  return 0.0;
}

/// The q-th percentile (q in [0, 100]) of `values` by linear interpolation between order statistics.
[[nodiscard]] inline double percentile(std::vector<double> values, double q) {
  detail::require(!values.empty(), "deepconf: percentile of nothing");
  detail::require(std::isfinite(q) && q >= 0.0 && q <= 100.0, "deepconf: percentile must be in [0, 100]");
  std::sort(values.begin(), values.end());
  const double pos = q / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

} // namespace deepconf

/// Runtime numbers of DeepConf.
struct deepconf_params {
  std::uint32_t n = 64;          ///< traces: all of them offline, at most this many online (> 0)
  std::uint32_t top_k = 20;      ///< k of the token confidence (the model must serve it)
  std::uint32_t window = 2048;   ///< tokens per group (> 0)
  trace_score score = trace_score::lowest_group; ///< how traces are ranked and weighted
  double eta = 10.0;             ///< percent of traces kept: 10 (DeepConf-low) or 90 (DeepConf-high), in (0, 100]
  std::uint32_t n_init = 16;     ///< online: warm-up traces that set the threshold (> 0, <= n)
  double consensus = 0.95;       ///< online: stop when the leader's weighted share reaches this, in (0, 1]
  std::uint32_t batch = 8;       ///< online: traces generated together after the warm-up (> 0)
  sampling_params sampling{};    ///< requests of whole traces (stats.top_k is set to top_k)
  step_params stepping{};        ///< online with a stepping model: each step's parameters (stats.top_k set)
  vote_params vote{};            ///< tie-break of the weighted vote
};

/// Offline DeepConf: n traces, keep the most confident eta%, confidence-weighted vote.
struct deepconf_offline {};
/// Online DeepConf: warm-up, threshold, early-stopped traces, consensus stop.
struct deepconf_online {};

/// DeepConf.
/// @tparam Mode      deepconf_offline or deepconf_online
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class Mode, class AnswerKey>
class basic_deepconf {
public:
  using params_type = deepconf_params;

  basic_deepconf() = default;
  explicit basic_deepconf(deepconf_params params, AnswerKey key = {}) : params_(std::move(params)), key_(std::move(key)) {}

  /// Runs on one problem with a model that serves top-k logprobs (a stepping model lets online
  /// DeepConf cut traces early). Confidence of the result: the winner's share of the weighted vote.
  /// @returns the result, or invalid_argument (bad params, a model whose traces lack top-k
  ///          logprobs), budget_exhausted (no trace affordable), or the model's error.
  template <logprob_model M>
    requires(sampling_model<M> || stepping_model<M>)
  result<strategy_result> run(M& model, const problem& p, const budget& limit, const random_stream& stream) const {
    if (auto ok = check(); !ok) return ok.error();
    try {
      metered<M&> m(model);
      strategy_result out;
      result<void> ran = [&]() -> result<void> {
        if constexpr (std::is_same_v<Mode, deepconf_offline>) return offline(m, p, limit, stream, out);
        else return online(m, p, limit, stream, out);
      }();
      if (!ran) return ran.error();
      out.cost = m.ledger();
      return out;
    } catch (const reckon::exception& e) {
      return e.error();
    }
  }

  [[nodiscard]] const deepconf_params& params() const noexcept { return params_; }

private:
  struct trace {
    std::optional<std::string> answer;
    double score = 0.0;
    double lowest = 0.0;
  };

  [[nodiscard]] result<void> check() const {
    const auto& q = params_;
    if (q.n == 0) return fail(errc::invalid_argument, "deepconf: n must be > 0");
    if (q.top_k == 0) return fail(errc::invalid_argument, "deepconf: top_k must be > 0");
    if (q.window == 0) return fail(errc::invalid_argument, "deepconf: window must be > 0");
    if (!(q.eta > 0.0 && q.eta <= 100.0)) return fail(errc::invalid_argument, "deepconf: eta must be in (0, 100]");
    if (q.n_init == 0 || q.n_init > q.n) return fail(errc::invalid_argument, "deepconf: n_init must be in [1, n]");
    if (!(q.consensus > 0.0 && q.consensus <= 1.0)) return fail(errc::invalid_argument, "deepconf: consensus must be in (0, 1]");
    if (q.batch == 0) return fail(errc::invalid_argument, "deepconf: batch must be > 0");
    if (auto ok = validate(q.sampling); !ok) return ok.error();
    return validate(q.stepping);
  }

  [[nodiscard]] trace score_trace(const completion& c) const {
    const auto conf = deepconf::token_confidences(c.stats, params_.top_k);
    return trace{key_(c), deepconf::score(conf, params_.score, params_.window),
                 deepconf::score(conf, trace_score::lowest_group, params_.window)};
  }

  [[nodiscard]] sampling_params trace_request() const {
    sampling_params s = params_.sampling;
    s.stats.top_k = params_.top_k;
    return s;
  }

  void finish(std::span<const trace> voters, std::size_t traces, strategy_result& out) const {
    vote_counter counter;
    for (const auto& t : voters)
      counter.add(t.answer ? std::optional<std::string_view>(*t.answer) : std::nullopt, std::max(0.0, t.score));
    out.tally = counter.tally(params_.vote);
    out.answer = out.tally.winner();
    out.confidence = out.tally.leader() ? out.tally.leader()->share : 0.0;
    out.samples = static_cast<std::uint32_t>(traces);
  }

  template <class M>
  result<void> offline(metered<M&>& m, const problem& p, const budget& limit, const random_stream& stream,
                       strategy_result& out) const {
    detail::sampling_rounds<M> rounds(m, p, trace_request(), limit, stream);
    std::vector<completion> samples;
    while (samples.size() < params_.n) {
      auto drawn = rounds.draw(params_.n - static_cast<std::uint32_t>(samples.size()), samples, out);
      if (!drawn) return drawn.error();
      if (*drawn == 0) break;
    }
    if (samples.empty()) return detail::nothing_affordable(rounds.stopped_by());
    out.stopped_by = rounds.stopped_by();
    std::vector<trace> traces;
    for (const auto& c : samples) traces.push_back(score_trace(c));
    // Keep the top eta% by score (at least one).
    const auto keep = std::max<std::size_t>(
        1, static_cast<std::size_t>(std::ceil(params_.eta / 100.0 * static_cast<double>(traces.size()) - 1e-9)));
    std::stable_sort(traces.begin(), traces.end(), [](const trace& a, const trace& b) { return a.score > b.score; });
    traces.resize(std::min(keep, traces.size()));
    out.trace.push_back(trace_event{rounds.rounds(), fmt::format("kept the {} most confident of {} traces", traces.size(), samples.size())});
    finish(traces, samples.size(), out);
    return {};
  }

  template <class M>
  result<void> online(metered<M&>& m, const problem& p, const budget& limit, const random_stream& stream,
                      strategy_result& out) const {
    // Warm-up: n_init whole traces, as one batched request.
    detail::sampling_rounds<M> rounds(m, p, trace_request(), limit, stream);
    std::vector<trace> voters;
    std::vector<double> lowest;
    std::size_t started = 0;
    if constexpr (sampling_model<M>) {
      std::vector<completion> warm;
      while (warm.size() < params_.n_init) {
        auto drawn = rounds.draw(params_.n_init - static_cast<std::uint32_t>(warm.size()), warm, out);
        if (!drawn) return drawn.error();
        if (*drawn == 0) break;
      }
      for (const auto& c : warm) voters.push_back(score_trace(c));
      started = warm.size();
    } else {
      auto warm = stepped_batch(m, p, limit, stream, 0, params_.n_init, -std::numeric_limits<double>::infinity(), out);
      if (!warm) return warm.error();
      voters = std::move(warm->first);
      started = params_.n_init - warm->second;
    }
    if (voters.empty()) return detail::nothing_affordable(out.stopped_by ? out.stopped_by : rounds.stopped_by());
    for (const auto& t : voters) lowest.push_back(t.lowest);
    const double threshold = deepconf::percentile(lowest, 100.0 - params_.eta);
    std::erase_if(voters, [&](const trace& t) { return t.lowest < threshold; });
    out.trace.push_back(trace_event{0, fmt::format("threshold {:.4f} from {} warm-up traces", threshold, lowest.size())});
    if constexpr (!stepping_model<M>)
      out.trace.push_back(trace_event{0, "sampling-only model: traces cannot stop early; they are filtered when complete"});

    auto leader_share = [&] {
      vote_counter counter;
      for (const auto& t : voters) counter.add(t.answer ? std::optional<std::string_view>(*t.answer) : std::nullopt, std::max(0.0, t.score));
      const auto tally = counter.tally(params_.vote);
      return tally.leader() ? tally.leader()->share : 0.0;
    };
    std::uint32_t round = 1;
    while (started < params_.n && !out.stopped_by) {
      if (leader_share() >= params_.consensus) {
        out.trace.push_back(trace_event{round, fmt::format("consensus {:.3f} >= {}", leader_share(), params_.consensus)});
        break;
      }
      const auto want = static_cast<std::uint32_t>(std::min<std::size_t>(params_.batch, params_.n - started));
      std::size_t drew = 0;
      std::size_t cut = 0;
      if constexpr (stepping_model<M>) {
        auto batch = stepped_batch(m, p, limit, stream, static_cast<std::uint32_t>(started), want, threshold, out);
        if (!batch) return batch.error();
        drew = want - batch->second;
        for (auto& t : batch->first) voters.push_back(std::move(t));
        cut = drew - batch->first.size();
      } else {
        std::vector<completion> more;
        auto drawn = rounds.draw(want, more, out);
        if (!drawn) return drawn.error();
        if (*drawn == 0) {
          out.stopped_by = rounds.stopped_by();
          break;
        }
        drew = *drawn;
        for (const auto& c : more) {
          trace t = score_trace(c);
          if (t.lowest < threshold) ++cut;
          else voters.push_back(std::move(t));
        }
      }
      if (drew == 0) break;
      started += drew;
      out.trace.push_back(trace_event{round, fmt::format("{} traces, {} cut below the threshold", drew, cut)});
      ++round;
    }
    if (!out.stopped_by) out.stopped_by = rounds.stopped_by();
    finish(voters, started, out);
    return {};
  }

  // Generates traces [first, first + count) together on a stepping model, one batched extend per
  // step, cutting a trace at the end of the step in which a full window's mean fell below
  // `threshold`. Returns the surviving traces and the number never started (budget).
  template <class M>
  result<std::pair<std::vector<trace>, std::size_t>> stepped_batch(metered<M&>& m, const problem& p, const budget& limit,
                                                                    const random_stream& stream, std::uint32_t first,
                                                                    std::uint32_t count, double threshold,
                                                                    strategy_result& out) const {
    using seq = typename M::sequence;
    struct live_trace {
      seq handle;
      std::uint32_t index;
      completion text;
      std::vector<double> conf;
      double window_sum = 0.0;
      bool below = false;
    };
    std::vector<live_trace> live;
    std::vector<trace> done;
    if (auto why = limit.check(m.ledger())) {
      out.stopped_by = why;
      return std::pair{std::move(done), std::size_t{count}};
    }
    auto release_all = [&] {
      for (auto& t : live) m.release(t.handle);
    };
    for (std::uint32_t i = 0; i < count; ++i) {
      auto s = m.begin(p);
      if (!s) {
        release_all();
        return s.error();
      }
      live.push_back(live_trace{*s, first + i, completion{}, {}, 0.0, false});
    }
    step_params sp = params_.stepping;
    sp.stats.top_k = params_.top_k;
    for (std::uint32_t k = 0; !live.empty(); ++k) {
      if (auto why = limit.check(m.ledger())) {
        out.stopped_by = why;
        break;
      }
      std::vector<seq> handles;
      std::vector<std::uint64_t> seeds;
      for (const auto& t : live) {
        handles.push_back(t.handle);
        random_stream s = stream.substream(t.index, k);
        seeds.push_back(request_seed(s));
      }
      auto steps = m.extend(handles, sp, seeds);
      if (!steps) {
        release_all();
        return steps.error();
      }
      if (steps->steps.size() != live.size()) {
        release_all();
        return fail(errc::engine_failure, fmt::format("extend returned {} steps for {} sequences", steps->steps.size(), live.size()));
      }
      std::vector<live_trace> next;
      for (std::size_t i = 0; i < live.size(); ++i) {
        live_trace& t = live[i];
        const step& st = steps->steps[i];
        t.text.text += st.text;
        t.text.tokens += st.tokens;
        t.text.stats.append(st.stats);
        for (const double c : deepconf::token_confidences(st.stats, params_.top_k)) {
          t.conf.push_back(c);
          t.window_sum += c;
          if (t.conf.size() > params_.window) t.window_sum -= t.conf[t.conf.size() - 1 - params_.window];
          if (t.conf.size() >= params_.window && t.window_sum / params_.window < threshold) t.below = true;
        }
        if (t.below) {
          m.release(t.handle); // cut: the trace does not vote
        } else if (st.done) {
          m.release(t.handle);
          trace scored = score_trace(t.text);
          if (scored.lowest >= threshold) done.push_back(std::move(scored));
        } else {
          next.push_back(std::move(t));
        }
      }
      live = std::move(next);
    }
    release_all(); // traces still live when the budget stopped the batch do not vote
    return std::pair{std::move(done), std::size_t{0}};
  }

  deepconf_params params_{};
  AnswerKey key_{};
};

/// Offline DeepConf with the canonical answer key.
using deepconf_offline_strategy = basic_deepconf<deepconf_offline, canonical_answer_key>;
/// Online DeepConf with the canonical answer key.
using deepconf_online_strategy = basic_deepconf<deepconf_online, canonical_answer_key>;

} // namespace reckon
