// SPDX-License-Identifier: Apache-2.0
// The replay model: recorded samples (JSON Lines) served without replacement, with their rewards.
#pragma once

// File format, one problem per line (blank lines are ignored; unknown members are ignored):
//   {"id": str, "gold": str, "samples": [{"text": str?, "answer": str?, "tokens": int?,
//     "reward": number?, "step_rewards": [number]?, "token_logprobs": [number]?,
//     "token_entropies": [number]?}]}
// - reward (ORM) and step_rewards (PRM) are in [0, 1]; step_rewards[j] scores step j of the text
//   split at blank lines ("\n\n"), so when both are given their counts must agree; without text,
//   the sample's text is one placeholder step, "(recorded step)", per reward.
// - tokens defaults to the length of token_logprobs, else token_entropies, else ceil(chars / 4).
// - Errors name the line and the field ("line 3, samples[2].reward: expected a number in [0, 1]");
//   a problem with no samples or no gold is an error unless skip_incomplete is set, in which case
//   it is skipped and listed in replay_data::skipped.

#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/detail/json.hpp>
#include <reckon/random/stream.hpp>

#include <fmt/format.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
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

/// One recorded sample.
struct replay_sample {
  std::optional<std::string> text;     ///< the completion's text, if recorded
  std::optional<std::string> answer;   ///< the answer extracted when it was recorded, if any
  std::uint32_t tokens = 0;            ///< generated tokens (recorded or estimated, see the file comment)
  std::optional<double> reward;        ///< ORM score in [0, 1], if recorded
  std::vector<double> step_rewards;    ///< PRM score per step in [0, 1] (empty: not recorded)
  std::vector<float> token_logprobs;   ///< log p of each chosen token (empty: not recorded)
  std::vector<float> token_entropies;  ///< entropy of each token's distribution (empty: not recorded)
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
  std::vector<replay_problem> problems; ///< in file order
  std::vector<std::string> skipped;     ///< "line N: problem 'x' has no samples" for each skipped problem
};

/// How a replay file is read.
struct replay_params {
  bool skip_incomplete = false; ///< skip (and list) problems without gold or samples instead of failing
};

} // namespace reckon::testing

