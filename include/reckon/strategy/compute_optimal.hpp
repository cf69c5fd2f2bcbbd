// SPDX-License-Identifier: Apache-2.0
// Compute-optimal selection: per difficulty bin, the strategy and sample count that did best on a calibration set.
#pragma once

// Algorithm (Snell et al. 2024, "Scaling LLM Test-Time Compute Optimally", section 3.2): estimate a
// problem's difficulty, put it in one of 5 quantile bins, and run the strategy and hyper-parameters
// that maximised accuracy for that bin on a calibration set at the given budget (n samples).
// Here the estimate is 1 - the mean ORM score of the first `probe` samples (Snell's "model-predicted
// difficulty" from a verifier, with probe samples instead of 2048); the choices are the issue-7
// sample-and-aggregate strategies (majority vote, ORM- or PRM-weighted vote, best-of-n by ORM or
// PRM `last`) and ODAR's free-energy fusion, each at n in {probe.., powers of 2.., budget}; the probe
// samples are reused, so a run draws at most `budget` samples. fit_compute_optimal makes the table
// (JSON round trip: <reckon/strategy/compute_optimal_io.hpp>, opt-in, target reckon::eval).
// Selection per bin (fit_compute_optimal): Snell et al. select per bin on one half of the problems
// and evaluate on the other (two-fold cross-validation, averaged). A fixed cell's two-fold accuracy
// is just its in-sample accuracy, so what is cross-validated here is the *rule*: "the bin's own
// argmax cell" against "the globally best cell", each fitted on one fold and scored on the other.
// A bin keeps its own argmax (refitted on the whole bin) only when that rule's held-out gain over
// the global rule exceeds min_z standard errors (a McNemar test, default 2); otherwise it takes the
// global best cell. (The exact in-sample argmax over ~40 problems a bin and ~30 cells picks noise:
// a shrinkage towards the global choice that Snell et al., fitting on 500 MATH problems, leave out.)
// Cost: 1 engine call for the probe + 1 for the rest (more only when a token budget cuts a round
// short and still pays for a sample); 1 ORM call (+1 more ORM or PRM call by method); a revisions
// bin adds L - 1 revise calls (one per round over every chain).
// Budget: reward calls are checked with budget::check_reward_call. When the probe's ORM call is
// not affordable there is no estimate, and when the chosen bin's ORM or PRM call is not, its
// method cannot run: either way the answer is the majority vote over the samples already drawn
// (a revisions bin: over every attempt drawn; a deviation: a vote on paid-for samples rather than
// no answer), with stopped_by saying why. A revisions bin's revise rounds are budgeted as
// sequential_revisions' (the full budget before each call, token limits reserved per revision).
// Sequential/parallel ratio (Snell et al. section 6.2, Fig. 7): method `revisions` runs
// sequential revisions (sequential_revisions.hpp) in verifier mode, hierarchical ORM-weighted
// best-of-N, with n = P x L generations: P chains of L attempts each, L (`co_choice::length`)
// chosen per bin with the method by the same two-fold cross-validation, over every divisor L of
// each n (L = 1: parallel; L = n: fully sequential). It needs a model that also revises. The
// probe samples are the chains' first attempts: with P >= probe they start the first chains and
// P - probe more are drawn; with P < probe they are dealt round-robin to the P chains as their
// earliest attempts (a deviation: the paper's difficulty estimate costs 2048 samples of its own,
// not counted; here the probe is part of the N, so a fully sequential chain after a 2-sample probe
// starts from two independent samples, as the reviser's training contexts do). The probe's ORM
// scores are reused; one more ORM call scores the other attempts. `revisions` is not in
// all_co_methods (the fitter's default) so that existing fits are unchanged; name it in
// compute_optimal_fit_params::methods.
// Deviations: Snell et al. also search beam search; that is not a sample pool.

#include <reckon/aggregate/reduce.hpp>
#include <reckon/aggregate/vote.hpp>
#include <reckon/answer/canonical.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
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
#include <reckon/strategy/odar.hpp>
#include <reckon/strategy/result.hpp>
#include <reckon/strategy/sequential_revisions.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reckon {

/// How a bin aggregates its samples.
enum class co_method : std::uint8_t {
  majority,       ///< plurality vote (self_consistency)
  weighted_orm,   ///< ORM-weighted vote (best_of_n weighted, ORM scorer)
  best_orm,       ///< the sample the ORM scores highest (best_of_n naive, ORM scorer)
  weighted_prm,   ///< vote weighted by the PRM's last step score (weighted_best_of_n)
  best_prm,       ///< the sample with the highest PRM last step score (best_of_n)
  free_energy,    ///< ODAR's free-energy fusion (needs logprobs)
  revisions,      ///< sequential revisions, P = n / length chains of `length` attempts, hierarchical by ORM (needs a reviser)
};

