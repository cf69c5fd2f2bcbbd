// SPDX-License-Identifier: Apache-2.0
// DeepConf: confidence-filtered, confidence-weighted voting, offline or online with early stopping.
#pragma once

// Algorithm (Fu et al. 2025, "Deep Think with Confidence"; reference: facebookresearch/deepconf):
// token confidence C_t = -mean of the token's listed top-k logprobs (k = 20); group confidence =
// mean C over a sliding window of w tokens (2048; a trace shorter than w is one group); a trace's
// score is its mean, its lowest group, the mean of its bottom 10% groups, or its tail (last w
// tokens). A trace with no tokens has no confidences and scores 0, as in the reference.
// Offline: sample n traces, drop those without an answer, keep those whose score is at or above
// the (100 - eta)-th percentile of the answered traces' scores (linear interpolation, numpy's
// default, as the reference's np.percentile; ties at the threshold are kept), vote weighted by
// score. Online, answerless traces count towards the warm-up threshold (as in the reference) and
// abstain from the vote.
// Online: n_init warm-up traces set the threshold s = percentile_{100 - eta} of their lowest-group
// confidences; later traces are cut as soon as a full window's mean falls below s (cut traces do
// not vote); sampling stops when the leader's share of the weighted vote reaches `consensus`
// (0.95) or n traces were started.
// One trace cap: every trace, offline or online, warm-up or later, sampled or stepped, is drawn
// with `sampling`'s max_tokens, temperature and top_p (a stepped trace takes them as its
// step_params' max_total_tokens, temperature and top_p), so the threshold is calibrated on traces
// drawn as the ones it cuts. A stepping model only adds the step shape (max_step_tokens,
// step_delimiter); stop strings cannot be honoured by extend, so online DeepConf on a stepping
// model rejects sampling.stop.
// Budget: a run never passes max_generated_tokens: sampled rounds ask only for the traces the
// tokens left pay for at max_tokens each (detail::sampling_rounds), and each batched extend caps
// its step at the tokens left split over the live traces (detail::afford_extend), after reserving
// the batch's prompts (detail::prompt_reserve) for max_total_tokens. (A sampled round's prompt
// prefill can still pass max_total_tokens: the engine reports it only afterwards.)
// Cost: offline one engine call for n traces; online one extend per step per batch of traces (a
// stepping model), or one sample call per batch (a sampling-only model).
// Deviations: with a sampling-only model a trace cannot be cut early: it is generated whole and
// dropped afterwards if its lowest group is below s (the trace says so). With a stepping model the
// window is checked at every token but a trace is cut at the end of the step in which it fell
// below s (an engine returns a step at a time). Warm-up traces vote if they pass the threshold.
// The reference rounds confidences to 3 decimals before comparing them; reckon keeps full
// precision, so ties at the threshold are rarer. An alternative the engine did not list (a -inf
// entry, e.g. an OpenAI server returning fewer than k) is absent, not averaged in, as the
// reference averages the entries vLLM returns; a token with none listed has no confidence.
// Confidences computed upstream (token_stats::confidence, e.g. a recording of DeepConf's `confs`)
// are used as they are, in place of the top-k rows; a stepped trace's completion carries its last
// step's source. On recordings (testing::replay_stepper, one token a step) online DeepConf cuts a
// trace at the token whose full window fell below s and pays for the tokens up to it.

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
#include <reckon/strategy/detail/guarded_run.hpp>
#include <reckon/strategy/detail/sampling_rounds.hpp>
#include <reckon/strategy/detail/search.hpp>
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
#include <type_traits>
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

