// SPDX-License-Identifier: Apache-2.0
// The synthetic reasoning model: a deterministic generative process behind every capability concept.
#pragma once

// The generative process, for a problem of difficulty d with K steps (see suite.hpp):
// - each step is wrong with probability e(d) = agent.error_scale * (step_error_min +
//   (step_error_max - step_error_min) * d), capped at 0.95; a trap step (suite.hpp) is wrong with
//   probability max(e, 1 - trap_solve) and its error leads to distractor 0; the first error is
//   absorbing: the final answer becomes a distractor drawn from the problem's skewed distractor
//   weights (so wrong answers cluster and a vote can converge on a wrong answer); with no error the
//   final answer is the gold;
// - path length (paths): a correct path ends after L steps, L uniform on [lo, hi] = K (1 -/+
//   length_jitter) rounded (a hazard drawn at each step, so copies of one prefix end apart); a
//   wrong path rambles, hi grows by wrong_extra_steps * K, and each step from its first error on it
//   may stop at once with a confident wrong answer (probability wrong_stop; that step carries no
//   error effect in its token statistics);
// - a step has round(mu * agent.token_scale * U[1 - spread, 1 + spread]) tokens (>= 1), times
//   error_length_factor once the solution is wrong;
// - every draw of a step is keyed by the path's own prefix (paths.per_path: its hash mixes the
//   seeds of every step so far), so two paths at the same step with the same seed still diverge;
// - per token, the next-token distribution is geometric, p(v) = (1 - q) q^v, with logit(q) ~
//   N(confidence_logit + step shift + agent shift, confidence_sd) while correct and shifted by
//   +error_effect * confidence_sd after the first error; the agent shift, agent_effect *
//   confidence_sd * log2(agent.error_scale), makes an agent that errs more also less sure, so
//   confidence carries a signal across agents (ODAR's fusion, DeepConf); entropy, varentropy, the
//   chosen token and top-k logprobs follow exactly;
// - the PRM scores a prefix sigmoid(mu + noise * z), mu = bias - difficulty_shift * d +/- s(d) *
//   noise / 2 (+ while the prefix is still correct, - once it holds an error), with the separation
//   falling with difficulty, s(d) = separation * max(0, 1 - separation_decay * d), z ~ N(0, 1)
//   keyed by the prefix and AR(1)-correlated along a path (step_correlation: successive steps are
//   not independent looks), so the AUC of correct vs incorrect prefixes is Phi(s(d) / sqrt 2); a
//   trap's error looks correct to it on a problem it misjudges (trap_misjudge, drawn per problem);
//   the ORM does the same on the finished solution;
// - the ZIP-RC head is the joint of (final correctness x remaining tokens) under this process: by
//   default its P(correct) sees the prefix only as well as the PRM does (the PRM-quality score of the
//   prefix times P(no later error)); `head.oracle` makes it exact; optionally miscalibrated; the reviser fixes the first wrong step with probability fix (the rest
//   is regenerated), or breaks a correct solution with probability break_correct;
// - effort (SCALE): a step asked with step_params::effort = deliberate is taken with the error and
//   token scales of `deliberate` (slow_agent(): half the errors, 1.5x the tokens) in place of the
//   agent's, for that step alone (its token statistics' agent shift too); standard steps are as
//   before, draw for draw;
// - self-rating (SCALE's difficulty assessment): a step's true difficulty is the problem's d, and 1
//   for the trap step when the model sees its trap (probability rating.trap_seen, one draw per
//   problem: a blind spot, not noise); the rating is clamp(true + rating.noise * z, 0, 1), z ~ N(0, 1)
//   keyed by the caller's seed and the problem (rate_plan, up front) or the sequence's prefix
//   (rate_next). The in-context rating is given no more information than the up-front one (the
//   prefix's correctness stays hidden from it), so the two differ only in their draws;
// - embeddings (ETS's semantic clusters): a text's meaning is what its last tag says of where the
//   path stands (the step index, still correct or wrong and heading to distractor j; the state
//   unmasked with the prefix hash, as the reward models read it) together with its words besides
//   the tags (a step that states an answer, and which, is not one that reasons on; a cut-off step
//   is neither). The problem itself is not in a step's text, so steps of two problems that agree
//   on all of that share a meaning; a search embeds one problem's steps. A meaning has a unit
//   direction u (dimension D, keyed by the meaning); a text's vector is u + noise * g / sqrt(D),
//   g ~ N(0, I) keyed by a hash of the whole text. Two texts of one meaning: each vector's squared
//   norm is about 1 + noise^2 and their noise components across u are what sets them apart, so
//   their cosine is about 1 / (1 + noise^2) and, to leading order, their cosine distance is
//   noise^2 X / (D (1 + noise^2)) with X ~ chi^2(D - 1): P(distance <= c) ~
//   F_chi2(D-1)(c D (1 + noise^2) / noise^2). Texts of different meanings are near-orthogonal
//   (cosine ~ N(0, 1 / D)). A text without a tag gets a direction keyed by its whole text, no
//   noise. Each row depends on its own text only.
// All randomness comes from reckon::random_stream keyed by (seed, prefix or problem, channel, step),
// where the seed is the per-request or per-sequence seed the strategy hands in: results do not
// depend on batch composition, call order or thread count. Step texts carry a tag
// "<s:K:T:HHHHHHHHHHHHHHHH:SSSS>" (letters a-p for hex digits: no digit a number extractor could read)
// that the reward models and the reviser read, so they are stateless; its state field is masked by a
// pad derived from the prefix hash, so a strategy cannot read a prefix's correctness off its text.
//
// Sources of the `standard` parameters (priors, fixed before any strategy ran on this model):
// - separation_decay 0.5: ProcessBench (Zheng et al. 2024, arXiv 2412.06559, Table 3) reports PRM
//   error-identification F1 falling from GSM8K to MATH to OlympiadBench to Omni-MATH (Qwen2.5-Math-
//   7B-PRM800K: 68.2, 62.6, 50.7, 44.3): the hardest set keeps about two thirds of the easiest's F1;
//   halving d' from difficulty 0 to 1 is of that size (the F1-to-d' map is not fitted);
// - length_jitter 0.25, wrong_extra_steps 0.5, wrong_stop 0.1, error_length_factor 1.25: Hassid et
//   al. 2025 ("Don't Overthink It", short-m@k) and "Think Deep, Think Fast" report correct chains
//   shorter than wrong ones; the sizes are a prior;
// - agent_effect 0.5 (an agent that errs twice as often is half an SD less sure per token; fast vs
//   slow agent: 0.84 SD): a prior, no measured value exists;
// - trap_misjudge 0.5 (PRM) and 0.3 (ORM): a prior; traps themselves: suite.hpp;
// - rating noise 0.15 and trap_seen 0.5 (SCALE's self-rating): a prior; the paper reports no
//   accuracy of its ratings, only that they sort steps well enough for tau = 0.2-0.5 to help;
// - deliberate = slow_agent(): SCALE's System 2 is the same model thinking, taken to err as the
//   slow agent does and write as long (thinking traces are several times longer on AIME; 1.5x is
//   the slow agent's prior, not a measurement);
// - embedding dimension 64 and noise 0.2: a prior, not fitted to make any strategy win (a round
//   figure chosen before any ETS run). It puts two steps of one meaning within ETS's cut (cosine
//   distance 0.05) F_chi2(63)(83.2) = 95.5% of the time by the law above (96.2% of 1000 pairs of
//   real steps, synthetic_embed_test.cpp), so at the cut one meaning is one cluster with rare
//   stragglers; ETS's encoder (a math-similarity sentence transformer) has no published figure for
//   two wordings of one step.
// `lenient_params()` (and lenient_suite_params()) set every one of these to the pre-issue-14 process.

#include <reckon/concepts/embedding_model.hpp>
#include <reckon/concepts/introspective_model.hpp>
#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/reviser.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/self_rating_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/detail/xtensor.hpp>
#include <reckon/numerics/sample_row.hpp>
#include <reckon/numerics/token_stats.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/testing/suite.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace reckon::testing {

/// Quality of a synthetic reward model (PRM or ORM), stated in logit space.
struct reward_params {
  double separation = 1.0;       ///< d': gap between correct and incorrect means in noise SDs; AUC = Phi(d'/sqrt 2) (0: random)
  double noise = 1.0;            ///< SD of the score in logit space (> 0)
  double bias = 0.0;             ///< logit offset of every score (calibration)
  double difficulty_shift = 0.5; ///< logit lowered by this times the difficulty (harder problems look worse)
  double step_correlation = 0.7; ///< PRM only: correlation of successive steps' noise along a path (AR(1)), in [0, 1)
  std::uint64_t seed = 0x52574D;  ///< keys the scores' noise (the same prefix always gets the same score)
  double separation_decay = 0.5;  ///< separation at difficulty d is separation * max(0, 1 - decay * d) (>= 0)
  double trap_misjudge = 0.5;     ///< probability, per problem, that a trap's error looks correct to this model, in [0, 1]

  /// The separation at difficulty `d`.
  [[nodiscard]] double separation_at(double d) const noexcept {
    return separation * std::max(0.0, 1.0 - separation_decay * d);
  }
  /// The AUC these parameters give for telling a correct prefix from an incorrect one at difficulty
  /// `d` (traps aside).
  [[nodiscard]] double auc(double d = 0.0) const noexcept { return 0.5 * std::erfc(-separation_at(d) / 2.0); }
};

