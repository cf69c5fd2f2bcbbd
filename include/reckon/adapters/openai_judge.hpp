// SPDX-License-Identifier: Apache-2.0
// reckon::openai::judge: a PRM and ORM that asks a served model "is this step correct?" and reads P(yes) from its top logprobs.
#pragma once

// Opt-in: link reckon::openai. reckon/reckon.hpp never includes this header.
//
// The LLM-as-a-judge reward model: a prompt per step (or per finished solution) asking whether it is
// correct, one generated token, and the score P(yes) / (P(yes) + P(no)) from that token's top-k
// logprobs, where P(yes) sums the probabilities of the listed tokens that are one of `yes_tokens`
// (likewise no). It needs the top-k token strings, which all three logprob shapes carry. Any
// OpenAI-compatible server that returns top logprobs serves it (vLLM, SGLang, llama-server, hosted
// endpoints), on /v1/completions or /v1/chat/completions.
//
// It is a prompted judge, not a trained PRM: its scores are as good as the served model's
// judgement, and a small model judges poorly.

#include <reckon/adapters/detail/openai_client.hpp>
#include <reckon/adapters/detail/openai_wire.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace reckon::openai {

/// How a judge asks and reads its answer.
struct judge_params {
  /// The prompt that judges step j of a solution: {problem} is problem.prompt, {previous} the steps
  /// before j joined, {step} step j.
  std::string step_template =
      "Problem:\n{problem}\n\nSolution so far:\n{previous}\n\nNext step:\n{step}\n\n"
      "Is the next step correct? Answer Yes or No.\nAnswer:";
  /// The prompt that judges a finished solution (score_outcomes): {problem}, and {solution}, its steps joined.
  std::string outcome_template =
      "Problem:\n{problem}\n\nSolution:\n{solution}\n\nIs the solution correct? Answer Yes or No.\nAnswer:";
  std::vector<std::string> yes_tokens = {" Yes", "Yes", " yes", "yes", " YES", "YES"}; ///< token strings read as yes (exact match)
  std::vector<std::string> no_tokens = {" No", "No", " no", "no", " NO", "NO"};       ///< token strings read as no (exact match)
  std::uint32_t top_k = 20;      ///< logprobs asked for the answer token (1 .. 20)
  double unjudged_score = 0.5;   ///< the score when neither a yes nor a no token is in the top-k (in [0, 1]; counted in judge_counters::unjudged)
  bool cache = true;             ///< remember each rendered prompt's score, so a prefix's steps are judged once across calls
};

/// What a judge has done besides its requests (see counters for those).
struct judge_counters {
  std::uint64_t judged = 0;   ///< prompts sent and scored
  std::uint64_t cached = 0;   ///< scores answered from the cache
  std::uint64_t unjudged = 0; ///< prompts whose top-k held neither a yes nor a no token
};

/// A process and outcome reward model judging with a served model (see the header's notes).
///
/// score_steps(problem, candidates) renders step_template for every step of every candidate,
/// answers the ones already judged from the cache, and sends the rest as one batch of n = 1,
/// max_tokens = 1, temperature 0 requests (at most max_in_flight at once) through the shared
/// request layer (retries, timeouts, TLS). score_outcomes does the same with outcome_template, one
/// prompt per candidate. A call is all or nothing: on any error no score is returned (and none of
/// the call's scores is cached). Errors never contain client_params.api_key.
///
/// Cost: one request per step not yet judged; a particle filter that re-scores every step of every
/// particle each round pays O(steps) requests per particle with the cache, O(steps^2) without.
/// The requests' usage (prompt tokens not cached by the server, generated tokens) is in totals().
///
/// Thread safety: one thread at a time. Movable, not copyable.
class judge {
public:
  using reckon_model_concept = capabilities<process_reward_model_tag, outcome_reward_model_tag>;