/// Token confidences of a trace: C_t = -mean of the finite entries among the first k of each row
/// of stats.top_logprobs. A -inf entry is an alternative the engine did not list (the OpenAI wire
/// reader pads short rows with -inf): it is absent, not averaged in; a row with no finite entry
/// gives no confidence (the reference skips a token with no logprobs). Throws reckon::exception
/// (invalid_argument) when the trace has no top-k rows of width >= k, or a logprob is NaN or positive.
[[nodiscard]] inline std::vector<double> token_confidences(const token_stats& stats, std::uint32_t k) {
  detail::require(k >= 1, "deepconf: k must be >= 1");
  detail::require(stats.top_k >= k, "deepconf: the trace has no top-k logprobs of width k (ask for stats.top_k) and no "
                                    "token confidences (a recording's token_confidences)");
  const std::size_t tokens = stats.top_logprobs.size() / stats.top_k;
  std::vector<double> out;
  out.reserve(tokens);
  for (std::size_t t = 0; t < tokens; ++t) {
    double sum = 0.0;
    std::uint32_t listed = 0;
    for (std::uint32_t j = 0; j < k; ++j) {
      const double lp = stats.top_logprobs[t * stats.top_k + j];
      detail::require(!std::isnan(lp) && lp <= 0.0, "deepconf: top-k logprobs must be <= 0 and not NaN");
      if (std::isinf(lp)) continue;
      sum += lp;
      ++listed;
    }
    if (listed > 0) out.push_back(-sum / listed);
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
  // Clamped to the bracketing order statistics: rounding must never lift the threshold above
  // the best score, or "keep those at or above it" would keep nothing.
  return std::clamp(values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]), values[lo], values[hi]);
}

} // namespace deepconf

/// Runtime numbers of DeepConf.
struct deepconf_params {
  std::uint32_t n = 64;          ///< traces: all of them offline, at most this many online (> 0)
  std::uint32_t top_k = 20;      ///< k of the token confidence (the model must serve it)
  std::uint32_t window = 2048;   ///< tokens per group (> 0)
  trace_score score = trace_score::lowest_group; ///< how traces are ranked and weighted
  double eta = 10.0;             ///< percent of traces kept: 10 (DeepConf-low) or 90 (DeepConf-high), in (0, 100]
  std::uint32_t n_init = 16;     ///< online: warm-up traces that set the threshold (> 0, <= n); unused offline
  double consensus = 0.95;       ///< online: stop when the leader's weighted share reaches this, in (0, 1]
  std::uint32_t batch = 8;       ///< online: traces generated together after the warm-up (> 0)
  sampling_params sampling{};    ///< every trace: its cap (max_tokens), temperature, top_p (stats.top_k is set to top_k)
  std::uint32_t max_step_tokens = 512; ///< online with a stepping model: tokens per step at most (> 0)
  std::string step_delimiter = "\n\n"; ///< online with a stepping model: the text that ends a step
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
  /// No exception escapes; every engine sequence it begins is released on every path.
  /// @returns the result, or invalid_argument (bad params, a model whose traces lack top-k
  ///          logprobs or carry a NaN or positive one), budget_exhausted (no trace affordable), or
  ///          the model's error.
  template <logprob_model M>
    requires(sampling_model<M> || stepping_model<M>)
  result<strategy_result> run(M& model, const problem& p, const budget& limit, const random_stream& stream) const {
    return detail::checked_run(
        "deepconf", [&] { return check<M>(); },
        [&]() -> result<strategy_result> {
          metered<M&> m(model);
          strategy_result out;
          result<void> ran = [&]() -> result<void> {
            if constexpr (online_mode) return online(m, p, limit, stream, out);
            else return offline(m, p, limit, stream, out);
          }();
          if (!ran) return ran.error();
          out.cost = m.ledger();
          return out;
        });
  }

  [[nodiscard]] const deepconf_params& params() const noexcept { return params_; }

private:
  static constexpr bool online_mode = std::is_same_v<Mode, deepconf_online>;

  struct trace {
    std::optional<std::string> answer;
    double score = 0.0;
    double lowest = 0.0;
  };