/// Token-statistics parameters: the geometric next-token distribution's confidence and its shift.
struct token_params {
  double confidence_logit = -2.0; ///< mean of logit(q) while correct (q = 1 - p(top token); lower is surer)
  double confidence_sd = 1.0;     ///< SD of logit(q) per token (> 0)
  double error_effect = 0.5;      ///< shift of logit(q) after the first error, in confidence_sd units (effect size)
  double step_sd = 2.0;           ///< SD of a per-step shift of logit(q), in confidence_sd units (steps differ in
                                  ///< how sure the model is, so a trace's confidence is a noisy signal: >= 0).
                                  ///< 2 makes DeepConf gain 4-6 points over majority at n = 32 on `mixed`, the
                                  ///< size of gain its paper reports; 0 would make confidence a near-oracle
  std::uint32_t vocab = 0;        ///< > 0: build a full logits row of this size per token; statistics via reckon::token_row_stats (k <= vocab)
  double agent_effect = 0.5;      ///< shift of logit(q) per doubling of agent.error_scale, in confidence_sd units (finite)
};

/// How long paths are (see the file comment).
struct path_params {
  double length_jitter = 0.25;    ///< a correct path's step count is uniform on K (1 -/+ jitter), rounded, in [0, 1)
  double wrong_extra_steps = 0.5; ///< a wrong path's longest step count grows by this times K (>= 0)
  double wrong_stop = 0.1;        ///< per step from the first error: the path stops at once with its wrong answer, in [0, 1]
  bool per_path = true;           ///< key every draw of a step by the path's prefix (false: by the problem, as before issue 14)
};

/// The ZIP-RC head: from the generative process, optionally miscalibrated.
struct introspection_params {
  bool oracle = false;            ///< true: P(correct) is exact (the head knows whether an error happened);
                                  ///< false (default): the head sees the prefix only as well as the PRM does:
                                  ///< P(correct) = PRM-quality score of the prefix x P(no later error)
  std::uint32_t length_bins = 8;  ///< B_T remaining-length bins (>= 1)
  double max_length = 1024.0;     ///< remaining tokens covered by the bins (the last bin takes the rest) (> 0)
  double temperature = 1.0;       ///< reported logit(p) = logit(p_exact) / temperature (1: calibrated; > 0)
  double bias = 0.0;              ///< added to the reported logit(p) (over/under-confidence)
  double noise = 0.0;             ///< SD of noise added to the reported logit(p), keyed by the prefix (>= 0)
};

/// The embedder (ETS's semantic clusters; see the file comment).
struct embedding_params {
  std::uint32_t dimension = 64;  ///< length of every vector, in [1, 65536]
  double noise = 0.2;            ///< a text's noise relative to its meaning's unit direction: per-coordinate SD
                                 ///< noise / sqrt(dimension), so the noise vector's RMS norm is noise (>= 0, finite)
  std::uint64_t seed = 0x454D42; ///< keys the meanings' directions and the texts' noise
};

/// The self-rating of steps (SCALE; see the file comment).
struct rating_params {
  double noise = 0.15;          ///< SD of a rating around the step's true difficulty (>= 0)
  double trap_seen = 0.5;       ///< probability, per problem, that the model rates its trap step as hard (1), in [0, 1]
  std::uint32_t tokens = 4;     ///< tokens one rating generates (a number: SCALE caps it at 64)
  std::uint64_t seed = 0x524154; ///< keys the per-problem trap draw
};

/// The reviser's skill.
struct reviser_params {
  double fix = 0.5;           ///< probability that a wrong solution's first wrong step is fixed (the rest regenerated)
  double break_correct = 0.1; ///< probability that a correct solution gets an error at a uniform step
  /// Each earlier attempt in a request's history multiplies the chance of NOT fixing by (1 - this),
  /// in [0, 1]. A prior, not a measurement: Snell et al. train their reviser on up to four earlier
  /// attempts because it learns from them (pass@1 rises with each revision, their Fig. 6), but no
  /// figure isolates the context's effect; 0.1 takes fix from 0.5 to 0.64 with three earlier attempts.
  double history_fix = 0.1;
};

/// An agent: how often it errs, how long it writes, what a token costs. fast_agent() and
/// slow_agent() are the two agents of heterogeneous strategies (ODAR).
struct agent_params {
  double error_scale = 1.0;    ///< multiplies the per-step error probability (> 0)
  double token_scale = 1.0;    ///< multiplies step token counts (> 0)
  double cost_per_token = 1.0; ///< relative cost of one token, reported by cost_per_token()
};

/// A fast agent: errs 1.6x as often, writes 0.6x the tokens, each token costs 0.25.
[[nodiscard]] inline agent_params fast_agent() { return agent_params{1.6, 0.6, 0.25}; }
/// A slow agent: errs half as often, writes 1.5x the tokens, each token costs 1.
[[nodiscard]] inline agent_params slow_agent() { return agent_params{0.5, 1.5, 1.0}; }

/// Every parameter of the synthetic model (see the file comment for the process they drive).
struct synthetic_params {
  double step_error_min = 0.01;       ///< per-step error probability at difficulty 0, in [0, 1]
  double step_error_max = 0.15;       ///< per-step error probability at difficulty 1, in [step_error_min, 1]
  double step_token_spread = 0.5;     ///< step tokens vary uniformly by +-spread around the mean, in [0, 1)
  double error_length_factor = 1.25;  ///< tokens of steps after the first error are multiplied by this (1: no effect; > 0)
  path_params paths{};                ///< path lengths and how draws are keyed
  agent_params agent{};               ///< error and length scales, cost per token
  token_params tokens{};              ///< token statistics
  reward_params prm{};                ///< process reward model quality
  reward_params orm{1.0, 1.0, 0.0, 0.5, 0.7, 0x4F524D, 0.5, 0.3}; ///< outcome reward model quality
  introspection_params head{};        ///< ZIP-RC head
  reviser_params revise{};            ///< reviser skill
  agent_params deliberate = slow_agent(); ///< error and token scales of a step asked with effort deliberate (cost_per_token unused: one model)
  rating_params rating{};             ///< self-rated difficulty of steps (SCALE)
  std::size_t capacity = 0;           ///< most live sequences (begin/fork fail with no_capacity beyond); 0: unlimited
  embedding_params embedding{};       ///< the embedder (ETS)
};

/// Every field of `p` as text: what a cache of fits made with this model keys on (two parameter
/// sets give one fingerprint exactly when they are equal).
[[nodiscard]] inline std::string fingerprint(const synthetic_params& p) {
  std::string out = fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|", p.step_error_min, p.step_error_max, p.step_token_spread,
                                p.error_length_factor, p.paths.length_jitter, p.paths.wrong_extra_steps, p.paths.wrong_stop,
                                p.paths.per_path, p.agent.error_scale, p.agent.token_scale, p.agent.cost_per_token);
  const token_params& t = p.tokens;
  out += fmt::format("{}|{}|{}|{}|{}|{}|", t.confidence_logit, t.confidence_sd, t.error_effect, t.step_sd, t.vocab, t.agent_effect);
  for (const reward_params* r : {&p.prm, &p.orm})
    out += fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|", r->separation, r->noise, r->bias, r->difficulty_shift, r->step_correlation,
                       r->seed, r->separation_decay, r->trap_misjudge);
  const introspection_params& h = p.head;
  out += fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", h.oracle, h.length_bins, h.max_length, h.temperature, h.bias, h.noise,
                     p.revise.fix, p.revise.break_correct, p.revise.history_fix, p.capacity);
  out += fmt::format("|{}|{}|{}|{}|{}|{}|{}", p.deliberate.error_scale, p.deliberate.token_scale, p.deliberate.cost_per_token,
                     p.rating.noise, p.rating.trap_seen, p.rating.tokens, p.rating.seed);
  out += fmt::format("|{}|{}|{}", p.embedding.dimension, p.embedding.noise, p.embedding.seed);
  return out;
}

/// The `calibrated-math` suite's fitted model parameters (the per-step error range and the ORM's
/// separation; everything else at the standard defaults): see calibrated_math_suite_params() in
/// suite.hpp for the source, the command and the fitted curves.
[[nodiscard]] inline synthetic_params calibrated_math_params() {
  synthetic_params p;
  p.step_error_min = 0.00015698426065425034;
  p.step_error_max = 0.2929791774451124;
  p.orm.separation = 1.6454174137343398;
  return p;
}

/// A "poor" PRM for tests of robustness: almost no separation (AUC ~ 0.53).
[[nodiscard]] inline reward_params poor_prm() { return reward_params{0.1, 1.0, 0.0, 0.0, 0.7, 0x52574D, 0.0, 0.0}; }

/// The `lenient` parameter set: the process before issue 14 (every path of a problem K steps long,
/// draws keyed by the problem, errors as long as correct steps, one confidence for every agent,
/// reward quality independent of difficulty, no trap misjudged). With lenient_suite_params() it
/// reproduces reckon's earlier figures.
[[nodiscard]] inline synthetic_params lenient_params() {
  synthetic_params p;
  p.error_length_factor = 1.0;
  p.paths = path_params{0.0, 0.0, 0.0, false};
  p.tokens.agent_effect = 0.0;
  for (reward_params* r : {&p.prm, &p.orm}) {
    r->separation_decay = 0.0;
    r->trap_misjudge = 0.0;
  }
  return p;
}

