// SPDX-License-Identifier: Apache-2.0
// ZIP-RC: sample, prune, pause, branch and stop by maximising a predicted utility of the live sample set.
#pragma once

// Algorithm (Manvi et al. 2025, ZIP-RC): an introspective head gives, for each live sample i, the
// joint q_i(b, l) of its final reward bin b (value v_b) and its remaining-length bin l. With F_i the
// value CDF and R_i the expected remaining tokens, the utility of continuing a set S is
// U(S) = E[max_{i in S u finished} V_i] - alpha * sum_{i in S} R_i / L_ref - beta * max_{i in S} R_i / L_ref,
// E[max] = sum_b v_b (prod_i F_i(b) - prod_i F_i(b-1)) (independence). After every step round the
// run greedily prunes the sample whose removal raises U most (repeatedly), branches new samples
// from the root while that raises U (the root's own head row is a fresh sample's prediction), pauses
// what exceeds max_active, and stops when S is empty. Answer: the finished sample of highest E[V].
// Cost: one extend (one engine call) per round; at most n samples; introspection is free.
// Choices the paper leaves open: decisions every step (K = one step, capped by max_step_tokens), not
// every K tokens; spent tokens are sunk (the same for every action) so Compute counts R_i only;
// Latency uses max_i R_i, not E[max_i]; branching is from the root only (a prefix branch would share
// the prefix, breaking independence); pause = not extended this round for lack of slots; while no
// sample has finished the best one always continues (a run never stops without an answer inside its
// budget); a finished sample's value is its head row at the end.
// Budget: checked before every extend; under max_total_tokens the first extend reserves the prompt
// (detail::prompt_reserve), which it prefills and reports only afterwards; ZIP-RC makes no
// reward-model call, so max_prm_calls / max_prm_tokens do not stop it.

#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/introspective_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/fwd.hpp>
#include <reckon/detail/xtensor.hpp>
#include <reckon/numerics/token_stats.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/answer_key.hpp>
#include <reckon/strategy/detail/guarded_run.hpp>
#include <reckon/strategy/detail/search.hpp>
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
#include <utility>
#include <vector>

