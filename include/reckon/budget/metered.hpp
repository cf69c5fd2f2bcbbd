// SPDX-License-Identifier: Apache-2.0
// metered<M>: a decorator that keeps a cost ledger of any model or reward model without its knowing.
#pragma once

#include <reckon/budget/ledger.hpp>
#include <reckon/concepts/embedding_model.hpp>
#include <reckon/concepts/introspective_model.hpp>
#include <reckon/concepts/model_traits.hpp>
#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/reviser.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/self_rating_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace reckon {

namespace detail {

/// Forwards M's capability tag, when it has one.
template <class M>
struct metered_concept_alias {};
template <class M>
  requires requires { typename M::reckon_model_concept; }
struct metered_concept_alias<M> {
  using reckon_model_concept = typename M::reckon_model_concept;
};

/// Forwards M's sequence handle type, when it has one.
template <class M>
struct metered_sequence_alias {};
template <class M>
  requires requires { typename M::sequence; }
struct metered_sequence_alias<M> {
  using sequence = typename M::sequence;
};

/// Stands in for the sequence type of a model that has none (its members are then never callable).
struct no_sequence {
  friend bool operator==(no_sequence, no_sequence) = default;
};
template <class M>
struct sequence_of {
  using type = no_sequence;
};
template <class M>
  requires requires { typename M::sequence; }
struct sequence_of<M> {
  using type = typename M::sequence;
};

template <class T>
concept std_hashable = std::is_default_constructible_v<std::hash<T>> && requires(const T& t) {
  { std::hash<T>{}(t) } -> std::convertible_to<std::size_t>;
};

/// What the meter knows of one live sequence.
struct seq_state {
  std::uint64_t kv = 0;     ///< logical KV tokens (prefill share + generated)
  bool fresh = true;        ///< not extended yet (its prompt's prefill is still to come)
  std::uint32_t leaf = 0;   ///< its node in the prefix tree (prefix_tree)
};

/// The KV a prefix-sharing cache holds (a paged or radix cache: every shared prefix stored once),
/// as a tree of token runs. A live sequence owns one leaf; a fork turns the parent's leaf into a
/// shared node with two new leaves below it (an empty leaf forks as a sibling, so repeated forks
/// stay flat); a rollback into a shared run splits that run, so the kept part stays shared. A node
/// lives while a sequence or a child node refers to it; `total()` is the sum of live nodes' tokens.
class prefix_tree {
public:
  static constexpr std::uint32_t none = 0xFFFFFFFFU;

  /// A new root with no tokens (a begin), referred to once.
  std::uint32_t root() { return make(none, 0); }

  /// A fork of the sequence on `leaf`: returns {the parent's new leaf, the child's leaf}.
  std::pair<std::uint32_t, std::uint32_t> fork(std::uint32_t leaf) {
    node& l = nodes_[leaf];
    if (l.tokens == 0 && l.parent != none) return {leaf, make(l.parent, 0)}; // a sibling: nothing to share yet
    const std::uint32_t a = make(leaf, 0);
    const std::uint32_t b = make(leaf, 0);
    nodes_[leaf].refs -= 1; // its sequence moved to `a`; the two children refer to it now
    return {a, b};
  }

  /// `tokens` more on the node `at` (a leaf, or the root of fresh sequences for their prompt).
  void grow(std::uint32_t at, std::uint64_t tokens) noexcept {
    nodes_[at].tokens += tokens;
    total_ += tokens;
  }

  /// The root above `leaf` (the prompt's node).
  [[nodiscard]] std::uint32_t root_of(std::uint32_t leaf) const noexcept {
    while (nodes_[leaf].parent != none) leaf = nodes_[leaf].parent;
    return leaf;
  }

