// SPDX-License-Identifier: Apache-2.0
// reckon::openai::reviser: the reviser capability over any OpenAI-compatible sampling model, by a revision prompt.
#pragma once

// Opt-in: link reckon::openai. reckon/reckon.hpp never includes this header.
//
// A prompted reviser (PRISM's refinement move, the sequential revisions of Snell et al. 2024): each
// revision_request becomes one prompt built from the problem, the candidate's steps, the PRM's
// per-step scores (when given), the earlier attempts (oldest first) and an instruction, sent to the
// served model as openai::model sends any prompt (as the prompt of /v1/completions or as one user
// message of /v1/chat/completions) and sampled once.
//
// What the default prompt takes from where:
// - PRISM (github.com/Rituraj003/PRISM, src/methods/composable/pop_to_pop/prism.py,
//   _propose_and_accept, and the PRISM_MATH iterator prompt of src/prompts.py): the layout
//   "Problem:\n...\n\nPrevious reasoning:\n<step>...</step> lines\n\nStep-by-step verification:\n...",
//   the instruction "Refine the solution by fixing any -1 steps. Maintain +1 steps unless you find
//   a better approach.", the final-answer line "The final answer is: \boxed{...}", and, for
//   new_approach, its exploration instruction verbatim ("IMPORTANT: Even if the solution seems
//   correct, explore a DIFFERENT reasoning approach. ...").
// - Snell et al. 2024 (sequential revisions; no code released): the reviser sees its chain's
//   earlier attempts in context, with no critique (the critique is implicit in the attempts); the
//   default without feedback asks for a corrected solution given them.
// Deviations: PRISM's verifier marks each step +1 / 0 / -1 and its prompt lists the -1 lines; a
// reckon PRM gives scores in [0, 1], so the feedback lists every step's score and names the first
// below `threshold` (the instruction asks to fix that step and those after it). PRISM asks for
// output in <step>...</step> lines; reckon's strategies split a revision at their step delimiter
// ("\n\n" by default), so the default asks for one step per paragraph instead. PRISM system-prompts
// its iterator; here everything is in the one prompt (a chat endpoint gets it as the user message).

#include <reckon/adapters/openai.hpp>
#include <reckon/concepts/reviser.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace reckon::openai {

/// How a reviser words its prompt.
struct reviser_params {
  /// The prompt. Placeholders: {problem} (problem.prompt), {candidate} (the candidate's steps, each
  /// as "<step>...</step>" on its own line, trimmed), {feedback} (the feedback section, or nothing
  /// without feedback), {history} (the earlier attempts section, or nothing without history),
  /// {instruction} (what to do). "{{" and "}}" are literal braces; any other "{name}" is an error.
  /// Must contain {candidate}.
  std::string prompt_template = "Problem:\n{problem}\n\n{history}Previous reasoning:\n{candidate}\n\n{feedback}{instruction}";
  /// The feedback section's heading (then one line per step: "Step k: 0.910").
  std::string feedback_heading = "Step-by-step verification (the reward model's score of each step, from 0 to 1):\n";
  /// The history section's heading (then "Attempt k:\n<its text, trimmed>\n\n" per earlier attempt, oldest first).
  std::string history_heading = "Earlier attempts, oldest first:\n";
  /// A step scored below this is flagged; the first one is named (in [0, 1]).
  double threshold = 0.5;
  /// The instruction with feedback where a step is below threshold ({step}: its 1-based number).
  std::string fix_instruction = "Refine the solution by fixing step {step}, the first step scored below the threshold, and "
                                "every step after it. Maintain the steps before it unless you find a better approach.";
  /// The instruction with feedback where no step is below threshold.
  std::string keep_instruction = "Refine the solution by fixing any weak steps. Maintain the well-scored steps unless you "
                                 "find a better approach.";
  /// The instruction without feedback (sequential revisions).
  std::string rewrite_instruction = "The previous reasoning may contain mistakes. Write a corrected solution.";
  /// Appended to every instruction.
  std::string format_instruction = "\n\nFormatting requirements:\n- Write one step per paragraph, separated by a blank line.\n"
                                   "- Keep the number of steps small and concise.\n"
                                   "- Your LAST step MUST contain the final answer: The final answer is: \\boxed{...}";
  /// Appended when revision_request::new_approach is set (PRISM's exploration instruction).
  std::string new_approach_instruction = "\n\nIMPORTANT: Even if the solution seems correct, explore a DIFFERENT reasoning "
                                         "approach. Be creative and try an alternative method to solve this problem.";
};