namespace reckon::detail::replay {

inline std::string where(std::size_t line, std::string_view field) { return fmt::format("line {}, {}", line, field); }

inline result<void> number_list(const detail::json_value& v, std::size_t line, std::string_view field, double lo,
                                double hi, std::vector<double>& out) {
  if (v.type != detail::json_value::kind::array)
    return fail(errc::invalid_argument, fmt::format("{}: expected an array of numbers", where(line, field)));
  for (std::size_t i = 0; i < v.items.size(); ++i) {
    const auto& x = v.items[i];
    if (x.type != detail::json_value::kind::number || x.number < lo || x.number > hi)
      return fail(errc::invalid_argument,
                  fmt::format("{}[{}]: expected a number in [{}, {}]", where(line, field), i, lo, hi));
    out.push_back(x.number);
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

inline result<testing::replay_sample> parse_sample(const detail::json_value& v, std::size_t line, std::size_t index) {
  using kind = detail::json_value::kind;
  const std::string base = fmt::format("samples[{}]", index);
  if (v.type != kind::object) return fail(errc::invalid_argument, fmt::format("{}: expected an object", where(line, base)));
  testing::replay_sample s;
  auto str = [&](std::string_view name, std::optional<std::string>& out) -> result<void> {
    if (const auto* f = v.find(name)) {
      if (f->type != kind::string)
        return fail(errc::invalid_argument, fmt::format("{}.{}: expected a string", where(line, base), name));
      out = f->string;
    }
    return {};
  };
  if (auto r = str("text", s.text); !r) return r.error();
  if (auto r = str("answer", s.answer); !r) return r.error();
  std::optional<std::uint32_t> tokens;
  if (const auto* f = v.find("tokens")) {
    if (f->type != kind::number || f->number < 0 || f->number > 4e9 || std::floor(f->number) != f->number)
      return fail(errc::invalid_argument, fmt::format("{}.tokens: expected a non-negative integer", where(line, base)));
    tokens = static_cast<std::uint32_t>(f->number);
  }
  if (const auto* f = v.find("reward")) {
    if (f->type != kind::number || f->number < 0.0 || f->number > 1.0)
      return fail(errc::invalid_argument, fmt::format("{}.reward: expected a number in [0, 1]", where(line, base)));
    s.reward = f->number;
  }
  if (const auto* f = v.find("step_rewards"))
    if (auto r = number_list(*f, line, base + ".step_rewards", 0.0, 1.0, s.step_rewards); !r) return r.error();
  std::vector<double> tmp;
  if (const auto* f = v.find("token_logprobs")) {
    if (auto r = number_list(*f, line, base + ".token_logprobs", -1e30, 0.0, tmp); !r) return r.error();
    s.token_logprobs.assign(tmp.begin(), tmp.end());
  }
  tmp.clear();
  if (const auto* f = v.find("token_entropies")) {
    if (auto r = number_list(*f, line, base + ".token_entropies", 0.0, 1e30, tmp); !r) return r.error();
    s.token_entropies.assign(tmp.begin(), tmp.end());
  }
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
  else if (!s.token_logprobs.empty()) s.tokens = static_cast<std::uint32_t>(s.token_logprobs.size());
  else if (!s.token_entropies.empty()) s.tokens = static_cast<std::uint32_t>(s.token_entropies.size());
  else if (s.text) s.tokens = static_cast<std::uint32_t>((s.text->size() + 3) / 4);
  return s;
}

} // namespace reckon::detail::replay

namespace reckon::testing {

/// Parses replay JSON Lines from memory. Errors name the line and field.
[[nodiscard]] inline result<replay_data> parse_replay(std::string_view text, const replay_params& params = {}) {
  using kind = detail::json_value::kind;
  using reckon::detail::replay::where;
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
    auto v = detail::parse_json(line);
    if (!v) return fail(errc::invalid_argument, fmt::format("line {}, {}", line_no, v.error().message));
    if (v->type != kind::object) return fail(errc::invalid_argument, fmt::format("line {}: expected an object", line_no));
    replay_problem p;
    p.line = line_no;
    const auto* id = v->find("id");
    if (id == nullptr || id->type != kind::string || id->string.empty())
      return fail(errc::invalid_argument, fmt::format("{}: expected a non-empty string", where(line_no, "id")));
    p.id = id->string;
    p.key = stable_id(p.id);
    if (auto [it, fresh] = seen.emplace(p.id, line_no); !fresh)
      return fail(errc::invalid_argument,
                  fmt::format("{}: problem '{}' already appeared on line {}", where(line_no, "id"), p.id, it->second));
    std::string missing;
    const auto* gold = v->find("gold");
    if (gold == nullptr || gold->type == kind::null) missing = "no gold";
    else if (gold->type != kind::string)
      return fail(errc::invalid_argument, fmt::format("{}: expected a string", where(line_no, "gold")));
    else p.gold = gold->string;
    const auto* samples = v->find("samples");
    if (samples != nullptr && samples->type != kind::array)
      return fail(errc::invalid_argument, fmt::format("{}: expected an array", where(line_no, "samples")));
    if (samples != nullptr)
      for (std::size_t i = 0; i < samples->items.size(); ++i) {
        auto s = detail::replay::parse_sample(samples->items[i], line_no, i);
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
  return out;
}

/// Reads and parses a replay file; a missing or unreadable file is errc::invalid_argument naming it.
[[nodiscard]] inline result<replay_data> load_replay(const std::string& path, const replay_params& params = {}) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(errc::invalid_argument, fmt::format("cannot open replay file '{}'", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  auto data = parse_replay(buffer.str(), params);
  if (!data) return fail(errc::invalid_argument, fmt::format("{}: {}", path, data.error().message));
  return data;
}

/// Serves recorded samples as a sampling model, their rewards as an ORM and a PRM.
///
/// Each problem's pool is shuffled by a permutation keyed by (trial seed, problem), and sample()
/// hands out the next n samples of it, so within one model samples are drawn without replacement
/// across calls; a new trial is a new model (or reset()) with another seed. params.seed is not
/// used (the trial seed decides the draw). Asking for more samples than remain is errc::no_capacity.
/// Completion::source is the sample's index in the pool, which the reward models read back from
/// solution_view::source. Token statistics are returned where recorded (logprob, entropy); usage
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
    sample_batch out;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t k = c.order[c.next++];
      const replay_sample& s = q->samples[k];
      completion comp;
      comp.text = s.text.value_or(std::string());
      comp.answer = s.answer;
      comp.tokens = s.tokens;
      comp.finish = finish_reason::eos;
      comp.source = k;
      if (sp.stats.logprobs) comp.stats.logprob = s.token_logprobs;
      if (sp.stats.entropy) comp.stats.entropy = s.token_entropies;
      out.usage.generated_tokens += s.tokens;
      out.completions.push_back(std::move(comp));
    }
    out.usage.engine_calls = 1;
    return out;
  }

  /// The recorded step rewards of each candidate (by source); the view's step count must match.
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
      out.push_back(rewards);
    }
    return out;
  }

  /// The recorded reward of each candidate (by source).
  result<std::vector<double>> score_outcomes(const problem& p, std::span<const solution_view> candidates) {
    const replay_problem* q = find(p);
    if (q == nullptr) return unknown(p);
    std::vector<double> out;
    for (const auto& c : candidates) {
      auto s = lookup(*q, c.source);
      if (!s) return s.error();
      if (!(*s)->reward)
        return fail(errc::unsupported, fmt::format("replay: sample {} of problem '{}' has no reward", c.source, q->id));
      out.push_back(*(*s)->reward);
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

} // namespace reckon::testing