  /// The sequence on `leaf` drops its last `n` tokens; returns its new leaf.
  std::uint32_t rollback(std::uint32_t leaf, std::uint64_t n) {
    node& l = nodes_[leaf];
    const std::uint64_t own = std::min(n, l.tokens);
    l.tokens -= own;
    total_ -= own;
    n -= own;
    if (n == 0 || l.parent == none) return leaf;
    // The leaf is empty and the cut ends inside an ancestor's run: find it.
    const std::uint32_t old_parent = l.parent;
    std::uint32_t x = old_parent;
    while (x != none && nodes_[x].tokens <= n) {
      n -= nodes_[x].tokens;
      x = nodes_[x].parent;
    }
    if (x == none) {
      nodes_[leaf].parent = none; // cut back to nothing: a root of its own
    } else if (n == 0) {
      nodes_[leaf].parent = x;
      nodes_[x].refs += 1;
    } else { // split x into its kept head (shared by x's tail and the leaf) and its tail
      const std::uint32_t head = make(nodes_[x].parent, nodes_[x].tokens - n);
      total_ -= nodes_[head].tokens; // make() counted it; the tokens move, they are not new
      nodes_[head].refs = 2;
      if (nodes_[head].parent != none) nodes_[nodes_[head].parent].refs -= 1; // head replaced x below it
      nodes_[x].parent = head;
      nodes_[x].tokens = n;
      nodes_[leaf].parent = head;
    }
    unref(old_parent);
    return leaf;
  }

  /// The sequence on `leaf` is gone.
  void release(std::uint32_t leaf) noexcept { unref(leaf); }

  [[nodiscard]] std::uint64_t total() const noexcept { return total_; }

private:
  struct node {
    std::uint64_t tokens = 0;
    std::uint32_t parent = none;
    std::uint32_t refs = 0; // sequences and child nodes that refer to it
  };

  std::uint32_t make(std::uint32_t parent, std::uint64_t tokens) {
    std::uint32_t id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else {
      id = static_cast<std::uint32_t>(nodes_.size());
      nodes_.emplace_back();
    }
    nodes_[id] = node{tokens, parent, 1};
    total_ += tokens;
    if (parent != none) nodes_[parent].refs += 1;
    return id;
  }

  void unref(std::uint32_t id) noexcept {
    while (id != none && --nodes_[id].refs == 0) {
      total_ -= nodes_[id].tokens;
      free_.push_back(id);
      id = nodes_[id].parent;
    }
  }

  std::vector<node> nodes_;
  std::vector<std::uint32_t> free_;
  std::uint64_t total_ = 0;
};

/// Per-live-sequence state: a hash map where the handle is hashable, else a flat list.
template <class Seq>
class kv_table {
public:
  void set(const Seq& s, seq_state kv) {
    if constexpr (std_hashable<Seq>) {
      store_[s] = kv;
    } else {
      for (auto& e : store_)
        if (e.first == s) {
          e.second = kv;
          return;
        }
      store_.emplace_back(s, kv);
    }
  }
  /// The sequence's state, or nullptr when the handle is not known.
  seq_state* find(const Seq& s) noexcept {
    if constexpr (std_hashable<Seq>) {
      auto it = store_.find(s);
      return it == store_.end() ? nullptr : &it->second;
    } else {
      for (auto& e : store_)
        if (e.first == s) return &e.second;
      return nullptr;
    }
  }
  /// Forgets the sequence; returns its length (0 when unknown).
  std::uint64_t erase(const Seq& s) noexcept {
    seq_state* st = find(s);
    const std::uint64_t out = st ? st->kv : 0;
    if constexpr (std_hashable<Seq>) {
      store_.erase(s);
    } else {
      for (std::size_t i = 0; i < store_.size(); ++i)
        if (store_[i].first == s) {
          store_[i] = std::move(store_.back());
          store_.pop_back();
          break;
        }
    }
    return out;
  }
  [[nodiscard]] std::size_t size() const noexcept { return store_.size(); }

private:
  std::conditional_t<std_hashable<Seq>, std::unordered_map<Seq, seq_state>, std::vector<std::pair<Seq, seq_state>>>
      store_;
};

/// ceil(characters / 4): reckon's token estimate for text whose token count nobody reported.
[[nodiscard]] inline std::uint64_t estimate_tokens(std::size_t characters) noexcept {
  return (static_cast<std::uint64_t>(characters) + 3) / 4;
}

} // namespace detail

