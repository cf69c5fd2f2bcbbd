// SPDX-License-Identifier: Apache-2.0
// Random ETS-like selection programs for the solver tests (tests/optimize, tests/adapters/cbc_test.cpp).
#pragma once

#include <reckon/optimize/ets_program.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace reckon::test::ets {

// Uniform draws from raw mt19937_64 bits: the same programs on every standard library.
struct draw {
  std::mt19937_64 bits;
  explicit draw(std::uint64_t seed) : bits(seed) {}
  double unit() { return static_cast<double>(bits() >> 11) * 0x1.0p-53; }
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(bits() % n); }
};

struct shape {
  std::uint32_t frontier = 16;    // N
  std::uint32_t max_depth = 12;   // the frontier's depth is drawn from 1..max_depth
  double clusters_per_node = 1.0 / 3.0; // K ~ N/3 (0: no coverage term)
  double cost_weight = 1.0;
  double coverage_weight = 1.5;
  double temperature = 0.2;       // REBASE's softmax temperature over the rewards
  std::uint32_t split_levels = 0; // the level sizes reach N by this level (0: at the frontier's)
};

// A tree whose every node at depth < D has a child, N nodes at depth D (the frontier), level sizes
// growing geometrically (to N by split_levels: long chains, M up to N * depth); O from REBASE's sequential-ceil allocation of width N (rebase.py:425-449),
// so many O_i are 0; branch ids shuffled; clusters uniform, relabelled to the non-empty ones.
inline ets_program random_program(std::uint64_t seed, const shape& s) {
  draw d(seed);
  const std::uint32_t n = s.frontier;
  const std::uint32_t depth = 1 + d.below(s.max_depth);
  std::vector<std::vector<std::uint32_t>> path{{}}; // per node of the current level: its ancestors
  std::uint32_t next_id = 0;
  for (std::uint32_t level = 1; level <= depth; ++level) {
    const double reach = s.split_levels == 0 ? depth : std::min(s.split_levels, depth);
    const auto want = static_cast<std::uint32_t>(std::ceil(std::pow(double(n), std::min(1.0, level / reach)) - 1e-9));
    const std::uint32_t width = level == depth ? n : std::max<std::uint32_t>(std::min(want, n), std::uint32_t(path.size()));
    std::vector<std::uint32_t> ids(path.size());
    for (auto& id : ids) id = next_id++; // the current level becomes branches
    std::vector<std::vector<std::uint32_t>> next(width);
    for (std::uint32_t c = 0; c < width; ++c) {
      // every parent gets a child first, then parents at random
      const std::uint32_t parent = c < path.size() ? c : d.below(std::uint32_t(path.size()));
      next[c] = path[parent];
      next[c].push_back(ids[parent]);
    }
    path = std::move(next);
  }
  std::vector<std::uint32_t> relabel(next_id);
  std::iota(relabel.begin(), relabel.end(), 0u);
  for (std::uint32_t i = next_id; i > 1; --i) std::swap(relabel[i - 1], relabel[d.below(i)]);
  ets_program p;
  p.branch_count = next_id;
  p.branches = path;
  for (auto& b : p.branches)
    for (auto& j : b) j = relabel[j];
  // REBASE's outcome shares: rewards sorted descending, n_i = ceil(W e_i / S), W and S decremented.
  std::vector<double> reward(n);
  for (auto& r : reward) r = d.unit();
  std::vector<std::uint32_t> by(n);
  std::iota(by.begin(), by.end(), 0u);
  std::stable_sort(by.begin(), by.end(), [&](std::uint32_t a, std::uint32_t b) { return reward[a] > reward[b]; });
  double sum = 0.0;
  for (double r : reward) sum += std::exp(r / s.temperature);
  double width = n;
  std::vector<double> share(n, 0.0);
  for (std::uint32_t i : by) {
    const double e = std::exp(reward[i] / s.temperature);
    const double num = sum > 0.0 ? std::ceil(width * e / sum) : 0.0;
    share[i] = std::clamp(num, 0.0, width);
    width -= share[i];
    sum -= e;
  }
  const double total = std::accumulate(share.begin(), share.end(), 0.0);
  p.outcome.resize(n);
  for (std::uint32_t i = 0; i < n; ++i) p.outcome[i] = share[i] / total;
  if (s.clusters_per_node > 0.0) {
    const auto k = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(std::lround(n * s.clusters_per_node)));
    std::vector<std::uint32_t> raw(n), label(k, UINT32_MAX);
    for (auto& c : raw) c = d.below(k);
    std::uint32_t used = 0;
    p.cluster.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      if (label[raw[i]] == UINT32_MAX) label[raw[i]] = used++;
      p.cluster[i] = label[raw[i]];
    }
    p.cluster_count = used;
  }
  p.cost_weight = s.cost_weight;
  p.coverage_weight = s.coverage_weight;
  return p;
}

// Every non-empty set; the best by objective (ties within 1e-9), then fewer nodes, then the keep
// vector with a 1 where two first differ. `unique` says whether no other set is within 1e-9.
struct brute_answer {
  std::vector<char> keep;
  double objective = 0.0;
  bool unique = true;
};
inline brute_answer brute_force(const ets_program& p) {
  const std::size_t n = p.outcome.size();
  brute_answer best;
  std::size_t best_size = 0;
  std::vector<char> keep(n);
  for (std::uint64_t mask = 1; mask < (std::uint64_t{1} << n); ++mask) {
    std::size_t size = 0;
    for (std::size_t i = 0; i < n; ++i) keep[i] = (mask >> i) & 1, size += keep[i];
    const double v = reckon::ets_objective(p, keep);
    bool take = best.keep.empty() || v > best.objective + 1e-9;
    const bool tie = !best.keep.empty() && std::abs(v - best.objective) <= 1e-9;
    if (tie) {
      best.unique = false;
      if (size != best_size) take = size < best_size;
      else
        for (std::size_t i = 0; i < n; ++i)
          if (keep[i] != best.keep[i]) {
            take = keep[i] == 1;
            break;
          }
    }
    if (take) {
      if (!tie) best.unique = true;
      best.keep = keep, best.objective = v, best_size = size;
    }
  }
  return best;
}

} // namespace reckon::test::ets
