// SPDX-License-Identifier: Apache-2.0
// Plurality and weighted votes over canonical answer keys, with a stated tie-break and the tallies.
#pragma once

#include <reckon/core/result.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace reckon {

/// How a vote orders answers whose weight and count are both equal.
enum class tie_break : std::uint8_t {
  first_seen,    ///< the answer whose first vote came earliest wins (the default)
  lexicographic, ///< the smallest key (byte-wise) wins: independent of the order votes arrived in
};

/// One answer's share of a vote.
struct answer_tally {
  std::string answer;         ///< the canonical answer key
  std::size_t count = 0;      ///< votes cast for it
  double weight = 0.0;        ///< sum of its votes' weights (its count in a plurality vote)
  double share = 0.0;         ///< weight / total weight of all votes (0 when the total is 0)
  std::size_t first_seen = 0; ///< index of its first vote among all votes added (abstentions included)

  friend bool operator==(const answer_tally&, const answer_tally&) = default;
};

/// The outcome of a vote: every answer's tally, best first.
///
/// Ranking (the tie-break policy): larger total weight first; then more votes; then, by
/// `tie_break`, the answer seen first (default) or the lexicographically smallest key. The
/// ranking is therefore a strict total order and the leader is deterministic.
struct vote_tally {
  std::vector<answer_tally> answers; ///< ranked, leader first; empty when nobody answered
  std::size_t votes = 0;             ///< votes cast for some answer
  std::size_t abstentions = 0;       ///< inputs with no answer (nullopt), which never vote
  double total_weight = 0.0;         ///< sum of all votes' weights

  /// The winning answer, or nullptr when nobody answered.
  [[nodiscard]] const answer_tally* leader() const noexcept { return answers.empty() ? nullptr : &answers.front(); }
  /// The winning answer's key, or nullopt when nobody answered.
  [[nodiscard]] std::optional<std::string> winner() const {
    return answers.empty() ? std::nullopt : std::optional<std::string>(answers.front().answer);
  }
  /// Leader's share minus the runner-up's share (the leader's share when it is alone; 0 when empty).
  [[nodiscard]] double margin() const noexcept {
    if (answers.empty()) return 0.0;
    return answers.size() == 1 ? answers[0].share : answers[0].share - answers[1].share;
  }
  /// The tally of `key`, or nullptr when nobody voted for it.
  [[nodiscard]] const answer_tally* find(std::string_view key) const noexcept {
    for (const auto& a : answers)
      if (a.answer == key) return &a;
    return nullptr;
  }
};

/// Tuning of a vote.
struct vote_params {
  reckon::tie_break tie_break = reckon::tie_break::first_seen; ///< order of answers equal in weight and count
};

/// An incremental vote: add answers one at a time (adaptive strategies tally after every round),
/// then read the tally. Cost: O(1) expected per vote (an open-addressing table keyed by the
/// answer's hash); tally() is O(k log k) for k distinct answers.
class vote_counter {
public:
  /// Records one vote for `answer` with `weight`; nullopt abstains (it is counted, never votes).
  /// Throws reckon::exception (invalid_argument) when weight is NaN, infinite or negative.
  void add(std::optional<std::string_view> answer, double weight = 1.0) {
    detail::require(std::isfinite(weight) && weight >= 0.0, "vote: weights must be finite and >= 0");
    const std::size_t index = seen_++;
    if (!answer) {
      ++abstentions_;
      return;
    }
    ++votes_;
    total_weight_ += weight;
    entry& e = find_or_insert(*answer, index);
    ++e.count;
    e.weight += weight;
  }

  /// Votes and abstentions added so far.
  [[nodiscard]] std::size_t size() const noexcept { return seen_; }

  /// The ranked tally (see vote_tally for the order).
  [[nodiscard]] vote_tally tally(const vote_params& params = {}) const {
    vote_tally out;
    out.votes = votes_;
    out.abstentions = abstentions_;
    out.total_weight = total_weight_;
    std::vector<std::size_t> order(entries_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    const bool lexicographic = params.tie_break == tie_break::lexicographic;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      const entry& x = entries_[a];
      const entry& y = entries_[b];
      if (x.weight != y.weight) return x.weight > y.weight;
      if (x.count != y.count) return x.count > y.count;
      if (lexicographic) return x.key < y.key;
      return x.first_seen < y.first_seen;
    });
    out.answers.reserve(order.size());
    for (const std::size_t i : order) {
      const entry& e = entries_[i];
      out.answers.push_back(answer_tally{e.key, e.count, e.weight, total_weight_ > 0.0 ? e.weight / total_weight_ : 0.0,
                                         e.first_seen});
    }
    return out;
  }