/// A decorator that wraps a model (any capability: sampling, stepping, logprob, introspective,
/// reviser) or a reward model (process or outcome) and keeps a `ledger` of what the calls cost,
/// without the model knowing. `metered<M>` has exactly M's capabilities: the same
/// `reckon_model_concept`, the same `sequence` type, the same `model_traits`, and only the
/// members M has (the others are constrained away, so a strategy that needs a capability M lacks
/// fails to compile, naming it).
///
/// `metered<M>` holds M by value; `metered<M&>` holds a reference (the model must outlive it).
/// The deduction guide picks by value category: `metered m{engine};` refers to `engine`,
/// `metered m{make_engine()};` owns the model.
///
/// What it counts (the rules, since engines report unevenly):
/// - sample / extend / revise: `engine_calls` += the call's usage.engine_calls, at least 1 (a call
///   that fails counts one call and no tokens); `generated_tokens` += usage.generated_tokens, or
///   the sum of the completions'/steps' `tokens` when the usage reports 0; `prefilled_tokens` +=
///   usage.prefilled_tokens; `serial_depth` += 1 per call (one sequential round).
/// - Live sequences: begin and a successful fork add one, release removes one. KV tokens are
///   logical: the sum over live sequences of their lengths, where a sequence's length is its share
///   of the prefill reported by the extend calls it took part in (a call's prefill is split evenly
///   over the sequences that had not been extended yet, else over all of them) plus its generated
///   tokens; a fork starts at its parent's length; rollback(seq, n) subtracts n. An engine that
///   shares prefixes physically holds fewer. A sampling call briefly holds n live sequences and
///   its prefill + generated tokens on top of the live ones.
/// - score_steps / score_outcomes: `prm_calls` += 1; `prm_tokens` += what the reward model says
///   its last call read, when it has a member `tokens_last_call()` (an in-process PRM that scores
///   only new steps knows), else ceil(characters / 4) of every candidate's steps (solution_view
///   carries no token counts, so characters / 4 is the stated estimate; the prompt is not counted).
/// - Shared KV: the tokens a prefix-sharing cache (paged or radix) would hold, each shared prefix
///   once (detail::prefix_tree: forks share, releases free what no sequence refers to, the
///   prompt's prefill is stored once per begin); after every engine round (sample, extend, revise,
///   rating) the amount held, plus a sampling call's own prompt and completions, goes into
///   `peak_shared_kv_tokens` and `shared_kv_token_rounds` (ledger::mean_shared_kv_tokens()).
/// - embed: `embedding_calls` += 1, `embedding_tokens` += the call's prefilled_tokens, or the
///   ceil(characters / 4) estimate when it reports none.
/// - `wall_seconds`: steady_clock time spent inside the wrapped calls.
/// - rate_plan / rate_next (self_rating_model): as sample, from the ratings' usage (no live sequence).
/// - introspect and release cost nothing.
///
/// Errors: an error the model returns passes through unchanged; an exception escaping the model is
/// caught and returned as `errc::engine_failure` whose message contains its what().
template <class M>
class metered : public detail::metered_concept_alias<std::remove_cvref_t<M>>,
                public detail::metered_sequence_alias<std::remove_cvref_t<M>> {
public:
  using model_type = std::remove_cvref_t<M>; ///< the wrapped model's type
  using seq_type = typename detail::sequence_of<model_type>::type; ///< M::sequence, or a placeholder

  static constexpr std::size_t max_sequences = model_traits<model_type>::max_sequences;     ///< as M's
  static constexpr bool supports_rollback = model_traits<model_type>::supports_rollback;    ///< as M's
  static constexpr std::uint32_t logprob_top_k = model_traits<model_type>::logprob_top_k;   ///< as M's
  static constexpr bool full_logits = model_traits<model_type>::full_logits;                ///< as M's
  static constexpr double cost_per_token = model_traits<model_type>::cost_per_token;        ///< as M's

  /// Wraps `model` (copied or moved in for metered<M>, referred to for metered<M&>).
  template <class U>
    requires(!std::is_same_v<std::remove_cvref_t<U>, metered> && std::is_constructible_v<M, U &&>)
  explicit metered(U&& model) : model_(std::forward<U>(model)) {}

  /// The ledger so far.
  [[nodiscard]] const reckon::ledger& ledger() const noexcept { return ledger_; }
  /// Zeroes the ledger (live sequences stay live and keep counting towards later peaks).
  void reset_ledger() noexcept {
    ledger_ = {};
    ledger_.peak_live_sequences = live_.size();
    ledger_.peak_kv_tokens = kv_total_;
    ledger_.peak_shared_kv_tokens = tree_.total();
  }
  /// Live sequences now.
  [[nodiscard]] std::size_t live_sequences() const noexcept { return live_.size(); }
  /// Logical KV tokens held now.
  [[nodiscard]] std::uint64_t kv_tokens() const noexcept { return kv_total_; }
  /// The wrapped model.
  [[nodiscard]] model_type& model() noexcept { return model_; }
  [[nodiscard]] const model_type& model() const noexcept { return model_; }

  // ---- sampling_model -------------------------------------------------------------------------

  /// M::sample, metered.
  result<sample_batch> sample(const problem& p, const sampling_params& params, std::uint32_t n)
    requires sampling_model<model_type>
  {
    auto out = guarded([&] { return model_.sample(p, params, n); });
    if (out) {
      const std::uint64_t generated = generated_of(out->usage, out->completions);
      note_peak(live_.size() + n, kv_total_ + out->usage.prefilled_tokens + generated);
      add_call(out->usage, generated);
      note_round(out->usage.prefilled_tokens + generated);
    } else {
      ++ledger_.engine_calls;
      note_round(0);
    }
    ++ledger_.serial_depth;
    return out;
  }

  // ---- stepping_model -------------------------------------------------------------------------

  /// M::begin, metered: one more live sequence (its prompt is counted when an extend prefills it).
  result<seq_type> begin(const problem& p)
    requires stepping_model<model_type>
  {
    auto out = guarded([&] { return model_.begin(p); });
    if (out) {
      live_.set(*out, detail::seq_state{.leaf = tree_.root()});
      note_peak(live_.size(), kv_total_);
    }
    return out;
  }

  /// M::fork, metered: the child starts with its parent's length.
  result<seq_type> fork(seq_type parent)
    requires stepping_model<model_type>
  {
    auto out = guarded([&] { return model_.fork(parent); });
    if (out) {
      detail::seq_state* st = live_.find(parent);
      detail::seq_state child = st ? *st : detail::seq_state{};
      if (st != nullptr) std::tie(st->leaf, child.leaf) = tree_.fork(st->leaf);
      else child.leaf = tree_.root();
      live_.set(*out, child);
      kv_total_ += child.kv;
      note_peak(live_.size(), kv_total_);
    }
    return out;
  }

  /// M::release, metered.
  void release(seq_type s) noexcept
    requires stepping_model<model_type>
  {
    model_.release(s);
    if (const detail::seq_state* st = live_.find(s)) tree_.release(st->leaf);
    kv_total_ -= live_.erase(s);
  }

  /// M::extend, metered: one engine round; each sequence grows by its step and prefill share.
  result<step_batch> extend(std::span<const seq_type> seqs, const step_params& params,
                            std::span<const std::uint64_t> seeds)
    requires stepping_model<model_type>
  {
    auto out = guarded([&] { return model_.extend(seqs, params, seeds); });
    ++ledger_.serial_depth;
    if (!out) {
      ++ledger_.engine_calls;
      note_round(0);
      return out;
    }
    const std::uint64_t generated = generated_of(out->usage, out->steps);
    add_call(out->usage, generated);
    // Split the prefill over the sequences that had not been extended yet (their prompts), else all.
    std::size_t fresh_in_call = 0;
    for (const auto& s : seqs) {
      const detail::seq_state* st = live_.find(s);
      fresh_in_call += st && st->fresh ? 1 : 0;
    }
    const std::size_t sharers = fresh_in_call != 0 ? fresh_in_call : seqs.size();
    const std::uint64_t prefill = out->usage.prefilled_tokens;
    std::uint64_t remainder = sharers != 0 ? prefill % sharers : 0;
    // Shared KV: fresh sequences' prefill is their prompt, stored once per root they share (split
    // evenly over distinct roots); any other prefill is private to the sequences re-sent.
    roots_.clear();
    if (fresh_in_call != 0)
      for (const auto& s : seqs)
        if (const detail::seq_state* st = live_.find(s); st != nullptr && st->fresh) {
          const std::uint32_t r = tree_.root_of(st->leaf);
          if (std::find(roots_.begin(), roots_.end(), r) == roots_.end()) roots_.push_back(r);
        }
    for (std::size_t k = 0; k < roots_.size(); ++k)
      tree_.grow(roots_[k], prefill / roots_.size() + (k < prefill % roots_.size() ? 1 : 0));
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      detail::seq_state* st = live_.find(seqs[i]);
      if (st == nullptr) continue; // a handle the meter never saw begin: nothing to attribute
      const std::uint64_t stepped = i < out->steps.size() ? out->steps[i].tokens : 0;
      std::uint64_t grow = stepped;
      if (fresh_in_call == 0 || st->fresh) {
        const std::uint64_t share = prefill / sharers + (remainder != 0 ? 1 : 0);
        grow += share;
        if (remainder != 0) --remainder;
        if (fresh_in_call == 0) tree_.grow(st->leaf, share);
      }
      tree_.grow(st->leaf, stepped);
      st->kv += grow;
      st->fresh = false;
      kv_total_ += grow;
    }
    note_peak(live_.size(), kv_total_);
    note_round(0);
    return out;
  }

  /// M::rollback, metered: the sequence loses n tokens.
  result<void> rollback(seq_type s, std::uint32_t n)
    requires rollback_model<model_type>
  {
    auto out = guarded([&] { return model_.rollback(s, n); });
    if (out) {
      if (detail::seq_state* st = live_.find(s)) {
        const std::uint64_t cut = n < st->kv ? n : st->kv;
        st->kv -= cut;
        kv_total_ -= cut;
        st->leaf = tree_.rollback(st->leaf, n);
      }
    }
    return out;
  }

  /// M::introspect, passed through (no cost).
  result<introspection> introspect(std::span<const seq_type> seqs)
    requires introspective_model<model_type>
  {
    return guarded([&] { return model_.introspect(seqs); });
  }

  /// M::rate_plan, metered: one engine round, the ratings' usage.
  result<difficulty_ratings> rate_plan(const problem& p, std::uint64_t seed)
    requires self_rating_model<model_type>
  {
    return note_rating(guarded([&] { return model_.rate_plan(p, seed); }));
  }

  /// M::rate_next, metered: one engine round, the ratings' usage.
  result<difficulty_ratings> rate_next(std::span<const seq_type> seqs, std::span<const std::uint64_t> seeds)
    requires self_rating_model<model_type>
  {
    return note_rating(guarded([&] { return model_.rate_next(seqs, seeds); }));
  }

  // ---- reward models and reviser ---------------------------------------------------------------

  /// M::score_steps, metered: one reward-model call and its tokens (see the class comment).
  result<std::vector<std::vector<double>>> score_steps(const problem& p, std::span<const solution_view> candidates)
    requires process_reward_model<model_type>
  {
    auto out = guarded([&] { return model_.score_steps(p, candidates); });
    note_reward_call(candidates);
    return out;
  }

  /// M::score_outcomes, metered: one reward-model call and its tokens (see the class comment).
  result<std::vector<double>> score_outcomes(const problem& p, std::span<const solution_view> candidates)
    requires outcome_reward_model<model_type>
  {
    auto out = guarded([&] { return model_.score_outcomes(p, candidates); });
    note_reward_call(candidates);
    return out;
  }

  /// M::embed, metered: one embedding call and the tokens it read (its usage's prefilled_tokens,
  /// else ceil(characters / 4) of the texts).
  result<embedding_batch> embed(std::span<const std::string> texts)
    requires embedding_model<model_type>
  {
    auto out = guarded([&] { return model_.embed(texts); });
    ++ledger_.embedding_calls;
    if (out && out->usage.prefilled_tokens != 0) {
      ledger_.embedding_tokens += out->usage.prefilled_tokens;
    } else {
      std::size_t chars = 0;
      for (const auto& t : texts) chars += t.size();
      ledger_.embedding_tokens += detail::estimate_tokens(chars);
    }
    return out;
  }

  /// M::revise, metered like a sampling call.
  result<sample_batch> revise(const problem& p, std::span<const revision_request> requests,
                              const sampling_params& params)
    requires reviser<model_type>
  {
    auto out = guarded([&] { return model_.revise(p, requests, params); });
    ++ledger_.serial_depth;
    if (out) {
      const std::uint64_t generated = generated_of(out->usage, out->completions);
      note_peak(live_.size() + requests.size(), kv_total_ + out->usage.prefilled_tokens + generated);
      add_call(out->usage, generated);
      note_round(out->usage.prefilled_tokens + generated);
    } else {
      ++ledger_.engine_calls;
      note_round(0);
    }
    return out;
  }

