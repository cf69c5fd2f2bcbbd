// SPDX-License-Identifier: Apache-2.0
// The llama.cpp adapter's logic, written against a narrow backend interface so that it can be tested without llama.cpp.
#pragma once

#include <reckon/adapters/detail/stats.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/numerics/sample_row.hpp>
#include <reckon/random/stream.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace reckon::llama_cpp {

/// One row of a decode batch: a token at a position of one sequence.
struct batch_entry {
  std::int32_t token = 0;   ///< the token id
  std::int32_t pos = 0;     ///< its position in the sequence (0-based)
  std::int32_t seq = 0;     ///< the llama sequence id
  bool logits = false;      ///< whether the decode must output this row's logits
};

/// The llama.cpp calls the adapter uses, as a concept: `llama_cpp::context_backend` binds them to
/// a real llama_context, tests bind them to a fake.
/// - n_seq_max(), n_batch(), n_ctx(): the context's sequence slots, batch size and context length
/// - tokenize(text, add_special): the tokens of `text` (empty when tokenization failed)
/// - piece(token): the token's text; is_eog(token): whether it ends generation
/// - decode(entries): llama_decode over one batch; 0 ok, 1 no KV slot, 2 aborted, -1 invalid batch, < -1 fatal
/// - logits(i): the logits row of entry i of the last decode (entry i must have been flagged)
/// - seq_cp(src, dst): share src's whole KV with dst; seq_rm(seq, p0, p1): remove [p0, p1) (-1: to
///   the end), false when a partial removal is unsupported
template <class B>
concept backend = requires(B& b, const B& cb, std::string_view text, std::int32_t t, std::span<const batch_entry> entries) {
  { cb.n_seq_max() } -> std::convertible_to<std::uint32_t>;
  { cb.n_batch() } -> std::convertible_to<std::uint32_t>;
  { cb.n_ctx() } -> std::convertible_to<std::uint32_t>;
  { b.tokenize(text, true) } -> std::same_as<std::vector<std::int32_t>>;
  { b.piece(t) } -> std::convertible_to<std::string>;
  { cb.is_eog(t) } -> std::convertible_to<bool>;
  { b.decode(entries) } -> std::convertible_to<std::int32_t>;
  { b.logits(t) } -> std::convertible_to<std::span<const float>>;
  { b.seq_cp(t, t) };
  { b.seq_rm(t, t, t) } -> std::convertible_to<bool>;
};

/// What the engine has done over its lifetime (for the ledger's cross-checks and for profiling).
struct engine_counters {
  std::uint64_t decode_calls = 0;       ///< llama_decode calls
  double decode_seconds = 0.0;          ///< steady_clock time inside llama_decode
  std::uint64_t decoded_tokens = 0;     ///< batch rows decoded
  std::uint64_t prefilled_tokens = 0;   ///< of which prompt (or re-decoded) tokens
  std::uint64_t generated_tokens = 0;   ///< tokens sampled
  std::uint64_t prefill_saved = 0;      ///< KV tokens forks shared instead of re-decoding them
  std::uint64_t failed_decodes = 0;     ///< llama_decode calls that returned non-zero
};

/// Maps a llama_decode return code to reckon's error.
[[nodiscard]] inline reckon::error decode_error(std::int32_t code) {
  if (code == 1) return fail(errc::no_capacity, "llama_decode: no KV slot for the batch (returned 1)");
  if (code == 2) return fail(errc::aborted, "llama_decode: aborted (returned 2)");
  if (code == -1) return fail(errc::engine_failure, "llama_decode: invalid batch (returned -1)");
  return fail(errc::engine_failure, "llama_decode: failed (returned " + std::to_string(code) + ")");
}