  /// A judge talking to `client.url`. Throws reckon::exception (invalid_argument) for bad client
  /// parameters (as openai::model), a top_k outside 1 .. 20, an unjudged_score outside [0, 1], or
  /// empty yes/no token lists, or a template without its {step} / {solution} field.
  judge(client_params client, judge_params params) : transport_(std::move(client)), params_(std::move(params)) {
    reckon::detail::require(params_.top_k >= 1 && params_.top_k <= 20, "openai::judge_params.top_k must be in [1, 20]");
    reckon::detail::require(params_.unjudged_score >= 0.0 && params_.unjudged_score <= 1.0,
                            "openai::judge_params.unjudged_score must be in [0, 1]");
    reckon::detail::require(!params_.yes_tokens.empty() && !params_.no_tokens.empty(),
                            "openai::judge_params: yes_tokens and no_tokens must not be empty");
    reckon::detail::require(params_.step_template.find("{step}") != std::string::npos,
                            "openai::judge_params.step_template must contain {step}");
    reckon::detail::require(params_.outcome_template.find("{solution}") != std::string::npos,
                            "openai::judge_params.outcome_template must contain {solution}");
    path_ = transport_.path(transport_.params().endpoint);
  }
  explicit judge(client_params client) : judge(std::move(client), judge_params{}) {}

  /// One score in [0, 1] per step of each candidate (see the class notes).
  result<std::vector<std::vector<double>>> score_steps(const problem& p, std::span<const solution_view> candidates) {
    std::vector<std::string> prompts;
    std::vector<std::vector<std::size_t>> where(candidates.size());
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      std::string previous;
      for (std::size_t j = 0; j < candidates[i].steps.size(); ++j) {
        const std::string& step = candidates[i].steps[j];
        where[i].push_back(prompts.size());
        prompts.push_back(render(params_.step_template, {{"{problem}", p.prompt}, {"{previous}", previous}, {"{step}", step}}));
        previous += step;
      }
    }
    auto scores = score_prompts(prompts);
    if (!scores) return scores.error();
    std::vector<std::vector<double>> out(candidates.size());
    for (std::size_t i = 0; i < candidates.size(); ++i)
      for (const std::size_t k : where[i]) out[i].push_back((*scores)[k]);
    return out;
  }

  /// One score in [0, 1] per candidate, judging the whole solution.
  result<std::vector<double>> score_outcomes(const problem& p, std::span<const solution_view> candidates) {
    std::vector<std::string> prompts;
    for (const auto& c : candidates) {
      std::string solution;
      for (const auto& s : c.steps) solution += s;
      prompts.push_back(render(params_.outcome_template, {{"{problem}", p.prompt}, {"{solution}", solution}}));
    }
    return score_prompts(prompts);
  }

  /// Scores of rendered prompts, in order: one request per prompt not in the cache.
  result<std::vector<double>> score_prompts(std::span<const std::string> prompts) {
    std::vector<double> out(prompts.size(), 0.0);
    std::vector<std::size_t> ask; // indices of prompts to send, first occurrence of each
    std::unordered_map<std::string_view, std::size_t> first;
    std::vector<std::size_t> same(prompts.size(), 0); // duplicates within the call: the index they copy
    std::uint64_t hits = 0;
    for (std::size_t k = 0; k < prompts.size(); ++k) {
      if (params_.cache)
        if (auto it = cache_.find(prompts[k]); it != cache_.end()) {
          out[k] = it->second;
          same[k] = k;
          ++hits;
          continue;
        }
      auto [it, fresh] = first.emplace(prompts[k], k);
      same[k] = it->second;
      if (fresh) ask.push_back(k);
    }
    std::vector<double> got(ask.size(), 0.0);
    std::vector<char> unjudged(ask.size(), 0);
    auto failed = transport_.for_each(ask.size(), [&](httplib::Client& client, std::size_t a) {
      return judge_one(client, prompts[ask[a]], got[a], unjudged[a]);
    });
    if (failed) {
      transport_.count([](counters& t) { ++t.failed_calls; });
      return transport_.redact(std::move(*failed));
    }
    for (std::size_t a = 0; a < ask.size(); ++a) {
      out[ask[a]] = got[a];
      if (params_.cache) cache_.emplace(prompts[ask[a]], got[a]);
    }
    for (std::size_t k = 0; k < prompts.size(); ++k)
      if (same[k] != k) out[k] = out[same[k]];
    extra_.judged += ask.size();
    extra_.cached += hits;
    for (const char u : unjudged) extra_.unjudged += u != 0 ? 1 : 0;
    return out;
  }

  /// Forgets every cached score.
  void clear_cache() { cache_.clear(); }

  /// The requests' counters (usage of every accepted response in delivered).
  [[nodiscard]] counters totals() const { return transport_.totals(); }
  /// Prompts judged, answered from the cache, and unjudged.
  [[nodiscard]] const judge_counters& judged() const noexcept { return extra_; }
  [[nodiscard]] const judge_params& params() const noexcept { return params_; }

  /// P(yes) / (P(yes) + P(no)) over one token's listed alternatives, or nullopt when neither is listed.
  [[nodiscard]] static std::optional<double> yes_share(std::span<const std::string> names, std::span<const float> logprobs,
                                                       std::span<const std::string> yes, std::span<const std::string> no) {
    double p_yes = 0.0;
    double p_no = 0.0;
    bool any = false;
    auto listed = [](std::span<const std::string> set, const std::string& name) {
      for (const auto& s : set)
        if (s == name) return true;
      return false;
    };
    for (std::size_t i = 0; i < names.size() && i < logprobs.size(); ++i) {
      const double pr = std::exp(static_cast<double>(logprobs[i])); // -inf: 0
      if (listed(yes, names[i])) {
        p_yes += pr;
        any = true;
      } else if (listed(no, names[i])) {
        p_no += pr;
        any = true;
      }
    }
    if (!any || !(p_yes + p_no > 0.0)) return std::nullopt;
    return p_yes / (p_yes + p_no);
  }

