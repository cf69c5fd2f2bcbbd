// SPDX-License-Identifier: Apache-2.0
// ETS's frontier-selection integer program (Hooper et al. 2025), its objective, and reckon's exact solver.
//
// The program, as SqueezeAILab/ETS rebase.py @ ac937a72 builds it (select_softmax_costmodel):
//   maximize  sum_i O_i x_i + g C (sum_j y_j + sum_i x_i) + (lambda_s / K) sum_k c_k,   C = 1 / (M + N)
//   s.t.      y_j <= sum_{i in L(j)} x_i,  y_j >= x_i (i in L(j)),  c_k <= sum_{i in cluster k} x_i,  sum_i x_i >= 1
// with x, y, c binary, g = -lambda_c, or +1e-4 when lambda_c == 0 (rebase.py:404-407: the code's guard
// turns the cost into a tiny bonus; kept as written). What the code does, line by line:
//   - the branch set is every node passed while walking each frontier node up to the root, the root
//     included (rebase.py:380-386: the loop adds `parent` until the parent has no parent); the
//     frontier nodes themselves are not branches; M counts the distinct ones (rebase.py:399);
//   - one cost C = 1/(M+N) for every x and y (rebase.py:423, 491-492);
//   - the coverage term is lambda_s / K per covered cluster, K the number of distinct cluster labels
//     (rebase.py:477, 486), and it is left out entirely when lambda_s == 0, N == 1 or all newest-step
//     texts are equal (rebase.py:468, 496-503): the caller then passes no clusters;
//   - c_k has only the upper constraint and the y's both (rebase.py:483, 510-512), so at an optimum
//     y_j = OR of its frontier descendants and c_k = OR of its members (lambda_s >= 0): the program
//     is the choice of a non-empty set S of frontier nodes, and ets_objective evaluates exactly that.
// validate() asks for what the code's construction guarantees: every branch id is some frontier
// node's ancestor and every cluster id has a member (else M or K, hence C or lambda_s / K, would
// differ from the code's), and the branch lists form a forest (ancestor chains of one tree).
//
// exact_ets_solver (reckon's own; the code calls CBC through PuLP, reckon::cbc offers that):
//   - lambda_c == 0: every node's marginal value is >= O_i + 1e-4 C > 0, so all N are kept;
//   - no coverage term: the program is a tree problem, solved exactly by one DP over the branch forest;
//   - otherwise depth-first branch and bound over the frontier nodes. Bound: the Lagrangian relaxation
//     of the coverage constraints (multiplier mu_k per uncovered cluster, c_k then free, the rest the
//     tree DP with node values O_i + g C + mu_k), multipliers by subgradient steps warm-started from
//     the parent node. Every DP solution, completed by the cheapest member of each cluster the
//     relaxation counts but leaves uncovered (ties among members make that common), is a feasible
//     set, evaluated exactly; a node whose completed set attains its bound is solved. Incumbent first: the tree DP's set, improved by
//     single-node flips. Branching: a member of the cluster the relaxation violates most, kept first.
//   - proof to within 1e-9 (scaled by 1 + sum O + lambda_c + lambda_s): a subtree is cut when its
//     bound is within that of the incumbent, the same kind of gap a MILP solver stops at (subgradient
//     multipliers reach the dual optimum only approximately). Sets within 1e-12 (scaled) of each other
//     count as ties, decided by the fewest kept nodes, then the lowest indices (the keep vector with
//     a 1 at the first position where two differ), among the sets the search meets; the search is
//     deterministic, so one program always gives the same set.
//   - node_limit bounds the search; a search stopped by it returns its best set with
//     proven_optimal = false.
// Measured (tests/optimize/ets_instances.hpp: random trees of depth 1-12, level sizes growing to N
// at the frontier (M ~ N) or by level 2 (long chains, M ~ N * depth); O from REBASE's allocation of
// width N at T = 0.2 over uniform rewards, so about half the O_i are 0; K ~ N/3 random clusters;
// lambda_c 1, lambda_s 1.5), -O2, one core of a shared machine, 200 programs at N = 16 and 64, 50 at 256:
//   N    M mean   mean ms   max ms   B&B nodes mean / max   proven
//   16   30       0.15      12.1     1.5 / 15               200/200
//   64   72       0.83      12.4     3.8 / 93               200/200
//   256  216      5.3       23.4     19.7 / 135             50/50
//   16   76       0.09      4.2      1.3 / 21               200/200   (long chains)
//   64   294      1.06      6.6      3.9 / 35               200/200   (long chains)
//   256  1285     19.9      197      52.6 / 971             50/50     (long chains)
// (CBC through reckon::cbc on the first kind: 9.6 ms at N = 64, 53 ms at N = 256, same objectives.)
// Command:
//   g++ -std=c++20 -O2 -Iinclude -Itests tests/optimize/ets_program_test.cpp tests/support/catch_main.cpp
//       -o /tmp/ets_bench && /tmp/ets_bench "[.ets_timing]"
#pragma once