private:
  /// Runs a model call, timing it and turning an escaping exception into engine_failure.
  template <class F>
  auto guarded(F&& call) -> decltype(call()) {
    const auto start = std::chrono::steady_clock::now();
    struct timer {
      reckon::ledger& l;
      std::chrono::steady_clock::time_point t0;
      ~timer() { l.wall_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
    } t{ledger_, start};
    try {
      return call();
    } catch (const std::exception& e) {
      return fail(errc::engine_failure, std::string("the model threw: ") + e.what());
    } catch (...) {
      return fail(errc::engine_failure, "the model threw a non-standard exception");
    }
  }

  result<difficulty_ratings> note_rating(result<difficulty_ratings> out) {
    if (out) add_call(out->usage, out->usage.generated_tokens);
    else ++ledger_.engine_calls;
    ++ledger_.serial_depth;
    note_round(0);
    return out;
  }

  template <class Items>
  static std::uint64_t generated_of(const usage& u, const Items& items) noexcept {
    if (u.generated_tokens != 0) return u.generated_tokens;
    std::uint64_t sum = 0;
    for (const auto& item : items) sum += item.tokens;
    return sum;
  }

  void add_call(const usage& u, std::uint64_t generated) noexcept {
    ledger_.engine_calls += u.engine_calls != 0 ? u.engine_calls : 1;
    ledger_.generated_tokens += generated;
    ledger_.prefilled_tokens += u.prefilled_tokens;
  }

  void note_peak(std::uint64_t live, std::uint64_t kv) noexcept {
    if (live > ledger_.peak_live_sequences) ledger_.peak_live_sequences = live;
    if (kv > ledger_.peak_kv_tokens) ledger_.peak_kv_tokens = kv;
  }

  // One engine round ended: the shared KV held now, plus `transient` tokens the call held only
  // while it ran (a sampling call's prompt and completions), goes into the peak and the round sum.
  void note_round(std::uint64_t transient) noexcept {
    const std::uint64_t held = tree_.total() + transient;
    if (held > ledger_.peak_shared_kv_tokens) ledger_.peak_shared_kv_tokens = held;
    ledger_.shared_kv_token_rounds += held;
  }

  void note_reward_call(std::span<const solution_view> candidates) noexcept {
    ++ledger_.prm_calls;
    if constexpr (requires(const model_type& m) { { m.tokens_last_call() } -> std::convertible_to<std::uint64_t>; }) {
      ledger_.prm_tokens += static_cast<std::uint64_t>(model_.tokens_last_call());
      return;
    }
    for (const auto& c : candidates) {
      std::size_t chars = 0;
      for (const auto& s : c.steps) chars += s.size();
      ledger_.prm_tokens += detail::estimate_tokens(chars);
    }
  }

  M model_;
  reckon::ledger ledger_{};
  detail::kv_table<seq_type> live_{};
  std::uint64_t kv_total_ = 0;
  detail::prefix_tree tree_{};
  std::vector<std::uint32_t> roots_{};
};

/// `metered m{engine};` refers to an lvalue; `metered m{make_engine()};` owns an rvalue.
template <class U>
metered(U&&) -> metered<U>;

} // namespace reckon
