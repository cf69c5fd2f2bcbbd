// SPDX-License-Identifier: Apache-2.0
// ODAR: free-energy fusion of heterogeneous candidates, and difficulty routing between a fast and a slow agent.
#pragma once

// Algorithm (Ma et al. 2026, ODAR, arXiv 2602.23681): (1) fusion: per candidate y with token
// surprisals s_t = -log p, F(y) = mean_t s_t + lambda * Var_t(s_t) ("path" varentropy), or
// mean_t s_t + lambda * mean_t VE_t when the candidate carries distribution varentropy; clusters
// F(a) = -log sum_{y in a} exp(-F(y)); pick argmin. (2) routing: the fast agent draws `probe`
// samples; a logistic difficulty estimator d (fitted offline by IRLS) reads their disagreement,
// surprisal, entropy, varentropy, length and the prompt length; d < low: the fast answer;
// low <= d < high: the slow agent verifies it; d >= high: the slow agent's best-of-slow_n fused by
// free energy. fit_odar_router fits d and the thresholds on calibration problems.
// Cost: 1 fast call (probe samples), then 0 (fast), 1-slow_n calls of one sample (verify) or 1 call
// of slow_n samples (slow). The one budget covers both agents: the slow agent gets what the fast
// agent left (detail::remaining_budget), and every call checks it. When the budget leaves no slow
// sample the fast answer stands (the probes were paid for).
// Confidence: the leader's share of the tally that decided, which is also the tally returned: fast,
// the probes' free-energy shares; verify, the vote shares of the slow samples (or their free-energy
// shares when no answer met the rule); slow, the fused samples' free-energy shares.
// No reference code is public, and the paper's lambda, features, verify rule and threshold target
// are not stated; the choices here are deliberate:
// - lambda = 0.5.
// - Verify rule: slow samples are drawn one at a time (at most slow_n); an answer is adopted once
//   verify_votes (2) of them give it and they are a strict majority of those drawn; the fast answer
//   is not a vote (the synthetic agents' wrong answers cluster, so a single agreeing slow sample
//   accepted 12% wrong fast answers); when no answer meets the rule the slow samples are fused.
// - Thresholds: fitted for a stated target, maximise calibration accuracy - cost_weight (0.25) *
//   cost share of the always-slow route, exactly over all splits of the calibration problems
//   sorted by d (in-sample, like the difficulty model); the defaults 0.3/0.7 serve unfitted use.
// - The slow route fuses the slow samples alone (`fuse_probes` adds the fast probes, as the paper
//   does: on the synthetic agents, whose wrong answers cluster, that cost 5-7 points of accuracy).
// - An unfitted router (no weights) uses d = the probes' disagreement.
// Mixed agents: strategy_result::cost is the sum of both agents' ledgers (tokens as generated, peaks
// the larger, since the agents run one after the other); odar_result keeps each ledger and the
// cost-weighted tokens sum_agents cost_per_token * total_tokens.

#include <reckon/aggregate/vote.hpp>
#include <reckon/answer/equal.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/ledger.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/fwd.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/answer_key.hpp>
#include <reckon/strategy/detail/adaptive.hpp>
#include <reckon/strategy/detail/guarded_run.hpp>
#include <reckon/strategy/detail/sampling_rounds.hpp>
#include <reckon/strategy/result.hpp>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace reckon {

// ---- free energy ------------------------------------------------------------------------------

/// How a candidate's free energy is computed.
struct free_energy_params {
  double lambda = 0.5;        ///< weight of the varentropy term (finite, >= 0); the paper's value is not public
  bool distribution = true;   ///< use distribution varentropy mean_t VE_t when the candidate carries it
};

/// F(y) of one candidate from its token statistics: mean_t s_t + lambda * Var_t(s_t) with s_t =
/// -logprob_t (population variance), or mean_t s_t + lambda * mean_t VE_t when
/// `params.distribution` and `stats.varentropy` has one entry per token. Lower is better.
/// @returns nullopt when the candidate has no logprobs (nothing to compute from)
/// @throws reckon::exception (invalid_argument) on a NaN or +inf logprob, a NaN or negative
///         varentropy, or lambda negative or not finite
[[nodiscard]] inline std::optional<double> free_energy(const token_stats& stats, const free_energy_params& params = {}) {
  detail::require(std::isfinite(params.lambda) && params.lambda >= 0.0, "free_energy: lambda must be finite and >= 0");
  const std::size_t n = stats.logprob.size();
  if (n == 0) return std::nullopt;
  double sum = 0.0;
  for (const float lp : stats.logprob) {
    detail::require(!std::isnan(lp) && lp < std::numeric_limits<float>::infinity(), "free_energy: logprob is NaN or +inf");
    sum += -static_cast<double>(lp);
  }
  const double mean = sum / static_cast<double>(n);
  double spread = 0.0;
  if (params.distribution && stats.varentropy.size() == n) {
    for (const float ve : stats.varentropy) {
      detail::require(!std::isnan(ve) && ve >= 0.0f, "free_energy: varentropy is NaN or negative");
      spread += static_cast<double>(ve);
    }
    spread /= static_cast<double>(n);
  } else {
    for (const float lp : stats.logprob) {
      const double d = -static_cast<double>(lp) - mean;
      spread += d * d;
    }
    spread /= static_cast<double>(n);
  }
  return mean + params.lambda * spread;
}