/// The model parameters a built-in suite is meant to run with under `set`: the fitted ones for
/// `calibrated-math`, else the standard or the lenient defaults.
[[nodiscard]] inline synthetic_params params_for(const suite& s, parameter_set set = parameter_set::standard) {
  synthetic_params p = set == parameter_set::lenient ? lenient_params() : synthetic_params{};
  if (s.name == "calibrated-math") {
    const synthetic_params c = calibrated_math_params();
    p.step_error_min = c.step_error_min;
    p.step_error_max = c.step_error_max;
    p.orm.separation = c.orm.separation;
  }
  return p;
}

/// Checks a parameter set; throws reckon::exception (invalid_argument) naming the bad field.
inline void validate(const synthetic_params& p) {
  using detail::require;
  require(std::isfinite(p.step_error_min) && p.step_error_min >= 0.0 && p.step_error_min <= 1.0,
          "synthetic_params.step_error_min must be in [0, 1]");
  require(std::isfinite(p.step_error_max) && p.step_error_max >= p.step_error_min && p.step_error_max <= 1.0,
          "synthetic_params.step_error_max must be in [step_error_min, 1]");
  require(std::isfinite(p.step_token_spread) && p.step_token_spread >= 0.0 && p.step_token_spread < 1.0,
          "synthetic_params.step_token_spread must be in [0, 1)");
  require(std::isfinite(p.error_length_factor) && p.error_length_factor > 0.0,
          "synthetic_params.error_length_factor must be > 0");
  require(std::isfinite(p.paths.length_jitter) && p.paths.length_jitter >= 0.0 && p.paths.length_jitter < 1.0,
          "path_params.length_jitter must be in [0, 1)");
  require(std::isfinite(p.paths.wrong_extra_steps) && p.paths.wrong_extra_steps >= 0.0,
          "path_params.wrong_extra_steps must be >= 0");
  require(std::isfinite(p.paths.wrong_stop) && p.paths.wrong_stop >= 0.0 && p.paths.wrong_stop <= 1.0,
          "path_params.wrong_stop must be in [0, 1]");
  require(std::isfinite(p.tokens.agent_effect), "token_params.agent_effect must be finite");
  require(std::isfinite(p.agent.error_scale) && p.agent.error_scale > 0.0, "agent_params.error_scale must be > 0");
  require(std::isfinite(p.agent.token_scale) && p.agent.token_scale > 0.0, "agent_params.token_scale must be > 0");
  require(std::isfinite(p.agent.cost_per_token) && p.agent.cost_per_token > 0.0, "agent_params.cost_per_token must be > 0");
  require(std::isfinite(p.tokens.confidence_logit), "token_params.confidence_logit must be finite");
  require(std::isfinite(p.tokens.confidence_sd) && p.tokens.confidence_sd > 0.0, "token_params.confidence_sd must be > 0");
  require(std::isfinite(p.tokens.error_effect), "token_params.error_effect must be finite");
  require(std::isfinite(p.tokens.step_sd) && p.tokens.step_sd >= 0.0, "token_params.step_sd must be >= 0");
  require(p.tokens.vocab == 0 || p.tokens.vocab >= 20, "token_params.vocab must be 0 or >= 20 (the widest top-k)");
  for (const reward_params* r : {&p.prm, &p.orm}) {
    require(std::isfinite(r->separation) && std::isfinite(r->bias) && std::isfinite(r->difficulty_shift),
            "reward_params: separation, bias and difficulty_shift must be finite");
    require(std::isfinite(r->noise) && r->noise > 0.0, "reward_params.noise must be > 0");
    require(std::isfinite(r->step_correlation) && r->step_correlation >= 0.0 && r->step_correlation < 1.0,
            "reward_params.step_correlation must be in [0, 1)");
    require(std::isfinite(r->separation_decay) && r->separation_decay >= 0.0, "reward_params.separation_decay must be >= 0");
    require(std::isfinite(r->trap_misjudge) && r->trap_misjudge >= 0.0 && r->trap_misjudge <= 1.0,
            "reward_params.trap_misjudge must be in [0, 1]");
  }
  require(p.head.length_bins >= 1, "introspection_params.length_bins must be >= 1");
  require(std::isfinite(p.head.max_length) && p.head.max_length > 0.0, "introspection_params.max_length must be > 0");
  require(std::isfinite(p.head.temperature) && p.head.temperature > 0.0, "introspection_params.temperature must be > 0");
  require(std::isfinite(p.head.bias) && std::isfinite(p.head.noise) && p.head.noise >= 0.0,
          "introspection_params: bias finite, noise >= 0");
  require(std::isfinite(p.revise.fix) && p.revise.fix >= 0.0 && p.revise.fix <= 1.0, "reviser_params.fix must be in [0, 1]");
  require(std::isfinite(p.revise.break_correct) && p.revise.break_correct >= 0.0 && p.revise.break_correct <= 1.0,
          "reviser_params.break_correct must be in [0, 1]");
  require(std::isfinite(p.deliberate.error_scale) && p.deliberate.error_scale > 0.0 &&
              std::isfinite(p.deliberate.token_scale) && p.deliberate.token_scale > 0.0,
          "synthetic_params.deliberate: error_scale and token_scale must be > 0");
  require(std::isfinite(p.rating.noise) && p.rating.noise >= 0.0, "rating_params.noise must be >= 0");
  require(std::isfinite(p.rating.trap_seen) && p.rating.trap_seen >= 0.0 && p.rating.trap_seen <= 1.0,
          "rating_params.trap_seen must be in [0, 1]");
  require(p.embedding.dimension >= 1 && p.embedding.dimension <= 65536, "embedding_params.dimension must be in [1, 65536]");
  require(std::isfinite(p.embedding.noise) && p.embedding.noise >= 0.0, "embedding_params.noise must be finite and >= 0");
}

} // namespace reckon::testing

namespace reckon::detail::synth {

/// SplitMix64 finaliser: mixes a prefix hash with a step seed.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// A standard normal draw (Box-Muller, one of the pair).
template <class Stream>
[[nodiscard]] double normal01(Stream& s) {
  const double u1 = 1.0 - reckon::uniform01(s); // (0, 1]
  const double u2 = reckon::uniform01(s);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

[[nodiscard]] inline double sigmoid(double x) noexcept { return 1.0 / (1.0 + std::exp(-x)); }
[[nodiscard]] inline double logit(double p) noexcept { return std::log(p) - std::log1p(-p); }

/// Channels: the `particle` field of a stream key says which part of the process draws from it.
inline constexpr std::uint32_t channel_step = 0;
inline constexpr std::uint32_t channel_tokens = 1;
inline constexpr std::uint32_t channel_reviser = 2;
inline constexpr std::uint32_t channel_reward = 3;
inline constexpr std::uint32_t channel_head = 4;
inline constexpr std::uint32_t channel_trap = 5;
inline constexpr std::uint32_t channel_rating = 6;
inline constexpr std::uint32_t channel_embed = 7;

/// FNV-1a of `text`, finalised by mix64: the key of a text's own draws.
[[nodiscard]] constexpr std::uint64_t text_hash(std::string_view text) noexcept {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  for (const char c : text) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
  return mix64(h);
}

/// Where a solution stands after some steps.
struct walk_state {
  std::uint32_t k = 0;          ///< steps taken
  bool wrong = false;           ///< an error has happened
  bool trap = false;            ///< the first error was the trap step's
  std::uint32_t distractor = 0; ///< the distractor the error leads to (when wrong)
  std::uint64_t hash = 0;       ///< identity of the prefix
  std::uint32_t tokens = 0;     ///< tokens generated so far
};

/// What one step's tag says.
struct step_tag {
  std::uint32_t k = 0;      ///< 1-based index of the step
  std::uint32_t tokens = 0; ///< tokens of the step
  std::uint64_t hash = 0;   ///< identity of the prefix ending here
  bool wrong = false;       ///< the prefix holds an error
  bool trap = false;        ///< its first error was the trap step's
  std::uint32_t distractor = 0; ///< which distractor (when wrong)
};

/// Where every tag starts.
inline constexpr std::string_view tag_open = "<s:";

/// The pad that masks a tag's state field: a function of the prefix hash (the state is the model's
/// hidden truth about the prefix; reading it is the reward models' and the reviser's business).
[[nodiscard]] constexpr std::uint32_t state_pad(std::uint64_t hash) noexcept {
  return static_cast<std::uint32_t>(mix64(hash ^ 0x7A6B5C4D3E2F1011ULL) & 0xFFFFU);
}

/// Appends `v` in base 16 with the letters a-p, `width` letters at least.
inline void append_letters(std::string& out, std::uint64_t v, int width) {
  char buf[16];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('a' + (v & 0xFU));
    v >>= 4;
  } while (v != 0 && n < 16);
  for (int i = n; i < width; ++i) out += 'a';
  while (n > 0) out += buf[--n];
}

/// The tag of a step: "<s:K:T:H:S>" in letters (see the file comment).
[[nodiscard]] inline std::string format_tag(const step_tag& t) {
  const std::uint32_t state = t.wrong ? ((t.distractor + 1U) & 0x7FFFU) | (t.trap ? 0x8000U : 0U) : 0U;
  std::string out(tag_open);
  append_letters(out, t.k, 1);
  out += ':';
  append_letters(out, t.tokens, 1);
  out += ':';
  append_letters(out, t.hash, 16);
  out += ':';
  append_letters(out, state ^ state_pad(t.hash), 4);
  out += '>';
  return out;
}

/// Parses a tag starting at text[pos]; nullopt when there is none.
[[nodiscard]] inline std::optional<step_tag> parse_tag(std::string_view text, std::size_t pos) {
  if (text.substr(pos, tag_open.size()) != tag_open) return std::nullopt;
  pos += tag_open.size();
  auto field = [&](char end, std::uint64_t& out) {
    const std::size_t start = pos;
    out = 0;
    while (pos < text.size() && text[pos] >= 'a' && text[pos] <= 'p' && pos - start < 16) {
      out = (out << 4) | static_cast<std::uint64_t>(text[pos] - 'a');
      ++pos;
    }
    if (pos == start || pos >= text.size() || text[pos] != end) return false;
    ++pos;
    return true;
  };
  std::uint64_t k = 0, tok = 0, h = 0, st = 0;
  if (!field(':', k) || !field(':', tok) || !field(':', h) || !field('>', st)) return std::nullopt;
  if (k > 0xFFFFFFFFULL || tok > 0xFFFFFFFFULL || st > 0xFFFFULL) return std::nullopt;
  const auto state = static_cast<std::uint32_t>(st) ^ state_pad(h);
  step_tag t;
  t.k = static_cast<std::uint32_t>(k);
  t.tokens = static_cast<std::uint32_t>(tok);
  t.hash = h;
  t.wrong = state != 0;
  t.trap = (state & 0x8000U) != 0;
  t.distractor = t.wrong ? (state & 0x7FFFU) - 1U : 0U;
  if (t.wrong && (state & 0x7FFFU) == 0) return std::nullopt; // a wrong state names a distractor
  return t;
}

/// Every tag in `text`, in order.
inline void collect_tags(std::string_view text, std::vector<step_tag>& out) {
  std::size_t pos = text.find(tag_open);
  while (pos != std::string_view::npos) {
    if (auto t = parse_tag(text, pos)) out.push_back(*t);
    pos = text.find(tag_open, pos + 1);
  }
}

} // namespace reckon::detail::synth