/// A sampling + stepping + logprob model over a backend. Sequences are llama seq ids taken from a
/// free list of n_seq_max slots. See llama_cpp.hpp for the user-facing documentation.
/// Thread safety: none. An engine (like the llama_context under it) is used by one thread at a
/// time; run one engine per thread, or serialise calls. Parallelism lives inside a call: every
/// live sequence is decoded in one batch, on the context's n_threads.
/// @tparam Backend a type modelling llama_cpp::backend
template <backend Backend>
class basic_engine {
public:
  using reckon_model_concept = capabilities<sampling_model_tag, stepping_model_tag, logprob_model_tag>;
  using sequence = std::int32_t; ///< the llama seq id
  static constexpr std::uint32_t logprob_top_k = 20; ///< widest top-k served (any width is computed; 20 is what strategies ask)
  static constexpr bool full_logits = true;          ///< entropy and varentropy are exact (whole logits rows)
  static constexpr bool supports_rollback = true;    ///< rollback() exists; it returns unsupported where the KV memory cannot drop a tail

  /// An engine over `backend` (which the engine owns).
  explicit basic_engine(Backend backend) : backend_(std::move(backend)) {
    const std::uint32_t slots = backend_.n_seq_max();
    reckon::detail::require(slots > 0, "llama_cpp: the context has no sequence slots");
    reckon::detail::require(backend_.n_batch() > 0, "llama_cpp: the context's n_batch is 0");
    seqs_.resize(slots);
    for (std::uint32_t s = slots; s > 0; --s) free_.push_back(static_cast<sequence>(s - 1));
  }

  /// The backend (e.g. to reach the llama_context).
  [[nodiscard]] Backend& backend() noexcept { return backend_; }
  /// Lifetime counters.
  [[nodiscard]] const engine_counters& counters() const noexcept { return counters_; }
  /// Sequences alive now.
  [[nodiscard]] std::size_t live() const noexcept { return seqs_.size() - free_.size(); }

  /// A new sequence holding `prob.prompt` (tokenized with BOS; prefilled by the next extend or fork).
  /// @returns the sequence, or no_capacity (no free slot), invalid_argument (empty or untokenizable
  ///   prompt, or longer than the context)
  result<sequence> begin(const problem& prob) {
    std::vector<std::int32_t> tokens = backend_.tokenize(prob.prompt, true);
    if (tokens.empty()) return fail(errc::invalid_argument, "llama_cpp::begin: the prompt has no tokens");
    if (tokens.size() >= backend_.n_ctx())
      return fail(errc::invalid_argument, "llama_cpp::begin: the prompt (" + std::to_string(tokens.size()) +
                                              " tokens) does not fit the context");
    if (free_.empty()) return fail(errc::no_capacity, "llama_cpp::begin: all n_seq_max sequences are live");
    const sequence s = take_slot();
    auto& st = seqs_[static_cast<std::size_t>(s)];
    st.tokens = std::move(tokens);
    st.prompt_len = st.tokens.size();
    return s;
  }

  /// A sequence sharing `parent`'s prefix (llama_memory_seq_cp; the parent's prompt is prefilled
  /// first, once, if it was not yet).
  /// @returns the child, or no_capacity (no free slot, or the prefill found no KV slot), aborted,
  ///   engine_failure; invalid_argument for a handle that is not live
  result<sequence> fork(sequence parent) {
    if (!is_live(parent)) return fail(errc::invalid_argument, "llama_cpp::fork: not a live sequence");
    if (free_.empty()) return fail(errc::no_capacity, "llama_cpp::fork: all n_seq_max sequences are live");
    auto& p = seqs_[static_cast<std::size_t>(parent)];
    // Decode all of the parent's pending tokens but the last, so that the children share them.
    if (p.tokens.size() - p.n_past > 1) {
      std::vector<batch_entry> entries;
      for (std::size_t i = p.n_past; i + 1 < p.tokens.size(); ++i)
        entries.push_back({p.tokens[i], static_cast<std::int32_t>(i), parent, false});
      const std::size_t prompt_rows = count_prefill(p, p.n_past, p.tokens.size() - 1);
      if (auto ok = decode_all(entries, nullptr); !ok) {
        (void)backend_.seq_rm(parent, static_cast<std::int32_t>(p.n_past), -1);
        return ok.error();
      }
      carry_.prefilled_tokens += prompt_rows;
      counters_.prefilled_tokens += prompt_rows;
      carry_.engine_calls += 1;
      p.n_past = p.tokens.size() - 1;
      p.last_sampled_pending = false;
    }
    const sequence c = take_slot();
    backend_.seq_cp(parent, c);
    auto& child = seqs_[static_cast<std::size_t>(c)];
    child = seqs_[static_cast<std::size_t>(parent)];
    // The parent's pending token was sampled by the parent and counted as its generation; the
    // child decodes its own copy of it, which is work the ledger must see: prefill, not generation.
    child.last_sampled_pending = false;
    counters_.prefill_saved += child.n_past;
    return c;
  }