/// The outcome of a free-energy fusion.
struct fusion_outcome {
  vote_tally tally;                  ///< per answer: weight exp(-(F(a) - min F)), share = softmax(-F(a))
  std::optional<std::string> answer; ///< argmin_a F(a); nullopt when no candidate had an answer and an energy
  double energy = std::numeric_limits<double>::infinity(); ///< F of the chosen answer's cluster
};

/// Fuses candidates: F(a) = -log sum_{y: ans(y) = a} exp(-F(y)); returns argmin_a F(a). Candidates
/// without an answer or without an energy (nullopt) abstain. Ties break as the vote does.
/// @throws reckon::exception (invalid_argument) when the spans differ in length or an energy is NaN
[[nodiscard]] inline fusion_outcome fuse_free_energy(std::span<const std::optional<std::string>> answers,
                                                     std::span<const std::optional<double>> energies,
                                                     const vote_params& vote = {}) {
  detail::require(answers.size() == energies.size(), "fuse_free_energy: answers and energies differ in length");
  double lowest = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < answers.size(); ++i) {
    if (!energies[i]) continue;
    detail::require(!std::isnan(*energies[i]), "fuse_free_energy: an energy is NaN");
    if (answers[i]) lowest = std::min(lowest, *energies[i]);
  }
  vote_counter counter;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const bool votes = answers[i] && energies[i] && std::isfinite(lowest);
    // exp(-(F - min F)) in (0, 1]: the cluster's summed weight is exp(-(F(a) - min F)).
    counter.add(votes ? std::optional<std::string_view>(*answers[i]) : std::nullopt,
                votes ? std::exp(-(*energies[i] - lowest)) : 0.0);
  }
  fusion_outcome out;
  out.tally = counter.tally(vote);
  if (const answer_tally* lead = out.tally.leader()) {
    out.answer = lead->answer;
    out.energy = lowest - std::log(lead->weight);
  }
  return out;
}

// ---- difficulty estimator (logistic, IRLS) -----------------------------------------------------

/// The cheap features the ODAR router reads from the fast agent's probe samples and the prompt.
struct odar_features {
  double disagreement = 0.0;    ///< 1 - (votes of the probes' leading answer) / probes (abstentions disagree)
  double surprisal = 0.0;       ///< mean over probes of mean_t -logprob_t
  double entropy = 0.0;         ///< mean over probes of mean_t H_t (0 when not returned)
  double varentropy = 0.0;      ///< mean over probes of mean_t VE_t (0 when not returned)
  double log_tokens = 0.0;      ///< log(1 + mean probe tokens)
  double log_prompt = 0.0;      ///< log(1 + prompt characters)

  /// The number of features.
  static constexpr std::size_t size = 6;
  /// The features as a vector, in declaration order.
  [[nodiscard]] Eigen::VectorXd vector() const {
    Eigen::VectorXd v(static_cast<Eigen::Index>(size));
    v << disagreement, surprisal, entropy, varentropy, log_tokens, log_prompt;
    return v;
  }
};

/// A logistic model d = sigmoid(w_0 + sum_j w_j (x_j - mean_j) / scale_j) over standardised features.
struct difficulty_model {
  std::vector<double> mean;    ///< per feature: the calibration mean (empty: unfitted)
  std::vector<double> scale;   ///< per feature: the calibration standard deviation (> 0; 1 for a constant feature)
  std::vector<double> weights; ///< intercept, then one weight per feature (empty: unfitted)

  /// Whether the model holds fitted weights.
  [[nodiscard]] bool fitted() const noexcept { return !weights.empty(); }

  /// The predicted probability in [0, 1] for features `x` (x.size() == mean.size()).
  /// @throws reckon::exception (invalid_argument) when the sizes disagree or the model is unfitted
  [[nodiscard]] double predict(const Eigen::VectorXd& x) const {
    detail::require(fitted() && weights.size() == mean.size() + 1 && scale.size() == mean.size() &&
                        static_cast<std::size_t>(x.size()) == mean.size(),
                    "difficulty_model: feature count does not match the fitted model");
    double z = weights[0];
    for (std::size_t j = 0; j < mean.size(); ++j) z += weights[j + 1] * (x[static_cast<Eigen::Index>(j)] - mean[j]) / scale[j];
    return 1.0 / (1.0 + std::exp(-z));
  }
};