/// Every sample-pool method, in the order the fitter prefers on ties (its default search;
/// co_method::revisions, which needs a reviser, is searched only when named, after these).
inline constexpr std::array<co_method, 6> all_co_methods{co_method::majority,     co_method::weighted_orm,
                                                         co_method::best_orm,     co_method::weighted_prm,
                                                         co_method::best_prm,     co_method::free_energy};

/// The name of a method (as the table's JSON writes it), e.g. "weighted-orm".
[[nodiscard]] constexpr std::string_view to_string(co_method m) noexcept {
  switch (m) {
  case co_method::majority: return "majority";
  case co_method::weighted_orm: return "weighted-orm";
  case co_method::best_orm: return "best-orm";
  case co_method::weighted_prm: return "weighted-prm-last";
  case co_method::best_prm: return "best-prm-last";
  case co_method::free_energy: return "free-energy";
  case co_method::revisions: return "revisions";
  }
  return "unknown";
}

/// The method named `name`, or nullopt.
[[nodiscard]] inline std::optional<co_method> parse_co_method(std::string_view name) noexcept {
  for (const co_method m : all_co_methods)
    if (to_string(m) == name) return m;
  if (to_string(co_method::revisions) == name) return co_method::revisions;
  return std::nullopt;
}

/// One bin's choice.
struct co_choice {
  co_method method = co_method::majority; ///< how the bin aggregates
  std::uint32_t n = 1;                    ///< samples drawn (probe included), in [1, budget]
  double accuracy = 0.0;                  ///< its rule's two-fold cross-validated accuracy in the bin (informative)
  std::uint32_t length = 1;               ///< revisions: attempts per chain L (P = n / L chains; L divides n); else 1
};

/// The fitted table: bin edges over the difficulty estimate and a choice per bin.
struct compute_optimal_table {
  std::uint32_t budget = 8;       ///< the budget (most samples) the table was fitted for (> 0)
  std::uint32_t probe = 2;        ///< probe samples behind the estimate (in [1, budget])
  std::vector<double> edges;      ///< ascending inner edges of the estimate's bins (bins = edges + 1)
  std::vector<co_choice> bins;    ///< per bin, easiest (lowest estimate) first

  /// The bin of a difficulty estimate: the number of edges at or below it.
  [[nodiscard]] std::size_t bin_of(double estimate) const noexcept {
    std::size_t b = 0;
    while (b < edges.size() && estimate >= edges[b]) ++b;
    return b;
  }

  /// Checks the table's consistency.
  [[nodiscard]] result<void> check() const {
    if (budget == 0 || probe == 0 || probe > budget)
      return fail(errc::invalid_argument, "compute_optimal_table: need 1 <= probe <= budget");
    if (bins.size() != edges.size() + 1) return fail(errc::invalid_argument, "compute_optimal_table: bins must be edges + 1");
    for (std::size_t i = 0; i < edges.size(); ++i)
      if (!std::isfinite(edges[i]) || (i > 0 && edges[i] < edges[i - 1]))
        return fail(errc::invalid_argument, "compute_optimal_table: edges must be finite and ascending");
    for (const auto& c : bins) {
      if (c.n == 0 || c.n > budget) return fail(errc::invalid_argument, "compute_optimal_table: a bin's n is outside [1, budget]");
      if (c.method == co_method::revisions ? (c.length == 0 || c.n % c.length != 0) : c.length != 1)
        return fail(errc::invalid_argument,
                    "compute_optimal_table: a revisions bin's length must divide its n, and every other bin's length is 1");
    }
    return {};
  }
};

/// Runtime numbers of compute-optimal selection.
struct compute_optimal_params {
  compute_optimal_table table{};         ///< the fitted table (fit_compute_optimal)
  sampling_params sampling{};            ///< each request's parameters (the seed is set per round)
  std::string step_delimiter = "\n\n";   ///< where the PRM splits a completion into steps
  free_energy_params energy{};           ///< the free-energy bins' lambda
  vote_params vote{};                    ///< tie-break of every vote
  std::uint32_t context = 4;             ///< revisions bins: most recent earlier attempts a revision sees (> 0)
};

namespace detail::co {

/// A pool of samples with lazily computed scores.
struct pool {
  std::vector<completion> samples;
  std::vector<std::optional<std::string>> answers;
  std::vector<double> orm, prm;
  std::vector<std::optional<double>> energy;
};

/// The answer `method` picks from the first n samples of `p` (scores must cover them).
inline std::optional<std::string> pick(co_method method, const pool& p, std::size_t n, const vote_params& vote) {
  const std::span<const std::optional<std::string>> answers(p.answers.data(), n);
  auto best_of = [&](const std::vector<double>& s) -> std::optional<std::string> {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < n; ++i)
      if (answers[i] && (!best || s[i] > s[*best])) best = i;
    return best ? answers[*best] : std::nullopt;
  };
  switch (method) {
  case co_method::majority: return plurality_vote(answers, vote).winner();
  case co_method::weighted_orm: return weighted_vote(answers, std::span<const double>(p.orm.data(), n), vote).winner();
  case co_method::best_orm: return best_of(p.orm);
  case co_method::weighted_prm: return weighted_vote(answers, std::span<const double>(p.prm.data(), n), vote).winner();
  case co_method::best_prm: return best_of(p.prm);
  case co_method::free_energy:
    return fuse_free_energy(answers, std::span<const std::optional<double>>(p.energy.data(), n), vote).answer;
  case co_method::revisions: break; // not a pool of samples: chain_tally picks
  }
  return std::nullopt;
}