  /// Frees `s` (llama_memory_seq_rm over the whole sequence); a handle that is not live is ignored.
  void release(sequence s) noexcept {
    if (!is_live(s)) return;
    (void)backend_.seq_rm(s, -1, -1);
    seqs_[static_cast<std::size_t>(s)] = seq_state{};
    free_.push_back(s);
  }

  /// Drops the last `n` generated tokens of `s` in place (partial llama_memory_seq_rm).
  /// @returns ok, unsupported (the KV memory cannot drop a tail, e.g. a recurrent model), or
  ///   invalid_argument (not live, or n more than the tokens generated)
  result<void> rollback(sequence s, std::uint32_t n) {
    if (!is_live(s)) return fail(errc::invalid_argument, "llama_cpp::rollback: not a live sequence");
    auto& st = seqs_[static_cast<std::size_t>(s)];
    if (n > st.tokens.size() - st.prompt_len)
      return fail(errc::invalid_argument, "llama_cpp::rollback: n exceeds the generated tokens");
    if (n == 0) return {};
    // Keep len - 1 tokens in the KV cache, so that the last one is decoded again for its logits.
    const std::size_t len = st.tokens.size() - n;
    const std::size_t keep = std::min(st.n_past, len - 1);
    if (!backend_.seq_rm(s, static_cast<std::int32_t>(keep), -1))
      return fail(errc::unsupported, "llama_cpp::rollback: the KV memory cannot remove a sequence's tail");
    st.tokens.resize(len);
    st.n_past = keep;
    st.last_sampled_pending = false;
    st.done = false;
    st.marker_tail.clear();
    return {};
  }

  /// One step for each sequence in ONE decode loop: every round decodes a single batch holding
  /// each unfinished sequence's pending tokens (logits flagged on its last), then samples each.
  /// @returns the steps in order, or invalid_argument (bad params, sizes differ, a handle not live,
  ///   repeated or done), no_capacity, aborted, engine_failure. On error every sequence is as it
  ///   was before the call.
  result<step_batch> extend(std::span<const sequence> seqs, const step_params& params,
                            std::span<const std::uint64_t> seeds) {
    if (auto ok = validate(params); !ok) return ok.error();
    if (params.stats.top_k > logprob_top_k)
      return fail(errc::invalid_argument, "llama_cpp::extend: stats.top_k exceeds logprob_top_k (20)");
    run_options o;
    o.max_step_tokens = params.max_step_tokens;
    o.max_total_tokens = params.max_total_tokens;
    o.temperature = params.temperature;
    o.top_p = params.top_p;
    o.markers = {params.delimiter};
    o.markers_stop = false;
    o.want = {params.stats.logprobs, params.stats.entropy, params.stats.top_k};
    return run(seqs, seeds, o);
  }