/// Fits a logistic difficulty model by iteratively reweighted least squares (Newton's method on
/// the log-likelihood) with an L2 ridge on the non-intercept weights, over standardised features.
/// @param features one row per calibration problem
/// @param labels   1 where the problem was "hard" (the fast answer was wrong), else 0
/// @param ridge    L2 penalty (>= 0; a little keeps separable data finite)
/// @returns the model, or invalid_argument (fewer than 2 rows, ragged or non-finite features,
///          labels not 0/1 or of another length, a negative ridge)
[[nodiscard]] inline result<difficulty_model> fit_difficulty_model(const Eigen::MatrixXd& features,
                                                                   std::span<const int> labels, double ridge = 1e-2,
                                                                   int iterations = 50) {
  const Eigen::Index n = features.rows(), p = features.cols();
  if (n < 2 || p < 1) return fail(errc::invalid_argument, "fit_difficulty_model: need at least 2 rows and 1 feature");
  if (static_cast<std::size_t>(n) != labels.size())
    return fail(errc::invalid_argument, "fit_difficulty_model: one label per row");
  if (!features.allFinite()) return fail(errc::invalid_argument, "fit_difficulty_model: features must be finite");
  if (!std::isfinite(ridge) || ridge < 0.0) return fail(errc::invalid_argument, "fit_difficulty_model: ridge must be >= 0");
  for (const int y : labels)
    if (y != 0 && y != 1) return fail(errc::invalid_argument, "fit_difficulty_model: labels must be 0 or 1");
  difficulty_model out;
  Eigen::MatrixXd x(n, p + 1);
  x.col(0).setOnes();
  for (Eigen::Index j = 0; j < p; ++j) {
    const double m = features.col(j).mean();
    const double var = (features.col(j).array() - m).square().mean();
    const double s = var > 1e-24 ? std::sqrt(var) : 1.0;
    out.mean.push_back(m);
    out.scale.push_back(s);
    x.col(j + 1) = (features.col(j).array() - m) / s;
  }
  Eigen::VectorXd y(n);
  for (Eigen::Index i = 0; i < n; ++i) y[i] = labels[static_cast<std::size_t>(i)];
  Eigen::VectorXd beta = Eigen::VectorXd::Zero(p + 1);
  Eigen::MatrixXd penalty = Eigen::MatrixXd::Identity(p + 1, p + 1) * ridge;
  penalty(0, 0) = 0.0;
  for (int it = 0; it < iterations; ++it) {
    const Eigen::VectorXd eta = x * beta;
    const Eigen::VectorXd mu = (1.0 / (1.0 + (-eta.array()).exp())).matrix();
    const Eigen::VectorXd w = (mu.array() * (1.0 - mu.array())).max(1e-9).matrix();
    // Newton step: (X^T W X + R) delta = X^T (y - mu) - R beta.
    const Eigen::MatrixXd h = x.transpose() * w.asDiagonal() * x + penalty;
    const Eigen::VectorXd g = x.transpose() * (y - mu) - penalty * beta;
    const Eigen::VectorXd delta = h.ldlt().solve(g);
    if (!delta.allFinite()) return fail(errc::invalid_argument, "fit_difficulty_model: the fit diverged");
    beta += delta;
    if (delta.lpNorm<Eigen::Infinity>() < 1e-10) break;
  }
  out.weights.assign(beta.data(), beta.data() + beta.size());
  return out;
}

// ---- strategies --------------------------------------------------------------------------------

/// Runtime numbers of free-energy fusion over one model's samples.
struct free_energy_fusion_params {
  std::uint32_t n = 5;           ///< samples (> 0)
  sampling_params sampling{};    ///< each request's parameters (logprobs and entropy are requested on top)
  free_energy_params energy{};   ///< lambda and which varentropy
  vote_params vote{};            ///< tie-break between clusters of equal energy
};

namespace detail {
/// Samples up to n completions with logprobs (and entropy/varentropy) through `rounds`.
template <class M>
result<void> draw_scored(sampling_rounds<M>& rounds, std::uint32_t n, std::vector<completion>& samples,
                         strategy_result& log) {
  const std::size_t target = samples.size() + n;
  while (samples.size() < target) {
    auto drawn = rounds.draw(static_cast<std::uint32_t>(target - samples.size()), samples, log);
    if (!drawn) return drawn.error();
    if (*drawn == 0) break;
  }
  return {};
}

/// Free energies of completions; engine_failure when one lacks logprobs or has bad ones.
inline result<std::vector<std::optional<double>>> energies_of(std::span<const completion> samples,
                                                              const free_energy_params& params) {
  std::vector<std::optional<double>> out;
  out.reserve(samples.size());
  try {
    for (const auto& c : samples) {
      auto f = free_energy(c.stats, params);
      if (!f && c.tokens > 0) return fail(errc::engine_failure, "the model returned no logprobs (asked for them)");
      out.push_back(f);
    }
  } catch (const reckon::exception& e) {
    return fail(errc::engine_failure, "bad token statistics: " + e.error().message);
  }
  return out;
}

inline sampling_params with_stats(sampling_params p) {
  p.stats.logprobs = true;
  p.stats.entropy = true;
  return p;
}
} // namespace detail

