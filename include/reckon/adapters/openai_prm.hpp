// SPDX-License-Identifier: Apache-2.0
// reckon::openai::served_prm: a trained process reward model served by vLLM's pooling API (Qwen2.5-Math-PRM, Math-Shepherd).
#pragma once

// Opt-in: link reckon::openai. reckon/reckon.hpp never includes this header.
//
// The wire protocol, as vLLM documents and implements it (vllm-project/vllm:
// docs/models/pooling_models/README.md "Pooling API", docs/models/pooling_models/reward.md
// "Process Reward Models", vllm/entrypoints/pooling/pooling/protocol.py,
// vllm/model_executor/layers/pooler/tokwise/methods.py StepPool, vllm/model_executor/models/qwen2_rm.py):
//
//   POST <url without its /v1>/pooling
//   request:  {"model": "<client_params.model, omitted when empty>",
//              "input": ["<text 1>", "<text 2>", ...],   (the API takes a string or a list of strings)
//              "task": "token_classify"}                  (served_prm_params::task; omitted when empty)
//   response: {"id": "pool-...", "object": "list", "created": 0, "model": "...",
//              "data": [{"index": 0, "object": "pooling", "data": [[p_0, p_1], [p_0, p_1], ...]}, ...],
//              "usage": {"prompt_tokens": N, "total_tokens": N, "completion_tokens": 0}}
//
// A process reward model runs with STEP pooling: the server keeps the rows of the token-wise
// output at the positions whose token id is the step tag's (pooler step_tag_id), restricted to the
// columns returned_token_ids when set, after the task's activation (softmax for token_classify).
// So each input's "data" holds one row per step tag, in text order. Qwen2ForProcessRewardModel
// defaults to STEP pooling with step_tag_id 151651 ("<extra_0>") and 2 labels; Math-Shepherd
// (LlamaForCausalLM) is served with
//   --pooler-config '{"pooling_type": "STEP", "step_tag_id": 12902, "returned_token_ids": [648, 387]}'
// (vLLM's reward.md gives the flag's form; 12902 "ки", 648 "+", 387 "-" are the ids Math-Shepherd's
// model card computes with its tokenizer), so each row is [p(+), p(-)].
//
// What reckon sends and reads, per preset (served_prm_params::qwen_math_prm() / math_shepherd()):
// - Qwen2.5-Math-PRM (the model card's usage): the text is the Qwen chat template applied to a
//   system message (its card's "Please reason step by step, and put your final answer within
//   \boxed{}."), the user message problem.prompt and the assistant message made of the steps,
//   each followed by "<extra_0>":
//     "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{problem}<|im_end|>\n"
//     "<|im_start|>assistant\n{step 1}<extra_0>{step 2}<extra_0>...<|im_end|>\n"
//   Each row is the two class probabilities; the step's score is row[1], P(positive), as the card's
//   make_step_rewards reads it.
// - Math-Shepherd (its card's usage, `f"{question} {output}"` with output "Step 1: ... ки\nStep 2: ... ки"):
//     "{problem} {step 1} ки\n{step 2} ки"
//   Each row is [p(+), p(-)]; the step's score is p(+) / (p(+) + p(-)), the pair renormalised (a
//   no-op where the server's softmax already ran over the two returned tokens).
// Steps are sent without their surrounding whitespace (trim_steps): both cards build their input
// from steps split at their separator, so the step delimiter reckon's steps keep ("\n\n") is not
// part of a step the PRM was trained on.
//
// Checks: every input must come back (by "index", once each) with exactly one row per step; every
// value read must be a finite probability in [0, 1] (a row of logits means the server's activation
// is off); anything else is errc::engine_failure naming the candidate and the step. A step whose
// text contains the step tag would add a row, so it is refused (invalid_argument) before sending.

#include <reckon/adapters/detail/openai_client.hpp>
#include <reckon/adapters/detail/openai_wire.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reckon::openai {

/// How a served PRM's row at a step tag becomes the step's score.
enum class prm_reading : std::uint8_t {
  positive_class, ///< the row is class probabilities: score = row[positive_index] (Qwen2.5-Math-PRM)
  token_pair,     ///< the row holds two token probabilities: score = row[positive_index] / (row[positive_index] + row[negative_index]) (Math-Shepherd)
};

