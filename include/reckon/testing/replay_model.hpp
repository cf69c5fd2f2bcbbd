// SPDX-License-Identifier: Apache-2.0
// The replay model: recorded samples (JSON Lines) served without replacement, with their rewards.
#pragma once

// File format, one problem per line (blank lines are ignored; unknown members are ignored):
//   {"id": str, "gold": str, "samples": [{"text": str?, "answer": str?, "tokens": int?,
//     "reward": number?, "step_rewards": [number]?, "token_logprobs": [number]?,
//     "token_entropies": [number]?, "token_confidences": [number]?}]}
// - reward (ORM) and step_rewards (PRM) are finite numbers on the file's reward scale: `prob`
//   (probabilities, each in [0, 1], served as they are) or `logit` (raw reward-model scores, any
//   finite value, e.g. Qwen2.5-Math-RM's -4.3 to 6.1, served as sigmoid(x)). The default is per
//   file: `prob` when every recorded reward and step reward lies in [0, 1], else `logit`; a caller
//   can force either (replay_params::scale, reckon-eval's --reward-scale). The map is strictly
//   increasing, so best-of-n's argmax is the argmax of the raw values (up to double rounding of
//   sigmoid above x ~ 36), and a weighted vote weighs an answer by its summed sigmoid(x), never by
//   a negative number. replay_sample::reward keeps the raw value.
// - step_rewards[j] scores step j of the text split at blank lines ("\n\n"), so when both are
//   given their counts must agree; without text, the sample's text is one placeholder step,
//   "(recorded step)", per reward.
// - token_confidences: DeepConf's token confidence C_t = -mean of the top-k logprobs (k = 20 in the
//   paper), one per generated token, each finite and >= 0: what DeepConf's trace dumps store as
//   `confs`. Served as token_stats::confidence when a request asks for top-k statistics; DeepConf
//   reads it instead of top-k rows (the recorder's k is the one that counts).
// - tokens defaults to the length of token_confidences, else token_logprobs, else token_entropies,
//   else ceil(chars / 4); a per-token list whose length differs from a given `tokens` is an error.
// - Errors name the line and the field ("line 3, samples[2].reward: expected a finite number");
//   a problem with no samples or no gold is an error unless skip_incomplete is set, in which case
//   it is skipped and listed in replay_data::skipped.

#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/random/stream.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace reckon::testing {

/// How recorded rewards are read (see the file comment).
enum class reward_scale : std::uint8_t {
  automatic, ///< per file: prob when every reward is in [0, 1], else logit
  prob,      ///< probabilities in [0, 1], served as they are
  logit,     ///< raw scores, any finite value, served as sigmoid(x)
};

/// "prob", "logit" or "auto".
[[nodiscard]] constexpr std::string_view to_string(reward_scale s) noexcept {
  switch (s) {
  case reward_scale::prob: return "prob";
  case reward_scale::logit: return "logit";
  case reward_scale::automatic: break;
  }
  return "auto";
}

/// One recorded sample.
struct replay_sample {
  std::optional<std::string> text;      ///< the completion's text, if recorded
  std::optional<std::string> answer;    ///< the answer extracted when it was recorded, if any
  std::uint32_t tokens = 0;             ///< generated tokens (recorded or estimated, see the file comment)
  std::optional<double> reward;         ///< ORM score as recorded (on the file's scale), if any
  std::vector<double> step_rewards;     ///< PRM score per step as recorded (empty: not recorded)
  std::vector<float> token_logprobs;    ///< log p of each chosen token (empty: not recorded)
  std::vector<float> token_entropies;   ///< entropy of each token's distribution (empty: not recorded)
  std::vector<float> token_confidences; ///< DeepConf's C_t per token (empty: not recorded)
};

/// One recorded problem.
struct replay_problem {
  std::string id;                     ///< the problem's id in the file
  std::uint64_t key = 0;              ///< stable_id(id): the reckon::problem id
  std::string gold;                   ///< the correct answer
  std::vector<replay_sample> samples; ///< the pool samples are drawn from
  std::size_t line = 0;               ///< 1-based line in the file

  /// The reckon::problem handed to strategies (the prompt is the id).
  [[nodiscard]] reckon::problem as_problem() const { return reckon::problem{key, id}; }
};