/// Free-energy fusion of n samples of one model (ODAR's fusion alone; `slow-best-of-5` with n = 5).
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class AnswerKey>
class basic_free_energy_fusion {
public:
  using params_type = free_energy_fusion_params;

  basic_free_energy_fusion() = default;
  explicit basic_free_energy_fusion(free_energy_fusion_params params, AnswerKey key = {})
      : params_(std::move(params)), key_(std::move(key)) {}

  /// Samples n completions with token statistics and returns the cluster of least free energy.
  /// @returns the result (confidence: the winner's softmax(-F) share), or invalid_argument (n = 0,
  ///          bad params), budget_exhausted (no sample affordable), engine_failure (missing or bad
  ///          logprobs), or the model's error.
  template <class M>
    requires sampling_model<M> && logprob_model<M>
  result<strategy_result> run(M& model, const problem& p, const budget& limit, const random_stream& stream) const {
    return detail::checked_run("free_energy_fusion", [&] { return check(); }, [&]() -> result<strategy_result> {
      return run_checked(model, p, limit, stream);
    });
  }

  [[nodiscard]] const free_energy_fusion_params& params() const noexcept { return params_; }

private:
  [[nodiscard]] result<void> check() const {
    if (params_.n == 0) return fail(errc::invalid_argument, "free_energy_fusion: n must be > 0");
    if (!std::isfinite(params_.energy.lambda) || params_.energy.lambda < 0.0)
      return fail(errc::invalid_argument, "free_energy_fusion: lambda must be finite and >= 0");
    return validate(params_.sampling);
  }

  template <class M>
  result<strategy_result> run_checked(M& model, const problem& p, const budget& limit, const random_stream& stream) const {
    metered<M&> m(model);
    strategy_result out;
    detail::sampling_rounds<M> rounds(m, p, detail::with_stats(params_.sampling), limit, stream);
    std::vector<completion> samples;
    if (auto ok = detail::draw_scored(rounds, params_.n, samples, out); !ok) return ok.error();
    if (samples.empty()) return detail::nothing_affordable(rounds.stopped_by());
    auto energies = detail::energies_of(samples, params_.energy);
    if (!energies) return energies.error();
    std::vector<std::optional<std::string>> answers;
    for (const auto& c : samples) answers.push_back(key_(c));
    fusion_outcome fused = fuse_free_energy(answers, *energies, params_.vote);
    out.tally = std::move(fused.tally);
    out.answer = std::move(fused.answer);
    out.confidence = out.tally.leader() ? out.tally.leader()->share : 0.0;
    out.stopped_by = rounds.stopped_by();
    out.samples = static_cast<std::uint32_t>(samples.size());
    out.cost = m.ledger();
    return out;
  }

  free_energy_fusion_params params_{};
  AnswerKey key_{};
};

/// Free-energy fusion with canonical answers.
using free_energy_fusion = basic_free_energy_fusion<>;

/// Which route the ODAR router took.
enum class odar_route : std::uint8_t {
  fast,     ///< d < low: the fast agent's fused probe answer
  verified, ///< low <= d < high: slow samples one at a time until an answer holds the agreement rule (odar_params::verify_votes)
  slow,     ///< d >= high: slow best-of-slow_n, fused by free energy
};

/// Runtime numbers of the ODAR router.
struct odar_params {
  std::uint32_t probe = 3;          ///< fast samples that feed the features and the fast answer (> 0)
  std::uint32_t slow_n = 5;         ///< most slow samples on the verify and slow routes (> 0)
  std::uint32_t verify_votes = 2;   ///< verify route: an answer is adopted once this many slow samples give it and they are a strict majority of those drawn (> 0)
  double low = 0.3;                 ///< d below this: fast only (in [0, high]); fit_odar_router fits it
  double high = 0.7;                ///< d at or above this: slow best-of-slow_n (in [low, 1]); fit_odar_router fits it
  bool fuse_probes = false;         ///< the slow route fuses the fast probes with the slow samples (else the slow samples alone)
  sampling_params fast_sampling{};  ///< the fast agent's requests (logprobs and entropy requested on top)
  sampling_params slow_sampling{};  ///< the slow agent's requests (logprobs and entropy requested on top)
  free_energy_params energy{};      ///< the fusion's lambda
  difficulty_model router{};        ///< the fitted difficulty estimator (unfitted: d = disagreement)
  vote_params vote{};               ///< tie-break between clusters of equal energy or answers of equal votes
};

/// What ODAR returns: the strategy result plus each agent's ledger and the route.
struct odar_result : strategy_result {
  ledger fast_cost{};          ///< what the fast agent spent
  ledger slow_cost{};          ///< what the slow agent spent
  double weighted_tokens = 0;  ///< sum over agents of cost_per_token * total_tokens
  double difficulty = 0;       ///< the router's d
  odar_features features{};    ///< the features d was computed from
  odar_route route = odar_route::fast; ///< the route taken
  bool fast_accepted = false;  ///< the answer is the fast answer (fast route, or the slow samples agreed with it)
};