  /// n whole completions of `prob.prompt`: the prompt is prefilled once and forked; completion i
  /// is sampled with request_seed(params.seed, i). Runs in waves when n exceeds the free slots.
  /// @returns the completions, or the errors of begin/fork/extend
  result<sample_batch> sample(const problem& prob, const sampling_params& params, std::uint32_t n) {
    if (auto ok = validate(params); !ok) return ok.error();
    if (n == 0) return fail(errc::invalid_argument, "llama_cpp::sample: n must be > 0");
    if (params.stats.top_k > logprob_top_k)
      return fail(errc::invalid_argument, "llama_cpp::sample: stats.top_k exceeds logprob_top_k (20)");
    run_options o;
    o.max_step_tokens = params.max_tokens;
    o.max_total_tokens = params.max_tokens;
    o.temperature = params.temperature;
    o.top_p = params.top_p;
    o.markers = params.stop;
    o.markers_stop = true;
    o.want = {params.stats.logprobs, params.stats.entropy, params.stats.top_k};
    sample_batch out;
    for (std::uint32_t first = 0; first < n;) {
      if (free_.empty()) return fail(errc::no_capacity, "llama_cpp::sample: no free sequence");
      const auto wave = static_cast<std::uint32_t>(std::min<std::size_t>(n - first, free_.size()));
      std::vector<sequence> group;
      auto root = begin(prob);
      if (!root) return root.error();
      group.push_back(*root);
      for (std::uint32_t i = 1; i < wave; ++i) {
        auto child = fork(*root);
        if (!child) {
          for (const sequence s : group) release(s);
          return child.error();
        }
        group.push_back(*child);
      }
      std::vector<std::uint64_t> seeds(wave);
      for (std::uint32_t i = 0; i < wave; ++i) seeds[i] = request_seed(params.seed, first + i);
      auto steps = run(group, seeds, o);
      for (const sequence s : group) release(s);
      if (!steps) return steps.error();
      for (std::uint32_t i = 0; i < wave; ++i) {
        step& st = steps->steps[i];
        completion c;
        c.text = std::move(st.text);
        c.tokens = st.tokens;
        c.finish = st.finish;
        c.stats = std::move(st.stats);
        c.source = first + i;
        out.completions.push_back(std::move(c));
      }
      out.usage += steps->usage;
      first += wave;
    }
    return out;
  }

private:
  struct seq_state {
    bool live = false;
    std::vector<std::int32_t> tokens; // prompt + generated; tokens[n_past..] are not in the KV cache yet
    std::size_t prompt_len = 0;
    std::size_t n_past = 0;
    bool last_sampled_pending = false; // the one pending token was sampled here (decoding it is generation, not prefill)
    bool done = false;
    std::string marker_tail; // the end of a step cut by its token cap, so a delimiter split across the cut is found
  };

  struct run_options {
    std::uint32_t max_step_tokens = 0;
    std::uint32_t max_total_tokens = 0;
    float temperature = 1.0f;
    float top_p = 1.0f;
    std::vector<std::string> markers; // the step delimiter, or the stop strings
    bool markers_stop = false;        // true: a marker finishes the sequence and is cut from the text
    adapters::detail::stats_request want;
  };

  [[nodiscard]] bool is_live(sequence s) const noexcept {
    return s >= 0 && static_cast<std::size_t>(s) < seqs_.size() && seqs_[static_cast<std::size_t>(s)].live;
  }

  sequence take_slot() {
    const sequence s = free_.back();
    free_.pop_back();
    seqs_[static_cast<std::size_t>(s)] = seq_state{};
    seqs_[static_cast<std::size_t>(s)].live = true;
    return s;
  }

  // Prompt-or-recomputed rows among tokens[from, to) of st (the sampled pending token is generation).
  static std::size_t count_prefill(const seq_state& st, std::size_t from, std::size_t to) {
    std::size_t rows = to - from;
    if (st.last_sampled_pending && to == st.tokens.size() && rows > 0) --rows;
    return rows;
  }

  // Decodes entries in slices of n_batch; on_logits(entry index, row) for each flagged entry.
  template <class F>
  result<void> decode_all(const std::vector<batch_entry>& entries, F&& on_logits) {
    const std::size_t cap = backend_.n_batch();
    for (std::size_t from = 0; from < entries.size(); from += cap) {
      const std::size_t to = std::min(entries.size(), from + cap);
      const std::span<const batch_entry> slice(entries.data() + from, to - from);
      const auto t0 = std::chrono::steady_clock::now();
      const std::int32_t rc = backend_.decode(slice);
      counters_.decode_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++counters_.decode_calls;
      if (rc != 0) {
        ++counters_.failed_decodes;
        return decode_error(rc);
      }
      counters_.decoded_tokens += slice.size();
      if constexpr (!std::is_same_v<std::remove_cvref_t<F>, std::nullptr_t>)
        for (std::size_t i = 0; i < slice.size(); ++i)
          if (slice[i].logits) {
            const std::span<const float> row = backend_.logits(static_cast<std::int32_t>(i));
            if (row.empty()) return fail(errc::engine_failure, "llama_get_logits_ith returned no row");
            on_logits(from + i, row);
          }
    }
    return {};
  }