/// A parsed replay file.
struct replay_data {
  std::vector<replay_problem> problems;    ///< in file order
  std::vector<std::string> skipped;        ///< "line N: problem 'x' has no samples" for each skipped problem
  reward_scale scale = reward_scale::prob; ///< the scale rewards are read on (never automatic)

  /// A recorded reward as served to strategies: itself on the prob scale, sigmoid(x) on logit.
  [[nodiscard]] double served_reward(double recorded) const noexcept {
    if (scale != reward_scale::logit) return recorded;
    // exp of a non-positive number only, so neither branch overflows.
    if (recorded >= 0.0) return 1.0 / (1.0 + std::exp(-recorded));
    const double e = std::exp(recorded);
    return e / (1.0 + e);
  }
};

/// How a replay file is read.
struct replay_params {
  bool skip_incomplete = false; ///< skip (and list) problems without gold or samples instead of failing
  reward_scale scale = reward_scale::automatic; ///< how rewards are read (automatic: decided per file)
};

} // namespace reckon::testing

namespace reckon::detail::replay {

using json = nlohmann::json;

inline std::string where(std::size_t line, std::string_view field) { return fmt::format("line {}, {}", line, field); }

// A finite JSON number (nlohmann reads an overflowing literal such as 1e400 as inf).
[[nodiscard]] inline std::optional<double> finite_number(const json& v) {
  if (!v.is_number()) return std::nullopt;
  const double x = v.get<double>();
  if (!std::isfinite(x)) return std::nullopt;
  return x;
}

inline result<void> number_list(const json& v, std::size_t line, std::string_view field, double lo, double hi,
                                std::vector<double>& out) {
  if (!v.is_array()) return fail(errc::invalid_argument, fmt::format("{}: expected an array of numbers", where(line, field)));
  const bool bounded = std::isfinite(lo) || std::isfinite(hi);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto x = finite_number(v[i]);
    if (!x || *x < lo || *x > hi)
      return fail(errc::invalid_argument,
                  bounded ? fmt::format("{}[{}]: expected a number in [{}, {}]", where(line, field), i, lo, hi)
                          : fmt::format("{}[{}]: expected a finite number", where(line, field), i));
    out.push_back(*x);
  }
  return {};
}

inline std::size_t count_steps(std::string_view text) {
  std::size_t n = 0, pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find("\n\n", pos);
    end = end == std::string_view::npos ? text.size() : end + 2;
    ++n;
    pos = end;
  }
  return n;
}