namespace reckon::testing {

/// The synthetic reasoning model over a suite: sampling, stepping (fork/release/extend with real
/// bookkeeping of live sequences, prefill and KV tokens; steps at either effort level), token
/// statistics, PRM, ORM, reviser, ZIP-RC introspection, self-rated step difficulty (SCALE) and
/// embeddings of step texts (ETS), all from one documented generative process (see the file comment).
///
/// Cost model (what usage reports): a sequence tree's prompt is prefilled once, by the first extend
/// of any sequence in it (forks share it); sample() prefills the prompt once per call; generated
/// tokens are prefilled by nobody (they enter the KV cache as they are decoded); revise() prefills
/// the prompt plus the candidate's tokens and generates the whole revised solution. Every call is
/// one engine call. Temperature 0 replaces every request seed by 0 (greedy: identical samples).
///
/// Not thread-safe: give each thread its own model (copies are cheap; the suite is shared).
class synthetic_model {
public:
  using reckon_model_concept =
      capabilities<sampling_model_tag, stepping_model_tag, logprob_model_tag, process_reward_model_tag,
                   outcome_reward_model_tag, reviser_tag, introspective_model_tag, self_rating_model_tag,
                   embedding_model_tag>;
  using sequence = std::uint32_t; ///< an index into the model's sequence table
  static constexpr std::uint32_t logprob_top_k = 20; ///< top-k logprobs served per token

  /// A model over `problems` with `params`. Throws reckon::exception (invalid_argument) on bad params
  /// or an empty suite.
  explicit synthetic_model(std::shared_ptr<const suite> problems, synthetic_params params = {})
      : suite_(std::move(problems)), params_(std::move(params)) {
    detail::require(suite_ != nullptr && !suite_->problems.empty(), "synthetic_model: empty suite");
    validate(params_);
    for (std::size_t i = 0; i < suite_->problems.size(); ++i) index_.emplace(suite_->problems[i].id, i);
  }
  /// A model over a copy of `problems`.
  explicit synthetic_model(suite problems, synthetic_params params = {})
      : synthetic_model(std::make_shared<const suite>(std::move(problems)), std::move(params)) {}

  /// The parameters.
  [[nodiscard]] const synthetic_params& params() const noexcept { return params_; }
  /// The suite.
  [[nodiscard]] const suite& problems() const noexcept { return *suite_; }
  /// The suite, shared (to build more models over it, e.g. one per thread).
  [[nodiscard]] const std::shared_ptr<const suite>& shared_problems() const noexcept { return suite_; }
  /// Relative cost of one of this agent's tokens.
  [[nodiscard]] double cost_per_token() const noexcept { return params_.agent.cost_per_token; }

  /// The prompt's token count as this model prefills it (0 for a problem not in the suite): what
  /// a strategy reserves under max_total_tokens before the first extend reports the prefill
  /// (see detail::prompt_reserve), as an engine with its tokenizer at hand can say.
  [[nodiscard]] std::uint64_t prompt_tokens(const problem& p) const noexcept {
    const synthetic_problem* q = find(p);
    return q == nullptr ? 0 : q->prompt_tokens;
  }

  /// The synthetic problem behind `p`, or nullptr when its id is not in the suite.
  [[nodiscard]] const synthetic_problem* find(const problem& p) const noexcept {
    const auto it = index_.find(p.id);
    return it == index_.end() ? nullptr : &suite_->problems[it->second];
  }

  /// Per-step error probability of a problem for this agent.
  [[nodiscard]] double step_error(const synthetic_problem& q) const noexcept { return step_error(q, params_.agent); }
  /// Per-step error probability of a problem for `agent` (a deliberate step: params().deliberate).
  [[nodiscard]] double step_error(const synthetic_problem& q, const agent_params& agent) const noexcept {
    const double e = agent.error_scale *
                     (params_.step_error_min + (params_.step_error_max - params_.step_error_min) * q.difficulty);
    return std::min(e, 0.95);
  }
  /// The step counts a path of `q` can end at: [lo, hi] = K (1 -/+ length_jitter) while it is
  /// correct; hi grows by wrong_extra_steps * K once it is wrong (a wrong path may also stop early).
  [[nodiscard]] std::pair<std::uint32_t, std::uint32_t> path_range(const synthetic_problem& q, bool wrong) const noexcept {
    const double k = static_cast<double>(q.steps), j = params_.paths.length_jitter;
    const auto lo = static_cast<std::uint32_t>(std::max(1L, std::lround(k * (1.0 - j))));
    auto hi = static_cast<std::uint32_t>(std::max(static_cast<long>(lo), std::lround(k * (1.0 + j))));
    if (wrong) hi += static_cast<std::uint32_t>(std::lround(params_.paths.wrong_extra_steps * k));
    return {lo, hi};
  }

  /// Probability that one whole sample of `q` is correct: the mean over a correct path's lengths L
  /// (uniform on path_range) of (1 - e)^L, with the trap step passed with min(trap_solve, 1 - e).
  [[nodiscard]] double sample_accuracy(const synthetic_problem& q) const noexcept {
    const auto [lo, hi] = path_range(q, false);
    const double e = step_error(q), pass_trap = std::min(q.trap_solve, 1.0 - e);
    double total = 0.0;
    for (std::uint32_t l = lo; l <= hi; ++l) {
      const bool trapped = q.trap_step != 0 && q.trap_step <= l;
      total += trapped ? std::pow(1.0 - e, static_cast<double>(l - 1)) * pass_trap : std::pow(1.0 - e, static_cast<double>(l));
    }
    return total / static_cast<double>(hi - lo + 1);
  }

  // ---- sampling_model -------------------------------------------------------------------------

  /// n whole completions; completion i is seeded with request_seed(params.seed, i).
  result<sample_batch> sample(const problem& p, const sampling_params& sp, std::uint32_t n) {
    if (auto ok = reckon::validate(sp); !ok) return ok.error();
    if (n == 0) return fail(errc::invalid_argument, "sample: n must be > 0");
    if (sp.stats.top_k > logprob_top_k) return fail(errc::invalid_argument, "sample: top_k above logprob_top_k (20)");
    const synthetic_problem* q = find(p);
    if (q == nullptr) return unknown(p);
    sample_batch out;
    out.completions.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint64_t seed = sp.temperature == 0.0f ? 0 : request_seed(sp.seed, i);
      completion c = walk_completion(*q, root_state(*q), seed, sp.max_tokens, sp.stats);
      c.source = i;
      out.usage.generated_tokens += c.tokens;
      out.completions.push_back(std::move(c));
    }
    out.usage.prefilled_tokens = q->prompt_tokens;
    out.usage.engine_calls = 1;
    return out;
  }

