// SPDX-License-Identifier: Apache-2.0
// Tests of average-linkage clustering at a cosine cut: hand cases, a brute-force reference, the cut's
// ends, zero vectors, ties and bad input.
#include <reckon/aggregate/cluster.hpp>

#include <support/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace {

using labels_t = std::vector<std::uint32_t>;

reckon::embedding_batch cluster_rows(std::size_t dim, std::vector<float> values) {
  reckon::embedding_batch b;
  b.dimension = dim;
  b.values = std::move(values);
  return b;
}

// Unit vectors in the plane at these angles (degrees).
reckon::embedding_batch cluster_angles(const std::vector<double>& degrees) {
  std::vector<float> v;
  for (const double a : degrees) {
    v.push_back(static_cast<float>(std::cos(a * 3.141592653589793 / 180.0)));
    v.push_back(static_cast<float>(std::sin(a * 3.141592653589793 / 180.0)));
  }
  return cluster_rows(2, std::move(v));
}

labels_t cluster_ok(const reckon::embedding_batch& b, double cut) {
  auto r = reckon::average_linkage_clusters(b, cut);
  REQUIRE(r.has_value());
  return *r;
}

// The textbook definition, computed from scratch at every merge: the distance of two clusters is
// the mean of their members' pairwise cosine distances (zero vectors: 1 to others, 0 to each
// other); the closest pair merges, ties to the least (smallest row, smallest row); merge while <= cut.
labels_t cluster_brute_force(const reckon::embedding_batch& b, double cut) {
  const std::size_t n = b.size(), dim = b.dimension;
  auto dist = [&](std::size_t i, std::size_t j) {
    double dot = 0.0, ni = 0.0, nj = 0.0;
    for (std::size_t k = 0; k < dim; ++k) {
      const double x = b.row(i)[k], y = b.row(j)[k];
      dot += x * y;
      ni += x * x;
      nj += y * y;
    }
    if (ni == 0.0 || nj == 0.0) return ni == nj ? 0.0 : 1.0;
    return std::min(2.0, std::max(0.0, 1.0 - dot / std::sqrt(ni * nj)));
  };
  std::vector<std::vector<std::size_t>> clusters; // kept in order of their smallest row
  for (std::size_t i = 0; i < n; ++i) clusters.push_back({i});
  while (clusters.size() > 1) {
    double best = std::numeric_limits<double>::infinity();
    std::size_t ba = 0, bb = 0;
    for (std::size_t a = 0; a < clusters.size(); ++a)
      for (std::size_t c = a + 1; c < clusters.size(); ++c) {
        double sum = 0.0;
        for (const std::size_t i : clusters[a])
          for (const std::size_t j : clusters[c]) sum += dist(i, j);
        const double mean = sum / static_cast<double>(clusters[a].size() * clusters[c].size());
        if (mean < best) {
          best = mean;
          ba = a;
          bb = c;
        }
      }
    if (best > cut) break;
    clusters[ba].insert(clusters[ba].end(), clusters[bb].begin(), clusters[bb].end());
    clusters.erase(clusters.begin() + static_cast<std::ptrdiff_t>(bb));
  }
  labels_t out(n);
  std::vector<std::size_t> of(n);
  for (std::size_t c = 0; c < clusters.size(); ++c)
    for (const std::size_t i : clusters[c]) of[i] = c;
  std::vector<std::uint32_t> label(clusters.size(), std::numeric_limits<std::uint32_t>::max());
  std::uint32_t next = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (label[of[i]] == std::numeric_limits<std::uint32_t>::max()) label[of[i]] = next++;
    out[i] = label[of[i]];
  }
  return out;
}

} // namespace

TEST_CASE("average linkage stops a chain that single linkage would merge", "[aggregate][cluster]") {
  // d(0,1) = 1 - cos 10deg = 0.0152, d(1,2) = 1 - cos 11deg = 0.0184, d(0,2) = 1 - cos 21deg = 0.0664.
  // Single linkage at 0.03 chains all three; average linkage merges {0,1} at 0.0152, then sees
  // 2 at (0.06642 + 0.01837) / 2 = 0.04240 > 0.03.
  const auto b = cluster_angles({0.0, 10.0, 21.0});
  CHECK(cluster_ok(b, 0.03) == labels_t{0, 0, 1});
  CHECK(cluster_ok(b, 0.0423) == labels_t{0, 0, 1});
  CHECK(cluster_ok(b, 0.0424) == labels_t{0, 0, 0});
  CHECK(cluster_ok(b, 0.015) == labels_t{0, 1, 2});
}

TEST_CASE("average linkage weighs clusters by their sizes (UPGMA, not WPGMA)", "[aggregate][cluster]") {
  // Angles 0, 1, 3, 8 degrees: {0,1} at 1.52e-4, then 2 at 9.90e-4; 3 is then at the mean of its
  // three distances, 0.006997 (WPGMA's halving would say 0.006199).
  const auto b = cluster_angles({0.0, 1.0, 3.0, 8.0});
  CHECK(cluster_ok(b, 0.0065) == labels_t{0, 0, 0, 1});
  CHECK(cluster_ok(b, 0.00699) == labels_t{0, 0, 0, 1});
  CHECK(cluster_ok(b, 0.00700) == labels_t{0, 0, 0, 0});
  CHECK(cluster_ok(b, 0.0005) == labels_t{0, 0, 1, 2});
  CHECK(cluster_ok(b, 0.0001) == labels_t{0, 1, 2, 3});
}

