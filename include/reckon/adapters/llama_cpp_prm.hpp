// SPDX-License-Identifier: Apache-2.0
// reckon::llama_cpp::step_tag_prm: an in-process causal-LM PRM (Math-Shepherd style) that decodes only each new step.
#pragma once

// Opt-in, like llama_cpp.hpp: link reckon::llama_cpp. reckon/reckon.hpp never includes this header.
//
// The model: a causal LM trained as a PRM the Math-Shepherd way (Wang et al. 2024, "Math-Shepherd:
// Verify and Reinforce LLMs Step-by-step without Human Annotations"; the released
// peiyi9979/math-shepherd-mistral-7b-prm). Its input is the problem's prompt, then the steps, each
// followed by a step tag ("ки"); the score of step t is read from the logits row of the t-th tag
// token, softmax over the pair (good "+", bad "-"): P(good) / (P(good) + P(bad)) =
// 1 / (1 + exp(logit_bad - logit_good)). Tag, good and bad are parameters; each must be one token.
//
// Incremental scoring, and how the cache maps onto the search (the PRM sees solution views, not the
// policy's sequence handles, so its KV sequences follow the views' texts, not the particles):
// - every view scored by a call leaves a cached llama sequence holding the KV of its whole text
//   (prompt + steps + tags) with its score list, keyed by the problem (id and prompt) and a hash
//   chain over the steps; a hit compares the texts, so a hash collision is a miss, never a wrong score;
// - a view with k steps looks up the longest cached prefix of its steps (k - 1 after one more
//   step, k for a particle re-scored unchanged): its scores are reused and only the steps after it
//   are decoded, after llama_memory_seq_cp of the cached sequence (the prefix sharing the policy
//   adapter uses for fork) — or in place, when one view alone continues that prefix;
// - after each call only the views just scored (the search frontier) stay cached; every other
//   sequence is released (llama_memory_seq_rm), so a pruned particle's PRM sequence goes when the
//   strategy stops scoring it, and a resampled duplicate shares one entry (equal views are scored once);
// - every new token of a call is decoded in one llama_decode batch (one sequence per view; split in
//   n_batch slices), after one batch for the prompt when several views start from it;
// - capacity: at most n_seq_max sequences are cached. A view that finds no free slot is re-scored
//   from the prompt after the main batch, in the slots the call freed (evicting a cached view's
//   sequence when none is free), and counted in step_tag_counters::fallbacks;
// - a new problem releases every cached sequence of the previous one;
// - after any error (a failed decode, an exception) every cached sequence is released and the next
//   call re-scores from the prompt: the cache is an optimisation, never state a score depends on;
// - step_tag_params::cache = false scores every view from its prompt, as the reference does, for
//   comparison: the cache changes no score beyond batch arithmetic (ggml rounds differently for
//   different batch shapes: up to 2.2e-4 on the F16 test model; tests/adapters/llama_cpp_prm_test.cpp).
//
// Deliberate deviation from Math-Shepherd's reference code: the prompt and each step are tokenised
// apart (the tag is inserted as its token id), where the reference tokenises f"{question} {output}"
// at once: a cached prefix must be the same tokens whatever follows it. On SentencePiece
// vocabularies the step's leading space marker stands in for the reference's separator; a BPE merge
// across a step's edge does not happen.
//
// Cost: tokens_last_call() is the rows the last call decoded (what metered counts as prm_tokens);
// counters() also has the rows a PRM re-scoring every view's whole text would have decoded, so the
// O(steps) vs O(steps^2) saving per path is measured. Host work per call is hashing and comparing
// each view's text (O(its characters)), no re-tokenising of cached steps. Sequences: a call of N
// distinct views holds at most 2N at once (N new, and the cached prefixes they continue, each
// continued in place by one of them unless it is also a view itself): n_seq_max = N never falls
// back in a particle filter or a beam search (every scored prefix is extended), 2N never does.
// Thread safety: none (as llama_cpp::engine).

#include <reckon/adapters/llama_cpp.hpp>
#include <reckon/concepts/process_reward_model.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reckon::llama_cpp {