/// The fast agent's probe of a problem: its samples, answer and features (calibration and routing).
struct odar_probe {
  std::vector<completion> samples;               ///< the probe samples
  std::vector<std::optional<std::string>> answers; ///< their canonical answers
  std::vector<std::optional<double>> energies;   ///< their free energies
  std::optional<std::string> answer;             ///< the probes' fused answer
  vote_tally tally;                              ///< the probes' free-energy tally (what decides the fast route)
  odar_features features{};                      ///< the router's inputs
};

template <class AnswerKey>
class basic_odar;

namespace detail {
/// The fitter's access to a run with its route forced (every route's outcome on a calibration problem).
struct odar_forced_route {
  template <class AnswerKey, class F, class S>
  static result<odar_result> run(const basic_odar<AnswerKey>& od, F& fast, S& slow, const problem& p, const budget& limit,
                                 const random_stream& stream, odar_route route) {
    return od.run_routed(fast, slow, p, limit, stream, route);
  }
};
} // namespace detail

/// ODAR's difficulty router over a fast and a slow agent.
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class AnswerKey>
class basic_odar {
public:
  using params_type = odar_params;

  basic_odar() = default;
  explicit basic_odar(odar_params params, AnswerKey key = {}) : params_(std::move(params)), key_(std::move(key)) {}

  /// Runs the fast agent's probe only (what the router sees), with its own metering into `cost`.
  /// @returns the probe, or invalid_argument (bad params), budget_exhausted, engine_failure, or the agent's error
  template <class F>
    requires sampling_model<F> && logprob_model<F>
  result<odar_probe> probe(F& fast, const problem& p, const budget& limit, const random_stream& stream,
                           ledger* cost = nullptr) const {
    return detail::checked_run("odar", [&] { return check(); }, [&]() -> result<odar_probe> {
      metered<F&> m(fast);
      strategy_result log;
      auto out = probe_with(m, p, limit, stream, log);
      if (cost) *cost = m.ledger();
      return out;
    });
  }

  /// Routes one problem: fast probe, difficulty, then fast only / verify / slow best-of-slow_n.
  /// The one budget covers both agents together: every call of either (probes, verification,
  /// slow samples) is checked against what both have spent.
  /// @returns the result (confidence: the leader's share of the tally that decided; see the
  ///          header), or invalid_argument (bad params), budget_exhausted (no probe affordable),
  ///          engine_failure (missing or bad logprobs), or an agent's error.
  template <class F, class S>
    requires sampling_model<F> && logprob_model<F> && sampling_model<S> && logprob_model<S>
  result<odar_result> run(F& fast, S& slow, const problem& p, const budget& limit, const random_stream& stream) const {
    return run_routed(fast, slow, p, limit, stream, std::nullopt);
  }

  [[nodiscard]] const odar_params& params() const noexcept { return params_; }

private:
  friend struct detail::odar_forced_route;

  template <class F, class S>
  result<odar_result> run_routed(F& fast, S& slow, const problem& p, const budget& limit, const random_stream& stream,
                                 std::optional<odar_route> forced) const {
    return detail::checked_run("odar", [&] { return check(); }, [&]() -> result<odar_result> {
      metered<F&> fm(fast);
      metered<S&> sm(slow);
      odar_result out;
      auto pr = probe_with(fm, p, limit, stream, out);
      if (!pr) return pr.error();
      out.features = pr->features;
      out.difficulty = params_.router.fitted() ? params_.router.predict(pr->features.vector()) : pr->features.disagreement;
      out.route = forced ? *forced
                  : out.difficulty >= params_.high ? odar_route::slow
                  : out.difficulty >= params_.low  ? odar_route::verified
                                                   : odar_route::fast;
      // The fast route's decision; it also stands when the budget leaves no slow sample.
      out.answer = pr->answer;
      out.tally = pr->tally;
      out.fast_accepted = true;
      const random_stream slow_stream = detail::salted_stream(stream, 0x534C4F57);
      // The slow agent may spend only what the fast agent left: one budget for the run.
      detail::sampling_rounds<S> rounds(sm, p, detail::with_stats(params_.slow_sampling),
                                        detail::remaining_budget(limit, fm.ledger()), slow_stream);
      std::vector<completion> slow_samples;
      if (out.route == odar_route::verified) {
        if (auto ok = verify(rounds, slow_samples, pr->answer, out); !ok) return ok.error();
      } else if (out.route == odar_route::slow) {
        if (auto ok = detail::draw_scored(rounds, params_.slow_n, slow_samples, out); !ok) return ok.error();
        std::vector<std::optional<std::string>> answers;
        std::vector<std::optional<double>> energies;
        if (params_.fuse_probes) {
          answers = pr->answers;
          energies = pr->energies;
        }
        auto slow_energies = detail::energies_of(slow_samples, params_.energy);
        if (!slow_energies) return slow_energies.error();
        for (std::size_t i = 0; i < slow_samples.size(); ++i) {
          answers.push_back(key_(slow_samples[i]));
          energies.push_back((*slow_energies)[i]);
        }
        if (!slow_samples.empty()) {
          fusion_outcome fused = fuse_free_energy(answers, energies, params_.vote);
          out.tally = std::move(fused.tally);
          out.answer = std::move(fused.answer);
          out.fast_accepted = false;
        } else {
          out.trace.push_back(trace_event{1, "slow route: the budget allowed no slow sample; the fast answer stands"});
        }
      }
      out.confidence = out.tally.leader() ? out.tally.leader()->share : 0.0;
      out.samples = static_cast<std::uint32_t>(pr->samples.size() + slow_samples.size());
      out.stopped_by = rounds.stopped_by();
      out.fast_cost = fm.ledger();
      out.slow_cost = sm.ledger();
      out.cost = fm.ledger() + sm.ledger();
      out.weighted_tokens = detail::cost_per_token_of(fast) * static_cast<double>(fm.ledger().total_tokens()) +
                            detail::cost_per_token_of(slow) * static_cast<double>(sm.ledger().total_tokens());
      out.trace.push_back(trace_event{2, fmt::format("d = {:.3f} (low {:.3f}, high {:.3f}): route {}", out.difficulty,
                                                     params_.low, params_.high,
                                                     out.route == odar_route::fast       ? "fast"
                                                     : out.route == odar_route::verified ? "verify"
                                                                                         : "slow")});
      return out;
    });
  }