#include <reckon/core/result.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace reckon {

/// ETS's selection program over one frontier (rebase.py:373-518), in ETS.md's notation.
struct ets_program {
  std::vector<double> outcome;                      ///< O_i >= 0 per frontier node i (REBASE shares, summing to 1)
  std::vector<std::vector<std::uint32_t>> branches; ///< per frontier node: the branch nodes it activates (its ancestors, root included), ids < branch_count
  std::uint32_t branch_count = 0;                   ///< M: every id in [0, M) is some node's ancestor
  std::vector<std::uint32_t> cluster;               ///< per frontier node: its semantic cluster (< cluster_count); empty: no coverage term
  std::uint32_t cluster_count = 0;                  ///< K: every id in [0, K) has a member; 0 when `cluster` is empty
  double cost_weight = 1.0;     ///< lambda_c >= 0; 0 is the code's guard: a bonus of 1e-4 C per kept node and active branch
  double coverage_weight = 1.5; ///< lambda_s >= 0; the coverage term is lambda_s / K per covered cluster
};

/// A solver's answer: which frontier nodes to keep, and how it was reached.
struct ets_selection {
  std::vector<char> keep;           ///< per frontier node: 1 to keep (at least one)
  double objective = 0.0;           ///< ets_objective(program, keep)
  std::uint64_t nodes_explored = 0; ///< search nodes (branch-and-bound nodes; 1 for a closed-form or DP solve)
  bool proven_optimal = false;      ///< false only when a node or time limit stopped the search first
};

namespace detail {

inline constexpr double ets_guard_bonus = 1e-4; // rebase.py:405

/// The coefficient of every x_i and y_j: g C with g = -lambda_c, or the code's +1e-4 guard.
[[nodiscard]] inline double ets_node_cost(const ets_program& p) {
  const double g = p.cost_weight == 0.0 ? ets_guard_bonus : -p.cost_weight;
  return g / static_cast<double>(static_cast<std::size_t>(p.branch_count) + p.outcome.size());
}

/// lambda_s / K, or 0 without a coverage term.
[[nodiscard]] inline double ets_cover_value(const ets_program& p) {
  return p.cluster.empty() || p.cluster_count == 0 ? 0.0 : p.coverage_weight / p.cluster_count;
}

/// The tolerance within which two objectives count as equal: float noise, not a modelling choice.
[[nodiscard]] inline double ets_tie_tolerance(const ets_program& p) {
  double total = p.cost_weight + p.coverage_weight + 1.0;
  for (double o : p.outcome) total += o;
  return 1e-12 * total;
}

} // namespace detail