/// What the step-tag PRM reads and whether it caches (every field has a default).
struct step_tag_params {
  std::string step_tag = "ки"; ///< inserted after every step; its logits row scores the step (one token)
  std::string good = "+";      ///< the token whose probability is the step's score (one token)
  std::string bad = "-";       ///< the token it is weighed against (one token, not good's)
  bool cache = true;           ///< false: every view is decoded from its prompt (nothing is kept between calls)
};

/// What a step-tag PRM has done over its lifetime.
struct step_tag_counters {
  std::uint64_t calls = 0;               ///< score_steps calls
  std::uint64_t decode_calls = 0;        ///< llama_decode calls
  double decode_seconds = 0.0;           ///< steady_clock time inside llama_decode
  std::uint64_t decoded_tokens = 0;      ///< rows decoded (the sum of tokens_last_call())
  std::uint64_t whole_prefix_tokens = 0; ///< rows that decoding every view's whole text in every call would cost
  std::uint64_t views = 0;               ///< views with at least one step, scored
  std::uint64_t reused_views = 0;        ///< of which found a cached prefix (or an equal view of the same call)
  std::uint64_t fallbacks = 0;           ///< of which were re-scored from the prompt for want of a free sequence
  std::uint64_t failed_decodes = 0;      ///< llama_decode calls that returned non-zero
};

/// A process_reward_model over a causal-LM PRM on a llama.cpp context of its own, decoding only the
/// steps it has not scored before (see the top of llama_cpp_prm.hpp).
/// @tparam Backend a type modelling llama_cpp::backend (context_backend for a real context)
template <backend Backend>
class basic_step_tag_prm {
public:
  using reckon_model_concept = process_reward_model_tag;

  /// A PRM over `backend` (which it owns; its context is the PRM's alone). Throws reckon::exception
  /// (invalid_argument) when step_tag, good or bad is not exactly one token, or good == bad.
  explicit basic_step_tag_prm(Backend backend, step_tag_params params = {})
      : backend_(std::move(backend)), params_(std::move(params)) {
    tag_ = one_token(params_.step_tag, "step_tag");
    good_ = one_token(params_.good, "good");
    bad_ = one_token(params_.bad, "bad");
    reckon::detail::require(good_ != bad_, "llama_cpp::step_tag_prm: good and bad are the same token");
    reckon::detail::require(backend_.n_batch() > 0 && backend_.n_seq_max() > 0,
                            "llama_cpp::step_tag_prm: the context has no batch or no sequence slots");
    slots_.resize(backend_.n_seq_max());
    busy_.assign(slots_.size(), false);
  }

  /// One score in [0, 1] per step of every view: P(good) / (P(good) + P(bad)) at each step's tag.
  /// A view with no steps gets an empty list (and decodes nothing).
  /// @returns the scores, or invalid_argument (the prompt has no tokens, a view does not fit the
  ///   context), no_capacity (no KV cells), aborted, engine_failure (a failed decode, NaN logits,
  ///   an exception); after an error no sequence is cached
  result<std::vector<std::vector<double>>> score_steps(const problem& prob, std::span<const solution_view> views) {
    ++counters_.calls;
    last_call_ = 0;
    if (!(prob == problem_) || prompt_tokens_.empty()) {
      clear();
      problem_ = prob;
      prompt_tokens_ = backend_.tokenize(prob.prompt, true);
    }
    if (prompt_tokens_.empty()) return fail(errc::invalid_argument, "llama_cpp::step_tag_prm: the prompt has no tokens");
    std::vector<std::vector<double>> out(views.size());
    std::vector<std::size_t> totals(views.size(), 0);
    result<void> r;
    try {
      r = params_.cache ? score_cached(views, out, totals)
                        : score_from_prompt(views, all_with_steps(views), out, totals, false);
    } catch (const std::exception& e) { // bad_alloc, a throwing backend: no sequence may leak
      r = fail(errc::engine_failure, std::string("llama_cpp::step_tag_prm: ") + e.what());
    }
    counters_.decoded_tokens += last_call_;
    if (!r) {
      clear();
      return r.error();
    }
    return out;
  }