namespace reckon {

/// Builds a ZIP-RC table q(b, l) from a row of reserved logits: a softmax over the slice (at
/// `temperature`), read row-major as reward_bins x length_bins (q(b, l) = p[b * length_bins + l]).
/// For adapters of ZIP-RC-trained models, whose head is a block of reserved vocabulary logits.
/// @throws reckon::exception (invalid_argument) when the slice is not reward_bins * length_bins
///         long, a bin count is 0, or the row is not a valid logits row (NaN, +inf, all -inf)
[[nodiscard]] inline detail::table2d zip_rc_table_from_logits(std::span<const float> reserved, std::size_t reward_bins,
                                                              std::size_t length_bins, double temperature = 1.0) {
  detail::require(reward_bins > 0 && length_bins > 0, "zip_rc_table_from_logits: bin counts must be > 0");
  detail::require(reserved.size() == reward_bins * length_bins,
                  "zip_rc_table_from_logits: the slice must hold reward_bins * length_bins logits");
  detail::require(std::isfinite(temperature) && temperature > 0.0, "zip_rc_table_from_logits: temperature must be > 0");
  token_stats_params tp;
  tp.temperature = temperature;
  const row_stats rs = token_row_stats(reserved, std::nullopt, tp);
  detail::table2d q = xt::zeros<double>({reward_bins, length_bins});
  for (std::size_t b = 0; b < reward_bins; ++b)
    for (std::size_t l = 0; l < length_bins; ++l)
      q(b, l) = std::exp((static_cast<double>(reserved[b * length_bins + l]) - rs.log_sum_exp) / temperature);
  return q;
}

/// Runtime numbers of ZIP-RC.
struct zip_rc_params {
  std::uint32_t n = 8;              ///< most samples started, branches included (> 0)
  std::uint32_t initial = 2;        ///< samples started before the first decision (in [1, n])
  std::uint32_t max_active = 8;     ///< most samples extended per round; the rest wait, paused (> 0)
  double alpha = 0.05;              ///< weight of expected remaining compute, per reference length (>= 0)
  double beta = 0.0;                ///< weight of expected latency (longest remaining), per reference length (>= 0)
  double reference_tokens = 1024.0; ///< L_ref: the length that normalises compute and latency (> 0)
  double min_gain = 1e-6;           ///< a prune or branch must raise U by more than this (>= 0)
  step_params stepping{};           ///< each extend's parameters; a decision follows every step
  vote_params vote{};               ///< tie-break of the reported value-weighted tally
};

namespace detail::zip {

/// One sample's prediction: value distribution over the reward bins and expected remaining tokens.
struct prediction {
  std::vector<double> value; ///< P(b), sums to 1
  double remaining = 0.0;    ///< E[remaining tokens]
};

/// Checks one introspection against the grid and turns each table into a prediction.
inline result<std::vector<prediction>> predictions(const introspection& in, std::size_t expected) {
  const std::size_t bv = in.reward_values.size(), bt = in.remaining_lengths.size();
  if (bv == 0 || bt == 0) return fail(errc::engine_failure, "introspect: empty reward or length grid");
  for (std::size_t b = 0; b < bv; ++b)
    if (!std::isfinite(in.reward_values[b]) || (b > 0 && in.reward_values[b] < in.reward_values[b - 1]))
      return fail(errc::engine_failure, "introspect: reward values must be finite and ascending");
  for (const double l : in.remaining_lengths)
    if (!std::isfinite(l) || l < 0.0) return fail(errc::engine_failure, "introspect: remaining lengths must be finite and >= 0");
  if (in.joint.size() != expected)
    return fail(errc::engine_failure, fmt::format("introspect returned {} tables for {} sequences", in.joint.size(), expected));
  std::vector<prediction> out;
  out.reserve(expected);
  for (const auto& q : in.joint) {
    if (q.shape()[0] != bv || q.shape()[1] != bt)
      return fail(errc::engine_failure, fmt::format("introspect: a table is {}x{}, the grid {}x{}", q.shape()[0], q.shape()[1], bv, bt));
    prediction p;
    p.value.assign(bv, 0.0);
    double total = 0.0;
    for (std::size_t b = 0; b < bv; ++b)
      for (std::size_t l = 0; l < bt; ++l) {
        const double x = q(b, l);
        if (!std::isfinite(x) || x < 0.0) return fail(errc::engine_failure, "introspect: a probability is negative or not finite");
        p.value[b] += x;
        p.remaining += x * in.remaining_lengths[l];
        total += x;
      }
    if (std::abs(total - 1.0) > 1e-6) return fail(errc::engine_failure, fmt::format("introspect: a table sums to {}", total));
    for (double& v : p.value) v /= total;
    p.remaining /= total;
    out.push_back(std::move(p));
  }
  return out;
}

/// E[max_i V_i] over independent samples: sum_b v_b (prod_i F_i(b) - prod_i F_i(b-1)); the lowest
/// value when the set is empty.
inline double expected_max(std::span<const double> values, std::span<const prediction* const> set) {
  if (set.empty()) return values.empty() ? 0.0 : values.front();
  double out = 0.0, prev = 0.0;
  std::vector<double> cdf(set.size(), 0.0);
  for (std::size_t b = 0; b < values.size(); ++b) {
    double prod = 1.0;
    for (std::size_t i = 0; i < set.size(); ++i) {
      cdf[i] += set[i]->value[b];
      prod *= std::min(cdf[i], 1.0);
    }
    if (b + 1 == values.size()) prod = 1.0;
    out += values[b] * (prod - prev);
    prev = prod;
  }
  return out;
}

/// E[V] of one prediction.
inline double expected_value(std::span<const double> values, const prediction& p) {
  double out = 0.0;
  for (std::size_t b = 0; b < values.size(); ++b) out += values[b] * p.value[b];
  return out;
}

} // namespace detail::zip

/// ZIP-RC over an introspective stepping model.
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class AnswerKey>
class basic_zip_rc {
public:
  using params_type = zip_rc_params;

  basic_zip_rc() = default;
  explicit basic_zip_rc(zip_rc_params params, AnswerKey key = {}) : params_(std::move(params)), key_(std::move(key)) {}