/// 1 - mean ORM score of the first `probe` samples.
inline double estimate(const pool& p, std::size_t probe) {
  double s = 0.0;
  const std::size_t k = std::min(probe, p.orm.size());
  for (std::size_t i = 0; i < k; ++i) s += p.orm[i];
  return k == 0 ? 1.0 : 1.0 - s / static_cast<double>(k);
}

/// Scores samples [from, size) with what `need` asks.
template <class R, class AnswerKey>
result<void> score(pool& p, std::size_t from, R& reward, const problem& pr, std::string_view delimiter, bool orm, bool prm,
                   bool energy, const free_energy_params& fe, const AnswerKey& key) {
  const std::span<const completion> fresh(p.samples.data() + from, p.samples.size() - from);
  for (const auto& c : fresh) p.answers.push_back(key(c));
  if (orm && p.orm.size() < p.samples.size()) {
    const std::size_t at = p.orm.size();
    auto s = orm_scorer{}(reward, pr, std::span<const completion>(p.samples.data() + at, p.samples.size() - at), delimiter);
    if (!s) return s.error();
    p.orm.insert(p.orm.end(), s->begin(), s->end());
  }
  if constexpr (process_reward_model<R>) {
    if (prm && p.prm.size() < p.samples.size()) {
      const std::size_t at = p.prm.size();
      auto s = prm_scorer<reduce_last>{}(reward, pr, std::span<const completion>(p.samples.data() + at, p.samples.size() - at),
                                         delimiter);
      if (!s) return s.error();
      p.prm.insert(p.prm.end(), s->begin(), s->end());
    }
  } else {
    if (prm) return fail(errc::invalid_argument, "compute_optimal: a PRM method needs a process reward model");
  }
  if (energy) {
    auto e = energies_of(fresh, fe);
    if (!e) return e.error();
    p.energy.insert(p.energy.end(), e->begin(), e->end());
  }
  return {};
}

inline bool needs_prm(co_method m) noexcept { return m == co_method::weighted_prm || m == co_method::best_prm; }

/// Revision chains started from a pool's samples, with the ORM scores known so far.
struct chain_set {
  std::vector<revisions::chain> chains;
  std::vector<std::vector<std::optional<double>>> orm; ///< per attempt; nullopt: not scored yet
};

/// `chains` chains from the pool's first `heads` samples, dealt round-robin (revisions::deal), each
/// with the pool's ORM score where it has one.
inline chain_set chains_from(const pool& p, std::size_t heads, std::size_t chains) {
  chain_set out;
  out.chains = revisions::deal(std::span<const completion>(p.samples.data(), heads), chains);
  out.orm.resize(chains);
  for (std::size_t i = 0; i < heads; ++i)
    out.orm[i % chains].push_back(i < p.orm.size() ? std::optional<double>(p.orm[i]) : std::nullopt);
  return out;
}

/// The attempts without a score, round by round; extends the score lists to the chains' lengths.
inline std::vector<std::pair<std::size_t, std::size_t>> unscored(chain_set& set) {
  std::size_t longest = 0;
  for (std::size_t c = 0; c < set.chains.size(); ++c) {
    set.orm[c].resize(set.chains[c].size());
    longest = std::max(longest, set.chains[c].size());
  }
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t t = 0; t < longest; ++t)
    for (std::size_t c = 0; c < set.chains.size(); ++c)
      if (t < set.chains[c].size() && !set.orm[c][t]) out.emplace_back(c, t);
  return out;
}

/// Scores `todo` (from unscored) in one ORM call.
template <class R>
result<void> score_chains(chain_set& set, const std::vector<std::pair<std::size_t, std::size_t>>& todo, R& reward,
                          const problem& pr, std::string_view delimiter) {
  if (todo.empty()) return {};
  std::vector<completion> batch;
  batch.reserve(todo.size());
  for (const auto& [c, t] : todo) batch.push_back(set.chains[c][t]);
  auto s = orm_scorer{}(reward, pr, std::span<const completion>(batch), delimiter);
  if (!s) return s.error();
  for (std::size_t i = 0; i < todo.size(); ++i) set.orm[todo[i].first][todo[i].second] = (*s)[i];
  return {};
}

