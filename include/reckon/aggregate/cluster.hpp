// SPDX-License-Identifier: Apache-2.0
// Average-linkage (UPGMA) clustering at a cosine-distance cut: ETS's semantic clusters of a frontier.
#pragma once

// What: ETS (Hooper et al. 2025, SqueezeAILab/ETS rebase.py:451-486) clusters a frontier's newest
// steps with scipy `fcluster(linkage(emb, method='average', metric='cosine'), 0.05,
// criterion='distance')`. This is that computation: agglomerative clustering in which the distance
// of two clusters is the mean of the cosine distances 1 - cos(u, v) over every pair of their members
// (UPGMA: sizes weight the Lance-Williams update, unlike WPGMA), merged while the closest pair is at
// distance <= cut. Average linkage is monotone (a merge is never closer than the one before), so
// "merge while <= cut" is fcluster's 'distance' criterion: two rows share a flat cluster exactly
// when their cophenetic distance is <= cut.
// Deliberate choices where scipy leaves a gap or would answer NaN:
// - a zero vector has no direction: its distance to any other vector is 1 and to another zero
//   vector 0 (scipy's cosine divides by zero there and linkage then refuses the NaN distances, so
//   ETS's code would stop);
// - ties: among pairs at the smallest distance the one whose members' smallest rows are
//   lexicographically least merges first (a cluster is named by its smallest row). scipy runs
//   average linkage as a nearest-neighbour chain (hierarchy.py: nn_chain for 'average'), which may
//   take tied pairs in another order; only exact ties can make the two differ, and the result here
//   depends on nothing but the rows and their order;
// - distances are computed in double (u.v / sqrt(|u|^2 |v|^2), clamped to [0, 2]), so a row and
//   an exact copy (or a power-of-two multiple) are at distance 0 and merge at a cut of 0.
// Labels are 0..K-1, numbered by first appearance in row order.
// Cost: O(n^2) memory (the distance matrix, n^2 doubles: 8 MiB at n = 1024) and O(n^2 d) to fill
// it; the merges keep each cluster's nearest neighbour, O(n^2) when merges leave the neighbours
// of other clusters alone and O(n^3) at worst. Measured (tests/aggregate/cluster_test.cpp's timing
// case: groups of 16 around random directions, d = 64, noise 0.2, cut 0.05; g++ 12 on a shared
// 2-core machine): n = 256 takes 13 ms at -O0 -g and 2-7 ms at -O2; n = 1024 0.2-0.3 s at -O0
// and 55-65 ms at -O2.

#include <reckon/concepts/embedding_model.hpp>
#include <reckon/core/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

