// SPDX-License-Identifier: Apache-2.0
// reckon::prompted_reviser<M>: the reviser capability over any sampling model, by a revision prompt.
#pragma once

// Core only (no HTTP, no llama.h): llama.cpp's engine, the synthetic model or a user's sampler
// becomes a reviser; openai::reviser (openai_reviser.hpp) renders its prompts with the same
// revision_prompt. reckon/reckon.hpp does not include this header.
//
// A prompted reviser (PRISM's refinement move, the sequential revisions of Snell et al. 2024): each
// revision_request becomes one prompt built from the problem, the candidate's steps, the PRM's
// per-step scores (when given), the earlier attempts (oldest first) and an instruction, and the
// model samples it once, as it samples any prompt.
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
// its iterator; here everything is in the one prompt (a chat endpoint gets it as the user message,
// an in-process engine as raw text: apply the model's chat template in prompt_template if it needs one).
// prompted_reviser samples the requests one after another, one engine call each: the
// sampling_model interface samples one prompt per call, so a batch of N revisions costs N calls,
// not the one batched call of the reviser concept's cost line (openai::reviser sends them concurrently).

#include <reckon/concepts/model_traits.hpp>
#include <reckon/concepts/reviser.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace reckon {

/// How a prompted reviser words its prompt.
struct revision_prompt_params {
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

/// A checked revision_prompt_params and the prompts it renders: the one prompt builder of every prompted
/// reviser (prompted_reviser, openai::reviser), for a user's own reviser too.
class revision_prompt {
public:
  /// Throws reckon::exception (invalid_argument) for a threshold outside [0, 1] or a bad
  /// prompt_template (an unknown placeholder, an unmatched brace in a placeholder, or no {candidate}).
  explicit revision_prompt(revision_prompt_params params) : params_(std::move(params)) {
    reckon::detail::require(params_.threshold >= 0.0 && params_.threshold <= 1.0, "revision_prompt_params.threshold must be in [0, 1]");
    std::vector<std::string> used;
    if (auto bad = scan(params_.prompt_template, used)) reckon::detail::require(false, "revision_prompt_params.prompt_template: " + *bad);
    reckon::detail::require(std::find(used.begin(), used.end(), "candidate") != used.end(),
                            "revision_prompt_params.prompt_template must contain {candidate}");
  }
  revision_prompt() : revision_prompt(revision_prompt_params{}) {}

  /// Checks what render needs of each request: feedback empty or one score per step, each in [0, 1].
  /// @returns invalid_argument naming `who` and the request, or success
  [[nodiscard]] static result<void> check(std::string_view who, std::span<const revision_request> requests) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const auto& q = requests[i];
      if (!q.feedback.empty() && q.feedback.size() != q.candidate.steps.size())
        return fail(errc::invalid_argument,
                    fmt::format("{}: request {} has {} feedback scores for {} steps", who, i, q.feedback.size(), q.candidate.steps.size()));
      for (const double s : q.feedback)
        if (!(s >= 0.0 && s <= 1.0))
          return fail(errc::invalid_argument, fmt::format("{}: request {} has a feedback score {} outside [0, 1]", who, i, s));
    }
    return {};
  }

  /// The prompt for `q` (see revision_prompt_params for the pieces); `q` as check() accepts it.
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

  [[nodiscard]] const revision_prompt_params& params() const noexcept { return params_; }

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

  revision_prompt_params params_;
};