  template <class M>
  [[nodiscard]] result<void> check() const {
    const auto& q = params_;
    if (q.n == 0) return fail(errc::invalid_argument, "deepconf: n must be > 0");
    if (q.top_k == 0) return fail(errc::invalid_argument, "deepconf: top_k must be > 0");
    if (q.window == 0) return fail(errc::invalid_argument, "deepconf: window must be > 0");
    if (!(q.eta > 0.0 && q.eta <= 100.0)) return fail(errc::invalid_argument, "deepconf: eta must be in (0, 100]");
    if (auto ok = validate(q.sampling); !ok) return ok.error();
    if constexpr (online_mode) {
      if (q.n_init == 0 || q.n_init > q.n) return fail(errc::invalid_argument, "deepconf: n_init must be in [1, n]");
      if (!(q.consensus > 0.0 && q.consensus <= 1.0)) return fail(errc::invalid_argument, "deepconf: consensus must be in (0, 1]");
      if (q.batch == 0) return fail(errc::invalid_argument, "deepconf: batch must be > 0");
      if constexpr (stepping_model<M>) {
        if (!q.sampling.stop.empty())
          return fail(errc::invalid_argument, "deepconf: online on a stepping model cannot honour sampling.stop (extend has no stop strings)");
        if (auto ok = validate(step_request()); !ok) return ok.error();
      }
    }
    return {};
  }

  // An empty trace or step (no tokens, no rows) has nothing to score; a non-empty one without
  // top-k rows is a model that does not serve them (token_confidences throws).
  // Confidences computed upstream (stats.confidence: a recording's C_t) are taken as they are.
  [[nodiscard]] std::vector<double> confidences(const token_stats& stats, std::uint32_t tokens) const {
    if (!stats.confidence.empty()) {
      for (const float c : stats.confidence)
        detail::require(std::isfinite(c) && c >= 0.0F, "deepconf: token confidences must be finite and >= 0");
      return {stats.confidence.begin(), stats.confidence.end()};
    }
    if (tokens == 0 && stats.top_logprobs.empty()) return {};
    return deepconf::token_confidences(stats, params_.top_k);
  }

  [[nodiscard]] trace score_trace(const completion& c, std::span<const double> conf) const {
    return trace{key_(c), deepconf::score(conf, params_.score, params_.window),
                 deepconf::score(conf, trace_score::lowest_group, params_.window)};
  }
  [[nodiscard]] trace score_trace(const completion& c) const { return score_trace(c, confidences(c.stats, c.tokens)); }

  [[nodiscard]] static bool answered(const trace& t) { return t.answer && !t.answer->empty(); }

  [[nodiscard]] sampling_params trace_request() const {
    sampling_params s = params_.sampling;
    s.stats.top_k = params_.top_k;
    return s;
  }

  // A stepped trace is drawn as a sampled one: sampling's cap, temperature and top_p.
  [[nodiscard]] step_params step_request() const {
    step_params sp;
    sp.max_step_tokens = params_.max_step_tokens;
    sp.max_total_tokens = params_.sampling.max_tokens;
    sp.temperature = params_.sampling.temperature;
    sp.top_p = params_.sampling.top_p;
    sp.delimiter = params_.step_delimiter;
    sp.stats = params_.sampling.stats;
    sp.stats.top_k = params_.top_k;
    return sp;
  }

  [[nodiscard]] vote_tally tally(std::span<const trace> voters) const {
    vote_counter counter;
    for (const auto& t : voters)
      counter.add(answered(t) ? std::optional<std::string_view>(*t.answer) : std::nullopt, std::max(0.0, t.score));
    return counter.tally(params_.vote);
  }