  /// Runs on one problem.
  /// @returns the result (confidence: the chosen sample's predicted E[V]; samples: finished ones),
  ///          or invalid_argument (bad params), budget_exhausted (not one step affordable),
  ///          engine_failure (a malformed head: wrong table count or shape, probabilities that are
  ///          negative or do not sum to 1, descending reward values; a wrong step count; a round
  ///          in which no sequence grew or finished; anything the model or the answer key threw),
  ///          or the model's error (no_capacity on the first sample).
  template <introspective_model M>
  result<strategy_result> run(M& model, const problem& p, const budget& limit, const random_stream& stream) const {
    return detail::checked_run("zip_rc", [&] { return check(); }, [&]() -> result<strategy_result> {
      metered<M&> m(model);
      state<M> s{m, {}, {}};
      // Guarded apart from the releases, so that a throw inside the rounds still frees every sequence.
      auto out = detail::guarded_run("zip_rc", [&] { return run_rounds(s, p, limit, stream); });
      for (auto& smp : s.samples)
        if (smp.live) m.release(smp.seq);
      if (s.root) m.release(*s.root);
      if (out) out->cost = m.ledger();
      return out;
    });
  }

  [[nodiscard]] const zip_rc_params& params() const noexcept { return params_; }

private:
  enum class phase : std::uint8_t { active, finished, pruned };

  template <class M>
  struct sample {
    typename M::sequence seq;
    std::uint64_t seed = 0;
    bool live = true;
    phase status = phase::active;
    completion text{};
    detail::zip::prediction head{};
    std::uint32_t index = 0;
  };

  template <class M>
  struct state {
    metered<M&>& m;
    std::optional<typename M::sequence> root;
    std::vector<sample<M>> samples;
  };

  [[nodiscard]] result<void> check() const {
    const auto& q = params_;
    if (q.n == 0) return fail(errc::invalid_argument, "zip_rc: n must be > 0");
    if (q.initial == 0 || q.initial > q.n) return fail(errc::invalid_argument, "zip_rc: initial must be in [1, n]");
    if (q.max_active == 0) return fail(errc::invalid_argument, "zip_rc: max_active must be > 0");
    if (!(std::isfinite(q.alpha) && q.alpha >= 0.0 && std::isfinite(q.beta) && q.beta >= 0.0))
      return fail(errc::invalid_argument, "zip_rc: alpha and beta must be finite and >= 0");
    if (!(std::isfinite(q.reference_tokens) && q.reference_tokens > 0.0))
      return fail(errc::invalid_argument, "zip_rc: reference_tokens must be > 0");
    if (!(std::isfinite(q.min_gain) && q.min_gain >= 0.0)) return fail(errc::invalid_argument, "zip_rc: min_gain must be >= 0");
    return validate(q.stepping);
  }

  /// U of continuing `cont` (and the root copies `branches`) given the finished predictions.
  double utility(std::span<const double> values, const std::vector<const detail::zip::prediction*>& finished,
                 const std::vector<const detail::zip::prediction*>& cont) const {
    std::vector<const detail::zip::prediction*> all = finished;
    all.insert(all.end(), cont.begin(), cont.end());
    double compute = 0.0, latency = 0.0;
    for (const auto* c : cont) {
      compute += c->remaining;
      latency = std::max(latency, c->remaining);
    }
    return detail::zip::expected_max(values, all) -
           (params_.alpha * compute + params_.beta * latency) / params_.reference_tokens;
  }

  template <class M>
  result<typename M::sequence> start_sample(state<M>& s, const random_stream& stream) const {
    auto child = s.m.fork(*s.root);
    if (!child) return child.error();
    sample<M> smp{*child, 0, true, phase::active, {}, {}, static_cast<std::uint32_t>(s.samples.size())};
    random_stream own = stream.substream(smp.index + 1, 0);
    smp.seed = request_seed(own);
    s.samples.push_back(std::move(smp));
    return *child;
  }

