// SPDX-License-Identifier: Apache-2.0
// The values strategies and adapters exchange: problems, completions, steps, token statistics, usage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace reckon {

/// A stable 64-bit id for a string key (FNV-1a), e.g. a replay file's problem id.
/// The same string gives the same id on every platform and run.
[[nodiscard]] constexpr std::uint64_t stable_id(std::string_view key) noexcept {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

/// A problem handed to a strategy: what to ask and the id that keys its random streams.
struct problem {
  std::uint64_t id = 0; ///< keys every random stream of this problem (see random/stream.hpp)
  std::string prompt;   ///< the text the model is asked to continue

  friend bool operator==(const problem&, const problem&) = default;
};

/// Why generation stopped.
enum class finish_reason : std::uint8_t {
  step,   ///< a step delimiter ended a step; the sequence is still live
  stop,   ///< a stop string matched; the sequence is finished
  eos,    ///< the model emitted end-of-sequence; the sequence is finished
  length, ///< a token cap was reached
};

/// Per-token statistics of one generated text, stored column-wise (one entry per token).
/// Each column is either empty (not requested) or as long as the text has tokens.
struct token_stats {
  std::vector<float> logprob;      ///< log p of the chosen token
  std::vector<float> entropy;      ///< H_t = -sum_v p_t(v) log p_t(v) (nats)
  std::vector<float> varentropy;   ///< VE_t = sum_v p_t(v) (log p_t(v) + H_t)^2 (nats^2)
  std::uint32_t top_k = 0;         ///< width of each row of top_logprobs
  std::vector<float> top_logprobs; ///< tokens x top_k, row-major, each row descending
  std::vector<float> confidence;   ///< DeepConf's C_t = -mean of the top-k logprobs, computed upstream
                                   ///< (a recording stores C_t, not the rows); DeepConf prefers it to top_logprobs

  /// The number of tokens described (the longest non-empty column; top_logprobs counts rows).
  [[nodiscard]] std::size_t size() const noexcept {
    std::size_t n = logprob.size();
    if (entropy.size() > n) n = entropy.size();
    if (varentropy.size() > n) n = varentropy.size();
    if (top_k != 0 && top_logprobs.size() / top_k > n) n = top_logprobs.size() / top_k;
    if (confidence.size() > n) n = confidence.size();
    return n;
  }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

  /// Appends another text's statistics (a following step of the same sequence).
  void append(const token_stats& next) {
    logprob.insert(logprob.end(), next.logprob.begin(), next.logprob.end());
    entropy.insert(entropy.end(), next.entropy.begin(), next.entropy.end());
    varentropy.insert(varentropy.end(), next.varentropy.begin(), next.varentropy.end());
    if (top_k == 0) top_k = next.top_k;
    if (next.top_k == top_k) top_logprobs.insert(top_logprobs.end(), next.top_logprobs.begin(), next.top_logprobs.end());
    confidence.insert(confidence.end(), next.confidence.begin(), next.confidence.end());
  }

  friend bool operator==(const token_stats&, const token_stats&) = default;
};

/// One whole completion of a prompt.
struct completion {
  std::string text;                  ///< the generated text (without the prompt)
  std::uint32_t tokens = 0;          ///< generated tokens
  finish_reason finish = finish_reason::eos; ///< why it ended
  token_stats stats;                 ///< per-token statistics, when requested
  std::optional<std::string> answer; ///< an answer already extracted upstream (e.g. a recording), if any
  std::uint64_t source = 0;          ///< adapter-defined identity (e.g. a replay sample's index)

  friend bool operator==(const completion&, const completion&) = default;
};

/// One reasoning step appended to a live sequence.
struct step {
  std::string text;          ///< the step's text, including its delimiter if one ended it
  std::uint32_t tokens = 0;  ///< tokens generated in this step
  finish_reason finish = finish_reason::step; ///< why the step ended
  bool done = false;         ///< the sequence is finished: no further step can be taken
  token_stats stats;         ///< per-token statistics, when requested
  std::uint64_t source = 0;  ///< adapter-defined identity of the prefix this step ends (for reward models)

  friend bool operator==(const step&, const step&) = default;
};

/// A view of a (partial or whole) solution, handed to reward models and revisers. The strategy
/// owns the strings; the view is valid for the duration of the call.
struct solution_view {
  std::span<const std::string> steps; ///< the steps so far, in order (a whole completion may be one step)
  bool finished = false;              ///< true when no further step will come (scored as an outcome)
  std::uint64_t source = 0;           ///< the `source` of the last step or of the completion
};

/// What an engine call cost, as the engine reports it.
struct usage {
  std::uint64_t prefilled_tokens = 0; ///< tokens processed that were not already in the KV cache
  std::uint64_t generated_tokens = 0; ///< tokens sampled
  std::uint64_t engine_calls = 0;     ///< batched engine calls (decode loops or HTTP requests)

  usage& operator+=(const usage& o) noexcept {
    prefilled_tokens += o.prefilled_tokens;
    generated_tokens += o.generated_tokens;
    engine_calls += o.engine_calls;
    return *this;
  }
  friend usage operator+(usage a, const usage& b) noexcept { return a += b; }
  friend bool operator==(const usage&, const usage&) = default;
};

/// The completions of one sampling call and what they cost.
struct sample_batch {
  std::vector<completion> completions; ///< in request order
  reckon::usage usage;                 ///< cost of the whole call
};

/// The steps of one batched extend call (one per sequence, in the order given) and their cost.
struct step_batch {
  std::vector<step> steps; ///< steps[i] extends the i-th sequence passed in
  reckon::usage usage;     ///< cost of the whole call
};

} // namespace reckon