  void finish(std::span<const trace> voters, std::size_t traces, strategy_result& out) const {
    out.tally = tally(voters);
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
    // As the reference: answerless traces are dropped before the percentile, so they neither
    // count towards eta% nor lower the threshold; every trace at or above it votes.
    std::erase_if(traces, [](const trace& t) { return !answered(t); });
    if (traces.empty()) {
      out.trace.push_back(trace_event{rounds.rounds(), fmt::format("none of {} traces has an answer", samples.size())});
      finish(traces, samples.size(), out);
      return {};
    }
    std::vector<double> scores;
    for (const auto& t : traces) scores.push_back(t.score);
    const std::size_t answered_traces = traces.size();
    const double threshold = deepconf::percentile(std::move(scores), 100.0 - params_.eta);
    std::erase_if(traces, [&](const trace& t) { return t.score < threshold; });
    out.trace.push_back(trace_event{rounds.rounds(), fmt::format("kept {} of {} answered traces ({} in all) at or above {:.4f}",
                                                                 traces.size(), answered_traces, samples.size(), threshold)});
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
      voters = std::move(warm->finished);
      started = params_.n_init - warm->not_started;
    }
    if (voters.empty()) return detail::nothing_affordable(out.stopped_by ? out.stopped_by : rounds.stopped_by());
    for (const auto& t : voters) lowest.push_back(t.lowest);
    const double threshold = deepconf::percentile(lowest, 100.0 - params_.eta);
    std::erase_if(voters, [&](const trace& t) { return t.lowest < threshold; });
    out.trace.push_back(trace_event{0, fmt::format("threshold {:.4f} from {} warm-up traces", threshold, lowest.size())});
    if constexpr (!stepping_model<M>)
      out.trace.push_back(trace_event{0, "sampling-only model: traces cannot stop early; they are filtered when complete"});

    auto leader_share = [&] {
      const auto t = tally(voters);
      return t.leader() ? t.leader()->share : 0.0;
    };
    std::uint32_t round = 1;
    while (started < params_.n && !out.stopped_by) {
      if (const double share = leader_share(); share >= params_.consensus) {
        out.trace.push_back(trace_event{round, fmt::format("consensus {:.3f} >= {}", share, params_.consensus)});
        break;
      }
      const auto want = static_cast<std::uint32_t>(std::min<std::size_t>(params_.batch, params_.n - started));
      std::size_t drew = 0;
      std::size_t cut = 0;
      std::size_t early = 0;
      if constexpr (stepping_model<M>) {
        auto batch = stepped_batch(m, p, limit, stream, static_cast<std::uint32_t>(started), want, threshold, out);
        if (!batch) return batch.error();
        drew = want - batch->not_started;
        early = batch->stopped_early;
        for (auto& t : batch->finished) voters.push_back(std::move(t));
        cut = drew - batch->finished.size();
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
      out.trace.push_back(
          trace_event{round, fmt::format("{} traces, {} cut below the threshold ({} stopped early)", drew, cut, early)});
      ++round;
    }
    if (!out.stopped_by) out.stopped_by = rounds.stopped_by();
    finish(voters, started, out);
    return {};
  }

  struct batch_outcome {
    std::vector<trace> finished;     // finished at or above the threshold: they vote
    std::size_t not_started = 0;     // the budget allowed none of the batch
    std::size_t stopped_early = 0;   // cut mid-trace: a full window fell below the threshold
  };