  // The verify route: slow samples one at a time; an answer is adopted once verify_votes of them
  // give it and they are a strict majority of those drawn. The fast answer is not a vote: wrong
  // answers cluster, so one agreeing slow sample is weak evidence (issue 13 item 20).
  template <class S>
  result<void> verify(detail::sampling_rounds<S>& rounds, std::vector<completion>& slow_samples,
                      const std::optional<std::string>& fast_answer, odar_result& out) const {
    vote_counter votes;
    std::optional<std::string> adopted;
    while (!adopted && slow_samples.size() < params_.slow_n) {
      const std::size_t before = slow_samples.size();
      if (auto ok = detail::draw_scored(rounds, 1, slow_samples, out); !ok) return ok.error();
      if (slow_samples.size() == before) break;
      const auto a = key_(slow_samples.back());
      votes.add(a ? std::optional<std::string_view>(*a) : std::nullopt);
      const vote_tally t = votes.tally(params_.vote);
      if (const answer_tally* lead = t.leader();
          lead && lead->count >= params_.verify_votes && 2 * lead->count > slow_samples.size())
        adopted = lead->answer;
    }
    if (slow_samples.empty()) {
      out.trace.push_back(trace_event{1, "verify: the budget allowed no slow sample; the fast answer stands"});
      return {};
    }
    if (adopted) {
      out.tally = votes.tally(params_.vote);
      out.fast_accepted = adopted == fast_answer;
      out.answer = std::move(adopted);
      out.trace.push_back(trace_event{1, fmt::format("verify: {} of {} slow samples agree on {}", out.tally.leader()->count,
                                                     slow_samples.size(),
                                                     out.fast_accepted ? "the fast answer" : "another answer than the fast one")});
      return {};
    }
    auto energies = detail::energies_of(slow_samples, params_.energy);
    if (!energies) return energies.error();
    std::vector<std::optional<std::string>> answers;
    for (const auto& c : slow_samples) answers.push_back(key_(c));
    fusion_outcome fused = fuse_free_energy(answers, *energies, params_.vote);
    out.tally = std::move(fused.tally);
    out.fast_accepted = fused.answer == fast_answer;
    out.answer = std::move(fused.answer);
    out.trace.push_back(trace_event{1, fmt::format("verify: no answer met the rule in {} slow samples; fused by free energy",
                                                   slow_samples.size())});
    return {};
  }

  [[nodiscard]] result<void> check() const {
    if (params_.probe == 0) return fail(errc::invalid_argument, "odar: probe must be > 0");
    if (params_.slow_n == 0) return fail(errc::invalid_argument, "odar: slow_n must be > 0");
    if (params_.verify_votes == 0) return fail(errc::invalid_argument, "odar: verify_votes must be > 0");
    if (!(params_.low >= 0.0 && params_.low <= params_.high && params_.high <= 1.0))
      return fail(errc::invalid_argument, "odar: need 0 <= low <= high <= 1");
    if (!std::isfinite(params_.energy.lambda) || params_.energy.lambda < 0.0)
      return fail(errc::invalid_argument, "odar: lambda must be finite and >= 0");
    if (params_.router.fitted() && (params_.router.mean.size() != odar_features::size ||
                                    params_.router.weights.size() != odar_features::size + 1 ||
                                    params_.router.scale.size() != odar_features::size))
      return fail(errc::invalid_argument, "odar: the router was fitted on another number of features");
    if (auto ok = validate(params_.fast_sampling); !ok) return ok.error();
    return validate(params_.slow_sampling);
  }