/// Every attempt's answer, per chain (the first `length` of each).
template <class AnswerKey>
std::vector<std::vector<std::optional<std::string>>> chain_answers(const chain_set& set, std::size_t length, const AnswerKey& key) {
  std::vector<std::vector<std::optional<std::string>>> out(set.chains.size());
  for (std::size_t c = 0; c < set.chains.size(); ++c)
    for (std::size_t t = 0; t < std::min(length, set.chains[c].size()); ++t) out[c].push_back(key(set.chains[c][t]));
  return out;
}

/// The hierarchical (verifier-mode) tally of the first `length` attempts of every chain (all scored).
template <class AnswerKey>
vote_tally chain_tally(const chain_set& set, std::size_t length, const AnswerKey& key, const vote_params& vote) {
  auto answers = chain_answers(set, length, key);
  std::vector<std::vector<double>> scores(set.chains.size());
  for (std::size_t c = 0; c < set.chains.size(); ++c)
    for (std::size_t t = 0; t < answers[c].size(); ++t) scores[c].push_back(set.orm[c][t].value());
  return revisions::hierarchical_tally(answers, scores, vote);
}
inline bool needs_orm(co_method m) noexcept { return m == co_method::weighted_orm || m == co_method::best_orm; }

} // namespace detail::co

/// Compute-optimal selection over a fitted table.
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class AnswerKey>
class basic_compute_optimal {
public:
  using params_type = compute_optimal_params;

  basic_compute_optimal() = default;
  explicit basic_compute_optimal(compute_optimal_params params, AnswerKey key = {})
      : params_(std::move(params)), key_(std::move(key)) {}

  /// Runs on one problem: probe samples, their ORM scores, the bin, then the bin's choice.
  /// @returns the result (confidence: the winner's share of the tally; the trace names the bin),
  ///          or invalid_argument (a bad table or budget; a free-energy bin without a logprob model;
  ///          a PRM bin without a PRM), budget_exhausted (no probe affordable), engine_failure (bad
  ///          scores or logprobs, the wrong number of completions, anything thrown by the models or
  ///          the answer key), or a model's error.
  template <sampling_model M, outcome_reward_model R>
  result<strategy_result> run(M& model, R& reward, const problem& p, const budget& limit, const random_stream& stream) const {
    return detail::checked_run(
        "compute_optimal", [&] { return check<M, R>(); }, [&] { return run_checked(model, reward, p, limit, stream); });
  }

  [[nodiscard]] const compute_optimal_params& params() const noexcept { return params_; }

private:
  template <class M, class R>
  [[nodiscard]] result<void> check() const {
    const compute_optimal_table& t = params_.table;
    if (auto ok = t.check(); !ok) return ok.error();
    if (auto ok = validate(params_.sampling); !ok) return ok.error();
    if (params_.step_delimiter.empty()) return fail(errc::invalid_argument, "compute_optimal: step_delimiter must not be empty");
    for (const auto& c : t.bins) {
      if (c.method == co_method::free_energy && !logprob_model<M>)
        return fail(errc::invalid_argument, "compute_optimal: a free-energy bin needs a logprob model");
      if (detail::co::needs_prm(c.method) && !process_reward_model<R>)
        return fail(errc::invalid_argument, "compute_optimal: a PRM bin needs a process reward model");
      if (c.method == co_method::revisions && !reviser<M>)
        return fail(errc::invalid_argument, "compute_optimal: a revisions bin needs a model that revises (reviser)");
    }
    if (params_.context == 0) return fail(errc::invalid_argument, "compute_optimal: context must be > 0");
    return {};
  }