inline result<testing::replay_sample> parse_sample(const json& v, std::size_t line, std::size_t index) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  const std::string base = fmt::format("samples[{}]", index);
  if (!v.is_object()) return fail(errc::invalid_argument, fmt::format("{}: expected an object", where(line, base)));
  testing::replay_sample s;
  auto str = [&](const char* name, std::optional<std::string>& out) -> result<void> {
    if (const auto f = v.find(name); f != v.end()) {
      if (!f->is_string()) return fail(errc::invalid_argument, fmt::format("{}.{}: expected a string", where(line, base), name));
      out = f->get<std::string>();
    }
    return {};
  };
  if (auto r = str("text", s.text); !r) return r.error();
  if (auto r = str("answer", s.answer); !r) return r.error();
  std::optional<std::uint32_t> tokens;
  if (const auto f = v.find("tokens"); f != v.end()) {
    const auto x = finite_number(*f);
    if (!x || *x < 0 || *x > 4e9 || std::floor(*x) != *x)
      return fail(errc::invalid_argument, fmt::format("{}.tokens: expected a non-negative integer", where(line, base)));
    tokens = static_cast<std::uint32_t>(*x);
  }
  if (const auto f = v.find("reward"); f != v.end()) {
    s.reward = finite_number(*f);
    if (!s.reward) return fail(errc::invalid_argument, fmt::format("{}.reward: expected a finite number", where(line, base)));
  }
  if (const auto f = v.find("step_rewards"); f != v.end())
    if (auto r = number_list(*f, line, base + ".step_rewards", -inf, inf, s.step_rewards); !r) return r.error();
  auto floats = [&](const char* name, double lo, double hi, std::vector<float>& out) -> result<void> {
    std::vector<double> tmp;
    if (const auto f = v.find(name); f != v.end()) {
      if (auto r = number_list(*f, line, base + "." + name, lo, hi, tmp); !r) return r.error();
      if (tokens && !tmp.empty() && tmp.size() != *tokens)
        return fail(errc::invalid_argument, fmt::format("{}.{}: {} values for {} tokens (one per generated token)",
                                                        where(line, base), name, tmp.size(), *tokens));
      out.assign(tmp.begin(), tmp.end());
    }
    return {};
  };
  if (auto r = floats("token_logprobs", -1e30, 0.0, s.token_logprobs); !r) return r.error();
  if (auto r = floats("token_entropies", 0.0, 1e30, s.token_entropies); !r) return r.error();
  if (auto r = floats("token_confidences", 0.0, 1e30, s.token_confidences); !r) return r.error();
  if (!s.token_confidences.empty() && !s.token_logprobs.empty() && s.token_confidences.size() != s.token_logprobs.size())
    return fail(errc::invalid_argument, fmt::format("{}.token_confidences: {} values but token_logprobs has {}",
                                                    where(line, base), s.token_confidences.size(), s.token_logprobs.size()));
  if (!s.step_rewards.empty()) {
    if (s.text) {
      const std::size_t steps = count_steps(*s.text);
      if (steps != s.step_rewards.size())
        return fail(errc::invalid_argument,
                    fmt::format("{}.step_rewards: {} rewards but the text has {} steps (split at blank lines)",
                                where(line, base), s.step_rewards.size(), steps));
    } else {
      std::string text;
      for (std::size_t j = 0; j < s.step_rewards.size(); ++j)
        text += j + 1 < s.step_rewards.size() ? "(recorded step)\n\n" : "(recorded step)";
      s.text = std::move(text);
    }
  }
  if (tokens) s.tokens = *tokens;
  else if (!s.token_confidences.empty()) s.tokens = static_cast<std::uint32_t>(s.token_confidences.size());
  else if (!s.token_logprobs.empty()) s.tokens = static_cast<std::uint32_t>(s.token_logprobs.size());
  else if (!s.token_entropies.empty()) s.tokens = static_cast<std::uint32_t>(s.token_entropies.size());
  else if (s.text) s.tokens = static_cast<std::uint32_t>((s.text->size() + 3) / 4);
  return s;
}

// nlohmann's messages read "[json.exception.parse_error.101] parse error at line 1, column 25:
// syntax error ..." or "[json.exception.out_of_range.406] number overflow parsing '1e999'"; each
// line is parsed alone, so the file's line and the message's column are the ones to report.
[[nodiscard]] inline std::string syntax_error(std::size_t line, const json::exception& e) {
  std::string_view what = e.what();
  if (const auto at = what.find("column "); at != std::string_view::npos)
    return fmt::format("line {}, {}", line, what.substr(at));
  if (const auto at = what.find("] "); at != std::string_view::npos) what.remove_prefix(at + 2);
  return fmt::format("line {}: {}", line, what);
}

// The first recorded reward outside [0, 1], as an error naming it (for the prob scale).
[[nodiscard]] inline result<void> check_prob_scale(const testing::replay_problem& p, bool forced) {
  const char* why = forced ? " (reward scale 'prob')" : "";
  for (std::size_t i = 0; i < p.samples.size(); ++i) {
    const auto& s = p.samples[i];
    if (s.reward && (*s.reward < 0.0 || *s.reward > 1.0))
      return fail(errc::invalid_argument,
                  fmt::format("{}: expected a number in [0, 1]{}", where(p.line, fmt::format("samples[{}].reward", i)), why));
    for (std::size_t j = 0; j < s.step_rewards.size(); ++j)
      if (s.step_rewards[j] < 0.0 || s.step_rewards[j] > 1.0)
        return fail(errc::invalid_argument, fmt::format("{}: expected a number in [0, 1]{}",
                                                        where(p.line, fmt::format("samples[{}].step_rewards[{}]", i, j)), why));
  }
  return {};
}

} // namespace reckon::detail::replay