/// What a served PRM sends and how it reads the answer. The default is the Qwen2.5-Math-PRM preset.
struct served_prm_params {
  /// The text of one candidate: {system} is `system_prompt`, {problem} problem.prompt (verbatim),
  /// {steps} the candidate's steps, each followed by `step_suffix`, joined by `step_separator`.
  std::string input_template = "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{problem}<|im_end|>\n"
                               "<|im_start|>assistant\n{steps}<|im_end|>\n";
  std::string system_prompt = "Please reason step by step, and put your final answer within \\boxed{}.";
  std::string step_tag = "<extra_0>";    ///< the text of the token the server pools at (non-empty; it must occur in step_suffix once)
  std::string step_suffix = "<extra_0>"; ///< what follows every step
  std::string step_separator;            ///< between one step's suffix and the next step
  bool trim_steps = true;                ///< send each step without leading and trailing whitespace
  prm_reading reading = prm_reading::positive_class;
  std::uint32_t positive_index = 1;      ///< the column of P(positive) (positive_class) or of the good token (token_pair)
  std::uint32_t negative_index = 0;      ///< token_pair: the column of the bad token (!= positive_index)
  std::string task = "token_classify";   ///< the request's "task" (vLLM >= 0.11 picks the pooler by it; omitted when empty)
  std::string path = "/pooling";         ///< appended to the URL with any trailing /v1 removed (vLLM serves /pooling at the root)
  std::uint32_t max_inputs_per_request = 8; ///< candidates per request ("input" is a list); 1: one request per candidate (> 0)

  /// Qwen/Qwen2.5-Math-PRM-7B and -72B (the default values).
  [[nodiscard]] static served_prm_params qwen_math_prm() { return {}; }

  /// peiyi9979/math-shepherd-mistral-7b-prm, served with returned_token_ids [id("+"), id("-")].
  [[nodiscard]] static served_prm_params math_shepherd() {
    served_prm_params p;
    p.input_template = "{problem} {steps}";
    p.system_prompt.clear();
    p.step_tag = "ки";
    p.step_suffix = " ки";
    p.step_separator = "\n";
    p.reading = prm_reading::token_pair;
    p.positive_index = 0;
    p.negative_index = 1;
    return p;
  }
};

namespace detail {

/// A /pooling reply, read (read_pooling_reply).
struct pooling_reply {
  std::vector<std::vector<double>> scores;    ///< per input, in input order: one score in [0, 1] per step
  std::optional<std::uint64_t> prompt_tokens; ///< the reply's usage.prompt_tokens, where it reports one
};

/// One row's score under `params` (see prm_reading), or why the row is not a probability row.
[[nodiscard]] inline result<double> read_pooling_row(const nlohmann::json& row, const served_prm_params& params) {
  // In size_t: an index of UINT32_MAX must ask for 2^32 columns, not wrap to 0 and read past the row.
  const std::size_t need =
      std::size_t{std::max(params.positive_index, params.reading == prm_reading::token_pair ? params.negative_index : 0U)} + 1;
  if (!row.is_array() || row.size() < need)
    return fail(errc::engine_failure, "the row is not a list of at least " + std::to_string(need) + " numbers");
  auto value = [&](std::uint32_t c) -> result<double> {
    const auto& v = row[c];
    if (!v.is_number()) return fail(errc::engine_failure, "column " + std::to_string(c) + " is not a number");
    const double x = v.get<double>();
    if (!std::isfinite(x) || x < 0.0 || x > 1.0)
      return fail(errc::engine_failure, "column " + std::to_string(c) + " is " + std::to_string(x) +
                                            ", not a probability (is the server's activation off?)");
    return x;
  };
  auto pos = value(params.positive_index);
  if (!pos) return pos.error();
  if (params.reading == prm_reading::positive_class) return *pos;
  auto neg = value(params.negative_index);
  if (!neg) return neg.error();
  if (!(*pos + *neg > 0.0)) return fail(errc::engine_failure, "both token probabilities are 0");
  return *pos / (*pos + *neg);
}

/// Reads a /pooling response body sent for steps_per_input.size() inputs, input k with
/// steps_per_input[k] steps (see the header's Checks): engine_failure, naming input k as
/// "candidate candidate_of[k]" (k where candidate_of is empty, else it has one number per input),
/// unless every input is answered once with one probability row per step.
[[nodiscard]] inline result<pooling_reply> read_pooling_reply(std::string_view body, std::span<const std::size_t> steps_per_input,
                                                              std::span<const std::size_t> candidate_of,
                                                              const served_prm_params& params) {
  reckon::detail::require(candidate_of.empty() || candidate_of.size() == steps_per_input.size(),
                          "openai::detail::read_pooling_reply: candidate_of must be empty or name every input");
  const std::size_t count = steps_per_input.size();
  auto bad = [&](const std::string& why) { return fail(errc::engine_failure, "openai::served_prm: " + why + ": " + excerpt(body)); };
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return bad("the response is not a JSON object");
  const auto data = parsed.find("data");
  if (data == parsed.end() || !data->is_array()) return bad("the response has no \"data\" list");
  if (data->size() != count)
    return bad("the response has " + std::to_string(data->size()) + " entries for " + std::to_string(count) + " inputs");
  pooling_reply out;
  out.scores.resize(count);
  std::vector<char> seen(count, 0);
  for (std::size_t e = 0; e < data->size(); ++e) {
    const auto& entry = (*data)[e];
    const auto index = entry.is_object() ? entry.find("index") : entry.end();
    if (index == entry.end() || !index->is_number_unsigned() || index->get<std::uint64_t>() >= count)
      return bad("entry " + std::to_string(e) + " has no valid \"index\"");
    const auto k = index->get<std::size_t>();
    if (seen[k] != 0) return bad("input " + std::to_string(k) + " is answered twice");
    seen[k] = 1;
    const std::size_t cand = candidate_of.empty() ? k : candidate_of[k];
    const std::size_t steps = steps_per_input[k];
    const auto rows = entry.find("data");
    if (rows == entry.end() || !rows->is_array()) return bad("candidate " + std::to_string(cand) + " has no \"data\" rows");
    if (rows->size() != steps)
      return bad("candidate " + std::to_string(cand) + " has " + std::to_string(rows->size()) + " scores for " +
                 std::to_string(steps) + " steps (is the server's pooling STEP at the step tag?)");
    for (std::size_t j = 0; j < steps; ++j) {
      auto score = read_pooling_row((*rows)[j], params);
      if (!score) return bad("step " + std::to_string(j) + " of candidate " + std::to_string(cand) + ": " + score.error().message);
      out.scores[k].push_back(*score);
    }
  }
  if (const auto usage = parsed.find("usage"); usage != parsed.end() && usage->is_object())
    if (const auto pt = usage->find("prompt_tokens"); pt != usage->end() && pt->is_number_unsigned())
      out.prompt_tokens = pt->get<std::uint64_t>();
  return out;
}

} // namespace detail

