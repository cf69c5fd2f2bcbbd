// SPDX-License-Identifier: Apache-2.0
// ODAR: free-energy fusion of heterogeneous candidates, and difficulty routing between a fast and a slow agent.
#pragma once

// Algorithm (Ma et al. 2026, ODAR): (1) fusion: per candidate y with token surprisals s_t = -log p,
// F(y) = mean_t s_t + lambda * Var_t(s_t) ("path" varentropy), or mean_t s_t + lambda * mean_t VE_t
// when the candidate carries distribution varentropy; clusters F(a) = -log sum_{y in a} exp(-F(y));
// pick argmin. (2) routing: the fast agent draws `probe` samples; a logistic difficulty estimator d
// (fitted offline by IRLS, fit_difficulty_model) reads their disagreement, surprisal, entropy,
// varentropy, length and the prompt length; d < low: the fast answer; low <= d < high: one slow
// sample verifies it; d >= high: the slow agent's best-of-slow_n fused by free energy.
// Cost: 1 fast call (probe samples) plus 0, 1 or 1-2 slow calls (1 or slow_n samples).
// Deviations (the paper's lambda, features and verify rule are not public): lambda = 0.5; a
// rejected verification draws more slow samples until some answer has two sources (the fast answer
// or a slow sample; at most slow_n, else the slow samples fused by F); `escalate` sends it to the
// slow route instead, `confirm = false` lets the first slow answer win; the slow route fuses the slow samples alone (`fuse_probes` adds the fast probes, as the
// paper does: on the synthetic agents, whose wrong answers cluster, that cost 5-7 points of accuracy);
// an unfitted router (no weights) uses d = the probes' disagreement.
// Mixed agents: strategy_result::cost is the sum of both agents' ledgers (tokens as generated, peaks
// the larger, since the agents run one after the other); odar_result keeps each ledger and the
// cost-weighted tokens sum_agents cost_per_token * total_tokens.

#include <reckon/aggregate/vote.hpp>
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
#include <reckon/strategy/detail/sampling_rounds.hpp>
#include <reckon/strategy/result.hpp>

#include <Eigen/Cholesky>
#include <Eigen/Core>
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
    if (params_.n == 0) return fail(errc::invalid_argument, "free_energy_fusion: n must be > 0");
    if (!std::isfinite(params_.energy.lambda) || params_.energy.lambda < 0.0)
      return fail(errc::invalid_argument, "free_energy_fusion: lambda must be finite and >= 0");
    if (auto ok = validate(params_.sampling); !ok) return ok.error();
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

  [[nodiscard]] const free_energy_fusion_params& params() const noexcept { return params_; }

private:
  free_energy_fusion_params params_{};
  AnswerKey key_{};
};

/// Free-energy fusion with canonical answers.
using free_energy_fusion = basic_free_energy_fusion<>;

/// Which route the ODAR router took.
enum class odar_route : std::uint8_t {
  fast,     ///< d < low: the fast agent's fused probe answer
  verified, ///< low <= d < high: the slow agent's one sample agreed with the fast answer
  slow,     ///< d >= high (or an escalated verification): slow best-of-slow_n, fused by free energy
};

/// Runtime numbers of the ODAR router.
struct odar_params {
  std::uint32_t probe = 3;          ///< fast samples that feed the features and the fast answer (> 0)
  std::uint32_t slow_n = 5;         ///< slow samples on the slow route (> 0)
  double low = 0.3;                 ///< d below this: fast only (in [0, high])
  double high = 0.7;                ///< d at or above this: slow best-of-slow_n (in [low, 1])
  bool escalate = false;            ///< a rejected verification escalates to the slow route (else the slow answer wins)
  bool confirm = true;              ///< (escalate off) a rejected verification samples the slow agent until an answer has two sources (at most slow_n), else the first slow answer wins
  bool fuse_probes = false;         ///< the slow route fuses the fast probes with the slow samples (else the slow samples alone)
  sampling_params fast_sampling{};  ///< the fast agent's requests (logprobs and entropy requested on top)
  sampling_params slow_sampling{};  ///< the slow agent's requests (logprobs and entropy requested on top)
  free_energy_params energy{};      ///< the fusion's lambda
  difficulty_model router{};        ///< the fitted difficulty estimator (unfitted: d = disagreement)
  vote_params vote{};               ///< tie-break between clusters of equal energy
};