  /// The rows (tokens) the last score_steps call decoded, the prompt's included (0 when all were
  /// cached; a failed call's rows up to its failure).
  [[nodiscard]] std::uint64_t tokens_last_call() const noexcept { return last_call_; }
  /// Lifetime counters.
  [[nodiscard]] const step_tag_counters& counters() const noexcept { return counters_; }
  /// Views cached now (each holds one llama sequence).
  [[nodiscard]] std::size_t cached() const noexcept {
    std::size_t n = 0;
    for (const auto& e : slots_) n += e.has_value() ? 1 : 0;
    return n;
  }
  /// llama sequences held now (equal to cached() between calls).
  [[nodiscard]] std::size_t live() const noexcept {
    std::size_t n = 0;
    for (const bool b : busy_) n += b ? 1 : 0;
    return n;
  }
  /// The backend (e.g. to tokenize as the PRM does, or to reach the llama_context).
  [[nodiscard]] Backend& backend() noexcept { return backend_; }
  /// Releases every cached sequence.
  void clear() noexcept {
    for (std::size_t s = 0; s < slots_.size(); ++s) release(static_cast<std::int32_t>(s));
  }

private:
  struct entry {
    std::uint64_t hash = 0;          // of the problem and the steps (chain_hash)
    std::vector<std::string> steps;  // the view's steps, compared on a hash hit
    std::vector<double> scores;      // one per step
    std::size_t n_past = 0;          // KV cells of the sequence: prompt + steps + tags
  };

  // A sequence to decode into: the rows after `pos`, the tag rows among them and the scores so far.
  struct job {
    std::size_t view = 0;
    std::int32_t seq = -1;
    std::size_t pos = 0;               // position of tokens[0]
    std::vector<std::int32_t> tokens;  // rows to decode
    std::vector<std::size_t> tag_rows; // indices into tokens, one per new step
    std::vector<double> scores;        // the reused prefix's scores, then the new ones
  };

  std::int32_t one_token(const std::string& text, const char* what) {
    const std::vector<std::int32_t> t = backend_.tokenize(text, false);
    reckon::detail::require(t.size() == 1, std::string("llama_cpp::step_tag_prm: ") + what + " '" + text +
                                               "' is " + std::to_string(t.size()) + " tokens, not one");
    return t[0];
  }