/// A process reward model served by vLLM's pooling API (see the header's notes for the protocol).
///
/// score_steps(problem, candidates) renders every candidate with steps as one text, sends them in
/// requests of at most max_inputs_per_request inputs (at most client_params.max_in_flight requests
/// at once) through the shared request layer (retries on 429 / 5xx / dropped connections,
/// timeouts, TLS, API-key redaction), and maps each input's rows back to its steps in order. A
/// candidate with no steps gets no scores and sends nothing. A call is all or nothing: on any
/// error no score is returned. Errors never contain client_params.api_key.
///
/// Cost: one request per max_inputs_per_request candidates, each reading its whole text (the PRM
/// re-reads every prefix each call: a particle filter pays O(steps^2) PRM tokens per path).
/// totals().delivered counts each accepted response as one engine call whose prefilled tokens are
/// the server's usage.prompt_tokens, or, when the response reports none, reckon's estimate of
/// ceil(characters / 4) of the texts sent; totals().prompt_tokens likewise. (A strategy's ledger
/// counts prm_tokens through budget::metered, which estimates from the steps' characters.)
///
/// Thread safety: one thread at a time. Movable, not copyable.
class served_prm {
public:
  using reckon_model_concept = capabilities<process_reward_model_tag>;

  /// A served PRM at `client.url`. Throws reckon::exception (invalid_argument) for bad client
  /// parameters (as openai::model), an empty step_tag, a step_suffix without exactly one step_tag,
  /// an input_template without {steps}, max_inputs_per_request == 0, a path not starting with '/',
  /// or token_pair indices that are equal.
  served_prm(client_params client, served_prm_params params) : transport_(std::move(client)), params_(std::move(params)) {
    const auto& q = params_;
    reckon::detail::require(!q.step_tag.empty(), "openai::served_prm_params.step_tag must not be empty");
    reckon::detail::require(occurrences(q.step_suffix, q.step_tag) == 1 && occurrences(q.step_separator, q.step_tag) == 0,
                            "openai::served_prm_params: step_suffix must contain step_tag exactly once, step_separator never");
    reckon::detail::require(q.input_template.find("{steps}") != std::string::npos,
                            "openai::served_prm_params.input_template must contain {steps}");
    reckon::detail::require(occurrences(q.input_template, q.step_tag) == 0 && occurrences(q.system_prompt, q.step_tag) == 0,
                            "openai::served_prm_params: input_template and system_prompt must not contain step_tag");
    reckon::detail::require(q.max_inputs_per_request > 0, "openai::served_prm_params.max_inputs_per_request must be > 0");
    reckon::detail::require(!q.path.empty() && q.path.front() == '/', "openai::served_prm_params.path must start with '/'");
    reckon::detail::require(q.reading != prm_reading::token_pair || q.positive_index != q.negative_index,
                            "openai::served_prm_params: positive_index and negative_index must differ");
    path_ = root_prefix(transport_.params().url, transport_.host()) + q.path;
  }
  explicit served_prm(client_params client) : served_prm(std::move(client), served_prm_params{}) {}