  template <class M, class R>
  result<strategy_result> run_checked(M& model, R& reward, const problem& p, const budget& limit,
                                      const random_stream& stream) const {
    const compute_optimal_table& t = params_.table;
    bool any_energy = false;
    for (const auto& c : t.bins) any_energy = any_energy || c.method == co_method::free_energy;
    metered<M&> m(model);
    metered<R&> rm(reward);
    auto spent = [&] {
      ledger l = m.ledger();
      l.prm_calls += rm.ledger().prm_calls;
      l.prm_tokens += rm.ledger().prm_tokens;
      l.wall_seconds += rm.ledger().wall_seconds;
      return l;
    };
    strategy_result out;
    sampling_params sp = params_.sampling;
    if (any_energy) sp = detail::with_stats(sp);
    detail::sampling_rounds<M> rounds(m, p, sp, limit, stream);
    detail::co::pool pool;
    auto drawn = rounds.draw(t.probe, pool.samples, out);
    if (!drawn) return drawn.error();
    if (pool.samples.empty()) return detail::nothing_affordable(rounds.stopped_by());
    // The samples drawn are paid for: when a reward call is not affordable they are still voted on.
    auto majority_of_drawn = [&](stop_reason why, const char* what) {
      for (std::size_t i = pool.answers.size(); i < pool.samples.size(); ++i) pool.answers.push_back(key_(pool.samples[i]));
      out.trace.push_back(trace_event{rounds.rounds(), fmt::format("{} not affordable ({}): majority over {} samples", what,
                                                                    to_string(why), pool.samples.size())});
      out.stopped_by = why;
      return finish(out, pool, co_method::majority, pool.samples.size(), spent());
    };
    // A reward call's prm_tokens are known before it is made (metered's estimate: each candidate's
    // characters / 4, which its steps cannot exceed), so a call that would pass the limit is not made.
    auto reward_call_refused = [&](std::size_t from) -> std::optional<stop_reason> {
      const ledger l = spent();
      if (auto why = limit.check_reward_call(l)) return why;
      std::uint64_t tokens = 0;
      for (std::size_t i = from; i < pool.samples.size(); ++i) tokens += detail::estimate_tokens(pool.samples[i].text.size());
      if (tokens > limit.max_prm_tokens - l.prm_tokens) return stop_reason::prm_tokens;
      return std::nullopt;
    };
    if (auto why = reward_call_refused(0)) return majority_of_drawn(*why, "the probe's ORM call");
    if (auto ok = detail::co::score(pool, 0, rm, p, params_.step_delimiter, true, false, any_energy, params_.energy, key_); !ok)
      return ok.error();
    const double d = detail::co::estimate(pool, t.probe);
    const std::size_t bin = t.bin_of(d);
    const co_choice choice = t.bins[bin];
    out.trace.push_back(trace_event{0, fmt::format("estimate {:.3f}: bin {} ({} at n = {}{})", d, bin, to_string(choice.method), choice.n,
                                                   choice.method == co_method::revisions
                                                       ? fmt::format(": {} chains x {} attempts", choice.n / choice.length, choice.length)
                                                       : std::string())});
    if constexpr (reviser<M>)
      if (choice.method == co_method::revisions) return run_revisions(m, rm, p, limit, stream, rounds, pool, choice, spent, out);
    const std::size_t before = pool.samples.size();
    // A round that a token budget cut short is followed by another while the budget still pays
    // for a sample (the samples drawn may have used fewer than max_tokens): the last draw either
    // fills n or records the limit that stopped it.
    while (pool.samples.size() < choice.n) {
      auto more = rounds.draw(choice.n - static_cast<std::uint32_t>(pool.samples.size()), pool.samples, out);
      if (!more) return more.error();
      if (*more == 0) break;
    }
    const bool orm = detail::co::needs_orm(choice.method) && pool.samples.size() > before;
    const bool prm = detail::co::needs_prm(choice.method);
    if (orm || prm)
      if (auto why = reward_call_refused(prm ? 0 : before))
        return majority_of_drawn(*why, prm ? "the bin's PRM call" : "the bin's ORM call");
    if (auto ok = detail::co::score(pool, before, rm, p, params_.step_delimiter, orm, prm, any_energy, params_.energy, key_); !ok)
      return ok.error();
    out.stopped_by = rounds.stopped_by();
    return finish(out, pool, choice.method, std::min<std::size_t>(choice.n, pool.samples.size()), spent());
  }

  // A revisions bin: P = n / L chains from the probe (and more samples), grown to L attempts,
  // the attempts the probe's ORM call did not score scored in one more call, hierarchical pick.
  template <class M, class R, class Spent>
  result<strategy_result> run_revisions(metered<M&>& m, metered<R&>& rm, const problem& p, const budget& limit,
                                        const random_stream& stream, detail::sampling_rounds<M>& rounds, detail::co::pool& pool,
                                        const co_choice& choice, Spent& spent, strategy_result& out) const {
    const std::size_t chains = choice.n / choice.length;
    while (pool.samples.size() < chains) {
      auto more = rounds.draw(static_cast<std::uint32_t>(chains - pool.samples.size()), pool.samples, out);
      if (!more) return more.error();
      if (*more == 0) break;
    }
    out.stopped_by = rounds.stopped_by();
    const std::size_t heads = pool.samples.size();
    detail::co::chain_set set = detail::co::chains_from(pool, heads, std::min(chains, heads));
    if (!out.stopped_by) {
      const ledger& sampled = m.ledger();
      const std::uint64_t prompt_prefill =
          std::max<std::uint64_t>(sampled.engine_calls == 0 ? 0 : sampled.prefilled_tokens / sampled.engine_calls,
                                  detail::estimate_tokens(p.prompt.size()));
      auto grown = detail::revisions::grow(m, p, set.chains, choice.length, params_.context, params_.sampling, limit, spent, prompt_prefill,
                                           stream, out);
      if (!grown) return grown.error();
      out.stopped_by = *grown;
    }
    const auto todo = detail::co::unscored(set);
    std::size_t attempts = 0;
    for (const auto& c : set.chains) attempts += c.size();
    out.samples = static_cast<std::uint32_t>(attempts);
    std::optional<stop_reason> refused;
    if (!todo.empty()) {
      const ledger l = spent();
      refused = limit.check_reward_call(l);
      std::uint64_t tokens = 0;
      for (const auto& [c, t] : todo) tokens += detail::estimate_tokens(set.chains[c][t].text.size());
      if (!refused && tokens > limit.max_prm_tokens - l.prm_tokens) refused = stop_reason::prm_tokens;
    }
    if (refused) {
      out.trace.push_back(trace_event{rounds.rounds(), fmt::format("the bin's ORM call not affordable ({}): majority over {} attempts",
                                                                    to_string(*refused), attempts)});
      out.stopped_by = refused;
      out.tally = detail::revisions::flat_tally(detail::co::chain_answers(set, choice.length, key_), params_.vote);
    } else {
      if (auto ok = detail::co::score_chains(set, todo, rm, p, params_.step_delimiter); !ok) return ok.error();
      out.tally = detail::co::chain_tally(set, choice.length, key_, params_.vote);
    }
    out.answer = out.tally.winner();
    out.confidence = out.tally.leader() ? out.tally.leader()->share : 0.0;
    out.cost = spent();
    return std::move(out);
  }

