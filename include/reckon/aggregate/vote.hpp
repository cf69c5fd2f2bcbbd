// SPDX-License-Identifier: Apache-2.0
// Plurality and weighted votes over canonical answer keys, with a stated tie-break, the merge of
// equal answers under distinct keys (answer_merge) and the tallies.
#pragma once

#include <reckon/answer/canonical.hpp>
#include <reckon/answer/equal.hpp>
#include <reckon/core/result.hpp>

#include <algorithm>
#include <array>
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
  /// Other keys whose votes were merged into this answer as the same answer (`answer_merge::equal`),
  /// in ranking order; empty when none.
  std::vector<std::string> merged{};

  friend bool operator==(const answer_tally&, const answer_tally&) = default;
};

/// The outcome of a vote: every answer's tally, best first.
///
/// Ranking (the tie-break policy): larger total weight first; then more votes; then, by
/// `tie_break`, the answer seen first (default) or the lexicographically smallest key. The
/// ranking is therefore a strict total order and the leader is deterministic. With
/// `answer_merge::equal` (the default) buckets of one answer under distinct keys are pooled
/// first (see answer_merge) and the pooled answers are ranked by the same order; a pooled
/// answer's first_seen is its earliest vote.
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
  /// The tally that holds `key`'s votes (its own, or the answer it was merged into), or nullptr
  /// when nobody voted for it.
  [[nodiscard]] const answer_tally* find(std::string_view key) const noexcept {
    for (const auto& a : answers)
      if (a.answer == key) return &a;
    for (const auto& a : answers)
      for (const auto& m : a.merged)
        if (m == key) return &a;
    return nullptr;
  }
};

/// Whether distinct keys that are the same answer pool their votes.
enum class answer_merge : std::uint8_t {
  /// (default) After bucketing by key, the leading `merge_cap` buckets in ranking order are
  /// clustered: each joins the first earlier cluster whose representative (its top bucket)
  /// `answers_equal` it (default tolerance), else starts one; a cluster votes as one answer
  /// under its representative's key, with the others in `answer_tally::merged`. So
  /// `\frac{x+2}{7}` and `\frac{x}{7}+\frac{2}{7}`, or `3+2i` and `2i+3`, are one answer, as a
  /// grader would judge them. Comparing with representatives only (no chains) keeps a cluster's
  /// members each equal to the key it votes under, although answers_equal is not transitive
  /// within its tolerance. Why the default: every built-in strategy votes with canonical
  /// answers (canonical_answer_key), where a split vote is a wrong answer, and the keys'
  /// canonical forms are idempotent, so a key read again is the answer it came from. The cost
  /// is bounded (merge_cap), and a vote of plain numbers pays only a scan (see vote_counter).
  equal,
  key, ///< keys are the answers: equal bytes or distinct answers (for keys that are no math answers)
};

/// Tuning of a vote.
struct vote_params {
  reckon::tie_break tie_break = reckon::tie_break::first_seen; ///< order of answers equal in weight and count
  answer_merge merge = answer_merge::equal; ///< whether equal answers under distinct keys pool their votes
  /// The most buckets `answer_merge::equal` compares (the leading ones in ranking order; the rest
  /// keep their own tallies), so a tally costs at most merge_cap^2 / 2 comparisons.
  std::size_t merge_cap = 16;
};