  // Generates traces [first, first + count) together on a stepping model, one batched extend per
  // step, cutting a trace at the end of the step in which a full window's mean fell below
  // `threshold`; a trace that finishes with its lowest group below it (one shorter than the
  // window) is dropped. Traces the budget stops mid-way do not vote either.
  template <class M>
  result<batch_outcome> stepped_batch(metered<M&>& m, const problem& p, const budget& limit, const random_stream& stream,
                                      std::uint32_t first, std::uint32_t count, double threshold,
                                      strategy_result& out) const {
    using seq = typename M::sequence;
    struct live_trace {
      std::optional<seq> handle; // engaged while the engine holds it
      std::uint32_t index = 0;
      completion text;
      std::vector<double> conf;
      double window_sum = 0.0;
      bool below = false;
      bool finished = false;
    };
    // Owns the live handles: every one still held is released once when the batch ends, however
    // it ends (a budget stop, an engine error, a bad logprob that throws, an answer key that throws).
    struct live_set {
      metered<M&>& model;
      std::vector<live_trace> traces;
      explicit live_set(metered<M&>& owner) : model(owner) {}
      live_set(const live_set&) = delete;
      live_set& operator=(const live_set&) = delete;
      ~live_set() {
        for (auto& t : traces) release(t);
      }
      void release(live_trace& t) noexcept {
        if (t.handle) model.release(*t.handle);
        t.handle.reset();
      }
    };
    batch_outcome done;
    step_params sp = step_request();
    // Each trace is its own sequence, and an engine may prefill its prompt only at its first
    // extend: that call's room for generated tokens is what is left after every prompt.
    std::uint64_t reserve = count * detail::prompt_reserve(m.model(), p);
    if (auto why = detail::afford_extend(limit, m.ledger(), count, params_.max_step_tokens, sp, reserve)) {
      out.stopped_by = why;
      done.not_started = count;
      return done;
    }
    live_set live(m);
    live.traces.reserve(count); // no allocation between a begin and the handle's owner
    for (std::uint32_t i = 0; i < count; ++i) {
      auto s = m.begin(p);
      if (!s) return s.error();
      live.traces.push_back(live_trace{*s, first + i, completion{}, {}, 0.0, false, false});
    }
    const std::size_t w = params_.window;
    for (std::uint32_t k = 0; !live.traces.empty(); ++k) {
      // The step cap is the generated tokens left split over the live traces: no extend can pass
      // the budget, whatever the engine returns within its cap.
      if (auto why = detail::afford_extend(limit, m.ledger(), live.traces.size(), params_.max_step_tokens, sp, reserve)) {
        out.stopped_by = why;
        break;
      }
      std::vector<seq> handles;
      std::vector<std::uint64_t> seeds;
      for (const auto& t : live.traces) {
        handles.push_back(*t.handle);
        random_stream s = stream.substream(t.index, k);
        seeds.push_back(request_seed(s));
      }
      auto steps = m.extend(handles, sp, seeds);
      if (!steps) return steps.error();
      reserve = 0; // the prompts are in the ledger now
      if (steps->steps.size() != live.traces.size())
        return fail(errc::engine_failure,
                    fmt::format("extend returned {} steps for {} sequences", steps->steps.size(), live.traces.size()));
      for (std::size_t i = 0; i < live.traces.size(); ++i) {
        live_trace& t = live.traces[i];
        const step& st = steps->steps[i];
        t.text.text += st.text;
        t.text.tokens += st.tokens;
        t.text.stats.append(st.stats);
        t.text.source = st.source; // the answer key may read the trace's identity (a recording's sample)
        t.finished = st.done;
        for (const double c : confidences(st.stats, st.tokens)) {
          t.conf.push_back(c);
          t.window_sum += c;
          if (t.conf.size() > w) t.window_sum -= t.conf[t.conf.size() - 1 - w];
          if (t.conf.size() >= w && t.window_sum / static_cast<double>(w) < threshold) t.below = true;
        }
      }
      for (auto& t : live.traces) {
        if (!t.below && !t.finished) continue;
        live.release(t); // cut (it does not vote) or finished
        if (t.below) {
          done.stopped_early += t.finished ? 0 : 1;
          continue;
        }
        trace scored = score_trace(t.text, t.conf);
        if (scored.lowest >= threshold) done.finished.push_back(std::move(scored));
      }
      std::erase_if(live.traces, [](const live_trace& t) { return !t.handle; });
    }
    return done;
  }

  deepconf_params params_{};
  AnswerKey key_{};
};

/// Offline DeepConf with the canonical answer key.
using deepconf_offline_strategy = basic_deepconf<deepconf_offline, canonical_answer_key>;
/// Online DeepConf with the canonical answer key.
using deepconf_online_strategy = basic_deepconf<deepconf_online, canonical_answer_key>;

} // namespace reckon