namespace reckon {

/// average_linkage_clusters(vectors, cosine_distance_cut) -> one flat-cluster label per row.
/// Average-linkage (UPGMA) agglomerative clustering of the rows by cosine distance, cut at
/// `cosine_distance_cut` (scipy's fcluster(..., criterion='distance'); see the file comment).
/// @param vectors the rows to cluster (any length > 0; only directions matter)
/// @param cosine_distance_cut merge while the closest clusters are at most this far apart (finite,
///        >= 0; ETS uses 0.05; 2 or more gives one cluster)
/// @returns labels 0..K-1 by first appearance (empty for an empty batch), or invalid_argument for a
///          bad cut, a non-finite value, a zero dimension with values, or values that are not whole rows
[[nodiscard]] inline result<std::vector<std::uint32_t>> average_linkage_clusters(const embedding_batch& vectors,
                                                                                double cosine_distance_cut) {
  constexpr const char* who = "average_linkage_clusters";
  const double cut = cosine_distance_cut;
  if (!std::isfinite(cut) || cut < 0.0)
    return fail(errc::invalid_argument, fmt::format("{}: cosine_distance_cut must be finite and >= 0 (got {})", who, cut));
  if (vectors.values.empty()) return std::vector<std::uint32_t>{};
  const std::size_t dim = vectors.dimension;
  if (dim == 0)
    return fail(errc::invalid_argument,
                fmt::format("{}: dimension is 0 but the batch holds {} values", who, vectors.values.size()));
  if (vectors.values.size() % dim != 0)
    return fail(errc::invalid_argument, fmt::format("{}: {} values are not whole rows of dimension {}", who,
                                                    vectors.values.size(), dim));
  for (std::size_t i = 0; i < vectors.values.size(); ++i)
    if (!std::isfinite(vectors.values[i]))
      return fail(errc::invalid_argument,
                  fmt::format("{}: value {} of row {} is not finite", who, i % dim, i / dim));

  const std::size_t n = vectors.values.size() / dim;
  std::vector<double> norm2(n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (const float x : vectors.row(i)) norm2[i] += static_cast<double>(x) * static_cast<double>(x);
  std::vector<double> d(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const auto a = vectors.row(i);
    for (std::size_t j = i + 1; j < n; ++j) {
      double dist = 0.0;
      if (norm2[i] == 0.0 || norm2[j] == 0.0) {
        dist = norm2[i] == norm2[j] ? 0.0 : 1.0;
      } else {
        const auto b = vectors.row(j);
        double dot = 0.0;
        for (std::size_t k = 0; k < dim; ++k) dot += static_cast<double>(a[k]) * static_cast<double>(b[k]);
        // sqrt of the product, not a product of square roots: sqrt(x * x) == x exactly, so a copy's
        // cosine is exactly 1.
        dist = std::clamp(1.0 - dot / std::sqrt(norm2[i] * norm2[j]), 0.0, 2.0);
      }
      d[i * n + j] = dist;
      d[j * n + i] = dist;
    }
  }

  // Cluster slots: slot i starts as row i; a merge of slots a < b keeps a, so a slot's index is its
  // cluster's smallest row (the tie rule's name for it).
  std::vector<std::size_t> size(n, 1), parent(n), nn(n, 0);
  std::vector<double> nn_dist(n, std::numeric_limits<double>::infinity());
  std::vector<char> alive(n, 1);
  std::iota(parent.begin(), parent.end(), std::size_t{0});
  // A slot's nearest live neighbour, ties to the smallest index.
  auto refresh = [&](std::size_t i) {
    nn_dist[i] = std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < n; ++j)
      if (j != i && alive[j] && d[i * n + j] < nn_dist[i]) {
        nn_dist[i] = d[i * n + j];
        nn[i] = j;
      }
  };
  for (std::size_t i = 0; i < n; ++i) refresh(i);
  for (std::size_t live = n; live > 1; --live) {
    // The closest pair, ties to the lexicographically least (smaller slot, larger slot): a slot's
    // nearest neighbour already breaks ties to the smallest index, so the least such pair is some
    // slot's (slot, nearest neighbour).
    std::size_t a = n, b = n;
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < n; ++i) {
      if (!alive[i]) continue;
      const std::size_t lo = std::min(i, nn[i]), hi = std::max(i, nn[i]);
      if (nn_dist[i] < best || (nn_dist[i] == best && (lo < a || (lo == a && hi < b)))) {
        best = nn_dist[i];
        a = lo;
        b = hi;
      }
    }
    if (!(best <= cut)) break;
    const double wa = static_cast<double>(size[a]), wb = static_cast<double>(size[b]);
    for (std::size_t k = 0; k < n; ++k) {
      if (!alive[k] || k == a || k == b) continue;
      const double merged = (wa * d[a * n + k] + wb * d[b * n + k]) / (wa + wb);
      d[a * n + k] = merged;
      d[k * n + a] = merged;
    }
    size[a] += size[b];
    alive[b] = 0;
    parent[b] = a;
    refresh(a);
    for (std::size_t k = 0; k < n; ++k) {
      if (!alive[k] || k == a) continue;
      if (nn[k] == a || nn[k] == b) {
        refresh(k); // its neighbour moved away or vanished
      } else if (d[k * n + a] < nn_dist[k] || (d[k * n + a] == nn_dist[k] && a < nn[k])) {
        nn_dist[k] = d[k * n + a];
        nn[k] = a;
      }
    }
  }

  // A row's cluster is the slot its chain of merges ends at (parents are smaller slots).
  std::vector<std::uint32_t> labels(n);
  std::vector<std::uint32_t> label_of(n, std::numeric_limits<std::uint32_t>::max());
  std::uint32_t next = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t r = i;
    while (parent[r] != r) r = parent[r];
    if (label_of[r] == std::numeric_limits<std::uint32_t>::max()) label_of[r] = next++;
    labels[i] = label_of[r];
  }
  return labels;
}

} // namespace reckon