namespace reckon::testing {

/// Parses replay JSON Lines from memory. Errors name the line and field.
[[nodiscard]] inline result<replay_data> parse_replay(std::string_view text, const replay_params& params = {}) {
  using reckon::detail::replay::where;
  using json = nlohmann::json;
  replay_data out;
  std::unordered_map<std::string, std::size_t> seen;
  std::size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    json v;
    try {
      v = json::parse(line);
    } catch (const json::exception& e) {
      return fail(errc::invalid_argument, reckon::detail::replay::syntax_error(line_no, e));
    }
    if (!v.is_object()) return fail(errc::invalid_argument, fmt::format("line {}: expected an object", line_no));
    replay_problem p;
    p.line = line_no;
    const auto id = v.find("id");
    if (id == v.end() || !id->is_string() || id->get_ref<const std::string&>().empty())
      return fail(errc::invalid_argument, fmt::format("{}: expected a non-empty string", where(line_no, "id")));
    p.id = id->get<std::string>();
    p.key = stable_id(p.id);
    if (auto [it, fresh] = seen.emplace(p.id, line_no); !fresh)
      return fail(errc::invalid_argument,
                  fmt::format("{}: problem '{}' already appeared on line {}", where(line_no, "id"), p.id, it->second));
    std::string missing;
    const auto gold = v.find("gold");
    if (gold == v.end() || gold->is_null()) missing = "no gold";
    else if (!gold->is_string()) return fail(errc::invalid_argument, fmt::format("{}: expected a string", where(line_no, "gold")));
    else p.gold = gold->get<std::string>();
    const auto samples = v.find("samples");
    if (samples != v.end() && !samples->is_array())
      return fail(errc::invalid_argument, fmt::format("{}: expected an array", where(line_no, "samples")));
    if (samples != v.end())
      for (std::size_t i = 0; i < samples->size(); ++i) {
        auto s = detail::replay::parse_sample((*samples)[i], line_no, i);
        if (!s) return s.error();
        p.samples.push_back(std::move(*s));
      }
    if (p.samples.empty()) missing += missing.empty() ? "no samples" : " and no samples";
    if (!missing.empty()) {
      std::string msg = fmt::format("line {}: problem '{}' has {}", line_no, p.id, missing);
      if (!params.skip_incomplete) return fail(errc::invalid_argument, std::move(msg));
      out.skipped.push_back(std::move(msg));
      continue;
    }
    out.problems.push_back(std::move(p));
  }
  if (out.problems.empty()) return fail(errc::invalid_argument, "replay file holds no usable problem");
  // A file is on the prob scale unless a reward says otherwise (or the caller says logit).
  out.scale = params.scale == reward_scale::logit ? reward_scale::logit : reward_scale::prob;
  if (params.scale != reward_scale::logit)
    for (const auto& p : out.problems)
      if (auto ok = detail::replay::check_prob_scale(p, params.scale == reward_scale::prob); !ok) {
        if (params.scale == reward_scale::prob) return ok.error();
        out.scale = reward_scale::logit;
        break;
      }
  return out;
}

/// Reads and parses a replay file; a missing or unreadable file is errc::invalid_argument naming it.
[[nodiscard]] inline result<replay_data> load_replay(const std::string& path, const replay_params& params = {}) {
  // A directory opens as a stream on Linux and reads as nothing: name it rather than report an
  // empty recording.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return fail(errc::invalid_argument, fmt::format("cannot read replay file '{}': it is a directory", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(errc::invalid_argument, fmt::format("cannot open replay file '{}'", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  auto data = parse_replay(buffer.str(), params);
  if (!data) return fail(errc::invalid_argument, fmt::format("{}: {}", path, data.error().message));
  return data;
}