/// Checks an ets_program: at least one node, sizes agree, ids in range and each used, the branch
/// lists ancestor chains of one forest, values finite and >= 0.
[[nodiscard]] inline result<void> validate(const ets_program& p) {
  const auto bad = [](std::string m) { return fail(errc::invalid_argument, "ets_program: " + std::move(m)); };
  const std::size_t n = p.outcome.size();
  if (n == 0) return bad("no frontier node (outcome is empty)");
  if (n > std::numeric_limits<std::uint32_t>::max() / 2) return bad("too many frontier nodes");
  if (p.branches.size() != n)
    return bad("branches has " + std::to_string(p.branches.size()) + " lists for " + std::to_string(n) + " nodes");
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(p.outcome[i]) || p.outcome[i] < 0.0)
      return bad("outcome[" + std::to_string(i) + "] is not a finite value >= 0");
  if (!std::isfinite(p.cost_weight) || p.cost_weight < 0.0) return bad("cost_weight is not a finite value >= 0");
  if (!std::isfinite(p.coverage_weight) || p.coverage_weight < 0.0)
    return bad("coverage_weight is not a finite value >= 0");
  const std::uint32_t m = p.branch_count;
  std::vector<std::uint32_t> size(m, 0);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::uint32_t j : p.branches[i]) {
      if (j >= m)
        return bad("node " + std::to_string(i) + " names branch " + std::to_string(j) + ", not below branch_count " +
                   std::to_string(m));
      ++size[j];
    }
    std::vector<std::uint32_t> sorted = p.branches[i];
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      return bad("node " + std::to_string(i) + " names a branch twice");
  }
  for (std::uint32_t j = 0; j < m; ++j)
    if (size[j] == 0) return bad("branch " + std::to_string(j) + " is no node's ancestor (M would differ from the code's)");
  // Ancestor chains of one forest: ordered by descending descendant count, each branch has the same
  // predecessor in the chain of every node below it (then L(j) are the subtrees of that forest).
  constexpr std::uint32_t unset = std::numeric_limits<std::uint32_t>::max();
  constexpr std::uint32_t none = unset - 1;
  std::vector<std::uint32_t> parent(m, unset);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::uint32_t> chain = p.branches[i];
    std::sort(chain.begin(), chain.end(), [&](std::uint32_t a, std::uint32_t b) {
      return size[a] != size[b] ? size[a] > size[b] : a < b;
    });
    for (std::size_t t = 0; t < chain.size(); ++t) {
      const std::uint32_t pred = t == 0 ? none : chain[t - 1];
      if (parent[chain[t]] == unset) parent[chain[t]] = pred;
      else if (parent[chain[t]] != pred)
        return bad("the branch lists are not ancestor chains of one tree (branch " + std::to_string(chain[t]) +
                   " has different ancestors for different nodes)");
    }
  }
  if (p.cluster.empty()) {
    if (p.cluster_count != 0) return bad("cluster_count is " + std::to_string(p.cluster_count) + " without clusters");
  } else {
    if (p.cluster.size() != n)
      return bad("cluster has " + std::to_string(p.cluster.size()) + " ids for " + std::to_string(n) + " nodes");
    std::vector<char> used(p.cluster_count, 0);
    for (std::size_t i = 0; i < n; ++i) {
      if (p.cluster[i] >= p.cluster_count)
        return bad("cluster[" + std::to_string(i) + "] = " + std::to_string(p.cluster[i]) + " is not below cluster_count " +
                   std::to_string(p.cluster_count));
      used[p.cluster[i]] = 1;
    }
    for (std::uint32_t k = 0; k < p.cluster_count; ++k)
      if (!used[k]) return bad("cluster " + std::to_string(k) + " has no member (K would differ from the code's)");
  }
  return {};
}