TEST_CASE("groups in 3-d, a zero vector, labels by first appearance", "[aggregate][cluster]") {
  // Rows: B, A, B', zero, A', C. Within A and within B: 1 - 1/sqrt(1.01) = 0.00496; across: ~0.9.
  const auto b = cluster_rows(3, {0, 1, 0, /**/ 1, 0, 0, /**/ 0, 1, 0.1F, /**/ 0, 0, 0, /**/ 1, 0.1F, 0, /**/ 0, 0, 1});
  CHECK(cluster_ok(b, 0.05) == labels_t{0, 1, 0, 2, 1, 3});
  CHECK(cluster_ok(b, 0.004) == labels_t{0, 1, 2, 3, 4, 5});
  // The zero vector is at 1 from everything: a cut of 1 takes it in (at <=), below 1 it stays alone.
  // A and B then meet at mean(1, 0.9005, 1, 0.901) = 0.950 and C at 0.975: a cut of 0.99 joins
  // them and not the zero vector.
  CHECK(cluster_ok(b, 0.99) == labels_t{0, 0, 0, 1, 0, 0});
  CHECK(cluster_ok(b, 1.0) == labels_t{0, 0, 0, 0, 0, 0});
}

TEST_CASE("zero vectors: 0 apart from each other, 1 from the rest", "[aggregate][cluster]") {
  const auto b = cluster_rows(2, {0, 0, /**/ 1, 0, /**/ 0, 0, /**/ -1, 0});
  CHECK(cluster_ok(b, 0.0) == labels_t{0, 1, 0, 2});
  CHECK(cluster_ok(b, 0.999) == labels_t{0, 1, 0, 2});
  // Opposite rows are at 2; the zero pair at 0 and 1 from each of them: means 1, 1, then (2+1+1)/3.
  CHECK(cluster_ok(b, 1.0) == labels_t{0, 0, 0, 1});
  CHECK(cluster_ok(b, 4.0 / 3.0) == labels_t{0, 0, 0, 0});
}

TEST_CASE("a cut of 0 merges only rows of one direction", "[aggregate][cluster]") {
  // Row 2 is row 0 doubled, row 4 row 0 halved (exact in binary), row 3 is row 1 copied; row 5 is a
  // hair off row 0 (cosine distance ~3e-10 > 0).
  const auto b = cluster_rows(3, {0.3F, -1.7F, 2.1F, /**/ 5, 1, 0, /**/ 0.6F, -3.4F, 4.2F, /**/ 5, 1, 0, /**/ 0.15F,
                                  -0.85F, 1.05F, /**/ 0.3F, -1.7F, 2.1001F});
  CHECK(cluster_ok(b, 0.0) == labels_t{0, 1, 0, 1, 0, 2});
  CHECK(cluster_ok(b, 1e-6) == labels_t{0, 1, 0, 1, 0, 0});
}

TEST_CASE("a huge cut makes one cluster; one row is one cluster; no rows, no labels", "[aggregate][cluster]") {
  const auto b = cluster_rows(2, {1, 0, /**/ -1, 0, /**/ 0, 1, /**/ 0, -1, /**/ 0, 0});
  CHECK(cluster_ok(b, 2.0) == labels_t{0, 0, 0, 0, 0});
  CHECK(cluster_ok(b, 1e300) == labels_t{0, 0, 0, 0, 0});
  CHECK(cluster_ok(cluster_rows(4, {1, 2, 3, 4}), 0.0) == labels_t{0});
  CHECK(cluster_ok(reckon::embedding_batch{}, 0.05).empty());
  CHECK(cluster_ok(cluster_rows(7, {}), 0.05).empty());
}

TEST_CASE("exact ties merge the least pair of smallest rows first", "[aggregate][cluster]") {
  // Rows 0 and 2 mirror each other about row 1: d(0,1) == d(1,2) exactly, d(0,2) larger. The pair
  // (0,1) goes first; 2 then sits at (d(0,2) + d(1,2)) / 2, above this cut.
  const double c = std::cos(0.2), s = std::sin(0.2);
  const auto b = cluster_rows(2, {static_cast<float>(c), static_cast<float>(s), 1, 0, static_cast<float>(c),
                                  static_cast<float>(-s)});
  const double d01 = 1.0 - static_cast<double>(static_cast<float>(c)) /
                               std::sqrt(static_cast<double>(static_cast<float>(c)) * static_cast<float>(c) +
                                         static_cast<double>(static_cast<float>(s)) * static_cast<float>(s));
  REQUIRE(d01 > 0.01);
  CHECK(cluster_ok(b, d01 * 1.5) == labels_t{0, 0, 1});
  // Moved to the front, the middle row pairs with the old row 0 (now row 1): the order of rows is
  // part of the input, and the answer follows it.
  const auto moved = cluster_rows(2, {1, 0, static_cast<float>(c), static_cast<float>(s), static_cast<float>(c),
                                      static_cast<float>(-s)});
  CHECK(cluster_ok(moved, d01 * 1.5) == labels_t{0, 0, 1});
  CHECK(cluster_brute_force(b, d01 * 1.5) == labels_t{0, 0, 1});
}