/// Serves recorded samples as a sampling model, their rewards as an ORM and a PRM (on the served
/// scale: replay_data::served_reward). A recording cannot step (a PRM search would score prefixes
/// it has no rewards for); testing::replay_stepper steps through recorded traces for strategies
/// that only stop them early.
///
/// Each problem's pool is shuffled by a permutation keyed by (trial seed, problem), and sample()
/// hands out the next n samples of it, so within one model samples are drawn without replacement
/// across calls; a new trial is a new model (or reset()) with another seed. params.seed is not
/// used (the trial seed decides the draw). Asking for more samples than remain is errc::no_capacity.
/// Completion::source is the sample's index in the pool, which the reward models read back from
/// solution_view::source. Token statistics are returned where recorded (logprob, entropy, and
/// DeepConf's confidence as token_stats::confidence when top-k statistics are asked for); usage
/// reports the samples' tokens as generated, no prefill (the recording does not say), one call.
/// Not thread-safe: give each thread its own model (the data is shared).
class replay_model {
public:
  using reckon_model_concept = capabilities<sampling_model_tag, logprob_model_tag, process_reward_model_tag,
                                            outcome_reward_model_tag>;

  /// A model over `data` for the trial keyed by `trial_seed`. Throws reckon::exception when data is null.
  explicit replay_model(std::shared_ptr<const replay_data> data, std::uint64_t trial_seed = 0)
      : data_(std::move(data)), seed_(trial_seed) {
    reckon::detail::require(data_ != nullptr, "replay_model: no data");
    for (std::size_t i = 0; i < data_->problems.size(); ++i) index_.emplace(data_->problems[i].key, i);
  }

  /// The data.
  [[nodiscard]] const replay_data& data() const noexcept { return *data_; }
  /// Starts a new trial: forgets what was drawn and reshuffles with `trial_seed`.
  void reset(std::uint64_t trial_seed) {
    seed_ = trial_seed;
    cursors_.clear();
  }
  /// The recorded problem behind `p`, or nullptr.
  [[nodiscard]] const replay_problem* find(const problem& p) const noexcept {
    const auto it = index_.find(p.id);
    return it == index_.end() ? nullptr : &data_->problems[it->second];
  }

  /// The next n samples of the problem's shuffled pool.
  result<sample_batch> sample(const problem& p, const sampling_params& sp, std::uint32_t n) {
    if (auto ok = reckon::validate(sp); !ok) return ok.error();
    if (n == 0) return fail(errc::invalid_argument, "sample: n must be > 0");
    auto drawn = draw(p, n);
    if (!drawn) return drawn.error();
    const replay_problem* q = find(p);
    sample_batch out;
    for (const std::uint32_t k : *drawn) {
      const replay_sample& s = q->samples[k];
      completion comp;
      comp.text = s.text.value_or(std::string());
      comp.answer = s.answer;
      comp.tokens = s.tokens;
      comp.finish = finish_reason::eos;
      comp.source = k;
      if (sp.stats.logprobs) comp.stats.logprob = s.token_logprobs;
      if (sp.stats.entropy) comp.stats.entropy = s.token_entropies;
      if (sp.stats.top_k > 0) comp.stats.confidence = s.token_confidences;
      out.usage.generated_tokens += s.tokens;
      out.completions.push_back(std::move(comp));
    }
    out.usage.engine_calls = 1;
    return out;
  }

  /// The pool indices of the problem's next n samples (the draw sample() serves), consumed.
  /// Errors: an unknown problem (invalid_argument), fewer than n left (no_capacity).
  result<std::vector<std::uint32_t>> draw(const problem& p, std::uint32_t n) {
    const replay_problem* q = find(p);
    if (q == nullptr) return unknown(p);
    auto [it, fresh] = cursors_.try_emplace(p.id);
    cursor& c = it->second;
    if (fresh) {
      c.order.resize(q->samples.size());
      for (std::size_t i = 0; i < c.order.size(); ++i) c.order[i] = static_cast<std::uint32_t>(i);
      random_stream s(stream_key{seed_, p.id, 0, 0});
      for (std::size_t i = c.order.size(); i > 1; --i) {
        const auto j = static_cast<std::size_t>(uniform01(s) * static_cast<double>(i));
        std::swap(c.order[i - 1], c.order[j < i ? j : i - 1]);
      }
    }
    if (c.next + n > c.order.size())
      return fail(errc::no_capacity, fmt::format("replay: problem '{}' has {} of its {} samples left, {} asked", q->id,
                                                 c.order.size() - c.next, c.order.size(), n));
    std::vector<std::uint32_t> out(c.order.begin() + static_cast<std::ptrdiff_t>(c.next),
                                   c.order.begin() + static_cast<std::ptrdiff_t>(c.next + n));
    c.next += n;
    return out;
  }