/// The reviser capability (and sampling, for strategies that sample and revise with one model)
/// over an openai::model.
///
/// revise(problem, requests, params) builds one prompt per request (render()), samples it once
/// with `params` and seed = the request's seed (max_tokens, temperature, stop and statistics as
/// given), at most client_params.max_in_flight requests at once, and returns the completions in
/// request order (completion i has source i) with the summed usage. It fails, with no completion,
/// if any request fails (the first failing request's error, after the request layer's retries), or
/// with invalid_argument for bad sampling params or feedback of the wrong length or out of [0, 1].
///
/// sample(problem, params, n) is openai::model::sample.
///
/// Cost: one request per revision, each prefilling its prompt (the candidate, the history and the
/// feedback). totals() are the model's counters.
///
/// Thread safety: one thread at a time (revise's fan-out calls openai::model::sample from several
/// threads; it keeps each call's state apart and its counters under a mutex). Movable.
class reviser {
public:
  using reckon_model_concept = capabilities<sampling_model_tag, logprob_model_tag, reviser_tag>;
  static constexpr std::uint32_t logprob_top_k = model::logprob_top_k; ///< as openai::model's
  static constexpr bool full_logits = model::full_logits;              ///< as openai::model's

  /// A reviser over the server at `client.url`. Throws reckon::exception (invalid_argument) for bad
  /// client parameters (as openai::model), a threshold outside [0, 1], or a bad prompt_template (an
  /// unknown placeholder, an unmatched brace in a placeholder, or no {candidate}).
  reviser(client_params client, reviser_params params) : model_(std::move(client)), params_(std::move(params)) {
    reckon::detail::require(params_.threshold >= 0.0 && params_.threshold <= 1.0,
                            "openai::reviser_params.threshold must be in [0, 1]");
    std::vector<std::string> used;
    if (auto bad = scan(params_.prompt_template, used)) reckon::detail::require(false, "openai::reviser_params.prompt_template: " + *bad);
    reckon::detail::require(std::find(used.begin(), used.end(), "candidate") != used.end(),
                            "openai::reviser_params.prompt_template must contain {candidate}");
  }
  explicit reviser(client_params client) : reviser(std::move(client), reviser_params{}) {}

  /// openai::model::sample.
  result<sample_batch> sample(const problem& p, const sampling_params& params, std::uint32_t n) { return model_.sample(p, params, n); }

  /// One revised completion per request, in order (see the class notes).
  result<sample_batch> revise(const problem& p, std::span<const revision_request> requests, const sampling_params& params) {
    if (auto ok = validate(params); !ok) return ok.error();
    std::vector<std::string> prompts;
    prompts.reserve(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const auto& q = requests[i];
      if (!q.feedback.empty() && q.feedback.size() != q.candidate.steps.size())
        return fail(errc::invalid_argument, fmt::format("openai::reviser: request {} has {} feedback scores for {} steps", i,
                                                        q.feedback.size(), q.candidate.steps.size()));
      for (const double s : q.feedback)
        if (!(s >= 0.0 && s <= 1.0))
          return fail(errc::invalid_argument, fmt::format("openai::reviser: request {} has a feedback score {} outside [0, 1]", i, s));
      prompts.push_back(render(p, q));
    }
    std::vector<std::optional<result<sample_batch>>> got(requests.size());
    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
    auto worker = [&] {
      for (;;) {
        if (stop.load()) return;
        const std::size_t i = next.fetch_add(1);
        if (i >= requests.size()) return;
        sampling_params sp = params;
        sp.seed = requests[i].seed;
        try {
          got[i] = model_.sample(problem{p.id, prompts[i]}, sp, 1);
        } catch (const std::exception& e) { // nothing may leave a worker thread
          got[i] = result<sample_batch>(fail(errc::engine_failure, std::string("openai::reviser: ") + e.what()));
        }
        if (!*got[i]) stop.store(true);
      }
    };
    const std::size_t threads = std::min<std::size_t>(model_.params().max_in_flight, requests.size());
    if (threads <= 1) {
      worker();
    } else {
      std::vector<std::thread> pool;
      pool.reserve(threads);
      for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
      for (auto& th : pool) th.join();
    }
    sample_batch out;
    out.completions.reserve(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      if (got[i] && !*got[i]) return got[i]->error();
    }
    for (std::size_t i = 0; i < requests.size(); ++i) {
      auto& batch = got[i]->value();
      if (batch.completions.size() != 1)
        return fail(errc::engine_failure, fmt::format("openai::reviser: request {} came back with {} completions", i,
                                                      batch.completions.size()));
      completion c = std::move(batch.completions[0]);
      c.source = i;
      out.completions.push_back(std::move(c));
      out.usage += batch.usage;
    }
    return out;
  }