/// The reviser capability (and sampling, for strategies that sample and revise with one model)
/// over any sampling model M: `reckon::prompted_reviser<reckon::llama_cpp::engine> rv(std::move(engine));`
/// holds the model; `prompted_reviser<M&>` refers to one the caller keeps (and must outlive it).
///
/// revise(problem, requests, params) renders one prompt per request (revision_prompt::render) and
/// samples it as `m.sample({problem.id, prompt}, params with seed = the request's seed, 1)`, request
/// after request, in order; completion i has source i, and the usage is the samples' sum. It stops
/// at the first request whose sample fails, throws, or returns other than one completion, and
/// returns that error (its code kept; a throw or a wrong count is engine_failure) with the
/// request's index in the message and no completion; or invalid_argument for bad sampling params
/// or feedback of the wrong length or out of [0, 1], before any sample.
///
/// sample(problem, params, n) is M's. It declares logprob_model exactly where M does (a revision
/// carries the token statistics params.stats asks of M), and forwards model_traits<M>'s
/// logprob_top_k, full_logits and cost_per_token; it is not a stepping model.
///
/// Cost: one M::sample call per revision, each prefilling its prompt (the candidate, the history and
/// the feedback); delivered() sums every sample's usage that came back, those of a failed revise too.
///
/// Thread safety: as M's.
template <class M>
  requires sampling_model<std::remove_cvref_t<M>> && (!std::is_const_v<std::remove_reference_t<M>>) &&
           (!std::is_rvalue_reference_v<M>)
class prompted_reviser {
  using base = std::remove_cvref_t<M>;

public:
  using reckon_model_concept =
      std::conditional_t<declares_capability<base, logprob_model_tag>, capabilities<sampling_model_tag, logprob_model_tag, reviser_tag>,
                         capabilities<sampling_model_tag, reviser_tag>>;
  static constexpr std::uint32_t logprob_top_k = model_traits<base>::logprob_top_k; ///< as M's
  static constexpr bool full_logits = model_traits<base>::full_logits;              ///< as M's
  static constexpr double cost_per_token = model_traits<base>::cost_per_token;      ///< as M's

  /// A reviser over `model`. Throws reckon::exception (invalid_argument) for bad params (see revision_prompt).
  explicit prompted_reviser(M model, revision_prompt_params params = {})
      : model_(std::forward<M>(model)), prompt_(std::move(params)) {}

  /// M's sample.
  result<sample_batch> sample(const problem& p, const sampling_params& params, std::uint32_t n) {
    auto r = model_.sample(p, params, n);
    if (r) delivered_ += r->usage;
    return r;
  }

  /// One revised completion per request, in order (see the class notes).
  result<sample_batch> revise(const problem& p, std::span<const revision_request> requests, const sampling_params& params) {
    if (auto ok = validate(params); !ok) return ok.error();
    if (auto ok = revision_prompt::check("prompted_reviser", requests); !ok) return ok.error();
    sample_batch out;
    out.completions.reserve(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      sampling_params sp = params;
      sp.seed = requests[i].seed;
      const problem asked{p.id, prompt_.render(p, requests[i])};
      std::optional<result<sample_batch>> got;
      try {
        got.emplace(model_.sample(asked, sp, 1));
      } catch (const std::exception& e) {
        return fail(errc::engine_failure, fmt::format("prompted_reviser: request {}: the model threw: {}", i, e.what()));
      } catch (...) {
        return fail(errc::engine_failure, fmt::format("prompted_reviser: request {}: the model threw", i));
      }
      if (!*got) return fail(got->error().code, fmt::format("prompted_reviser: request {}: {}", i, got->error().message));
      auto& batch = got->value();
      delivered_ += batch.usage;
      if (batch.completions.size() != 1)
        return fail(errc::engine_failure,
                    fmt::format("prompted_reviser: request {} came back with {} completions, not 1", i, batch.completions.size()));
      completion c = std::move(batch.completions[0]);
      c.source = i;
      out.completions.push_back(std::move(c));
      out.usage += batch.usage;
    }
    return out;
  }

  /// The prompt revise samples for `q`.
  [[nodiscard]] std::string render(const problem& p, const revision_request& q) const { return prompt_.render(p, q); }
  /// The usage of every sample (of sample and revise calls) that came back.
  [[nodiscard]] const usage& delivered() const noexcept { return delivered_; }
  [[nodiscard]] const revision_prompt_params& params() const noexcept { return prompt_.params(); }
  [[nodiscard]] base& model() noexcept { return model_; }
  [[nodiscard]] const base& model() const noexcept { return model_; }

private:
  M model_;
  revision_prompt prompt_;
  usage delivered_{};
};

} // namespace reckon