  /// The recorded sample behind `source` of problem `p`, or nullptr.
  [[nodiscard]] const replay_sample* recorded(const problem& p, std::uint64_t source) const noexcept {
    const replay_problem* q = find(p);
    return q == nullptr || source >= q->samples.size() ? nullptr : &q->samples[source];
  }

  /// The recorded step rewards of each candidate (by source), on the served scale; the view's step
  /// count must match.
  result<std::vector<std::vector<double>>> score_steps(const problem& p, std::span<const solution_view> candidates) {
    const replay_problem* q = find(p);
    if (q == nullptr) return unknown(p);
    std::vector<std::vector<double>> out;
    for (const auto& c : candidates) {
      auto s = lookup(*q, c.source);
      if (!s) return s.error();
      const auto& rewards = (*s)->step_rewards;
      if (rewards.empty())
        return fail(errc::unsupported, fmt::format("replay: sample {} of problem '{}' has no step_rewards", c.source, q->id));
      if (rewards.size() != c.steps.size())
        return fail(errc::invalid_argument, fmt::format("replay: sample {} of problem '{}' has {} step rewards, the candidate {} steps",
                                                        c.source, q->id, rewards.size(), c.steps.size()));
      std::vector<double> served;
      for (const double r : rewards) served.push_back(data_->served_reward(r));
      out.push_back(std::move(served));
    }
    return out;
  }

  /// The recorded reward of each candidate (by source), on the served scale.
  result<std::vector<double>> score_outcomes(const problem& p, std::span<const solution_view> candidates) {
    const replay_problem* q = find(p);
    if (q == nullptr) return unknown(p);
    std::vector<double> out;
    for (const auto& c : candidates) {
      auto s = lookup(*q, c.source);
      if (!s) return s.error();
      if (!(*s)->reward)
        return fail(errc::unsupported, fmt::format("replay: sample {} of problem '{}' has no reward", c.source, q->id));
      out.push_back(data_->served_reward(*(*s)->reward));
    }
    return out;
  }

private:
  struct cursor {
    std::vector<std::uint32_t> order;
    std::size_t next = 0;
  };

  [[nodiscard]] static error unknown(const problem& p) {
    return fail(errc::invalid_argument, fmt::format("replay: problem id {} ('{}') is not in the data", p.id, p.prompt));
  }
  [[nodiscard]] static result<const replay_sample*> lookup(const replay_problem& q, std::uint64_t source) {
    if (source >= q.samples.size())
      return fail(errc::invalid_argument, fmt::format("replay: no sample {} in problem '{}'", source, q.id));
    return &q.samples[source];
  }

  std::shared_ptr<const replay_data> data_;
  std::uint64_t seed_ = 0;
  std::unordered_map<std::uint64_t, std::size_t> index_;
  std::unordered_map<std::uint64_t, cursor> cursors_;
};

static_assert(sampling_model<replay_model>);
static_assert(logprob_model<replay_model>);
static_assert(process_reward_model<replay_model>);
static_assert(outcome_reward_model<replay_model>);

/// Recorded traces served a step at a time, so that a strategy which stops a trace by its token
/// statistics (online DeepConf) pays only for the tokens before the stop. begin() draws the next
/// sample of the problem's pool from `model` (the draw sample() serves, without replacement);
/// extend() hands out its next tokens, at most max_step_tokens and never past max_total_tokens,
/// with their recorded statistics and the matching slice of the text (split in proportion to
/// tokens, as a recording does not say where a token begins; the slices join to the recorded
/// text). Each step's source is the sample's index in the pool (replay_model::recorded reads the
/// recorded answer back). Usage: the tokens handed out, as generated; no prefill; one engine call
/// for the first extend of a batch of traces begun together, as sample() counts a batch. fork()
/// is unsupported (a recording has one continuation). sample() is the replay model's. Not
/// thread-safe; the replay model must outlive it.
class replay_stepper {
public:
  using reckon_model_concept = capabilities<sampling_model_tag, stepping_model_tag, logprob_model_tag>;

  /// A handle to one recorded trace being stepped through.
  struct sequence {
    std::uint32_t slot = 0;
    friend bool operator==(const sequence&, const sequence&) = default;
  };