  template <class M>
  result<strategy_result> run_rounds(state<M>& s, const problem& p, const budget& limit, const random_stream& stream) const {
    strategy_result out;
    auto root = s.m.begin(p);
    if (!root) return root.error();
    s.root = *root;
    for (std::uint32_t i = 0; i < params_.initial; ++i) {
      auto c = start_sample(s, stream);
      if (!c) {
        if (c.error().code == errc::no_capacity && !s.samples.empty()) break;
        return c.error();
      }
    }
    std::vector<double> values;
    // ZIP-RC makes no reward-model call: the reward limits are not its to check.
    budget engine_limit = limit;
    engine_limit.max_prm_calls = budget::unlimited;
    engine_limit.max_prm_tokens = budget::unlimited;
    bool prompt_reported = false; // the first extend prefills the shared prompt
    for (std::uint32_t round = 0;; ++round) {
      // 1. Introspect the root (a fresh sample's prediction) and every live sample.
      std::vector<typename M::sequence> ask{*s.root};
      std::vector<std::size_t> who;
      for (std::size_t i = 0; i < s.samples.size(); ++i)
        if (s.samples[i].live) {
          ask.push_back(s.samples[i].seq);
          who.push_back(i);
        }
      auto in = s.m.introspect(ask);
      if (!in) return in.error();
      auto preds = detail::zip::predictions(*in, ask.size());
      if (!preds) return preds.error();
      values = in->reward_values;
      const detail::zip::prediction fresh = (*preds)[0];
      for (std::size_t k = 0; k < who.size(); ++k) {
        sample<M>& smp = s.samples[who[k]];
        smp.head = (*preds)[k + 1];
        if (smp.status == phase::finished) { // its value is now known to the head: free its KV
          s.m.release(smp.seq);
          smp.live = false;
        }
      }
      // 2. Decide: prune, branch, pause, stop.
      std::vector<const detail::zip::prediction*> finished;
      std::vector<std::size_t> cont;
      for (std::size_t i = 0; i < s.samples.size(); ++i) {
        if (s.samples[i].status == phase::finished) finished.push_back(&s.samples[i].head);
        if (s.samples[i].status == phase::active) cont.push_back(i);
      }
      auto preds_of = [&](const std::vector<std::size_t>& idx, std::size_t branches) {
        std::vector<const detail::zip::prediction*> v;
        for (const std::size_t i : idx) v.push_back(&s.samples[i].head);
        for (std::size_t b = 0; b < branches; ++b) v.push_back(&fresh);
        return v;
      };
      double u = utility(values, finished, preds_of(cont, 0));
      while (!cont.empty()) { // prune
        std::size_t best = cont.size();
        double best_u = u + params_.min_gain;
        for (std::size_t j = 0; j < cont.size(); ++j) {
          std::vector<std::size_t> rest = cont;
          rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(j));
          const double v = utility(values, finished, preds_of(rest, 0));
          if (v > best_u) {
            best_u = v;
            best = j;
          }
        }
        if (best == cont.size()) break;
        if (finished.empty() && cont.size() == 1) break; // keep one going until something finishes
        sample<M>& smp = s.samples[cont[best]];
        s.m.release(smp.seq);
        smp.live = false;
        smp.status = phase::pruned;
        out.trace.push_back(trace_event{round, fmt::format("pruned sample {} (E[V] {:.3f})", smp.index,
                                                           detail::zip::expected_value(values, smp.head))});
        cont.erase(cont.begin() + static_cast<std::ptrdiff_t>(best));
        u = best_u;
      }
      std::size_t branches = 0;
      while (s.samples.size() + branches < params_.n) { // branch from the root
        const double v = utility(values, finished, preds_of(cont, branches + 1));
        const bool must = finished.empty() && cont.empty() && branches == 0;
        if (!must && v <= u + params_.min_gain) break;
        u = v;
        ++branches;
      }
      for (std::size_t b = 0; b < branches; ++b) {
        auto c = start_sample(s, stream);
        if (!c) {
          if (c.error().code == errc::no_capacity) break;
          return c.error();
        }
        s.samples.back().head = fresh;
        cont.push_back(s.samples.size() - 1);
        out.trace.push_back(trace_event{round, fmt::format("branched sample {} from the root", s.samples.back().index)});
      }
      if (cont.empty()) {
        out.trace.push_back(trace_event{round, fmt::format("stopped: U = {:.4f}", u)});
        break;
      }
      // Pause what exceeds the slots or the token budget: the highest E[V] go first.
      std::stable_sort(cont.begin(), cont.end(), [&](std::size_t a, std::size_t b) {
        return detail::zip::expected_value(values, s.samples[a].head) > detail::zip::expected_value(values, s.samples[b].head);
      });
      // Under max_total_tokens the first extend also reserves the prompt, which the engine
      // prefills then and reports only afterwards (detail::prompt_reserve); every sample shares it.
      const ledger& spent = s.m.ledger();
      const std::uint64_t per_step = std::min(params_.stepping.max_step_tokens, params_.stepping.max_total_tokens);
      const std::uint64_t generated_left = limit.max_generated_tokens - std::min(limit.max_generated_tokens, spent.generated_tokens);
      std::uint64_t total_left = limit.max_total_tokens - std::min(limit.max_total_tokens, spent.total_tokens());
      if (limit.max_total_tokens != budget::unlimited && !prompt_reported) {
        const std::uint64_t reserve = detail::prompt_reserve(s.m.model(), p);
        total_left = total_left > reserve ? total_left - reserve : 0;
      }
      std::size_t slots = std::min<std::size_t>(params_.max_active, cont.size());
      slots = static_cast<std::size_t>(std::min<std::uint64_t>(slots, std::min(generated_left, total_left) / per_step));
      if (auto why = engine_limit.check(spent); why || slots == 0) {
        out.stopped_by = why ? *why : total_left < generated_left ? stop_reason::total_tokens : stop_reason::generated_tokens;
        break;
      }
      if (slots < cont.size()) out.trace.push_back(trace_event{round, fmt::format("paused {} samples", cont.size() - slots)});
      cont.resize(slots);
      // 3. Extend the chosen samples by one step.
      std::vector<typename M::sequence> seqs;
      std::vector<std::uint64_t> seeds;
      for (const std::size_t i : cont) {
        seqs.push_back(s.samples[i].seq);
        seeds.push_back(s.samples[i].seed);
      }
      auto steps = s.m.extend(seqs, params_.stepping, seeds);
      if (!steps) return steps.error();
      prompt_reported = true;
      if (steps->steps.size() != seqs.size())
        return fail(errc::engine_failure, fmt::format("extend returned {} steps for {} sequences", steps->steps.size(), seqs.size()));
      bool progress = false;
      for (std::size_t k = 0; k < cont.size(); ++k) {
        sample<M>& smp = s.samples[cont[k]];
        const step& st = steps->steps[k];
        smp.text.text += st.text;
        smp.text.tokens += st.tokens;
        smp.text.source = st.source;
        progress = progress || st.tokens > 0 || st.done;
        // A sample at the total-token cap is finished even if the model did not say so: every round
        // then moves some sample towards its cap, so the run always ends.
        if (st.done || smp.text.tokens >= params_.stepping.max_total_tokens) {
          smp.status = phase::finished;
          smp.text.finish = st.done ? st.finish : finish_reason::length;
        }
      }
      if (!progress) return fail(errc::engine_failure, "extend made no progress (no tokens, no finished sequence)");
    }
    // Answer: the finished sample of highest E[V]; the tally weighs answers by E[V].
    std::vector<std::optional<std::string>> answers;
    std::vector<double> weights;
    std::optional<std::size_t> best;
    double best_v = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < s.samples.size(); ++i) {
      const sample<M>& smp = s.samples[i];
      if (smp.status != phase::finished) continue;
      answers.push_back(key_(smp.text));
      const double v = detail::zip::expected_value(values, smp.head);
      weights.push_back(std::max(0.0, v));
      if (answers.back() && v > best_v) {
        best_v = v;
        best = i;
      }
    }
    if (answers.empty() && out.stopped_by && s.m.ledger().generated_tokens == 0)
      return fail(errc::budget_exhausted, fmt::format("the budget allowed no step ({})", to_string(*out.stopped_by)));
    out.tally = weighted_vote(answers, weights, params_.vote);
    if (best) {
      out.answer = key_(s.samples[*best].text);
      out.confidence = std::clamp(best_v, 0.0, 1.0);
    }
    out.samples = static_cast<std::uint32_t>(answers.size());
    return out;
  }

  zip_rc_params params_{};
  AnswerKey key_{};
};

/// ZIP-RC with canonical answers.
using zip_rc = basic_zip_rc<>;

} // namespace reckon