/// The program's objective at the selection `keep` (y and c implied: a branch is active when a
/// node below it is kept, a cluster covered when a member is). Precondition: a valid program;
/// a `keep` of the wrong length gives NaN. The empty selection, infeasible, evaluates to 0.
[[nodiscard]] inline double ets_objective(const ets_program& p, std::span<const char> keep) {
  if (keep.size() != p.outcome.size()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<char> active(p.branch_count, 0);
  std::vector<char> covered(p.cluster_count, 0);
  const bool coverage = !p.cluster.empty();
  double sum = 0.0;
  std::size_t kept = 0, branches = 0, clusters = 0;
  for (std::size_t i = 0; i < keep.size(); ++i) {
    if (!keep[i]) continue;
    sum += p.outcome[i];
    ++kept;
    for (std::uint32_t j : p.branches[i])
      if (!active[j]) active[j] = 1, ++branches;
    if (coverage && !covered[p.cluster[i]]) covered[p.cluster[i]] = 1, ++clusters;
  }
  return sum + detail::ets_node_cost(p) * static_cast<double>(kept + branches) +
         detail::ets_cover_value(p) * static_cast<double>(clusters);
}

namespace detail {

// The solver's working form of a valid program: the branch forest, post-ordered.
class ets_search {
public:
  enum : char { free_ = 0, in_ = 1, out_ = 2 };

  explicit ets_search(const ets_program& p)
      : p_(p), n_(p.outcome.size()), m_(p.branch_count), k_(p.cluster.empty() ? 0 : p.cluster_count),
        cost_(ets_node_cost(p)), cover_(ets_cover_value(p)), tol_(ets_tie_tolerance(p)) {
    std::vector<std::uint32_t> size(m_, 0);
    for (const auto& b : p.branches)
      for (std::uint32_t j : b) ++size[j];
    parent_.assign(m_, none);
    depth_.assign(m_, 0);
    leaf_at_.assign(n_, none);
    for (std::size_t i = 0; i < n_; ++i) {
      std::vector<std::uint32_t> chain = p.branches[i];
      std::sort(chain.begin(), chain.end(), [&](std::uint32_t a, std::uint32_t b) {
        return size[a] != size[b] ? size[a] > size[b] : a < b;
      });
      for (std::size_t t = 0; t < chain.size(); ++t) {
        parent_[chain[t]] = t == 0 ? none : chain[t - 1];
        depth_[chain[t]] = static_cast<std::uint32_t>(t);
      }
      if (!chain.empty()) leaf_at_[i] = chain.back();
    }
    order_.resize(m_);
    for (std::uint32_t j = 0; j < m_; ++j) order_[j] = j;
    std::stable_sort(order_.begin(), order_.end(), [&](std::uint32_t a, std::uint32_t b) { return depth_[a] > depth_[b]; });
    members_.assign(k_, {});
    for (std::size_t i = 0; i < n_ && k_ > 0; ++i) members_[p.cluster[i]].push_back(static_cast<std::uint32_t>(i));
    acc_.resize(m_ + 1);
    chosen_.resize(n_ + m_);
    item_.resize(n_ + m_);
    next_.assign(n_ + m_, none);
    branch_stamp_.assign(m_, 0);
    cluster_stamp_.assign(k_, 0);
  }

  [[nodiscard]] std::size_t size() const { return n_; }
  [[nodiscard]] double tolerance() const { return tol_; }
  [[nodiscard]] bool has_coverage() const { return k_ > 0 && cover_ > 0.0; }

  // The objective of `keep` (1 = kept), as ets_objective but without allocating.
  [[nodiscard]] double objective(const std::vector<char>& keep) {
    ++stamp_;
    double sum = 0.0;
    std::size_t count = 0, clusters = 0;
    for (std::size_t i = 0; i < n_; ++i) {
      if (keep[i] != 1) continue;
      sum += p_.outcome[i];
      ++count;
      for (std::uint32_t j : p_.branches[i])
        if (branch_stamp_[j] != stamp_) branch_stamp_[j] = stamp_, ++count;
      if (k_ > 0 && cluster_stamp_[p_.cluster[i]] != stamp_) cluster_stamp_[p_.cluster[i]] = stamp_, ++clusters;
    }
    return sum + cost_ * static_cast<double>(count) + cover_ * static_cast<double>(clusters);
  }

  // The best non-empty set under `status` (in: forced, out: excluded) with node values O_i + g C +
  // bonus[i] and g C per active branch: the tree DP. Ties within tol_: fewer nodes, then the set
  // holding the lowest index (disjoint parts compare by their lowest index). Returns -inf when every
  // node is excluded; `keep` receives the set.
  double tree_dp(const std::vector<char>& status, const std::vector<double>& bonus, std::vector<char>& keep) {
    const double neg = -std::numeric_limits<double>::infinity();
    for (auto& a : acc_) a = acc{};
    for (std::size_t i = 0; i < n_; ++i) {
      if (status[i] == out_) continue;
      item_[i] = part{p_.outcome[i] + cost_ + bonus[i], 1, static_cast<std::uint32_t>(i), status[i] == in_};
      add(leaf_at_[i] == none ? m_ : leaf_at_[i], static_cast<std::uint32_t>(i));
    }
    for (std::uint32_t j : order_) {
      acc& a = acc_[j];
      if (!a.any) continue;
      part& it = item_[n_ + j];
      it = a.count > 0 ? a.sum : item_[a.single];
      it.value += cost_;
      add(parent_[j] == none ? m_ : parent_[j], n_ + j);
    }
    keep.assign(n_, 0);
    const acc& top = acc_[m_];
    if (!top.any) return neg;
    const double value = top.count > 0 ? top.sum.value : item_[top.single].value;
    mark(m_, keep);
    return value;
  }

private:
  static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
  struct part {
    double value = 0.0;
    std::uint32_t size = 0;
    std::uint32_t lowest = none;
    bool must = false;
  };
  struct acc {
    part sum{};               // the chosen items together
    std::uint32_t count = 0;  // how many are chosen
    std::uint32_t single = 0; // the best item alone, used when none is chosen
    bool any = false;
    std::uint32_t first = none; // items of this parent, linked through next_
  };

  // Is part a preferred over part b? (value, then fewer nodes, then the lower lowest index)
  [[nodiscard]] bool better(const part& a, const part& b) const {
    if (a.value > b.value + tol_) return true;
    if (a.value < b.value - tol_) return false;
    if (a.size != b.size) return a.size < b.size;
    return a.lowest < b.lowest;
  }

  void add(std::uint32_t at, std::uint32_t item) {
    acc& a = acc_[at];
    const part& it = item_[item];
    const bool take = it.must || it.value > tol_;
    chosen_[item] = take;
    if (take) {
      a.sum.value += it.value;
      a.sum.size += it.size;
      a.sum.lowest = std::min(a.sum.lowest, it.lowest);
      a.sum.must = a.sum.must || it.must;
      ++a.count;
    }
    if (!a.any || better(it, item_[a.single])) a.single = item;
    a.any = true;
    next_[item] = a.first;
    a.first = item;
  }

  void mark(std::uint32_t at, std::vector<char>& keep) {
    const acc& a = acc_[at];
    for (std::uint32_t item = a.first; item != none; item = next_[item]) {
      if (a.count > 0 ? !chosen_[item] : item != a.single) continue;
      if (item < n_) keep[item] = 1;
      else mark(item - static_cast<std::uint32_t>(n_), keep);
    }
  }

  const ets_program& p_;
  std::size_t n_;
  std::uint32_t m_, k_;
  double cost_, cover_, tol_;
  std::vector<std::uint32_t> parent_, depth_, leaf_at_, order_;
  std::vector<acc> acc_;
  std::vector<part> item_;
  std::vector<char> chosen_;
  std::vector<std::uint32_t> next_;
  std::vector<std::uint64_t> branch_stamp_, cluster_stamp_;
  std::uint64_t stamp_ = 0;

public:
  std::vector<std::vector<std::uint32_t>> members_; // per cluster: its nodes
};

} // namespace detail

/// reckon's exact solver for ets_program (frontiers of up to a few hundred nodes): proves the
/// optimum unless `node_limit` stops it (then the best set found, proven_optimal = false).
/// Returns errc::invalid_argument for a program validate() rejects.
struct exact_ets_solver {
  std::uint64_t node_limit = 2'000'000; ///< branch-and-bound nodes before giving up the proof

  [[nodiscard]] result<ets_selection> operator()(const ets_program& program) const;
};

namespace detail {

class ets_branch_and_bound {
public:
  ets_branch_and_bound(const ets_program& p, std::uint64_t limit)
      : p_(p), s_(p), n_(p.outcome.size()), k_(p.cluster_count), cost_(ets_node_cost(p)), cover_(ets_cover_value(p)),
        tol_(s_.tolerance()), gap_(1e3 * tol_), limit_(limit) {}

  ets_selection solve() {
    std::vector<char> status(n_, ets_search::free_);
    std::vector<double> zero(n_, 0.0);
    std::vector<char> keep;
    s_.tree_dp(status, zero, keep);
    local_search(keep);
    offer(keep);
    std::vector<double> mu(k_, cover_);
    nodes_ = 0;
    stopped_ = false;
    visit(status, mu, 300);
    ets_selection out;
    out.keep = best_;
    out.objective = ets_objective(p_, best_);
    out.nodes_explored = nodes_;
    out.proven_optimal = !stopped_;
    return out;
  }

private:
  // Canonical order of complete sets: objective (within tol_), then fewer nodes, then the keep vector
  // with a 1 at the first differing position.
  bool offer(const std::vector<char>& keep) {
    const double v = s_.objective(keep);
    std::size_t size = 0;
    for (char c : keep) size += c == 1;
    if (size == 0) return false;
    bool take = best_.empty() || v > best_value_ + tol_;
    if (!take && v >= best_value_ - tol_) {
      if (size != best_size_) take = size < best_size_;
      else
        for (std::size_t i = 0; i < n_; ++i)
          if (keep[i] != best_[i]) {
            take = keep[i] == 1;
            break;
          }
    }
    if (take) best_ = keep, best_value_ = v, best_size_ = size;
    return take;
  }

  // Single-node flips that raise the objective by more than tol_, until none does.
  void local_search(std::vector<char>& keep) {
    double value = s_.objective(keep);
    for (std::size_t pass = 0; pass < n_ + 1; ++pass) {
      bool moved = false;
      for (std::size_t i = 0; i < n_; ++i) {
        keep[i] ^= 1;
        const double v = s_.objective(keep);
        if (v > value + tol_ && std::count(keep.begin(), keep.end(), 1) > 0) value = v, moved = true;
        else keep[i] ^= 1;
      }
      if (!moved) break;
    }
  }

  // The relaxation may count a cluster (c_k = 1) that its set leaves uncovered, typically when
  // members tie: add each such cluster's cheapest free member (the lowest index among equals)
  // where that raises the objective.
  void repair(std::vector<char>& keep, const std::vector<char>& status, const std::vector<char>& state,
              const std::vector<double>& mu) {
    active_.assign(p_.branch_count, 0);
    for (std::size_t i = 0; i < n_; ++i)
      if (keep[i])
        for (std::uint32_t j : p_.branches[i]) active_[j] = 1;
    for (std::uint32_t k = 0; k < k_; ++k) {
      if (state[k] != 0 || mu[k] >= cover_) continue;
      bool covered = false;
      for (std::uint32_t i : s_.members_[k]) covered = covered || keep[i];
      if (covered) continue;
      std::size_t pick = n_;
      double gain = 0.0;
      for (std::uint32_t i : s_.members_[k]) {
        if (status[i] != ets_search::free_) continue;
        double g = p_.outcome[i] + cost_;
        for (std::uint32_t j : p_.branches[i]) g += active_[j] ? 0.0 : cost_;
        if (pick == n_ || g > gain + tol_) pick = i, gain = g;
      }
      if (pick == n_ || gain + cover_ <= tol_) continue;
      keep[pick] = 1;
      for (std::uint32_t j : p_.branches[pick]) active_[j] = 1;
    }
  }

  void visit(std::vector<char>& status, std::vector<double> mu, int iterations) {
    if (stopped_) return;
    if (nodes_ >= limit_) {
      stopped_ = true;
      return;
    }
    ++nodes_;
    // Clusters already covered by a forced node are exact (c_k = 1, mu_k = 0); clusters with no
    // node left are exact too (c_k = 0).
    std::vector<char> state(k_, 0); // 0 open, 1 covered, 2 dead
    for (std::uint32_t k = 0; k < k_; ++k) {
      bool alive = false, covered = false;
      for (std::uint32_t i : s_.members_[k]) {
        covered = covered || status[i] == ets_search::in_;
        alive = alive || status[i] == ets_search::free_;
      }
      state[k] = covered ? 1 : alive ? 0 : 2;
    }
    std::vector<double> bonus(n_, 0.0);
    std::vector<char> keep, best_keep, repaired;
    std::vector<double> g(k_, 0.0);
    double bound = std::numeric_limits<double>::infinity();
    double theta = 1.0;
    int since_better = 0;
    for (int it = 0; it < iterations; ++it) {
      double constant = 0.0;
      for (std::uint32_t k = 0; k < k_; ++k) {
        if (state[k] == 1) constant += cover_;
        if (state[k] == 0) constant += std::max(0.0, cover_ - mu[k]);
      }
      for (std::size_t i = 0; i < n_; ++i) bonus[i] = state[p_.cluster[i]] == 0 ? mu[p_.cluster[i]] : 0.0;
      const double dp = s_.tree_dp(status, bonus, keep);
      if (dp == -std::numeric_limits<double>::infinity()) return; // every node excluded
      const double lagrangian = dp + constant;
      if (lagrangian < bound - tol_) bound = lagrangian, best_keep = keep, since_better = 0;
      else if (++since_better >= 4) theta *= 0.5, since_better = 0;
      repaired = keep;
      repair(repaired, status, state, mu);
      offer(repaired);
      if (s_.objective(repaired) >= lagrangian - gap_) return; // solved: the bound is attained

      if (bound <= best_value_ + gap_) return;
      double norm = 0.0;
      for (std::uint32_t k = 0; k < k_; ++k) {
        g[k] = 0.0;
        if (state[k] != 0) continue;
        double picked = 0.0;
        for (std::uint32_t i : s_.members_[k]) picked += keep[i];
        g[k] = picked - (mu[k] < cover_ ? 1.0 : 0.0);
        norm += g[k] * g[k];
      }
      if (norm == 0.0) break;
      const double step = theta * std::max(lagrangian - best_value_, gap_) / norm;
      for (std::uint32_t k = 0; k < k_; ++k)
        if (state[k] == 0) mu[k] = std::clamp(mu[k] - step * g[k], 0.0, cover_);
    }
    if (bound <= best_value_ + gap_) return;
    // Branch on the cluster the relaxation's best solution violates most: its most valuable free
    // member, kept first (that covers the cluster).
    std::size_t pick = n_;
    double worst = 0.0;
    for (std::uint32_t k = 0; k < k_; ++k) {
      if (state[k] != 0) continue;
      double picked = 0.0;
      for (std::uint32_t i : s_.members_[k]) picked += best_keep[i];
      const double violation = picked == 0.0 ? (mu[k] < cover_ ? 1.0 : 0.0) : picked - 1.0;
      if (violation <= worst) continue;
      std::size_t member = n_;
      for (std::uint32_t i : s_.members_[k]) {
        if (status[i] != ets_search::free_) continue;
        if (member == n_ || (best_keep[i] && !best_keep[member]) ||
            (best_keep[i] == best_keep[member] && p_.outcome[i] > p_.outcome[member]))
          member = i;
      }
      if (member != n_) worst = violation, pick = member;
    }
    if (pick == n_)
      for (std::size_t i = 0; i < n_ && pick == n_; ++i)
        if (status[i] == ets_search::free_) pick = i;
    if (pick == n_) return; // nothing free: the set is fixed and was offered
    status[pick] = ets_search::in_;
    visit(status, mu, 30);
    status[pick] = ets_search::out_;
    visit(status, mu, 30);
    status[pick] = ets_search::free_;
  }

  const ets_program& p_;
  ets_search s_;
  std::size_t n_;
  std::uint32_t k_;
  double cost_, cover_, tol_, gap_;
  std::uint64_t limit_;
  std::vector<char> active_;
  std::uint64_t nodes_ = 0;
  bool stopped_ = false;
  std::vector<char> best_;
  double best_value_ = -std::numeric_limits<double>::infinity();
  std::size_t best_size_ = 0;
};

} // namespace detail

inline result<ets_selection> exact_ets_solver::operator()(const ets_program& program) const {
  if (auto ok = validate(program); !ok) return ok.error();
  const std::size_t n = program.outcome.size();
  ets_selection out;
  out.nodes_explored = 1;
  out.proven_optimal = true;
  if (program.cost_weight == 0.0) {
    out.keep.assign(n, 1);
  } else {
    detail::ets_search search(program);
    if (!search.has_coverage()) {
      std::vector<char> status(n, detail::ets_search::free_);
      search.tree_dp(status, std::vector<double>(n, 0.0), out.keep);
    } else {
      return detail::ets_branch_and_bound(program, node_limit).solve();
    }
  }
  out.objective = ets_objective(program, out.keep);
  return out;
}

} // namespace reckon
