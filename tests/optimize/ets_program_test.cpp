// SPDX-License-Identifier: Apache-2.0
#include <reckon/optimize/ets_program.hpp>

#include <support/catch.hpp>

#include "optimize/ets_instances.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using reckon::ets_program;
using reckon::ets_selection;
using reckon::test::Approx;

// Root 0 with children 1 and 2; frontier nodes 0 and 1 under branch 1, node 2 under branch 2.
ets_program small_program() {
  ets_program p;
  p.outcome = {0.5, 0.25, 0.25};
  p.branches = {{0, 1}, {1, 0}, {0, 2}};
  p.branch_count = 3;
  p.cluster = {0, 0, 1};
  p.cluster_count = 2;
  return p;
}

std::string ets_describe(const ets_program& p) {
  std::string s = "N=" + std::to_string(p.outcome.size()) + " M=" + std::to_string(p.branch_count) +
                  " K=" + std::to_string(p.cluster_count) + " lc=" + std::to_string(p.cost_weight) +
                  " ls=" + std::to_string(p.coverage_weight);
  return s;
}

void ets_expect_invalid(const ets_program& p, const std::string& fragment) {
  const auto ok = reckon::validate(p);
  REQUIRE_FALSE(ok);
  CHECK(ok.error().code == reckon::errc::invalid_argument);
  INFO(ok.error().message);
  CHECK(ok.error().message.find(fragment) != std::string::npos);
  const auto solved = reckon::exact_ets_solver{}(p);
  REQUIRE_FALSE(solved);
  CHECK(solved.error().code == reckon::errc::invalid_argument);
}

} // namespace

TEST_CASE("ets_program: validate rejects every malformed program with its reason", "[optimize][ets]") {
  REQUIRE(reckon::validate(small_program()));
  ets_program p = small_program();
  p.outcome.clear(), p.branches.clear(), p.cluster.clear(), p.cluster_count = 0;
  ets_expect_invalid(p, "no frontier node");
  p = small_program(), p.branches.pop_back();
  ets_expect_invalid(p, "branches has 2 lists for 3 nodes");
  p = small_program(), p.outcome[1] = -0.1;
  ets_expect_invalid(p, "outcome[1]");
  p = small_program(), p.outcome[2] = std::nan("");
  ets_expect_invalid(p, "outcome[2]");
  p = small_program(), p.outcome[0] = INFINITY;
  ets_expect_invalid(p, "outcome[0]");
  p = small_program(), p.cost_weight = -1.0;
  ets_expect_invalid(p, "cost_weight");
  p = small_program(), p.cost_weight = std::nan("");
  ets_expect_invalid(p, "cost_weight");
  p = small_program(), p.coverage_weight = -0.5;
  ets_expect_invalid(p, "coverage_weight");
  p = small_program(), p.coverage_weight = INFINITY;
  ets_expect_invalid(p, "coverage_weight");
  p = small_program(), p.branches[2] = {0, 3};
  ets_expect_invalid(p, "names branch 3, not below branch_count 3");
  p = small_program(), p.branches[0] = {0, 1, 1};
  ets_expect_invalid(p, "names a branch twice");
  p = small_program(), p.branch_count = 4;
  ets_expect_invalid(p, "branch 3 is no node's ancestor");
  // L(1) = {0, 1} and L(2) = {1, 2} overlap without nesting: not one tree.
  p = small_program(), p.branches = {{0, 1}, {1, 2}, {0, 2}};
  ets_expect_invalid(p, "not ancestor chains of one tree");
  p = small_program(), p.cluster.clear();
  ets_expect_invalid(p, "cluster_count is 2 without clusters");
  p = small_program(), p.cluster.pop_back();
  ets_expect_invalid(p, "cluster has 2 ids for 3 nodes");
  p = small_program(), p.cluster[2] = 2;
  ets_expect_invalid(p, "cluster[2] = 2 is not below cluster_count 2");
  p = small_program(), p.cluster_count = 3;
  ets_expect_invalid(p, "cluster 2 has no member");
  // What validate accepts: no clusters at all, a node without ancestors, equal descendant sets.
  p = small_program(), p.cluster.clear(), p.cluster_count = 0;
  CHECK(reckon::validate(p));
  p.outcome = {1.0}, p.branches = {{}}, p.branch_count = 0;
  CHECK(reckon::validate(p));
  p = small_program(), p.branches = {{0, 1, 3}, {0, 1, 3}, {0, 2}}, p.branch_count = 4;
  CHECK(reckon::validate(p));
}