  explicit replay_stepper(replay_model& model) noexcept : model_(&model) {}

  /// The replay model's sample().
  result<sample_batch> sample(const problem& p, const sampling_params& sp, std::uint32_t n) { return model_->sample(p, sp, n); }

  /// A recording reports no prompt tokens (see detail::prompt_reserve).
  [[nodiscard]] std::uint64_t prompt_tokens(const problem& /*p*/) const noexcept { return 0; }

  /// Draws the next recorded sample of the problem's pool as a sequence at its first token.
  result<sequence> begin(const problem& p) {
    auto drawn = model_->draw(p, 1);
    if (!drawn) return drawn.error();
    slots_.push_back(slot{model_->recorded(p, drawn->front()), drawn->front(), 0, true});
    return sequence{static_cast<std::uint32_t>(slots_.size() - 1)};
  }

  /// Unsupported: a recorded trace has one continuation.
  result<sequence> fork(sequence /*s*/) {
    return fail(errc::unsupported, "replay_stepper: a recorded trace cannot be forked");
  }

  /// Forgets the sequence (its sample stays drawn).
  void release(sequence s) noexcept {
    if (s.slot < slots_.size()) slots_[s.slot].live = false;
  }

  /// The next step of each sequence (see the class comment).
  result<step_batch> extend(std::span<const sequence> seqs, const step_params& sp, std::span<const std::uint64_t> seeds) {
    if (auto ok = reckon::validate(sp); !ok) return ok.error();
    if (seeds.size() != seqs.size()) return fail(errc::invalid_argument, "replay_stepper: one seed per sequence");
    for (const auto& q : seqs)
      if (q.slot >= slots_.size() || !slots_[q.slot].live)
        return fail(errc::invalid_argument, "replay_stepper: extend of a released or unknown sequence");
    step_batch out;
    bool first = false;
    for (const auto& q : seqs) {
      slot& t = slots_[q.slot];
      const replay_sample& s = *t.sample;
      first = first || t.at == 0;
      const std::uint32_t cap = sp.max_total_tokens > t.at ? sp.max_total_tokens - t.at : 0;
      const std::uint32_t k = std::min({sp.max_step_tokens, s.tokens - t.at, cap});
      const std::uint32_t from = t.at;
      t.at += k;
      step st;
      st.tokens = k;
      st.source = t.index;
      st.done = t.at == s.tokens || t.at >= sp.max_total_tokens;
      st.finish = t.at == s.tokens ? finish_reason::eos : st.done ? finish_reason::length : finish_reason::step;
      if (s.text) {
        const std::size_t chars = s.text->size();
        auto char_at = [&](std::uint32_t token) {
          return token >= s.tokens ? chars : static_cast<std::size_t>(static_cast<std::uint64_t>(chars) * token / s.tokens);
        };
        st.text = s.text->substr(char_at(from), char_at(t.at) - char_at(from));
      }
      auto slice = [&](const std::vector<float>& v) {
        const auto lo = std::min<std::size_t>(from, v.size()), hi = std::min<std::size_t>(t.at, v.size());
        return std::vector<float>(v.begin() + static_cast<std::ptrdiff_t>(lo), v.begin() + static_cast<std::ptrdiff_t>(hi));
      };
      if (sp.stats.logprobs) st.stats.logprob = slice(s.token_logprobs);
      if (sp.stats.entropy) st.stats.entropy = slice(s.token_entropies);
      if (sp.stats.top_k > 0) st.stats.confidence = slice(s.token_confidences);
      out.usage.generated_tokens += k;
      out.steps.push_back(std::move(st));
    }
    out.usage.engine_calls = first ? 1 : 0;
    return out;
  }

private:
  struct slot {
    const replay_sample* sample = nullptr;
    std::uint32_t index = 0; // in the pool
    std::uint32_t at = 0;    // tokens handed out
    bool live = false;
  };

  replay_model* model_;
  std::vector<slot> slots_;
};

static_assert(sampling_model<replay_stepper>);
static_assert(stepping_model<replay_stepper>);
static_assert(logprob_model<replay_stepper>);

} // namespace reckon::testing