  result<strategy_result> finish(strategy_result& out, const detail::co::pool& pool, co_method method, std::size_t n,
                                 const ledger& spent) const {
    out.answer = detail::co::pick(method, pool, n, params_.vote);
    const std::span<const std::optional<std::string>> used(pool.answers.data(), n);
    out.tally = plurality_vote(used, params_.vote);
    const answer_tally* mine = out.answer ? out.tally.find(*out.answer) : nullptr;
    out.confidence = mine ? mine->share : 0.0;
    out.samples = static_cast<std::uint32_t>(n);
    out.cost = spent;
    return std::move(out);
  }

  compute_optimal_params params_{};
  AnswerKey key_{};
};

/// Compute-optimal selection with canonical answers.
using compute_optimal = basic_compute_optimal<>;

/// A calibration problem: the problem and its gold answer (compared by canonical key).
struct calibration_problem {
  problem task;     ///< the problem
  std::string gold; ///< its correct answer, as text
};

/// What the fitter searches.
struct compute_optimal_fit_params {
  std::uint32_t budget = 8;          ///< most samples per problem (> 0)
  std::uint32_t probe = 2;           ///< probe samples behind the estimate (in [1, budget])
  std::uint32_t bins = 5;            ///< quantile bins of the estimate (> 0)
  std::vector<co_method> methods{all_co_methods.begin(), all_co_methods.end()}; ///< methods to search (free-energy needs logprobs)
  std::uint64_t seed = 0;            ///< the calibration run's seed (use another at evaluation)
  double min_z = 2.0;                ///< a bin leaves the global best cell only when its own rule wins by more than min_z standard errors (>= 0; see fit_compute_optimal)
  compute_optimal_params run{};      ///< sampling, delimiter, energy and vote used on calibration
};

namespace detail::co {

/// One cell of the fitter's grid: a method at n samples (revisions: P = n / length chains).
struct cell {
  co_method method = co_method::majority;
  std::uint32_t n = 1;
  std::uint32_t length = 1;
};

/// The cell of `hits` (cells ordered by n, then method, then length) with the most hits; ties go to
/// the cell of method `prefer` (the global best cell's method) with the smallest n, else to the first.
inline std::size_t best_cell(const std::vector<double>& hits, const std::vector<cell>& cells, co_method prefer) {
  const double top = *std::max_element(hits.begin(), hits.end());
  std::optional<std::size_t> first;
  for (std::size_t g = 0; g < hits.size(); ++g) {
    if (hits[g] < top) continue;
    if (cells[g].method == prefer) return g;
    if (!first) first = g;
  }
  return *first;
}

} // namespace detail::co