private:
  struct entry {
    std::string key;
    std::size_t hash;
    std::size_t count;
    double weight;
    std::size_t first_seen;
  };
  struct slot {
    std::size_t hash = 0;
    std::size_t index = 0; // entry index + 1; 0 marks an empty slot
  };

  entry& find_or_insert(std::string_view key, std::size_t seen_at) {
    if (2 * (entries_.size() + 1) > slots_.size()) grow();
    const std::size_t h = std::hash<std::string_view>{}(key);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t pos = h & mask;; pos = (pos + 1) & mask) {
      slot& s = slots_[pos];
      if (s.index == 0) {
        s = slot{h, entries_.size() + 1};
        entries_.push_back(entry{std::string(key), h, 0, 0.0, seen_at});
        return entries_.back();
      }
      if (s.hash == h && entries_[s.index - 1].key == key) return entries_[s.index - 1];
    }
  }

  void grow() {
    std::vector<slot> bigger(slots_.empty() ? 16 : 2 * slots_.size());
    const std::size_t mask = bigger.size() - 1;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      std::size_t pos = entries_[i].hash & mask;
      while (bigger[pos].index != 0) pos = (pos + 1) & mask;
      bigger[pos] = slot{entries_[i].hash, i + 1};
    }
    slots_ = std::move(bigger);
  }

  std::vector<entry> entries_; // in order of first vote
  std::vector<slot> slots_;    // linear probing, at most half full, size a power of two
  std::size_t seen_ = 0;
  std::size_t votes_ = 0;
  std::size_t abstentions_ = 0;
  double total_weight_ = 0.0;
};

namespace detail {
inline std::optional<std::string_view> as_answer(const std::optional<std::string>& a) noexcept {
  return a ? std::optional<std::string_view>(*a) : std::nullopt;
}
inline std::optional<std::string_view> as_answer(std::optional<std::string_view> a) noexcept { return a; }
inline std::optional<std::string_view> as_answer(std::string_view a) noexcept { return a; }
inline std::optional<std::string_view> as_answer(const std::string& a) noexcept { return std::string_view(a); }
} // namespace detail

/// Plurality vote: one vote per answer; nullopt abstains. Empty input gives an empty tally
/// (leader() == nullptr), which is not an error: nobody answered.
/// Answer elements: std::optional<std::string>, std::optional<std::string_view>, std::string or
/// std::string_view (every string is an answer, the empty string included).
template <class Answer>
[[nodiscard]] vote_tally plurality_vote(std::span<const Answer> answers, const vote_params& params = {}) {
  vote_counter counter;
  for (const auto& a : answers) counter.add(detail::as_answer(a), 1.0);
  return counter.tally(params);
}
/// plurality_vote over a vector.
template <class Answer>
[[nodiscard]] vote_tally plurality_vote(const std::vector<Answer>& answers, const vote_params& params = {}) {
  return plurality_vote(std::span<const Answer>(answers), params);
}

/// Weighted vote: answer i votes with weights[i] (finite, >= 0); a* = argmax_a sum_{i: ans_i = a} w_i.
/// Throws reckon::exception (invalid_argument) when the spans differ in length or a weight is
/// NaN, infinite or negative. All-zero weights are allowed: shares are then 0 and the ranking
/// falls to the vote counts.
template <class Answer>
[[nodiscard]] vote_tally weighted_vote(std::span<const Answer> answers, std::span<const double> weights,
                                       const vote_params& params = {}) {
  detail::require(answers.size() == weights.size(), "weighted_vote: answers and weights differ in length");
  vote_counter counter;
  for (std::size_t i = 0; i < answers.size(); ++i) counter.add(detail::as_answer(answers[i]), weights[i]);
  return counter.tally(params);
}
/// weighted_vote over vectors.
template <class Answer>
[[nodiscard]] vote_tally weighted_vote(const std::vector<Answer>& answers, const std::vector<double>& weights,
                                       const vote_params& params = {}) {
  return weighted_vote(std::span<const Answer>(answers), std::span<const double>(weights), params);
}

/// Weighted vote over any items with a key functor (item -> optional<string_view>-like) and any
/// weight functor (item -> double), e.g. completions keyed by extracted answer, weighted by
/// confidence. The same rules and errors as the span version.
template <class Items, class KeyFn, class WeightFn>
[[nodiscard]] vote_tally weighted_vote_by(const Items& items, KeyFn&& key, WeightFn&& weight,
                                          const vote_params& params = {}) {
  vote_counter counter;
  for (const auto& item : items) {
    const auto k = std::invoke(key, item);
    counter.add(detail::as_answer(k), static_cast<double>(std::invoke(weight, item)));
  }
  return counter.tally(params);
}

} // namespace reckon