private:
  // One pass over the template, so a field's value is never searched for other fields.
  static std::string render(std::string_view tpl, std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    std::string out;
    out.reserve(tpl.size());
    for (std::size_t i = 0; i < tpl.size();) {
      bool hit = false;
      if (tpl[i] == '{')
        for (const auto& [key, value] : fields)
          if (tpl.substr(i, key.size()) == key) {
            out += value;
            i += key.size();
            hit = true;
            break;
          }
      if (!hit) out += tpl[i++];
    }
    return out;
  }

  result<void> judge_one(httplib::Client& client, const std::string& prompt, double& score, char& unjudged) {
    sampling_params sp;
    sp.max_tokens = 1;
    sp.temperature = 0.0f;
    const auto& cp = transport_.params();
    bool deterministic = false;
    auto response = transport_.post(
        client, path_, detail::request_body(cp.endpoint, cp.model, prompt, sp, 1, 0, params_.top_k).dump(), &deterministic);
    if (!response) { // named, so that the user knows which server to change (e.g. its context: the judge's prompt holds the whole path)
      reckon::error e = response.error();
      e.message = "openai::judge: " + e.message;
      return e;
    }
    auto parsed = detail::parse_response(*response, cp.endpoint);
    if (!parsed) return parsed.error();
    if (parsed->choices.size() != 1)
      return fail(errc::engine_failure, "openai::judge: server returned " + std::to_string(parsed->choices.size()) +
                                            " choices for n = 1: " + detail::excerpt(*response));
    const auto& c = parsed->choices[0];
    if (!c.has_token_list || c.top.empty())
      return fail(errc::engine_failure, "openai::judge: the response has no top logprobs (the server must return logprobs): " +
                                            detail::excerpt(*response));
    std::vector<std::string> names = c.top_tokens[0];
    std::vector<float> values = c.top[0];
    // The chosen token counts too where the server left it out of its own top-k row.
    if (!c.tokens.empty() && std::find(names.begin(), names.end(), c.tokens[0]) == names.end()) {
      names.push_back(c.tokens[0]);
      values.push_back(c.logprob[0]);
    }
    for (const float v : values)
      if (std::isnan(v) || v > 1e-3f)
        return fail(errc::engine_failure, "openai::judge: a top logprob is not a log-probability: " + detail::excerpt(*response));
    const auto share = yes_share(names, values, params_.yes_tokens, params_.no_tokens);
    score = share ? *share : params_.unjudged_score;
    unjudged = share ? 0 : 1;
    reckon::usage u;
    u.engine_calls = 1;
    u.prefilled_tokens = parsed->prefilled();
    u.generated_tokens = c.has_token_list ? c.logprob.size() : parsed->completion_tokens.value_or(1);
    transport_.accept(u, parsed->prompt_tokens);
    return {};
  }

  detail::transport transport_;
  judge_params params_;
  std::string path_;
  std::unordered_map<std::string, double> cache_;
  judge_counters extra_;
};

} // namespace reckon::openai