TEST_CASE("average linkage matches the brute-force definition on random instances", "[aggregate][cluster]") {
  // Clumps of points around a few centres in 2-5 dimensions (so merges happen on every scale), some
  // exact duplicates and zero vectors; cuts from tight to loose. Both sides get the same rows.
  std::size_t instances = 0, nontrivial = 0;
  for (std::uint32_t seed = 1; seed <= 12; ++seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> z(0.0, 1.0);
    std::uniform_int_distribution<std::size_t> pick_n(2, 40), pick_dim(2, 5), pick_k(1, 6);
    const std::size_t n = pick_n(rng), dim = pick_dim(rng), k = pick_k(rng);
    std::vector<std::vector<double>> centres(k, std::vector<double>(dim));
    for (auto& c : centres)
      for (double& x : c) x = z(rng);
    std::vector<float> values;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t r = rng() % 20;
      if (r == 0 && i > 0) { // an exact duplicate of an earlier row
        const std::size_t from = rng() % i;
        for (std::size_t j = 0; j < dim; ++j) {
          const float copy = values[from * dim + j];
          values.push_back(copy);
        }
      } else if (r == 1) {
        values.insert(values.end(), dim, 0.0F);
      } else {
        const auto& c = centres[rng() % k];
        for (std::size_t j = 0; j < dim; ++j) values.push_back(static_cast<float>(c[j] + 0.3 * z(rng)));
      }
    }
    const auto b = cluster_rows(dim, values);
    for (const double cut : {0.0, 0.01, 0.05, 0.2, 0.6, 1.2}) {
      const labels_t got = cluster_ok(b, cut);
      CHECK(got == cluster_brute_force(b, cut));
      ++instances;
      std::uint32_t k_found = 0;
      for (const auto l : got) k_found = std::max(k_found, l + 1);
      if (k_found > 1 && k_found < n) ++nontrivial;
    }
  }
  CHECK(instances == 72);
  CHECK(nontrivial >= 48); // most instances (63 of 72 at these seeds) actually merge something and keep something apart
}

TEST_CASE("bad input is refused with a clear message", "[aggregate][cluster]") {
  const auto good = cluster_rows(2, {1, 0, 0, 1});
  auto refused = [](const reckon::embedding_batch& b, double cut, const char* says) {
    auto r = reckon::average_linkage_clusters(b, cut);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == reckon::errc::invalid_argument);
    CHECK_THAT(r.error().message, Catch::Contains(says));
  };
  refused(good, -0.01, "cosine_distance_cut must be finite and >= 0");
  refused(good, std::numeric_limits<double>::quiet_NaN(), "cosine_distance_cut must be finite");
  refused(good, std::numeric_limits<double>::infinity(), "cosine_distance_cut must be finite");
  refused(reckon::embedding_batch{}, -1.0, "cosine_distance_cut"); // checked before the rows
  refused(cluster_rows(0, {1, 2}), 0.05, "dimension is 0 but the batch holds 2 values");
  refused(cluster_rows(3, {1, 2, 3, 4}), 0.05, "4 values are not whole rows of dimension 3");
  refused(cluster_rows(2, {1, 0, std::numeric_limits<float>::quiet_NaN(), 1}), 0.05, "value 0 of row 1 is not finite");
  refused(cluster_rows(2, {1, 0, 0, -std::numeric_limits<float>::infinity()}), 0.05, "value 1 of row 1 is not finite");
}

TEST_CASE("average linkage at n = 256 and 1024 (timing, printed)", "[aggregate][cluster][timing]") {
  // Groups of 16 around 16 or 64 unit directions in 64 dimensions, cosine noise of ETS's scale.
  for (const std::size_t n : {std::size_t{256}, std::size_t{1024}}) {
    std::mt19937_64 rng(7);
    std::normal_distribution<double> z(0.0, 1.0);
    const std::size_t dim = 64, groups = n / 16;
    std::vector<std::vector<double>> dirs(groups, std::vector<double>(dim));
    for (auto& d : dirs)
      for (double& x : d) x = z(rng);
    std::vector<float> values;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < dim; ++j)
        values.push_back(static_cast<float>(dirs[i % groups][j] / 8.0 + 0.2 / 8.0 * z(rng)));
    const auto b = cluster_rows(dim, values);
    const auto start = std::chrono::steady_clock::now();
    const labels_t got = cluster_ok(b, 0.05);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::uint32_t k = 0;
    for (const auto l : got) k = std::max(k, l + 1);
    WARN("n = " << n << ": " << ms << " ms, " << k << " clusters of " << groups << " groups");
    CHECK(k >= groups);
    CHECK(k <= n / 2);
  }
}