/// What ODAR returns: the strategy result plus each agent's ledger and the route.
struct odar_result : strategy_result {
  ledger fast_cost{};          ///< what the fast agent spent
  ledger slow_cost{};          ///< what the slow agent spent
  double weighted_tokens = 0;  ///< sum over agents of cost_per_token * total_tokens
  double difficulty = 0;       ///< the router's d
  odar_features features{};    ///< the features d was computed from
  odar_route route = odar_route::fast; ///< the route taken
};

/// The fast agent's probe of a problem: its samples, answer and features (calibration and routing).
struct odar_probe {
  std::vector<completion> samples;               ///< the probe samples
  std::vector<std::optional<std::string>> answers; ///< their canonical answers
  std::vector<std::optional<double>> energies;   ///< their free energies
  std::optional<std::string> answer;             ///< the probes' fused answer
  odar_features features{};                      ///< the router's inputs
};

/// ODAR's difficulty router over a fast and a slow agent.
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class AnswerKey>
class basic_odar {
public:
  using params_type = odar_params;

  basic_odar() = default;
  explicit basic_odar(odar_params params, AnswerKey key = {}) : params_(std::move(params)), key_(std::move(key)) {}

  /// Runs the fast agent's probe only (what the router sees), with its own metering into `cost`.
  template <class F>
    requires sampling_model<F> && logprob_model<F>
  result<odar_probe> probe(F& fast, const problem& p, const budget& limit, const random_stream& stream,
                           ledger* cost = nullptr) const {
    if (auto ok = check(); !ok) return ok.error();
    metered<F&> m(fast);
    strategy_result log;
    auto out = probe_with(m, p, limit, stream, log);
    if (cost) *cost = m.ledger();
    return out;
  }