  static std::uint64_t mix(std::uint64_t h, std::string_view s) noexcept {
    for (const char c : s) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ULL;
    }
    h ^= s.size() + 0x9e3779b97f4a7c15ULL; // the length ends the step, so ("ab", "c") and ("a", "bc") differ
    h *= 1099511628211ULL;
    return h;
  }
  // h[j]: the problem and the first j steps of the view.
  std::vector<std::uint64_t> chain_hash(std::span<const std::string> steps) const {
    std::vector<std::uint64_t> h(steps.size() + 1);
    h[0] = mix(mix(14695981039346656037ULL ^ problem_.id, problem_.prompt), "");
    for (std::size_t j = 0; j < steps.size(); ++j) h[j + 1] = mix(h[j], steps[j]);
    return h;
  }

  static bool same_steps(std::span<const std::string> a, std::span<const std::string> b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i]) return false;
    return true;
  }

  static std::vector<std::size_t> all_with_steps(std::span<const solution_view> views) {
    std::vector<std::size_t> v;
    for (std::size_t i = 0; i < views.size(); ++i)
      if (!views[i].steps.empty()) v.push_back(i);
    return v;
  }

  void release(std::int32_t s) noexcept {
    const auto i = static_cast<std::size_t>(s);
    if (!busy_[i]) return;
    (void)backend_.seq_rm(s, -1, -1);
    slots_[i].reset();
    busy_[i] = false;
  }

  std::optional<std::int32_t> take_free() {
    for (std::size_t s = 0; s < busy_.size(); ++s)
      if (!busy_[s]) {
        busy_[s] = true;
        return static_cast<std::int32_t>(s);
      }
    return std::nullopt;
  }

  // Appends steps[from..) of a view, each followed by the tag, to j; false when it would not fit the context.
  result<void> add_steps(job& j, std::span<const std::string> steps, std::size_t from) {
    for (std::size_t t = from; t < steps.size(); ++t) {
      const std::vector<std::int32_t> toks = backend_.tokenize(steps[t], false);
      j.tokens.insert(j.tokens.end(), toks.begin(), toks.end());
      j.tag_rows.push_back(j.tokens.size());
      j.tokens.push_back(tag_);
    }
    if (j.pos + j.tokens.size() > backend_.n_ctx())
      return fail(errc::invalid_argument, "llama_cpp::step_tag_prm: a view (" + std::to_string(j.pos + j.tokens.size()) +
                                              " tokens) does not fit the PRM's context (" +
                                              std::to_string(backend_.n_ctx()) + ")");
    return {};
  }

  // Decodes every job's rows in one batch (n_batch slices), each job in its own sequence, and appends
  // a score per tag row.
  result<void> decode_jobs(std::vector<job>& jobs) {
    std::vector<batch_entry> entries;
    std::vector<std::size_t> owner; // entries[k] belongs to jobs[owner[k]]
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      const job& j = jobs[i];
      std::size_t next_tag = 0;
      for (std::size_t r = 0; r < j.tokens.size(); ++r) {
        const bool tag = next_tag < j.tag_rows.size() && j.tag_rows[next_tag] == r;
        next_tag += tag ? 1 : 0;
        entries.push_back({j.tokens[r], static_cast<std::int32_t>(j.pos + r), j.seq, tag});
        owner.push_back(i);
      }
    }
    const std::size_t cap = backend_.n_batch();
    for (std::size_t from = 0; from < entries.size(); from += cap) {
      const std::size_t to = std::min(entries.size(), from + cap);
      const auto t0 = std::chrono::steady_clock::now();
      const std::int32_t rc = backend_.decode(std::span<const batch_entry>(entries.data() + from, to - from));
      counters_.decode_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++counters_.decode_calls;
      if (rc != 0) {
        ++counters_.failed_decodes;
        return decode_error(rc);
      }
      last_call_ += to - from;
      for (std::size_t k = from; k < to; ++k) {
        if (!entries[k].logits) continue;
        const std::span<const float> row = backend_.logits(static_cast<std::int32_t>(k - from));
        if (row.size() <= static_cast<std::size_t>(std::max(good_, bad_)))
          return fail(errc::engine_failure, "llama_cpp::step_tag_prm: no logits row for a step tag");
        // The softmax over the pair: its normaliser cancels.
        const double d = static_cast<double>(row[static_cast<std::size_t>(bad_)]) -
                         static_cast<double>(row[static_cast<std::size_t>(good_)]);
        if (std::isnan(d)) return fail(errc::engine_failure, "llama_cpp::step_tag_prm: NaN logits at a step tag");
        jobs[owner[k]].scores.push_back(1.0 / (1.0 + std::exp(d)));
      }
    }
    return {};
  }

  // Scores views[idx] from the prompt, in waves over the free sequences (evicting a cached view's
  // sequence when none is free); keep: each stays cached as an entry.
  result<void> score_from_prompt(std::span<const solution_view> views, const std::vector<std::size_t>& idx,
                                 std::vector<std::vector<double>>& out, std::vector<std::size_t>& totals, bool keep) {
    for (std::size_t first = 0; first < idx.size();) {
      std::vector<job> wave;
      for (; first < idx.size(); ++first) {
        auto s = take_free();
        if (!s && wave.empty()) {
          release(static_cast<std::int32_t>(slots_.size() - 1)); // every slot holds a kept view: make room
          s = take_free();
        }
        if (!s) break;
        job j;
        j.view = idx[first];
        j.seq = *s;
        j.tokens = prompt_tokens_;
        wave.push_back(std::move(j));
        if (auto ok = add_steps(wave.back(), views[idx[first]].steps, 0); !ok) return ok.error();
      }
      for (const job& j : wave) counters_.whole_prefix_tokens += j.tokens.size();
      counters_.views += wave.size();
      if (auto ok = decode_jobs(wave); !ok) return ok.error();
      for (job& j : wave) {
        const solution_view& v = views[j.view];
        totals[j.view] = j.tokens.size();
        if (keep) {
          slots_[static_cast<std::size_t>(j.seq)] =
              entry{chain_hash(v.steps).back(), {v.steps.begin(), v.steps.end()}, j.scores, j.tokens.size()};
        } else {
          release(j.seq);
        }
        out[j.view] = std::move(j.scores);
      }
    }
    return {};
  }

  result<void> score_cached(std::span<const solution_view> views, std::vector<std::vector<double>>& out,
                            std::vector<std::size_t>& totals) {
    constexpr std::size_t none = static_cast<std::size_t>(-1);
    const std::size_t n = views.size();
    std::vector<std::size_t> leader(n, none);   // an equal earlier view, scored for both
    std::vector<std::int32_t> base(n, -1);      // the cached prefix's sequence, -1 for the prompt
    std::vector<std::size_t> reused(n, 0);      // steps of that prefix
    std::vector<std::uint64_t> full_hash(n, 0);
    std::vector<bool> used(slots_.size(), false), exact(slots_.size(), false);
    for (std::size_t i = 0; i < n; ++i) {
      const auto steps = views[i].steps;
      if (steps.empty()) continue;
      const std::vector<std::uint64_t> h = chain_hash(steps);
      full_hash[i] = h.back();
      for (std::size_t e = 0; e < i && leader[i] == none; ++e)
        if (leader[e] == none && full_hash[e] == h.back() && same_steps(views[e].steps, steps)) leader[i] = e;
      if (leader[i] != none) continue;
      for (std::size_t j = steps.size(); j > 0 && base[i] < 0; --j)
        for (std::size_t s = 0; s < slots_.size(); ++s) {
          const auto& c = slots_[s];
          if (c && c->hash == h[j] && same_steps(c->steps, steps.first(j))) {
            base[i] = static_cast<std::int32_t>(s);
            reused[i] = j;
            used[s] = true;
            exact[s] = exact[s] || j == steps.size();
            break;
          }
        }
    }
    // Sequences no view of this call continues are not part of the frontier: free them first.
    for (std::size_t s = 0; s < slots_.size(); ++s)
      if (!used[s]) release(static_cast<std::int32_t>(s));

    // Plan: a cached prefix continued by one view alone (and not itself a view now) is extended in
    // place; others are copied; views starting from the prompt share one prompt decode.
    std::vector<job> jobs;
    std::vector<std::size_t> overflow; // views with no free sequence: re-scored from the prompt
    std::vector<std::int32_t> copy_src;
    std::vector<bool> extended(slots_.size(), false);
    std::vector<std::size_t> from_prompt;
    for (std::size_t i = 0; i < n; ++i) {
      if (views[i].steps.empty() || leader[i] != none) continue;
      const auto steps = views[i].steps;
      if (base[i] < 0) {
        from_prompt.push_back(i);
        continue;
      }
      const auto b = static_cast<std::size_t>(base[i]);
      const entry& c = *slots_[b];
      if (reused[i] == steps.size()) { // re-scored unchanged
        out[i] = c.scores;
        totals[i] = c.n_past;
        counters_.whole_prefix_tokens += c.n_past;
        ++counters_.views;
        ++counters_.reused_views;
        continue;
      }
      job j;
      j.view = i;
      j.pos = c.n_past;
      j.scores = c.scores;
      if (!exact[b] && !extended[b]) {
        extended[b] = true;
        j.seq = base[i];
        copy_src.push_back(-1);
      } else if (auto s = take_free()) {
        j.seq = *s;
        copy_src.push_back(base[i]);
      } else {
        overflow.push_back(i);
        continue;
      }
      if (auto ok = add_steps(j, steps, reused[i]); !ok) return ok.error();
      jobs.push_back(std::move(j));
    }
    // The prompt: decoded within the view's own rows when one view starts from it, else once, then shared.
    std::int32_t root = -1;
    if (from_prompt.size() > 1) {
      if (auto s = take_free()) {
        root = *s;
        std::vector<job> prompt(1);
        prompt[0].seq = root;
        prompt[0].tokens = prompt_tokens_;
        if (auto ok = decode_jobs(prompt); !ok) return ok.error();
      }
    }
    for (std::size_t k = 0; k < from_prompt.size(); ++k) {
      const std::size_t i = from_prompt[k];
      job j;
      j.view = i;
      if (root >= 0 && k == 0) {
        j.seq = root;
        j.pos = prompt_tokens_.size();
        copy_src.push_back(-1);
      } else if (auto s = take_free()) {
        j.seq = *s;
        if (root >= 0) {
          j.pos = prompt_tokens_.size();
          copy_src.push_back(root);
        } else {
          j.tokens = prompt_tokens_;
          copy_src.push_back(-1);
        }
      } else {
        overflow.push_back(i);
        continue;
      }
      if (auto ok = add_steps(j, views[i].steps, 0); !ok) return ok.error();
      jobs.push_back(std::move(j));
    }
    // Copies before any new row lands in a source that is also extended in place.
    for (std::size_t k = 0; k < jobs.size(); ++k)
      if (copy_src[k] >= 0) backend_.seq_cp(copy_src[k], jobs[k].seq);
    if (auto ok = decode_jobs(jobs); !ok) return ok.error();

    // The frontier: the views just scored (and the cached ones re-scored unchanged) stay.
    for (std::size_t s = 0; s < slots_.size(); ++s)
      if (used[s] && !exact[s] && !extended[s]) release(static_cast<std::int32_t>(s));
    for (job& j : jobs) {
      const solution_view& v = views[j.view];
      const std::size_t total = j.pos + j.tokens.size();
      totals[j.view] = total;
      counters_.whole_prefix_tokens += total;
      ++counters_.views;
      if (base[j.view] >= 0) ++counters_.reused_views;
      slots_[static_cast<std::size_t>(j.seq)] = entry{full_hash[j.view], {v.steps.begin(), v.steps.end()}, j.scores, total};
      out[j.view] = std::move(j.scores);
    }
    counters_.fallbacks += overflow.size();
    if (auto ok = score_from_prompt(views, overflow, out, totals, true); !ok) return ok.error();
    for (std::size_t i = 0; i < n; ++i)
      if (leader[i] != none) {
        out[i] = out[leader[i]];
        counters_.whole_prefix_tokens += totals[leader[i]];
        ++counters_.views;
        ++counters_.reused_views;
      }
    return {};
  }

  Backend backend_;
  step_tag_params params_;
  std::int32_t tag_ = 0, good_ = 0, bad_ = 0;
  problem problem_;                        // the problem the cache belongs to
  std::vector<std::int32_t> prompt_tokens_; // its prompt, tokenised once
  std::vector<std::optional<entry>> slots_; // indexed by llama seq id: the cached view it holds
  std::vector<bool> busy_;                  // the seq id holds a llama sequence (cached or in this call)
  std::uint64_t last_call_ = 0;
  step_tag_counters counters_;
};

/// The step-tag PRM over a real llama_context (give it a context of its own, e.g. n_seq_max twice
/// the particles: a view continued by several resampled children is copied once per child).
/// ```
/// auto weights = reckon::llama_cpp::load_model("math-shepherd-mistral-7b-prm.Q8_0.gguf").value();
/// reckon::llama_cpp::step_tag_prm prm(reckon::llama_cpp::context_backend(weights.get(), {.n_seq_max = 32}));
/// auto scores = prm.score_steps(problem, views); // views: std::span<const reckon::solution_view>
/// ```
using step_tag_prm = basic_step_tag_prm<context_backend>;

} // namespace reckon::llama_cpp