  // ---- stepping_model -------------------------------------------------------------------------

  /// A new sequence holding the prompt (prefilled by its first extend).
  result<sequence> begin(const problem& p) {
    const synthetic_problem* q = find(p);
    if (q == nullptr) return unknown(p);
    if (params_.capacity != 0 && live_ >= params_.capacity) return fail(errc::no_capacity, "synthetic_model: capacity reached");
    const std::uint32_t node = new_node(kNone, q->prompt_tokens, false);
    seq_state s;
    s.problem = static_cast<std::uint32_t>(q - suite_->problems.data());
    s.walk = root_state(*q);
    s.node = node;
    s.root = node;
    return add_sequence(s);
  }

  /// A copy of `s` sharing its prefix; costs nothing; no_capacity beyond params().capacity.
  result<sequence> fork(sequence s) {
    if (!is_live(s)) return fail(errc::invalid_argument, fmt::format("fork: sequence {} is not live", s));
    if (params_.capacity != 0 && live_ >= params_.capacity) return fail(errc::no_capacity, "synthetic_model: capacity reached");
    seq_state copy = seqs_[s];
    ++nodes_[copy.node].refs;
    return add_sequence(copy);
  }

  /// Frees `s` and every KV node no other sequence shares. Ignores a handle that is not live.
  void release(sequence s) noexcept {
    if (!is_live(s)) return;
    seqs_[s].live = false;
    free_seqs_.push_back(s);
    --live_;
    unref(seqs_[s].node);
  }