  /// Routes one problem: fast probe, difficulty, then fast only / verify / slow best-of-slow_n.
  /// The budget covers both agents together (tokens and calls of both add up).
  /// @returns the result, or invalid_argument (bad params), budget_exhausted (no probe
  ///          affordable), engine_failure (missing or bad logprobs), or an agent's error.
  template <class F, class S>
    requires sampling_model<F> && logprob_model<F> && sampling_model<S> && logprob_model<S>
  result<odar_result> run(F& fast, S& slow, const problem& p, const budget& limit, const random_stream& stream) const {
    if (auto ok = check(); !ok) return ok.error();
    metered<F&> fm(fast);
    metered<S&> sm(slow);
    odar_result out;
    auto pr = probe_with(fm, p, limit, stream, out);
    if (!pr) return pr.error();
    out.features = pr->features;
    try {
      out.difficulty = params_.router.fitted() ? params_.router.predict(pr->features.vector()) : pr->features.disagreement;
    } catch (const reckon::exception& e) {
      return e.error();
    }
    std::vector<completion> pool = std::move(pr->samples);
    std::vector<std::optional<std::string>> answers = std::move(pr->answers);
    std::vector<std::optional<double>> energies = std::move(pr->energies);
    out.answer = pr->answer;
    out.route = odar_route::fast;
    const random_stream slow_stream = detail::salted_stream(stream, 0x534C4F57);
    const sampling_params slow_params = detail::with_stats(params_.slow_sampling);
    const budget slow_limit = detail::remaining_budget(limit, fm.ledger());
    detail::sampling_rounds<S> rounds(sm, p, slow_params, slow_limit, slow_stream);
    std::vector<completion> slow_samples;
    bool go_slow = out.difficulty >= params_.high;
    if (!go_slow && out.difficulty >= params_.low) {
      if (auto ok = detail::draw_scored(rounds, 1, slow_samples, out); !ok) return ok.error();
      if (!slow_samples.empty()) {
        const auto verdict = key_(slow_samples.front());
        if (verdict == out.answer) {
          out.route = odar_route::verified;
          out.trace.push_back(trace_event{1, "verified: the slow agent agrees"});
        } else if (params_.escalate) {
          go_slow = true;
          out.trace.push_back(trace_event{1, "verification rejected: escalating to the slow agent"});
        } else if (params_.confirm) {
          // Sample the slow agent until some answer has two sources (the fast answer or slow samples).
          out.route = odar_route::verified;
          std::vector<std::optional<std::string>> seen{out.answer, verdict};
          std::optional<std::string> agreed;
          while (!agreed && slow_samples.size() < params_.slow_n) {
            const std::size_t before = slow_samples.size();
            if (auto ok = detail::draw_scored(rounds, 1, slow_samples, out); !ok) return ok.error();
            if (slow_samples.size() == before) break;
            const auto next = key_(slow_samples.back());
            for (const auto& a : seen)
              if (next && a == next) agreed = next;
            seen.push_back(next);
          }
          if (agreed) {
            out.answer = agreed;
            out.trace.push_back(trace_event{1, fmt::format("verification rejected: confirmed by {} slow samples", slow_samples.size())});
          } else {
            auto slow_energies = detail::energies_of(slow_samples, params_.energy);
            if (!slow_energies) return slow_energies.error();
            std::vector<std::optional<std::string>> slow_answers;
            for (const auto& c : slow_samples) slow_answers.push_back(key_(c));
            out.answer = fuse_free_energy(slow_answers, *slow_energies, params_.vote).answer;
            out.trace.push_back(trace_event{1, "verification rejected, nothing confirmed: slow samples fused"});
          }
        } else {
          out.route = odar_route::verified;
          out.answer = verdict;
          out.trace.push_back(trace_event{1, "verification rejected: the slow answer wins"});
        }
      }
    }
    if (go_slow) {
      out.route = odar_route::slow;
      const auto more = params_.slow_n - std::min<std::uint32_t>(params_.slow_n, static_cast<std::uint32_t>(slow_samples.size()));
      if (auto ok = detail::draw_scored(rounds, more, slow_samples, out); !ok) return ok.error();
      auto slow_energies = detail::energies_of(slow_samples, params_.energy);
      if (!slow_energies) return slow_energies.error();
      if (!params_.fuse_probes) {
        answers.clear();
        energies.clear();
      }
      for (std::size_t i = 0; i < slow_samples.size(); ++i) {
        answers.push_back(key_(slow_samples[i]));
        energies.push_back((*slow_energies)[i]);
      }
      fusion_outcome fused = fuse_free_energy(answers, energies, params_.vote);
      out.tally = std::move(fused.tally);
      out.answer = std::move(fused.answer);
    }
    out.confidence = 1.0 - out.difficulty;
    for (auto& c : slow_samples) pool.push_back(std::move(c));
    out.samples = static_cast<std::uint32_t>(pool.size());
    out.stopped_by = rounds.stopped_by();
    out.fast_cost = fm.ledger();
    out.slow_cost = sm.ledger();
    out.cost = fm.ledger() + sm.ledger();
    out.weighted_tokens = detail::cost_per_token_of(fast) * static_cast<double>(fm.ledger().total_tokens()) +
                          detail::cost_per_token_of(slow) * static_cast<double>(sm.ledger().total_tokens());
    out.trace.push_back(trace_event{2, fmt::format("d = {:.3f}: route {}", out.difficulty,
                                                   out.route == odar_route::fast       ? "fast"
                                                   : out.route == odar_route::verified ? "verified"
                                                                                       : "slow")});
    return out;
  }

  [[nodiscard]] const odar_params& params() const noexcept { return params_; }

private:
  [[nodiscard]] result<void> check() const {
    if (params_.probe == 0) return fail(errc::invalid_argument, "odar: probe must be > 0");
    if (params_.slow_n == 0) return fail(errc::invalid_argument, "odar: slow_n must be > 0");
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
    out.answer = fused.answer;
    log.tally = std::move(fused.tally);
    return out;
  }

  odar_params params_{};
  AnswerKey key_{};
};

/// The ODAR router with canonical answers.
using odar = basic_odar<>;

} // namespace reckon