namespace detail {

// The value of a key in a canonical exact-number form: an integer `-?D+` (no leading zero), a
// decimal `-?D+.D+` with at most 5 places, or `-?\frac{D+}{D+}`, each part at most 18 digits;
// `integer` tells the first. Between two such keys with distinct text, answers_equal can only
// hold by its tolerance rule on their values (never for two integers; its rule for decimals of
// 6+ places cannot apply), which lets a vote of numbers skip the comparisons (merge_equal_answers).
struct numeric_key {
  double value = 0.0;
  bool integer = false;
};
inline std::optional<numeric_key> parse_numeric_key(std::string_view k) noexcept {
  std::size_t p = !k.empty() && k[0] == '-' ? 1 : 0;
  const bool neg = p == 1;
  auto digits = [&](std::int64_t& v) {
    const std::size_t b = p;
    v = 0;
    for (; p < k.size() && k[p] >= '0' && k[p] <= '9'; ++p)
      if (p - b < 18) v = v * 10 + (k[p] - '0'); // 18 digits fit; longer runs are refused below
    return p - b >= 1 && p - b <= 18;
  };
  std::int64_t a = 0, b = 1;
  if (k.substr(p, 6) == "\\frac{") {
    p += 6;
    if (!digits(a) || k.substr(p, 2) != "}{") return std::nullopt;
    p += 2;
    if (!digits(b) || p + 1 != k.size() || k[p] != '}' || b == 0) return std::nullopt;
  } else {
    const std::size_t begin = p;
    if (!digits(a) || (k[begin] == '0' && p - begin > 1)) return std::nullopt;
    if (p == k.size()) {
      if (neg && a == 0) return std::nullopt; // `-0` is no canonical key
      return numeric_key{static_cast<double>(neg ? -a : a), true};
    }
    if (k[p] != '.') return std::nullopt;
    ++p;
    const std::size_t frac = p;
    std::int64_t f = 0;
    if (!digits(f) || p != k.size() || p - frac > 5) return std::nullopt;
    for (std::size_t q = frac; q < p; ++q) b *= 10;
    if (!checked_mul(a, b, a) || !checked_add(a, f, a)) return std::nullopt;
  }
  const auto r = make_rational(neg ? -a : a, b);
  if (!r) return std::nullopt;
  return numeric_key{r->to_double(), false};
}

// The one ranking of a vote, on (weight, count, key, first_seen): vote_tally's entries and the
// merged tallies of answer_merge::equal are both ordered by it. `key` reads an item's answer key.
template <class T, class Key>
bool ranks_before(const T& x, const T& y, bool lexicographic, Key key) noexcept {
  if (x.weight != y.weight) return x.weight > y.weight;
  if (x.count != y.count) return x.count > y.count;
  if (lexicographic) return key(x) < key(y);
  return x.first_seen < y.first_seen;
}

// The numeric screen of answer_merge::equal: false when the leading `m` keys (`numeric(i)`, the
// parse of the i-th) are all canonical exact numbers none of which can equal another, so that
// nothing merges. Two integers never do; others only within the tolerance, and then some
// neighbours in sorted order are within twice it (the margin covers rounding in how each value
// was computed). Cost: m lookups and a sort of m doubles, no allocation for m <= 32.
template <class Numeric>
bool may_merge(std::size_t m, double tolerance, Numeric&& numeric) {
  std::array<double, 32> small{};
  std::vector<double> large;
  double* values = small.data();
  if (m > small.size()) {
    large.resize(m);
    values = large.data();
  }
  bool all_integers = true;
  for (std::size_t i = 0; i < m; ++i) {
    const std::optional<numeric_key>& v = numeric(i);
    if (!v) return true;
    values[i] = v->value;
    all_integers = all_integers && v->integer;
  }
  if (all_integers) return false; // distinct integers are never the same answer
  std::sort(values, values + m);
  for (std::size_t i = 1; i < m; ++i)
    if (values[i] - values[i - 1] <= 2 * tolerance * std::max(std::abs(values[i]), std::abs(values[i - 1])))
      return true;
  return false;
}

// answer_merge::equal over a ranked list (see there), its leading `m` buckets compared. Cost: m
// canonicalisations and at most m^2 / 2 answers_equal calls (vote_counter first runs may_merge,
// which spares a vote of plain numbers all of it).
inline void merge_equal_answers(std::vector<answer_tally>& ranked, std::size_t m, bool lexicographic,
                                double total_weight, double tolerance) {
  m = std::min(m, ranked.size());
  if (m < 2) return;
  std::vector<canonical_answer> form;
  form.reserve(m);
  std::vector<char> integer(m, 0);
  for (std::size_t i = 0; i < m; ++i) {
    const auto v = parse_numeric_key(ranked[i].answer);
    integer[i] = v && v->integer ? 1 : 0;
    form.push_back(canonicalize(ranked[i].answer));
  }
  std::vector<std::size_t> reps; // index of each cluster's representative, in ranking order
  std::vector<std::size_t> cluster_of(m);
  bool any = false;
  for (std::size_t i = 0; i < m; ++i) {
    std::size_t c = 0;
    for (; c < reps.size(); ++c) {
      const std::size_t r = reps[c];
      if (integer[r] && integer[i]) continue;
      if (detail::answers_equal_checked(form[r], form[i], tolerance)) break;
    }
    if (c == reps.size()) reps.push_back(i);
    else any = true;
    cluster_of[i] = c;
  }
  if (!any) return;
  std::vector<answer_tally> out;
  out.reserve(ranked.size());
  for (const std::size_t r : reps) out.push_back(ranked[r]);
  for (std::size_t i = 0; i < m; ++i) {
    answer_tally& t = out[cluster_of[i]];
    if (reps[cluster_of[i]] == i) continue;
    t.count += ranked[i].count;
    t.weight += ranked[i].weight;
    t.first_seen = std::min(t.first_seen, ranked[i].first_seen);
    t.merged.push_back(std::move(ranked[i].answer));
  }
  for (auto& t : out) t.share = total_weight > 0.0 ? t.weight / total_weight : 0.0;
  for (std::size_t i = m; i < ranked.size(); ++i) out.push_back(std::move(ranked[i]));
  std::stable_sort(out.begin(), out.end(),
                   [&](const answer_tally& x, const answer_tally& y) {
                     return ranks_before(x, y, lexicographic, [](const answer_tally& t) -> const std::string& { return t.answer; });
                   });
  ranked = std::move(out);
}

} // namespace detail

/// An incremental vote: add answers one at a time (adaptive strategies tally after every round),
/// then read the tally. Cost: O(1) expected per vote (an open-addressing table keyed by the
/// answer's hash); tally() is O(k log k) for k distinct answers, plus the bounded merge of
/// answer_merge::equal (nothing more for leading keys that are plain numbers; at most
/// merge_cap canonicalisations and merge_cap^2 / 2 answers_equal calls otherwise).
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
      return detail::ranks_before(entries_[a], entries_[b], lexicographic,
                                  [](const entry& e) -> const std::string& { return e.key; });
    });
    out.answers.reserve(order.size());
    for (const std::size_t i : order) {
      const entry& e = entries_[i];
      out.answers.push_back(answer_tally{e.key, e.count, e.weight, total_weight_ > 0.0 ? e.weight / total_weight_ : 0.0,
                                         e.first_seen, {}});
    }
    if (params.merge == answer_merge::equal) {
      constexpr double tolerance = 1e-9; // answers_equal's default
      const std::size_t m = std::min(params.merge_cap, order.size());
      if (m >= 2 && detail::may_merge(m, tolerance, [&](std::size_t i) -> const std::optional<detail::numeric_key>& {
            return entries_[order[i]].numeric;
          }))
        detail::merge_equal_answers(out.answers, m, lexicographic, total_weight_, tolerance);
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
    std::optional<detail::numeric_key> numeric; // the key's value when it is a plain number
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
        entries_.push_back(entry{std::string(key), h, 0, 0.0, seen_at, detail::parse_numeric_key(key)});
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