TEST_CASE("ets_program: ets_objective is rebase.py's objective with y and c implied", "[optimize][ets]") {
  const ets_program p = small_program(); // M = 3, N = 3: C = 1/6; lambda_s / K = 0.75
  CHECK(reckon::ets_objective(p, std::vector<char>{1, 0, 0}) == Approx(0.5 - 3.0 / 6 + 0.75).margin(1e-15));
  CHECK(reckon::ets_objective(p, std::vector<char>{1, 1, 0}) == Approx(0.75 - 4.0 / 6 + 0.75).margin(1e-15));
  CHECK(reckon::ets_objective(p, std::vector<char>{1, 0, 1}) == Approx(0.75 - 5.0 / 6 + 1.5).margin(1e-15));
  CHECK(reckon::ets_objective(p, std::vector<char>{1, 1, 1}) == Approx(1.0 - 6.0 / 6 + 1.5).margin(1e-15));
  ets_program guard = p; // lambda_c = 0: rebase.py:404-405 makes the cost a 1e-4 bonus
  guard.cost_weight = 0.0;
  CHECK(reckon::ets_objective(guard, std::vector<char>{1, 0, 0}) == Approx(0.5 + 1e-4 * 3.0 / 6 + 0.75).margin(1e-15));
  ets_program plain = p; // no clusters: no coverage term
  plain.cluster.clear(), plain.cluster_count = 0;
  CHECK(reckon::ets_objective(plain, std::vector<char>{1, 0, 1}) == Approx(0.75 - 5.0 / 6).margin(1e-15));
  CHECK(std::isnan(reckon::ets_objective(p, std::vector<char>{1, 0})));
}

TEST_CASE("exact_ets_solver: the small program's optimum, and the tie rule", "[optimize][ets]") {
  const auto got = reckon::exact_ets_solver{}(small_program());
  REQUIRE(got);
  CHECK(got->keep == std::vector<char>{1, 1, 1}); // 1.5, above {1, 0, 1}'s 1.41667
  CHECK(got->objective == Approx(1.0 - 6.0 / 6 + 1.5).margin(1e-15));
  CHECK(got->proven_optimal);
  // Nodes 1 and 2 are the same (no outcome, one cluster, one parent): one of them is kept, the lower.
  ets_program tie;
  tie.outcome = {1.0, 0.0, 0.0};
  tie.branches = {{0, 1}, {0, 2}, {0, 2}};
  tie.branch_count = 3;
  tie.cluster = {0, 1, 1};
  tie.cluster_count = 2;
  const auto t = reckon::exact_ets_solver{}(tie);
  REQUIRE(t);
  CHECK(t->keep == std::vector<char>{1, 1, 0});
  // Without the coverage term the zero-outcome nodes only cost: one node is kept.
  tie.cluster.clear(), tie.cluster_count = 0;
  const auto d = reckon::exact_ets_solver{}(tie);
  REQUIRE(d);
  CHECK(d->keep == std::vector<char>{1, 0, 0});
  // All outcomes zero and no coverage: the cheapest single node, the lowest index among equals.
  tie.outcome = {0.0, 0.0, 0.0};
  const auto z = reckon::exact_ets_solver{}(tie);
  REQUIRE(z);
  CHECK(z->keep == std::vector<char>{1, 0, 0});
  // lambda_c = 0 (the guard's bonus): every node is kept.
  tie.cost_weight = 0.0;
  const auto all = reckon::exact_ets_solver{}(tie);
  REQUIRE(all);
  CHECK(all->keep == std::vector<char>{1, 1, 1});
}