  /// One step for each sequence, in one engine call; sequence i's step is keyed by seeds[i].
  result<step_batch> extend(std::span<const sequence> seqs, const step_params& sp, std::span<const std::uint64_t> seeds) {
    if (auto ok = reckon::validate(sp); !ok) return ok.error();
    if (seqs.size() != seeds.size()) return fail(errc::invalid_argument, "extend: one seed per sequence");
    if (sp.stats.top_k > logprob_top_k) return fail(errc::invalid_argument, "extend: top_k above logprob_top_k (20)");
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      if (!is_live(seqs[i])) return fail(errc::invalid_argument, fmt::format("extend: sequence {} is not live", seqs[i]));
      if (seqs_[seqs[i]].done) return fail(errc::invalid_argument, fmt::format("extend: sequence {} is finished", seqs[i]));
      for (std::size_t j = 0; j < i; ++j)
        if (seqs[j] == seqs[i]) return fail(errc::invalid_argument, "extend: a sequence appears twice");
    }
    step_batch out;
    out.steps.reserve(seqs.size());
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      seq_state& s = seqs_[seqs[i]];
      const synthetic_problem& q = suite_->problems[s.problem];
      if (!nodes_[s.root].prefilled) {
        nodes_[s.root].prefilled = true;
        out.usage.prefilled_tokens += q.prompt_tokens;
      }
      const std::uint64_t seed = sp.temperature == 0.0f ? 0 : seeds[i];
      const std::uint32_t cap_total = sp.max_total_tokens > s.walk.tokens ? sp.max_total_tokens - s.walk.tokens : 0;
      step st = next_step(q, s.walk, seed, std::min(sp.max_step_tokens, cap_total), cap_total, sp.stats,
                          sp.effort == effort_level::deliberate ? params_.deliberate : params_.agent);
      s.done = st.done;
      out.usage.generated_tokens += st.tokens;
      grow(s, st.tokens);
      out.steps.push_back(std::move(st));
    }
    out.usage.engine_calls = 1;
    return out;
  }

  // ---- self_rating_model ----------------------------------------------------------------------

  /// The plan of `p` (its nominal K steps) with one rating per step, from the prompt alone (see the
  /// file comment); costs one call that prefills the prompt and generates rating.tokens per step.
  result<difficulty_ratings> rate_plan(const problem& p, std::uint64_t seed) {
    const synthetic_problem* q = find(p);
    if (q == nullptr) return unknown(p);
    difficulty_ratings out;
    out.difficulty.reserve(q->steps);
    for (std::uint32_t n = 1; n <= q->steps; ++n) out.difficulty.push_back(rating(*q, n, seed, q->id));
    out.usage = {.prefilled_tokens = q->prompt_tokens,
                 .generated_tokens = std::uint64_t{params_.rating.tokens} * q->steps,
                 .engine_calls = 1};
    return out;
  }

  /// Each live, unfinished sequence's rating of its next step, keyed by seeds[i] and its prefix; the
  /// context (prompt and the sequence's tokens) is prefilled afresh, as SCALE's code sends a new request.
  result<difficulty_ratings> rate_next(std::span<const sequence> seqs, std::span<const std::uint64_t> seeds) {
    if (seqs.size() != seeds.size()) return fail(errc::invalid_argument, "rate_next: one seed per sequence");
    difficulty_ratings out;
    out.difficulty.reserve(seqs.size());
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      if (!is_live(seqs[i])) return fail(errc::invalid_argument, fmt::format("rate_next: sequence {} is not live", seqs[i]));
      const seq_state& st = seqs_[seqs[i]];
      if (st.done) return fail(errc::invalid_argument, fmt::format("rate_next: sequence {} is finished", seqs[i]));
      const synthetic_problem& q = suite_->problems[st.problem];
      out.difficulty.push_back(rating(q, st.walk.k + 1, seeds[i], st.walk.hash));
      out.usage.prefilled_tokens += q.prompt_tokens + st.walk.tokens;
      out.usage.generated_tokens += params_.rating.tokens;
    }
    out.usage.engine_calls = 1;
    return out;
  }

  /// Whether the model rates `q`'s trap step as hard (false when it has none).
  [[nodiscard]] bool sees_trap(const synthetic_problem& q) const {
    if (q.trap_step == 0 || params_.rating.trap_seen <= 0.0) return false;
    random_stream s(stream_key{params_.rating.seed, q.id, detail::synth::channel_rating, 0});
    return uniform01(s) < params_.rating.trap_seen;
  }

  // ---- embedding_model ------------------------------------------------------------------------

  /// One vector of params().embedding.dimension floats per text: its meaning's direction plus its
  /// own noise (see the file comment); each row depends on its own text alone. One engine call that
  /// reads every text: a synthetic text's tokens are its tags' counts, other text ceil(chars / 4)
  /// (reckon's estimate for text nobody counted).
  result<embedding_batch> embed(std::span<const std::string> texts) {
    const embedding_params& ep = params_.embedding;
    const std::size_t dim = ep.dimension;
    embedding_batch out;
    out.dimension = dim;
    out.values.resize(texts.size() * dim);
    std::vector<detail::synth::step_tag> tags;
    std::vector<double> v(dim);
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const std::string& text = texts[i];
      tags.clear();
      detail::synth::collect_tags(text, tags);
      const std::uint64_t own = detail::synth::text_hash(text);
      if (tags.empty()) {
        direction(own, 1, v);
        out.usage.prefilled_tokens += (static_cast<std::uint64_t>(text.size()) + 3) / 4;
      } else {
        const detail::synth::step_tag& t = tags.back();
        const std::uint64_t state = t.wrong ? std::uint64_t{t.distractor} + 1 : 0;
        const std::uint64_t meaning = detail::synth::mix64(
            detail::synth::mix64((std::uint64_t{t.k} << 32) ^ state) ^ detail::synth::text_hash(untagged(text)));
        direction(meaning, 0, v);
        random_stream s(stream_key{ep.seed, own, detail::synth::channel_embed, 2});
        const double sd = ep.noise / std::sqrt(static_cast<double>(dim));
        for (double& x : v) x += sd * detail::synth::normal01(s);
        for (const detail::synth::step_tag& tag : tags) out.usage.prefilled_tokens += tag.tokens;
      }
      for (std::size_t j = 0; j < dim; ++j) out.values[i * dim + j] = static_cast<float>(v[j]);
    }
    out.usage.engine_calls = 1;
    return out;
  }

  // ---- bookkeeping ----------------------------------------------------------------------------

  /// Sequences alive now.
  [[nodiscard]] std::size_t live_sequences() const noexcept { return live_; }
  /// The most sequences alive at once so far.
  [[nodiscard]] std::size_t peak_live_sequences() const noexcept { return peak_live_; }
  /// KV tokens held now (shared prefixes counted once).
  [[nodiscard]] std::uint64_t kv_tokens() const noexcept { return kv_; }
  /// The most KV tokens held at once so far.
  [[nodiscard]] std::uint64_t peak_kv_tokens() const noexcept { return peak_kv_; }
  /// Whether `s` is a live handle.
  [[nodiscard]] bool is_live(sequence s) const noexcept { return s < seqs_.size() && seqs_[s].live; }
  /// Whether `s`'s last step finished it (precondition: is_live(s)).
  [[nodiscard]] bool is_done(sequence s) const noexcept { return seqs_[s].done; }
  /// Whether `s` holds an error so far (precondition: is_live(s)); for tests and oracles.
  [[nodiscard]] bool is_wrong(sequence s) const noexcept { return seqs_[s].walk.wrong; }

  // ---- reward models --------------------------------------------------------------------------

  /// One score per step of each candidate: the PRM's view of the prefix ending at that step.
  result<std::vector<std::vector<double>>> score_steps(const problem& p, std::span<const solution_view> candidates) {
    const synthetic_problem* q = find(p);
    if (q == nullptr) return unknown(p);
    std::vector<std::vector<double>> out;
    out.reserve(candidates.size());
    std::vector<detail::synth::step_tag> tags;
    std::vector<std::size_t> last_tag;
    std::vector<double> z;
    for (std::size_t c = 0; c < candidates.size(); ++c) {
      // Every tag of the candidate, in order, and the last tag of each view step.
      tags.clear();
      last_tag.clear();
      for (const std::string& text : candidates[c].steps) {
        detail::synth::collect_tags(text, tags);
        if (tags.empty())
          return fail(errc::invalid_argument, fmt::format("score_steps: candidate {} has a step that is not synthetic text", c));
        last_tag.push_back(tags.size() - 1);
      }
      // AR(1) noise along the path: a prefix's noise depends only on the prefix.
      const double rho = params_.prm.step_correlation, fresh = std::sqrt(1.0 - rho * rho);
      z.resize(tags.size());
      for (std::size_t i = 0; i < tags.size(); ++i) {
        const double e = noise(params_.prm, tags[i]);
        z[i] = i == 0 ? e : rho * z[i - 1] + fresh * e;
      }
      std::vector<double> scores;
      scores.reserve(last_tag.size());
      for (const std::size_t i : last_tag) scores.push_back(reward(params_.prm, *q, tags[i], z[i]));
      out.push_back(std::move(scores));
    }
    return out;
  }

  /// One score per candidate: the ORM's view of the whole solution (its last step's tag).
  result<std::vector<double>> score_outcomes(const problem& p, std::span<const solution_view> candidates) {
    const synthetic_problem* q = find(p);
    if (q == nullptr) return unknown(p);
    std::vector<double> out;
    out.reserve(candidates.size());
    std::vector<detail::synth::step_tag> tags;
    for (std::size_t c = 0; c < candidates.size(); ++c) {
      tags.clear();
      for (const std::string& text : candidates[c].steps) detail::synth::collect_tags(text, tags);
      if (tags.empty()) return fail(errc::invalid_argument, fmt::format("score_outcomes: candidate {} is not synthetic text", c));
      out.push_back(reward(params_.orm, *q, tags.back(), noise(params_.orm, tags.back())));
    }
    return out;
  }

  // ---- reviser --------------------------------------------------------------------------------

  /// One revised whole completion per request (see reviser_params); feedback is not read: the
  /// reviser's skill is its fix probability, raised by each earlier attempt in the history (whose
  /// tokens it prefills).
  result<sample_batch> revise(const problem& p, std::span<const revision_request> requests, const sampling_params& sp) {
    if (auto ok = reckon::validate(sp); !ok) return ok.error();
    const double history_fix = params_.revise.history_fix;
    if (!(history_fix >= 0.0 && history_fix <= 1.0))
      return fail(errc::invalid_argument, "revise: reviser_params.history_fix must be in [0, 1]");
    const synthetic_problem* q = find(p);
    if (q == nullptr) return unknown(p);
    sample_batch out;
    std::vector<detail::synth::step_tag> tags;
    std::vector<std::string> kept;
    for (std::size_t r = 0; r < requests.size(); ++r) {
      const revision_request& req = requests[r];
      tags.clear();
      std::string joined;
      for (const std::string& text : req.candidate.steps) {
        detail::synth::collect_tags(text, tags);
        joined += text;
      }
      if (tags.empty()) return fail(errc::invalid_argument, fmt::format("revise: candidate {} is not synthetic text", r));
      std::uint64_t candidate_tokens = 0;
      for (const auto& t : tags) candidate_tokens += t.tokens;
      out.usage.prefilled_tokens += q->prompt_tokens + candidate_tokens;
      for (std::size_t h = 0; h < req.history.size(); ++h) {
        std::vector<detail::synth::step_tag> earlier;
        for (const std::string& text : req.history[h].steps) detail::synth::collect_tags(text, earlier);
        if (earlier.empty())
          return fail(errc::invalid_argument, fmt::format("revise: request {}'s history attempt {} is not synthetic text", r, h));
        for (const auto& t : earlier) out.usage.prefilled_tokens += t.tokens;
      }
      // Without history exactly `fix` (1 - (1 - fix) rounds), so PRISM's draws are unchanged.
      const double fix = req.history.empty() ? params_.revise.fix
                                             : 1.0 - (1.0 - params_.revise.fix) *
                                                         std::pow(1.0 - history_fix, static_cast<double>(req.history.size()));
      random_stream rs(stream_key{req.seed, q->id, detail::synth::channel_reviser, 0});
      const double u = uniform01(rs);
      const std::uint64_t walk_seed = rs.next_u64();
      completion c;
      if (req.new_approach) {
        c = walk_completion(*q, root_state(*q), walk_seed, sp.max_tokens, sp.stats);
      } else {
        // Index of the first wrong step (tags.size() when none).
        std::size_t first_wrong = tags.size();
        for (std::size_t i = 0; i < tags.size(); ++i)
          if (tags[i].wrong) { first_wrong = i; break; }
        const bool finished = req.candidate.finished;
        if (first_wrong < tags.size() && u < fix) {
          c = continue_from(*q, tags, first_wrong, req.candidate.steps, walk_seed, sp, false);
        } else if (first_wrong == tags.size() && u < params_.revise.break_correct) {
          const std::size_t at = static_cast<std::size_t>(uniform01(rs) * static_cast<double>(tags.size()));
          c = continue_from(*q, tags, std::min(at, tags.size() - 1), req.candidate.steps, walk_seed, sp, true);
        } else if (!finished) {
          c = continue_from(*q, tags, tags.size(), req.candidate.steps, walk_seed, sp, false);
        } else {
          c.text = joined;
          c.tokens = static_cast<std::uint32_t>(candidate_tokens);
          c.finish = finish_reason::eos;
        }
      }
      c.source = r;
      out.usage.generated_tokens += c.tokens;
      out.completions.push_back(std::move(c));
    }
    out.usage.engine_calls = 1;
    return out;
  }

  // ---- introspective_model --------------------------------------------------------------------

  /// The joint of (final correctness: reward 0 or 1) x (remaining tokens, length_bins bins of
  /// width max_length / length_bins, centres reported) for each live sequence.
  result<introspection> introspect(std::span<const sequence> seqs) {
    const auto& h = params_.head;
    introspection out;
    out.reward_values = {0.0, 1.0};
    const double width = h.max_length / h.length_bins;
    for (std::uint32_t l = 0; l < h.length_bins; ++l) out.remaining_lengths.push_back((l + 0.5) * width);
    for (const sequence s : seqs) {
      if (!is_live(s)) return fail(errc::invalid_argument, fmt::format("introspect: sequence {} is not live", s));
      const seq_state& st = seqs_[s];
      const synthetic_problem& q = suite_->problems[st.problem];
      const std::uint32_t left = st.done ? 0 : steps_left(q, st.walk);
      const double future = p_no_later_error(q, st.walk, left);
      double p = st.walk.wrong ? 0.0 : future;
      if (!h.oracle && st.walk.k > 0) {
        // As informed as the PRM: its score of this prefix (same quality parameters, its own noise
        // keyed by the prefix) times the chance that no later step errs.
        random_stream zs(stream_key{0x494E464FULL, st.walk.hash, detail::synth::channel_head, st.walk.k});
        const detail::synth::step_tag tag{st.walk.k, 0, st.walk.hash, st.walk.wrong, st.walk.trap, st.walk.distractor};
        p = reward(params_.prm, q, tag, detail::synth::normal01(zs)) * future;
      }
      // Miscalibration in logit space; clamped so that a certain outcome stays finite.
      const double clamped = std::clamp(p, 1e-4, 1.0 - 1e-4);
      double z = 0.0;
      if (h.noise > 0.0) {
        random_stream ns(stream_key{0x48454144ULL, st.walk.hash, detail::synth::channel_head, st.walk.k});
        z = detail::synth::normal01(ns);
      }
      const bool exact = h.temperature == 1.0 && h.bias == 0.0 && h.noise == 0.0;
      if (!exact) p = detail::synth::sigmoid(detail::synth::logit(clamped) / h.temperature + h.bias + h.noise * z);
      // Remaining tokens: sum of `left` uniform step lengths, Gaussian approximation.
      const double mu = q.step_tokens * params_.agent.token_scale * (st.walk.wrong ? params_.error_length_factor : 1.0);
      const double mean = left * mu;
      const double sd = std::sqrt(static_cast<double>(left)) * mu * params_.step_token_spread / std::sqrt(3.0);
      std::vector<double> len(h.length_bins, 0.0);
      if (left == 0 || sd <= 0.0) {
        const auto bin = static_cast<std::uint32_t>(std::min(mean / width, static_cast<double>(h.length_bins - 1)));
        len[bin] = 1.0;
      } else {
        double prev = 0.0;
        for (std::uint32_t l = 0; l < h.length_bins; ++l) {
          const double edge = (l + 1 == h.length_bins) ? std::numeric_limits<double>::infinity() : (l + 1) * width;
          const double cdf = std::isinf(edge) ? 1.0 : 0.5 * std::erfc(-(edge - mean) / (sd * std::sqrt(2.0)));
          len[l] = cdf - prev;
          prev = cdf;
        }
        // Mass below 0 tokens belongs to the first bin.
        double total = 0.0;
        for (double v : len) total += v;
        len[0] += 1.0 - total;
      }
      detail::table2d t = xt::zeros<double>({std::size_t{2}, static_cast<std::size_t>(h.length_bins)});
      for (std::uint32_t l = 0; l < h.length_bins; ++l) {
        t(0, l) = (1.0 - p) * len[l];
        t(1, l) = p * len[l];
      }
      out.joint.push_back(std::move(t));
    }
    return out;
  }

  // ---- the generative process, exposed for tests and for other models --------------------------

  /// A whole completion of `q` from its start, keyed by `seed` (what sample() returns).
  [[nodiscard]] completion generate(const synthetic_problem& q, std::uint64_t seed, std::uint32_t max_tokens = 1u << 30,
                                    const logprob_params& stats = {}) const {
    return walk_completion(q, root_state(q), seed, max_tokens, stats);
  }