/// Fits a table: per calibration problem, draws the probe and the rest of the budget exactly as a
/// run does, evaluates every (method, n) cell on prefixes of that pool (co_method::revisions: every
/// (n, L) with L dividing n, on chains grown from the pool's first samples as a run grows them, a
/// chain of L attempts being a prefix of a longer one) and cuts the estimates into quantile bins. The members of each bin, in calibration order, alternate between two folds. Per
/// bin, two rules are cross-validated: "the bin's argmax cell" and "the global argmax cell" (over
/// every bin), each fitted on one fold and scored on the bin's other fold, both ways. With W the
/// held-out problems only the bin's rule gets right, L those only the global rule gets right, the
/// bin takes its own argmax cell (over the whole bin) only when W - L > min_z x sqrt(W + L) (a
/// McNemar test on the paired held-out outcomes: the gain must exceed min_z standard errors, so a
/// bin of 40 problems needs a larger gain than a bin of 400); otherwise, and in bins with fewer
/// than two members, it takes the global argmax cell (over every problem). Argmax ties go to the
/// cell of the global cell's method with the smallest n, else to the smaller n, then the earlier
/// method. A bin's `accuracy` is its rule's cross-validated accuracy there.
/// @returns the table, or invalid_argument (bad params, no problems, a method the models cannot
///          serve: free-energy without logprobs, a PRM method without a PRM, revisions without a
///          reviser), engine_failure (anything the models or the answer key threw), or a model's error.
template <sampling_model M, outcome_reward_model R, class AnswerKey = canonical_answer_key>
result<compute_optimal_table> fit_compute_optimal(M& model, R& reward, std::span<const calibration_problem> problems,
                                                  const compute_optimal_fit_params& fit, AnswerKey key = {}) {
  if (fit.budget == 0 || fit.probe == 0 || fit.probe > fit.budget || fit.bins == 0)
    return fail(errc::invalid_argument, "fit_compute_optimal: need 1 <= probe <= budget and bins > 0");
  if (!std::isfinite(fit.min_z) || fit.min_z < 0.0) return fail(errc::invalid_argument, "fit_compute_optimal: min_z must be >= 0");
  if (problems.empty() || fit.methods.empty()) return fail(errc::invalid_argument, "fit_compute_optimal: no problems or no methods");
  bool energy = false, prm = false, revise = false;
  for (const co_method m : fit.methods) {
    energy = energy || m == co_method::free_energy;
    prm = prm || detail::co::needs_prm(m);
    revise = revise || m == co_method::revisions;
  }
  if (energy && !logprob_model<M>) return fail(errc::invalid_argument, "fit_compute_optimal: free-energy needs a logprob model");
  if (prm && !process_reward_model<R>) return fail(errc::invalid_argument, "fit_compute_optimal: a PRM method needs a PRM");
  if (revise && !reviser<M>) return fail(errc::invalid_argument, "fit_compute_optimal: revisions needs a model that revises (reviser)");
  if (fit.run.context == 0) return fail(errc::invalid_argument, "fit_compute_optimal: context must be > 0");
  if (fit.run.step_delimiter.empty()) return fail(errc::invalid_argument, "fit_compute_optimal: step_delimiter must not be empty");
  sampling_params sp = fit.run.sampling;
  if (energy) sp = detail::with_stats(sp);
  if (auto ok = validate(sp); !ok) return ok.error();
  return detail::guarded_run("fit_compute_optimal", [&]() -> result<compute_optimal_table> {
    std::vector<std::uint32_t> ns;
    for (std::uint32_t n = 1; n < fit.budget; n *= 2)
      if (n >= fit.probe) ns.push_back(n);
    if (ns.empty() || ns.front() != fit.probe) ns.insert(ns.begin(), fit.probe);
    ns.push_back(fit.budget);
    ns.erase(std::unique(ns.begin(), ns.end()), ns.end());
    std::vector<detail::co::cell> cells;
    for (const std::uint32_t n : ns)
      for (const co_method m : fit.methods) {
        if (m != co_method::revisions) {
          cells.push_back({m, n, 1});
          continue;
        }
        for (std::uint32_t l = 1; l <= n; ++l)
          if (n % l == 0) cells.push_back({m, n, l});
      }
    // Revisions: per chain count P, the longest chain any cell needs.
    std::map<std::uint32_t, std::uint32_t> longest;
    for (const auto& c : cells)
      if (c.method == co_method::revisions) longest[c.n / c.length] = std::max(longest[c.n / c.length], c.length);
    const std::size_t grid = cells.size();
    std::vector<double> estimates;
    std::vector<std::vector<char>> correct; // per problem, per grid cell
    const budget unlimited{};               // sampling_rounds keeps a copy
    metered<R&> rm(reward);
    for (const auto& cp : problems) {
      metered<M&> m(model);
      strategy_result log;
      const random_stream stream(stream_key{fit.seed, cp.task.id, 0, 0});
      detail::sampling_rounds<M> rounds(m, cp.task, sp, unlimited, stream);
      detail::co::pool pool;
      auto a = rounds.draw(fit.probe, pool.samples, log);
      if (!a) return a.error();
      if (fit.budget > fit.probe) {
        auto b = rounds.draw(fit.budget - fit.probe, pool.samples, log);
        if (!b) return b.error();
      }
      if (auto ok = detail::co::score(pool, 0, rm, cp.task, fit.run.step_delimiter, true, prm, energy, fit.run.energy, key); !ok)
        return ok.error();
      estimates.push_back(detail::co::estimate(pool, fit.probe));
      const std::string gold = canonicalize(cp.gold).key;
      std::map<std::uint32_t, detail::co::chain_set> chain_sets;
      if constexpr (reviser<M>) {
        for (const auto& [chains, length] : longest) {
          const std::size_t heads = std::min<std::size_t>(pool.samples.size(), std::max(chains, fit.probe));
          detail::co::chain_set set = detail::co::chains_from(pool, heads, std::min<std::size_t>(chains, heads));
          auto grown = detail::revisions::grow(m, cp.task, set.chains, length, fit.run.context, fit.run.sampling, unlimited,
                                               [&] { return m.ledger(); }, 0, stream, log);
          if (!grown) return grown.error();
          if (auto ok = detail::co::score_chains(set, detail::co::unscored(set), rm, cp.task, fit.run.step_delimiter); !ok)
            return ok.error();
          chain_sets.emplace(chains, std::move(set));
        }
      }
      std::vector<char> row(grid, 0);
      for (std::size_t g = 0; g < grid; ++g) {
        const detail::co::cell& c = cells[g];
        const auto got = c.method == co_method::revisions
                             ? detail::co::chain_tally(chain_sets.at(c.n / c.length), c.length, key, fit.run.vote).winner()
                             : detail::co::pick(c.method, pool, std::min<std::size_t>(c.n, pool.samples.size()), fit.run.vote);
        row[g] = got && *got == gold ? 1 : 0;
      }
      correct.push_back(std::move(row));
    }
    compute_optimal_table t;
    t.budget = fit.budget;
    t.probe = fit.probe;
    std::vector<double> sorted = estimates;
    std::sort(sorted.begin(), sorted.end());
    for (std::uint32_t b = 1; b < fit.bins; ++b) t.edges.push_back(sorted[std::min(sorted.size() - 1, sorted.size() * b / fit.bins)]);
    // A bin's members alternate between the folds in calibration order.
    std::vector<std::size_t> bin_of(estimates.size()), fold_of(estimates.size());
    std::vector<std::array<std::vector<double>, 2>> hits(fit.bins, {std::vector<double>(grid, 0.0), std::vector<double>(grid, 0.0)});
    std::vector<std::array<std::size_t, 2>> members(fit.bins, {0, 0});
    std::array<std::vector<double>, 2> fold_total{std::vector<double>(grid, 0.0), std::vector<double>(grid, 0.0)};
    std::vector<double> total(grid, 0.0);
    for (std::size_t i = 0; i < estimates.size(); ++i) {
      const std::size_t b = bin_of[i] = t.bin_of(estimates[i]);
      const std::size_t f = fold_of[i] = members[b][0] > members[b][1] ? 1 : 0;
      ++members[b][f];
      for (std::size_t g = 0; g < grid; ++g) {
        hits[b][f][g] += correct[i][g];
        fold_total[f][g] += correct[i][g];
        total[g] += correct[i][g];
      }
    }
    auto argmax = [](const std::vector<double>& v) { // the first: the smaller n, the earlier method
      return static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());
    };
    const std::size_t global = argmax(total);
    const std::array<std::size_t, 2> global_of{argmax(fold_total[0]), argmax(fold_total[1])};
    auto choice_of = [&](std::size_t g, double accuracy) {
      return co_choice{cells[g].method, cells[g].n, accuracy, cells[g].length};
    };
    for (std::uint32_t b = 0; b < fit.bins; ++b) {
      if (members[b][0] == 0 || members[b][1] == 0) { // nothing to cross-validate on
        t.bins.push_back(choice_of(global, 0.0));
        continue;
      }
      // Each rule fitted on fold f, scored on fold 1 - f.
      const std::array<std::size_t, 2> own_of{detail::co::best_cell(hits[b][0], cells, cells[global_of[0]].method),
                                              detail::co::best_cell(hits[b][1], cells, cells[global_of[1]].method)};
      double wins = 0.0, losses = 0.0, shared = 0.0;
      for (std::size_t i = 0; i < estimates.size(); ++i) {
        if (bin_of[i] != b) continue;
        const std::size_t trained_on = 1 - fold_of[i];
        const bool own = correct[i][own_of[trained_on]] != 0, global_right = correct[i][global_of[trained_on]] != 0;
        wins += own && !global_right ? 1.0 : 0.0;
        losses += global_right && !own ? 1.0 : 0.0;
        shared += global_right ? 1.0 : 0.0;
      }
      const double size = static_cast<double>(members[b][0] + members[b][1]);
      if (wins - losses > fit.min_z * std::sqrt(wins + losses)) {
        std::vector<double> whole(grid, 0.0);
        for (std::size_t g = 0; g < grid; ++g) whole[g] = hits[b][0][g] + hits[b][1][g];
        t.bins.push_back(choice_of(detail::co::best_cell(whole, cells, cells[global].method), (shared + wins - losses) / size));
      } else {
        t.bins.push_back(choice_of(global, shared / size));
      }
    }
    return t;
  });
}

} // namespace reckon