  // Where the earliest match of any marker starts in tail + text, looking only at matches that end
  // after `searched` characters (earlier ones were looked for already); npos when none. The
  // earliest start wins, so stop = {"BB", "A"} cuts "ABB" before "A" whatever the list's order.
  static std::size_t earliest_marker(std::string_view tail, std::string_view text, std::size_t searched,
                                     const std::vector<std::string>& markers) {
    std::size_t best = std::string::npos;
    const std::size_t total = tail.size() + text.size();
    for (const auto& m : markers) {
      if (m.empty() || m.size() > total) continue;
      const std::size_t from = searched >= m.size() ? searched - m.size() + 1 : 0;
      for (std::size_t at = from; at + m.size() <= total && at < best; ++at) {
        bool match = true;
        for (std::size_t c = 0; c < m.size() && match; ++c) {
          const std::size_t k = at + c;
          match = (k < tail.size() ? tail[k] : text[k - tail.size()]) == m[c];
        }
        if (match) {
          best = at;
          break;
        }
      }
    }
    return best;
  }

  result<step_batch> run(std::span<const sequence> seqs, std::span<const std::uint64_t> seeds, const run_options& o) {
    if (seqs.size() != seeds.size())
      return fail(errc::invalid_argument, "llama_cpp::extend: seqs and seeds differ in length");
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      if (!is_live(seqs[i])) return fail(errc::invalid_argument, "llama_cpp::extend: a sequence is not live");
      if (seqs_[static_cast<std::size_t>(seqs[i])].done)
        return fail(errc::invalid_argument, "llama_cpp::extend: a sequence is done");
      for (std::size_t j = 0; j < i; ++j)
        if (seqs[j] == seqs[i]) return fail(errc::invalid_argument, "llama_cpp::extend: a sequence appears twice");
    }

    // Snapshots, to restore every sequence if a decode fails.
    struct snapshot {
      std::size_t len, n_past;
      bool sampled_pending;
      std::string marker_tail;
    };
    std::vector<snapshot> before;
    for (const sequence s : seqs) {
      const auto& st = seqs_[static_cast<std::size_t>(s)];
      before.push_back({st.tokens.size(), st.n_past, st.last_sampled_pending, st.marker_tail});
    }
    std::size_t longest_marker = 0;
    for (const auto& m : o.markers) longest_marker = std::max(longest_marker, m.size());

    step_batch out;
    out.steps.resize(seqs.size());
    out.usage = std::exchange(carry_, reckon::usage{});
    out.usage.engine_calls += 1;
    std::vector<random_stream> rngs;
    for (const std::uint64_t seed : seeds) rngs.emplace_back(stream_key{seed, 0, 0, 0});
    std::vector<std::size_t> step_start(seqs.size());
    std::vector<bool> active(seqs.size(), true);
    std::vector<std::int32_t> top_ids(o.want.top_k);
    std::vector<float> top_lps(o.want.top_k);
    std::vector<batch_entry> entries;
    std::vector<std::size_t> owner; // entries[k] belongs to seqs[owner[k]]

    auto restore = [&](reckon::error e) -> result<step_batch> {
      for (std::size_t i = 0; i < seqs.size(); ++i) {
        auto& st = seqs_[static_cast<std::size_t>(seqs[i])];
        (void)backend_.seq_rm(seqs[i], static_cast<std::int32_t>(before[i].n_past), -1);
        st.tokens.resize(before[i].len);
        st.n_past = before[i].n_past;
        st.last_sampled_pending = before[i].sampled_pending;
        st.marker_tail = before[i].marker_tail;
        st.done = false;
      }
      // Tokens decoded before the failure were real work: the next successful call reports them.
      // The failed call itself is not carried (a ledger counts a failed call as one call).
      carry_ = out.usage;
      carry_.engine_calls -= 1;
      return e;
    };