  /// The prompt revise sends for `q` (see reviser_params for the pieces).
  [[nodiscard]] std::string render(const problem& p, const revision_request& q) const {
    std::string candidate;
    for (std::size_t j = 0; j < q.candidate.steps.size(); ++j) {
      if (j > 0) candidate += '\n';
      candidate += "<step>" + std::string(trim(q.candidate.steps[j])) + "</step>";
    }
    std::string feedback;
    std::optional<std::size_t> first_low;
    if (!q.feedback.empty()) {
      feedback = params_.feedback_heading;
      for (std::size_t j = 0; j < q.feedback.size(); ++j) {
        const bool low = q.feedback[j] < params_.threshold;
        feedback += fmt::format("Step {}: {:.3f}", j + 1, q.feedback[j]);
        if (low && !first_low) {
          first_low = j;
          feedback += fmt::format(" <- the first step below {:.2f}", params_.threshold);
        }
        feedback += '\n';
      }
      feedback += '\n';
    }
    std::string history;
    if (!q.history.empty()) {
      history = params_.history_heading;
      for (std::size_t a = 0; a < q.history.size(); ++a) {
        std::string text;
        for (const auto& s : q.history[a].steps) text += s;
        history += fmt::format("Attempt {}:\n{}\n\n", a + 1, trim(text));
      }
    }
    std::string instruction;
    if (q.feedback.empty()) instruction = params_.rewrite_instruction;
    else if (first_low) instruction = replace_all(params_.fix_instruction, "{step}", std::to_string(*first_low + 1));
    else instruction = params_.keep_instruction;
    instruction += params_.format_instruction;
    if (q.new_approach) instruction += params_.new_approach_instruction;

    const std::array<std::pair<std::string_view, const std::string*>, 5> fields{{{"problem", &p.prompt},
                                                                                  {"candidate", &candidate},
                                                                                  {"feedback", &feedback},
                                                                                  {"history", &history},
                                                                                  {"instruction", &instruction}}};
    std::string out;
    const std::string_view tpl = params_.prompt_template;
    for (std::size_t i = 0; i < tpl.size();) {
      if ((tpl[i] == '{' || tpl[i] == '}') && i + 1 < tpl.size() && tpl[i + 1] == tpl[i]) {
        out += tpl[i];
        i += 2;
        continue;
      }
      if (tpl[i] == '{') {
        const std::size_t end = name_end(tpl, i + 1);
        if (end > i + 1 && end < tpl.size() && tpl[end] == '}') {
          const std::string_view name = tpl.substr(i + 1, end - i - 1);
          for (const auto& [key, value] : fields)
            if (key == name) out += *value;
          i = end + 1;
          continue;
        }
      }
      out += tpl[i++];
    }
    return out;
  }

  /// The model's counters (every request of every sample and revise call).
  [[nodiscard]] counters totals() const { return model_.totals(); }
  [[nodiscard]] const reviser_params& params() const noexcept { return params_; }
  [[nodiscard]] const client_params& client() const noexcept { return model_.params(); }

private:
  static constexpr std::array<std::string_view, 5> known_ = {"problem", "candidate", "feedback", "history", "instruction"};

  static bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }
  static std::size_t name_end(std::string_view tpl, std::size_t at) {
    while (at < tpl.size() && name_char(tpl[at])) ++at;
    return at;
  }

  // Why `tpl` is not a valid template (nullopt: it is); `used` gets its placeholders. A "{name}"
  // whose name is not known is an error (a misspelt field would otherwise be sent as text).
  static std::optional<std::string> scan(std::string_view tpl, std::vector<std::string>& used) {
    for (std::size_t i = 0; i < tpl.size();) {
      if ((tpl[i] == '{' || tpl[i] == '}') && i + 1 < tpl.size() && tpl[i + 1] == tpl[i]) {
        i += 2;
        continue;
      }
      if (tpl[i] == '{') {
        const std::size_t end = name_end(tpl, i + 1);
        if (end > i + 1 && end < tpl.size() && tpl[end] == '}') {
          const std::string name(tpl.substr(i + 1, end - i - 1));
          if (std::find(known_.begin(), known_.end(), name) == known_.end())
            return "unknown placeholder {" + name + "} (known: {problem}, {candidate}, {feedback}, {history}, {instruction}; "
                   "write {{ and }} for literal braces)";
          used.push_back(name);
          i = end + 1;
          continue;
        }
        if (end > i + 1) return "unterminated placeholder at offset " + std::to_string(i);
      }
      ++i;
    }
    return std::nullopt;
  }

  static std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
  }

  static std::string replace_all(std::string s, std::string_view from, const std::string& to) {
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
    return s;
  }

  model model_;
  reviser_params params_;
};

} // namespace reckon::openai