  template <class F>
  result<odar_probe> probe_with(metered<F&>& m, const problem& p, const budget& limit, const random_stream& stream,
                                strategy_result& log) const {
    detail::sampling_rounds<F> rounds(m, p, detail::with_stats(params_.fast_sampling), limit, stream);
    odar_probe out;
    if (auto ok = detail::draw_scored(rounds, params_.probe, out.samples, log); !ok) return ok.error();
    if (out.samples.empty()) return detail::nothing_affordable(rounds.stopped_by());
    auto energies = detail::energies_of(out.samples, params_.energy);
    if (!energies) return energies.error();
    out.energies = std::move(*energies);
    vote_counter votes;
    double surprisal = 0, entropy = 0, varentropy = 0, tokens = 0;
    for (const auto& c : out.samples) {
      out.answers.push_back(key_(c));
      votes.add(out.answers.back() ? std::optional<std::string_view>(*out.answers.back()) : std::nullopt);
      auto mean_of = [](const std::vector<float>& v) {
        double s = 0;
        for (const float x : v) s += static_cast<double>(x);
        return v.empty() ? 0.0 : s / static_cast<double>(v.size());
      };
      surprisal -= mean_of(c.stats.logprob);
      entropy += mean_of(c.stats.entropy);
      varentropy += mean_of(c.stats.varentropy);
      tokens += c.tokens;
    }
    const double k = static_cast<double>(out.samples.size());
    const vote_tally tally = votes.tally(params_.vote);
    out.features.disagreement = 1.0 - (tally.leader() ? static_cast<double>(tally.leader()->count) / k : 0.0);
    out.features.surprisal = surprisal / k;
    out.features.entropy = entropy / k;
    out.features.varentropy = varentropy / k;
    out.features.log_tokens = std::log1p(tokens / k);
    out.features.log_prompt = std::log1p(static_cast<double>(p.prompt.size()));
    fusion_outcome fused = fuse_free_energy(out.answers, out.energies, params_.vote);
    out.answer = std::move(fused.answer);
    out.tally = std::move(fused.tally);
    return out;
  }

  odar_params params_{};
  AnswerKey key_{};
};

/// The ODAR router with canonical answers.
using odar = basic_odar<>;

// ---- calibration -------------------------------------------------------------------------------

/// What fit_odar_router fits for, and on what.
struct odar_fit_params {
  odar_params base{};        ///< probe, slow_n, verify_votes, sampling, energy, vote (router, low and high are fitted)
  double cost_weight = 0.25; ///< lambda of the target: maximise accuracy - lambda * cost / (always-slow cost) (>= 0)
  double ridge = 1e-2;       ///< the logistic fit's L2 penalty
  std::uint64_t seed = 1;    ///< the calibration runs' seed (stream (seed, problem id))
};

/// A fitted ODAR router with its calibration figures (all measured on the calibration problems).
struct odar_fit {
  odar_params params{};          ///< base with the fitted router, low and high
  double accuracy = 0;           ///< accuracy at the fitted thresholds
  double cost_share = 0;         ///< cost-weighted tokens at the fitted thresholds / the always-slow route's
  double slow_accuracy = 0;      ///< accuracy of the always-slow route (every problem to slow best-of-slow_n)
  double fast_accuracy = 0;      ///< accuracy of the always-fast route (the probes alone)
  double objective = 0;          ///< accuracy - cost_weight * cost_share at the fitted thresholds
  std::uint32_t routed[3] = {0, 0, 0}; ///< calibration problems per route (fast, verified, slow)
};

/// Fits ODAR on calibration problems: (1) the difficulty model, by IRLS on the fast probes'
/// features, labelled 1 where the probes' answer is wrong; (2) the thresholds: every calibration
/// problem is run on each of the three routes (same seeds, so each route's outcome is what a run
/// routed there returns), then (low, high) is the exact maximiser of accuracy - cost_weight *
/// cost_share over every split of the problems sorted by d (cost_share: cost-weighted tokens over
/// the always-slow route's). Ties go to the cheaper split. In-sample: both fits use the same problems.
/// @param problems a range of items with `.task` (a problem) and `.gold` (its answer text), e.g.
///                 reckon::calibration_problem
/// @returns the fit, or invalid_argument (fewer than 2 problems, bad params or cost_weight), or a
///          run's error
template <class AnswerKey = canonical_answer_key, class F, class S, class Problems>
  requires sampling_model<F> && logprob_model<F> && sampling_model<S> && logprob_model<S>