    for (;;) {
      entries.clear();
      owner.clear();
      std::size_t prefill_rows = 0;
      for (std::size_t i = 0; i < seqs.size(); ++i) {
        if (!active[i]) continue;
        auto& st = seqs_[static_cast<std::size_t>(seqs[i])];
        prefill_rows += count_prefill(st, st.n_past, st.tokens.size());
        for (std::size_t p = st.n_past; p < st.tokens.size(); ++p) {
          entries.push_back({st.tokens[p], static_cast<std::int32_t>(p), seqs[i], p + 1 == st.tokens.size()});
          owner.push_back(i);
        }
      }
      if (entries.empty()) break;
      std::vector<std::pair<std::size_t, std::int32_t>> sampled; // (seq index, token)
      std::string error_message;
      result<void> ok;
      try {
        ok = decode_all(entries, [&](std::size_t k, std::span<const float> row) {
          const std::size_t i = owner[k];
          // One pass over the row: the draw (temperature, nucleus) and the statistics (T = 1).
          // A greedy draw takes no uniform, so a sequence's stream is what it was before.
          const double u = o.temperature == 0.0f ? 0.0 : uniform01(rngs[i]);
          const row_draw d = sample_row(row, u, row_sampling_params{.temperature = o.temperature, .top_p = o.top_p},
                                        token_stats_params{}, top_ids, top_lps);
          adapters::detail::append_stats(d.stats, top_lps, o.want, out.steps[i].stats);
          const auto tok = static_cast<std::int32_t>(d.token);
          sampled.emplace_back(i, tok);
        });
      } catch (const std::exception& e) { // a NaN logits row, a throwing backend
        ok = fail(errc::engine_failure, std::string("llama_cpp: ") + e.what());
      }
      if (!ok) return restore(ok.error());
      out.usage.prefilled_tokens += prefill_rows;
      counters_.prefilled_tokens += prefill_rows;
      for (std::size_t i = 0; i < seqs.size(); ++i)
        if (active[i]) {
          auto& st = seqs_[static_cast<std::size_t>(seqs[i])];
          st.n_past = st.tokens.size();
        }
      for (const auto& [i, tok] : sampled) {
        auto& st = seqs_[static_cast<std::size_t>(seqs[i])];
        step& sp = out.steps[i];
        st.tokens.push_back(tok);
        st.last_sampled_pending = true;
        ++sp.tokens;
        ++out.usage.generated_tokens;
        ++counters_.generated_tokens;
        const std::size_t generated = st.tokens.size() - st.prompt_len;
        bool end = false;
        if (backend_.is_eog(tok)) {
          sp.finish = finish_reason::eos;
          sp.done = true;
          end = true;
        } else {
          sp.text += backend_.piece(tok);
          // The earliest match of any marker, also one that began in the previous step's tail.
          const std::string& tail = st.marker_tail;
          const std::size_t searched = tail.size() + step_start[i]; // already searched: no match ends there
          const std::size_t at = earliest_marker(tail, sp.text, searched, o.markers);
          if (at != std::string::npos) {
            end = true;
            if (o.markers_stop) {
              sp.text.resize(at > tail.size() ? at - tail.size() : 0);
              sp.finish = finish_reason::stop;
              sp.done = true;
            } else {
              sp.finish = finish_reason::step;
            }
          }
          step_start[i] = sp.text.size();
          // The total cap and a full context finish the sequence even when a delimiter ended the step.
          if (generated >= o.max_total_tokens || st.tokens.size() + 1 >= backend_.n_ctx()) {
            if (!end) sp.finish = finish_reason::length;
            sp.done = true;
            end = true;
          } else if (!end && sp.tokens >= o.max_step_tokens) {
            sp.finish = finish_reason::length;
            end = true;
          }
        }
        if (end) {
          active[i] = false;
          st.done = sp.done;
          // A step cut by its token cap may have cut a delimiter in two: keep the text's end.
          if (sp.finish == finish_reason::length && !sp.done && longest_marker > 1) {
            const std::string joined = st.marker_tail + sp.text;
            const std::size_t keep = std::min(joined.size(), longest_marker - 1);
            st.marker_tail = joined.substr(joined.size() - keep);
          } else {
            st.marker_tail.clear();
          }
        }
      }
    }
    return out;
  }

  Backend backend_;
  std::vector<seq_state> seqs_;  // indexed by llama seq id
  std::vector<sequence> free_;   // free seq ids, next one at the back
  reckon::usage carry_;          // work done outside a reporting call (fork prefill, failed decodes)
  engine_counters counters_;
};

} // namespace reckon::llama_cpp