  /// One score in [0, 1] per step of each candidate (see the class notes).
  result<std::vector<std::vector<double>>> score_steps(const problem& p, std::span<const solution_view> candidates) {
    std::vector<std::vector<double>> out(candidates.size());
    std::vector<std::size_t> sent; // candidates with steps, in order
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (candidates[i].steps.empty()) continue;
      for (std::size_t j = 0; j < candidates[i].steps.size(); ++j)
        if (candidates[i].steps[j].find(params_.step_tag) != std::string::npos)
          return fail(errc::invalid_argument, "openai::served_prm: step " + std::to_string(j) + " of candidate " +
                                                  std::to_string(i) + " contains the step tag \"" + params_.step_tag +
                                                  "\", which would add a score");
      sent.push_back(i);
      texts.push_back(render(p, candidates[i].steps));
    }
    std::vector<std::pair<std::size_t, std::size_t>> chunks; // {first index into sent, count}
    for (std::size_t first = 0; first < sent.size(); first += params_.max_inputs_per_request)
      chunks.emplace_back(first, std::min<std::size_t>(params_.max_inputs_per_request, sent.size() - first));
    auto failed = transport_.for_each(chunks.size(), [&](httplib::Client& client, std::size_t c) {
      return score_chunk(client, candidates, sent, texts, chunks[c].first, chunks[c].second, out);
    });
    if (failed) {
      transport_.count([](counters& t) { ++t.failed_calls; });
      return transport_.redact(std::move(*failed));
    }
    return out;
  }

  /// The text sent for a candidate with these steps (as score_steps renders it).
  [[nodiscard]] std::string render(const problem& p, std::span<const std::string> steps) const {
    std::string joined;
    for (std::size_t j = 0; j < steps.size(); ++j) {
      if (j > 0) joined += params_.step_separator;
      joined += params_.trim_steps ? trim(steps[j]) : std::string_view(steps[j]);
      joined += params_.step_suffix;
    }
    std::string text;
    const std::string_view tpl = params_.input_template;
    for (std::size_t i = 0; i < tpl.size();) { // one pass: a field's value is never searched for fields
      if (tpl.compare(i, 7, "{steps}") == 0) {
        text += joined;
        i += 7;
      } else if (tpl.compare(i, 9, "{problem}") == 0) {
        text += p.prompt;
        i += 9;
      } else if (tpl.compare(i, 8, "{system}") == 0) {
        text += params_.system_prompt;
        i += 8;
      } else {
        text += tpl[i++];
      }
    }
    return text;
  }

  /// The requests' counters (see the class notes for what delivered counts).
  [[nodiscard]] counters totals() const { return transport_.totals(); }
  [[nodiscard]] const served_prm_params& params() const noexcept { return params_; }
  /// The request path, e.g. /pooling.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
  static std::size_t occurrences(std::string_view text, std::string_view what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + what.size())) ++n;
    return n;
  }

  static std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
  }

  // The URL's path prefix without a trailing "/v1": vLLM serves /pooling beside /v1, not under it.
  static std::string root_prefix(const std::string& url, const std::string& host) {
    std::string prefix = url.substr(host.size());
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (prefix.size() >= 3 && prefix.compare(prefix.size() - 3, 3, "/v1") == 0) prefix.resize(prefix.size() - 3);
    return prefix;
  }

  result<void> score_chunk(httplib::Client& client, std::span<const solution_view> candidates, const std::vector<std::size_t>& sent,
                           const std::vector<std::string>& texts, std::size_t first, std::size_t count,
                           std::vector<std::vector<double>>& out) {
    nlohmann::json body = nlohmann::json::object();
    if (!transport_.params().model.empty()) body["model"] = transport_.params().model;
    nlohmann::json input = nlohmann::json::array();
    std::uint64_t chars = 0;
    std::vector<std::size_t> steps(count);
    for (std::size_t k = 0; k < count; ++k) {
      input.push_back(texts[first + k]);
      chars += texts[first + k].size();
      steps[k] = candidates[sent[first + k]].steps.size();
    }
    body["input"] = std::move(input);
    if (!params_.task.empty()) body["task"] = params_.task;
    bool deterministic = false;
    auto response = transport_.post(client, path_, body.dump(), &deterministic);
    if (!response) return response.error();

    auto reply = detail::read_pooling_reply(*response, steps, std::span(sent).subspan(first, count), params_);
    if (!reply) return reply.error();
    for (std::size_t k = 0; k < count; ++k) out[sent[first + k]] = std::move(reply->scores[k]);
    reckon::usage u;
    u.engine_calls = 1;
    // reckon's estimate where the server reports no usage
    const std::uint64_t prompt_tokens = reply->prompt_tokens.value_or((chars + 3) / 4);
    u.prefilled_tokens = prompt_tokens;
    transport_.accept(u, prompt_tokens);
    return {};
  }

  detail::transport transport_;
  served_prm_params params_;
  std::string path_;
};

} // namespace reckon::openai