TEST_CASE("exact_ets_solver: equals brute force on random programs up to N = 14", "[optimize][ets]") {
  // 400 programs over the four regimes (coverage, no coverage, lambda_c = 0, heavy coverage): the
  // optimum's objective within 1e-9, and the same set where no other is within 1e-9 of it.
  int unique = 0;
  for (std::uint64_t seed = 1; seed <= 400; ++seed) {
    reckon::test::ets::shape s;
    s.frontier = 2 + static_cast<std::uint32_t>(seed % 13);
    s.max_depth = 1 + static_cast<std::uint32_t>(seed % 7);
    switch (seed % 4) {
    case 0: s.clusters_per_node = 0.0; break;
    case 1: s.cost_weight = (seed % 8 == 1) ? 0.0 : 1.0; break;
    case 2: s.coverage_weight = 4.0, s.cost_weight = 3.0; break;
    default: break;
    }
    const ets_program p = reckon::test::ets::random_program(seed, s);
    REQUIRE(reckon::validate(p));
    const auto brute = reckon::test::ets::brute_force(p);
    const auto got = reckon::exact_ets_solver{}(p);
    INFO("seed " << seed << " " << ets_describe(p));
    REQUIRE(got);
    CHECK(got->proven_optimal);
    CHECK(got->objective == Approx(brute.objective).margin(1e-9));
    CHECK(got->objective == reckon::ets_objective(p, got->keep));
    if (brute.unique) CHECK(got->keep == brute.keep);
    unique += brute.unique;
  }
  CHECK(unique > 100); // the programs are not all ties
}

TEST_CASE("exact_ets_solver: a node limit returns the best set found, not proven", "[optimize][ets]") {
  // The first program (of 40 at N = 64) whose proof needs more than the root node.
  bool found = false;
  for (std::uint64_t seed = 1; seed <= 40 && !found; ++seed) {
    reckon::test::ets::shape s;
    s.frontier = 64;
    const ets_program p = reckon::test::ets::random_program(seed, s);
    const auto full = reckon::exact_ets_solver{}(p);
    REQUIRE(full);
    REQUIRE(full->proven_optimal);
    if (full->nodes_explored < 3) continue;
    found = true;
    const auto cut = reckon::exact_ets_solver{.node_limit = 1}(p);
    REQUIRE(cut);
    CHECK_FALSE(cut->proven_optimal);
    CHECK(cut->nodes_explored == 1);
    CHECK(cut->objective == reckon::ets_objective(p, cut->keep));
    CHECK(cut->objective <= full->objective + 1e-12);
    CHECK(std::count(cut->keep.begin(), cut->keep.end(), 1) >= 1);
  }
  CHECK(found);
}

TEST_CASE("exact_ets_solver: timing on ETS-like programs", "[.ets_timing]") {
  for (std::uint32_t split : {0u, 2u}) {
    for (std::uint32_t n : {16u, 64u, 256u}) {
      const int count = n == 256 ? 50 : 200;
      double total = 0.0, worst = 0.0, branches = 0.0;
      std::uint64_t nodes = 0, max_nodes = 0;
      int proven = 0;
      for (int r = 0; r < count; ++r) {
        reckon::test::ets::shape s;
        s.frontier = n;
        s.split_levels = split;
        const ets_program p = reckon::test::ets::random_program(1000u * n + static_cast<std::uint64_t>(r), s);
        const auto t0 = std::chrono::steady_clock::now();
        const auto got = reckon::exact_ets_solver{}(p);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        REQUIRE(got);
        total += ms, worst = std::max(worst, ms), branches += p.branch_count;
        nodes += got->nodes_explored, max_nodes = std::max(max_nodes, got->nodes_explored);
        proven += got->proven_optimal;
      }
      std::printf("split %u N=%u: %d programs, M mean %.0f, mean %.3f ms, max %.3f ms, nodes mean %.1f max %llu, "
                  "proven %d/%d\n",
                  split, n, count, branches / count, total / count, worst, double(nodes) / count,
                  static_cast<unsigned long long>(max_nodes), proven, count);
    }
  }
}