result<odar_fit> fit_odar_router(F& fast, S& slow, const Problems& problems, const odar_fit_params& fit,
                                 AnswerKey key = {}) {
  return detail::guarded_run("fit_odar_router", [&]() -> result<odar_fit> {
    if (!std::isfinite(fit.cost_weight) || fit.cost_weight < 0.0)
      return fail(errc::invalid_argument, "fit_odar_router: cost_weight must be finite and >= 0");
    const std::size_t n = static_cast<std::size_t>(std::distance(std::begin(problems), std::end(problems)));
    if (n < 2) return fail(errc::invalid_argument, "fit_odar_router: need at least 2 calibration problems");
    odar_params params = fit.base;
    params.router = {};
    const basic_odar<AnswerKey> prober(params, key);
    auto right = [](const std::optional<std::string>& a, const std::string& gold) { return a && answers_equal(*a, gold); };
    Eigen::MatrixXd x(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(odar_features::size));
    std::vector<int> wrong;
    std::size_t i = 0;
    for (const auto& q : problems) {
      auto pr = prober.probe(fast, q.task, budget{}, random_stream(stream_key{fit.seed, q.task.id, 0, 0}));
      if (!pr) return pr.error();
      x.row(static_cast<Eigen::Index>(i++)) = pr->features.vector().transpose();
      wrong.push_back(right(pr->answer, q.gold) ? 0 : 1);
    }
    auto router = fit_difficulty_model(x, wrong, fit.ridge);
    if (!router) return router.error();
    params.router = std::move(*router);
    // Each problem's outcome on each route: correct (0/1) and cost-weighted tokens.
    const basic_odar<AnswerKey> od(params, key);
    struct outcome {
      double d = 0;
      double correct[3] = {0, 0, 0};
      double cost[3] = {0, 0, 0};
    };
    std::vector<outcome> rows;
    for (const auto& q : problems) {
      outcome o;
      const random_stream stream(stream_key{fit.seed, q.task.id, 0, 0});
      for (const odar_route r : {odar_route::fast, odar_route::verified, odar_route::slow}) {
        auto got = detail::odar_forced_route::run(od, fast, slow, q.task, budget{}, stream, r);
        if (!got) return got.error();
        const auto ri = static_cast<std::size_t>(r);
        o.d = got->difficulty;
        o.correct[ri] = right(got->answer, q.gold) ? 1.0 : 0.0;
        o.cost[ri] = got->weighted_tokens;
      }
      rows.push_back(o);
    }
    std::sort(rows.begin(), rows.end(), [](const outcome& a, const outcome& b) { return a.d < b.d; });
    // prefix[r][k]: the sum over the k lowest-d problems of route r's correct / cost.
    std::vector<double> acc[3], cost[3];
    for (std::size_t r = 0; r < 3; ++r) {
      acc[r].assign(n + 1, 0.0);
      cost[r].assign(n + 1, 0.0);
      for (std::size_t k = 0; k < n; ++k) {
        acc[r][k + 1] = acc[r][k] + rows[k].correct[r];
        cost[r][k + 1] = cost[r][k] + rows[k].cost[r];
      }
    }
    const double slow_cost = cost[2][n] > 0 ? cost[2][n] : 1.0;
    // Cut k puts the k lowest-d problems below it; a cut between equal d values cannot be drawn.
    auto cut_ok = [&](std::size_t k) { return k == 0 || k == n || rows[k - 1].d < rows[k].d; };
    auto cut_value = [&](std::size_t k) {
      if (k == 0) return 0.0;
      if (k == n) return 1.0;
      return 0.5 * (rows[k - 1].d + rows[k].d);
    };
    double best = -std::numeric_limits<double>::infinity(), best_cost = 0;
    std::size_t lo = 0, hi = 0;
    for (std::size_t a = 0; a <= n; ++a) {
      if (!cut_ok(a)) continue;
      for (std::size_t b = a; b <= n; ++b) {
        if (!cut_ok(b)) continue;
        const double correct = acc[0][a] + (acc[1][b] - acc[1][a]) + (acc[2][n] - acc[2][b]);
        const double spent = cost[0][a] + (cost[1][b] - cost[1][a]) + (cost[2][n] - cost[2][b]);
        const double value = correct / static_cast<double>(n) - fit.cost_weight * spent / slow_cost;
        if (value > best + 1e-12 || (value > best - 1e-12 && spent < best_cost)) {
          best = value;
          best_cost = spent;
          lo = a;
          hi = b;
        }
      }
    }
    params.low = cut_value(lo);
    params.high = cut_value(hi);
    odar_fit out;
    out.params = std::move(params);
    // The figures at the chosen thresholds, routed as run() routes (d against low and high).
    double correct = 0, spent = 0;
    for (const auto& o : rows) {
      const std::size_t r = o.d >= out.params.high ? 2 : o.d >= out.params.low ? 1 : 0;
      correct += o.correct[r];
      spent += o.cost[r];
      ++out.routed[r];
    }
    out.accuracy = correct / static_cast<double>(n);
    out.cost_share = spent / slow_cost;
    out.slow_accuracy = acc[2][n] / static_cast<double>(n);
    out.fast_accuracy = acc[0][n] / static_cast<double>(n);
    out.objective = out.accuracy - fit.cost_weight * out.cost_share;
    return out;
  });
}

} // namespace reckon