private:
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

  struct kv_node {
    std::uint32_t parent = kNone; // the node this one extends
    std::uint32_t refs = 0;       // sequences whose leaf it is + child nodes
    std::uint64_t tokens = 0;     // tokens held by this node itself
    bool prefilled = false;       // (root nodes) the prompt has been charged
    bool used = false;
  };
  struct seq_state {
    std::uint32_t problem = 0;
    detail::synth::walk_state walk{};
    std::uint32_t node = 0; // leaf KV node
    std::uint32_t root = 0; // the tree's root (the prompt)
    bool done = false;
    bool live = true;
  };

  [[nodiscard]] static error unknown(const problem& p) {
    return fail(errc::invalid_argument, fmt::format("synthetic_model: problem id {} is not in the suite", p.id));
  }

  [[nodiscard]] static detail::synth::walk_state root_state(const synthetic_problem& q) noexcept {
    detail::synth::walk_state w;
    w.hash = detail::synth::mix64(q.id);
    return w;
  }

  std::uint32_t new_node(std::uint32_t parent, std::uint64_t tokens, bool prefilled) {
    std::uint32_t i;
    if (!free_nodes_.empty()) {
      i = free_nodes_.back();
      free_nodes_.pop_back();
    } else {
      i = static_cast<std::uint32_t>(nodes_.size());
      nodes_.emplace_back();
    }
    nodes_[i] = kv_node{parent, 1, tokens, prefilled, true};
    kv_ += tokens;
    peak_kv_ = std::max(peak_kv_, kv_);
    return i;
  }

  void unref(std::uint32_t node) noexcept {
    while (node != kNone) {
      kv_node& n = nodes_[node];
      if (--n.refs != 0) return;
      kv_ -= n.tokens;
      n.used = false;
      free_nodes_.push_back(node);
      node = n.parent;
    }
  }

  sequence add_sequence(const seq_state& s) {
    sequence id;
    if (!free_seqs_.empty()) {
      id = free_seqs_.back();
      free_seqs_.pop_back();
      seqs_[id] = s;
    } else {
      id = static_cast<sequence>(seqs_.size());
      seqs_.push_back(s);
    }
    seqs_[id].live = true;
    ++live_;
    peak_live_ = std::max(peak_live_, live_);
    return id;
  }

  // Appends `tokens` to s's KV: in place when s alone holds its leaf, else in a new child node.
  void grow(seq_state& s, std::uint64_t tokens) {
    if (nodes_[s.node].refs > 1) {
      --nodes_[s.node].refs;
      const std::uint32_t child = new_node(s.node, tokens, true);
      ++nodes_[s.node].refs; // the child holds its parent
      s.node = child;
    } else {
      nodes_[s.node].tokens += tokens;
      kv_ += tokens;
      peak_kv_ = std::max(peak_kv_, kv_);
    }
  }

  // The rating of step n (1-based) of q: its true difficulty plus noise keyed by (seed, key, n).
  [[nodiscard]] double rating(const synthetic_problem& q, std::uint32_t n, std::uint64_t seed, std::uint64_t key) const {
    const double truth = n == q.trap_step && sees_trap(q) ? 1.0 : q.difficulty;
    random_stream s(stream_key{seed, key, detail::synth::channel_rating, n});
    return std::clamp(truth + params_.rating.noise * detail::synth::normal01(s), 0.0, 1.0);
  }

  // A unit vector keyed by `key` (stream `which`: 0 a meaning, 1 an untagged text) into `out`.
  void direction(std::uint64_t key, std::uint32_t which, std::vector<double>& out) const {
    random_stream s(stream_key{params_.embedding.seed, key, detail::synth::channel_embed, which});
    double norm2 = 0.0;
    for (double& x : out) {
      x = detail::synth::normal01(s);
      norm2 += x * x;
    }
    const double norm = std::sqrt(norm2);
    for (double& x : out) x /= norm;
  }
  // `text` without its tags: the words a step says besides where its path stands.
  [[nodiscard]] static std::string untagged(std::string_view text) {
    std::string out;
    std::size_t pos = 0;
    while (pos < text.size()) {
      const std::size_t at = text.find(detail::synth::tag_open, pos);
      if (at == std::string_view::npos) {
        out += text.substr(pos);
        break;
      }
      out += text.substr(pos, at - pos);
      // A parsed tag's fields are letters, so its first '>' closes it; text that merely looks
      // like a tag's opening is kept as words.
      const std::size_t close = detail::synth::parse_tag(text, at) ? text.find('>', at) : std::string_view::npos;
      if (close == std::string_view::npos) {
        out += text.substr(at, detail::synth::tag_open.size());
        pos = at + detail::synth::tag_open.size();
      } else {
        pos = close + 1;
      }
    }
    return out;
  }

  [[nodiscard]] static double noise(const reward_params& r, const detail::synth::step_tag& t) {
    random_stream s(stream_key{r.seed, t.hash, detail::synth::channel_reward, t.k});
    return detail::synth::normal01(s);
  }
  // Whether reward model `r` takes the trap's error of `q` for a correct step: one draw per
  // (model, problem), so a misjudged trap fools it on every path (a blind spot, not noise).
  [[nodiscard]] static bool misjudges_trap(const reward_params& r, const synthetic_problem& q) {
    if (q.trap_step == 0 || r.trap_misjudge <= 0.0) return false;
    random_stream s(stream_key{r.seed, q.id, detail::synth::channel_trap, 0});
    return uniform01(s) < r.trap_misjudge;
  }
  [[nodiscard]] static double reward(const reward_params& r, const synthetic_problem& q, const detail::synth::step_tag& t,
                                     double z) {
    const bool looks_wrong = t.wrong && !(t.trap && misjudges_trap(r, q));
    const double half = 0.5 * r.separation_at(q.difficulty) * r.noise;
    const double mu = r.bias - r.difficulty_shift * q.difficulty + (looks_wrong ? -half : half);
    return detail::synth::sigmoid(mu + r.noise * z);
  }

  // Steps a path at `w` still takes on average (the mean of its remaining correct-path lengths;
  // 0 once it has reached the longest).
  [[nodiscard]] std::uint32_t steps_left(const synthetic_problem& q, const detail::synth::walk_state& w) const noexcept {
    const auto [lo, hi] = path_range(q, w.wrong);
    if (w.k >= hi) return 0;
    const std::uint32_t from = std::max(lo, w.k + 1);
    return static_cast<std::uint32_t>(std::lround(0.5 * (from + hi))) - w.k;
  }
  // Probability that none of the `left` steps after `w` errs (the trap, when still ahead, passed
  // with min(trap_solve, 1 - e)).
  [[nodiscard]] double p_no_later_error(const synthetic_problem& q, const detail::synth::walk_state& w,
                                        std::uint32_t left) const noexcept {
    const double e = step_error(q);
    if (!w.wrong && left > 0 && q.trap_step > w.k)
      return std::pow(1.0 - e, static_cast<double>(left - 1)) * std::min(q.trap_solve, 1.0 - e);
    return std::pow(1.0 - e, static_cast<double>(left));
  }

  // Takes one step from `w` (updated), keyed by `seed`; `step_cap` caps the step's tokens and
  // `total_left` the sequence's remaining tokens.
  [[nodiscard]] step next_step(const synthetic_problem& q, detail::synth::walk_state& w, std::uint64_t seed,
                               std::uint32_t step_cap, std::uint32_t total_left, const logprob_params& stats) const {
    return next_step(q, w, seed, step_cap, total_left, stats, params_.agent);
  }
  // As above with `agent`'s error and token scales (a deliberate step takes params_.deliberate's).
  [[nodiscard]] step next_step(const synthetic_problem& q, detail::synth::walk_state& w, std::uint64_t seed,
                               std::uint32_t step_cap, std::uint32_t total_left, const logprob_params& stats,
                               const agent_params& agent) const {
    const path_params& pp = params_.paths;
    random_stream s(stream_key{seed, pp.per_path ? w.hash : q.id, detail::synth::channel_step, w.k});
    const double u_err = uniform01(s);
    const double u_len = uniform01(s);
    const std::uint32_t n = w.k + 1; // the step being taken
    if (!w.wrong) {
      const bool trap = q.trap_step == n;
      const double e = trap ? std::max(step_error(q, agent), 1.0 - q.trap_solve) : step_error(q, agent);
      if (u_err < e) {
        w.wrong = true;
        w.trap = trap;
        w.distractor = trap ? 0 : static_cast<std::uint32_t>(categorical(s, std::span<const double>(q.distractor_weights)));
      }
    }
    // Whether this step ends the path: a hazard over [lo, hi] (so the length is uniform there), and
    // for a wrong path a confident early stop. Under `lenient` lo = hi = K: no draw is made.
    const auto [lo, hi] = path_range(q, w.wrong);
    bool last = n >= hi, confident_stop = false;
    if (!last && n >= lo) last = uniform01(s) * static_cast<double>(hi - n + 1) < 1.0;
    if (!last && w.wrong && pp.wrong_stop > 0.0 && uniform01(s) < pp.wrong_stop) last = confident_stop = true;
    const double mu = q.step_tokens * agent.token_scale * (w.wrong ? params_.error_length_factor : 1.0);
    const double spread = params_.step_token_spread;
    const auto want = static_cast<std::uint32_t>(std::max(1.0, std::round(mu * (1.0 - spread + 2.0 * spread * u_len))));
    step st;
    st.tokens = std::min(want, step_cap);
    w.hash = detail::synth::mix64(w.hash ^ detail::synth::mix64(seed + w.k));
    ++w.k;
    w.tokens += st.tokens;
    const std::string tag = detail::synth::format_tag({w.k, st.tokens, w.hash, w.wrong, w.trap, w.distractor});
    if (st.tokens < want) {
      st.text = tag + " ...";
      st.finish = finish_reason::length;
      st.done = st.tokens >= total_left; // the sequence's cap ends it; a step cap does not
    } else if (last) {
      const std::string& answer = w.wrong ? q.distractors[w.distractor] : q.gold;
      st.text = fmt::format("{} The answer is \\boxed{{{}}}.", tag, answer);
      st.finish = finish_reason::eos;
      st.done = true;
    } else {
      st.text = tag + " Reasoning.\n\n";
      st.finish = finish_reason::step;
      st.done = st.tokens >= total_left;
      if (st.done) st.finish = finish_reason::length;
    }
    st.source = w.hash;
    if (stats.logprobs || stats.entropy || stats.top_k > 0) fill_stats(q, w, seed, st.tokens, stats, confident_stop, agent, st.stats);
    return st;
  }

  // Walks to the end (or max_tokens) from `w`.
  [[nodiscard]] completion walk_completion(const synthetic_problem& q, detail::synth::walk_state w, std::uint64_t seed,
                                           std::uint32_t max_tokens, const logprob_params& stats) const {
    completion c;
    const std::uint32_t start = w.tokens;
    while (true) {
      const std::uint32_t used = w.tokens - start;
      const std::uint32_t left = max_tokens > used ? max_tokens - used : 0;
      if (left == 0) {
        c.finish = finish_reason::length;
        break;
      }
      step st = next_step(q, w, seed, left, left, stats);
      c.text += st.text;
      c.tokens += st.tokens;
      c.stats.append(st.stats);
      c.source = st.source;
      if (st.done) {
        c.finish = st.finish == finish_reason::eos ? finish_reason::eos : finish_reason::length;
        break;
      }
    }
    return c;
  }

  // Keeps tags[0, from) (their texts), then regenerates from step `from`; `inject` forces an error there.
  [[nodiscard]] completion continue_from(const synthetic_problem& q, const std::vector<detail::synth::step_tag>& tags,
                                         std::size_t from, std::span<const std::string> steps, std::uint64_t seed,
                                         const sampling_params& sp, bool inject) const {
    completion c;
    detail::synth::walk_state w = root_state(q);
    // Rebuild the kept prefix's text from the tags (the view may hold whole completions as one step).
    std::string all;
    for (const std::string& s : steps) all += s;
    std::size_t pos = 0;
    for (std::size_t i = 0; i < from; ++i) {
      const std::size_t at = all.find(detail::synth::tag_open, pos);
      const std::size_t next = all.find(detail::synth::tag_open, at + 1);
      c.text += all.substr(at, next == std::string::npos ? std::string::npos : next - at);
      pos = at + 1;
      w.k = tags[i].k;
      w.hash = tags[i].hash;
      w.wrong = tags[i].wrong;
      w.trap = tags[i].trap;
      w.distractor = tags[i].distractor;
      w.tokens += tags[i].tokens;
    }
    c.tokens = w.tokens;
    if (inject && !w.wrong) {
      random_stream s(stream_key{seed, q.id, detail::synth::channel_reviser, 1});
      w.wrong = true;
      w.distractor = static_cast<std::uint32_t>(categorical(s, std::span<const double>(q.distractor_weights)));
    }
    if (w.k >= path_range(q, w.wrong).second) {
      c.finish = finish_reason::eos;
      return c;
    }
    const std::uint32_t left = sp.max_tokens > c.tokens ? sp.max_tokens - c.tokens : 1;
    completion rest = walk_completion(q, w, seed, left, sp.stats);
    c.text += rest.text;
    c.tokens += rest.tokens;
    c.finish = rest.finish;
    c.stats = std::move(rest.stats);
    return c;
  }

  // Token statistics of one step: per token, a geometric next-token distribution with parameter q.
  // `confident`: a wrong path's confident early stop, written without the error effect.
  void fill_stats(const synthetic_problem& prob, const detail::synth::walk_state& w, std::uint64_t seed, std::uint32_t n,
                  const logprob_params& want, bool confident, const agent_params& agent, token_stats& out) const {
    const auto& tp = params_.tokens;
    random_stream s(stream_key{seed, params_.paths.per_path ? w.hash : prob.id, detail::synth::channel_tokens, w.k});
    const double step_shift = tp.step_sd * tp.confidence_sd * detail::synth::normal01(s);
    const double agent_shift = tp.agent_effect * tp.confidence_sd * std::log2(agent.error_scale);
    const double mu = tp.confidence_logit + step_shift + agent_shift +
                      (w.wrong && !confident ? tp.error_effect * tp.confidence_sd : 0.0);
    const std::uint32_t k = want.top_k == 0 ? 0 : std::min(want.top_k, logprob_top_k);
    if (k > 0) out.top_k = k;
    std::vector<float> row, top_lp(k);
    std::vector<std::int32_t> top_ids(k);
    for (std::uint32_t t = 0; t < n; ++t) {
      const double qv = std::clamp(detail::synth::sigmoid(mu + tp.confidence_sd * detail::synth::normal01(s)), 1e-6, 1.0 - 1e-6);
      const double lq = std::log(qv), l1q = std::log1p(-qv);
      // Chosen token: geometric draw, v = floor(log(u) / log q).
      const double u = 1.0 - uniform01(s);
      const double v = std::floor(std::log(u) / lq);
      double lp = l1q + v * lq, h = 0.0, ve = 0.0;
      if (tp.vocab > 0) {
        // The numerics path, for real: a full logits row through the fused sampler, which draws
        // the token (the same geometric draw: the inverse CDF of q^j at 1 - u) and computes its
        // statistics in one pass, as a host-side sampling adapter does.
        row.resize(tp.vocab);
        for (std::uint32_t j = 0; j < tp.vocab; ++j) row[j] = static_cast<float>(j * lq);
        const row_draw d = sample_row(row, std::min(1.0 - u, std::nextafter(1.0, 0.0)), row_sampling_params{},
                                      token_stats_params{}, top_ids, top_lp);
        lp = d.stats.logprob;
        h = d.stats.entropy;
        ve = d.stats.varentropy;
      } else {
        h = (-(1.0 - qv) * l1q - qv * lq) / (1.0 - qv);
        ve = lq * lq * qv / ((1.0 - qv) * (1.0 - qv));
        for (std::uint32_t j = 0; j < k; ++j) top_lp[j] = static_cast<float>(l1q + j * lq);
      }
      if (want.logprobs) out.logprob.push_back(static_cast<float>(lp));
      if (want.entropy) {
        out.entropy.push_back(static_cast<float>(h));
        out.varentropy.push_back(static_cast<float>(ve));
      }
      out.top_logprobs.insert(out.top_logprobs.end(), top_lp.begin(), top_lp.end());
    }
  }

  std::shared_ptr<const suite> suite_;
  synthetic_params params_;
  std::unordered_map<std::uint64_t, std::size_t> index_;
  std::vector<seq_state> seqs_;
  std::vector<sequence> free_seqs_;
  std::vector<kv_node> nodes_;
  std::vector<std::uint32_t> free_nodes_;
  std::size_t live_ = 0;
  std::size_t peak_live_ = 0;
  std::uint64_t kv_ = 0;
  std::uint64_t peak_kv_ = 0;
};

static_assert(sampling_model<synthetic_model>);
static_assert(stepping_model<synthetic_model>);
static_assert(logprob_model<synthetic_model>);
static_assert(process_reward_model<synthetic_model>);
static_assert(outcome_reward_model<synthetic_model>);
static_assert(reviser<synthetic_model>);
static_assert(introspective_model<synthetic_model>);
static_assert(self_rating_model<synthetic_model>);
static_assert(embedding_model<synthetic_model>);

} // namespace reckon::testing
