// SPDX-License-Identifier: Apache-2.0
// reckon::cbc: CBC on ETS's program against reckon's exact solver (compiled where the target exists).
#include <support/catch.hpp>

#if defined(RECKON_TEST_CBC)

#include <reckon/adapters/cbc.hpp>

#include "optimize/ets_instances.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

namespace {

reckon::test::ets::shape cbc_shape(std::uint64_t seed, std::uint32_t n) {
  reckon::test::ets::shape s;
  s.frontier = n;
  s.max_depth = 1 + static_cast<std::uint32_t>(seed % 12);
  s.split_levels = seed % 3 == 0 ? 2 : 0;
  switch (seed % 5) {
  case 0: s.clusters_per_node = 0.0; break;
  case 1: s.coverage_weight = 4.0, s.cost_weight = 3.0; break;
  case 2: s.cost_weight = seed % 10 == 2 ? 0.0 : 1.0; break;
  default: break;
  }
  return s;
}

} // namespace

TEST_CASE("cbc_ets_solver: the same optimum as exact_ets_solver on 240 random programs up to N = 64",
          "[adapters][cbc][ets]") {
  int same_set = 0;
  for (std::uint64_t seed = 1; seed <= 240; ++seed) {
    const std::uint32_t n = 2 + static_cast<std::uint32_t>((seed * 7) % 63); // 2..64
    const reckon::ets_program p = reckon::test::ets::random_program(seed, cbc_shape(seed, n));
    INFO("seed " << seed << " N=" << n << " M=" << p.branch_count << " K=" << p.cluster_count);
    const auto exact = reckon::exact_ets_solver{}(p);
    const auto cbc = reckon::cbc_ets_solver{}.solve(p);
    REQUIRE(exact);
    REQUIRE(cbc);
    CHECK(exact->proven_optimal);
    CHECK(cbc->selection.proven_optimal);
    CHECK(cbc->selection.objective == reckon::test::Approx(exact->objective).margin(1e-9));
    // ets_objective is the ILP's objective: CBC's own value at its x, y, c.
    CHECK(cbc->ilp_objective == reckon::test::Approx(cbc->selection.objective).margin(1e-9));
    same_set += cbc->selection.keep == exact->keep;
  }
  CHECK(same_set >= 120); // differing sets are ties (the objective check above); most optima are unique
}

TEST_CASE("cbc_ets_solver: the same set as exact_ets_solver and brute force where the optimum is unique",
          "[adapters][cbc][ets]") {
  int unique = 0;
  for (std::uint64_t seed = 1000; seed < 1150; ++seed) {
    const std::uint32_t n = 2 + static_cast<std::uint32_t>(seed % 13); // 2..14
    const reckon::ets_program p = reckon::test::ets::random_program(seed, cbc_shape(seed, n));
    INFO("seed " << seed << " N=" << n);
    const auto brute = reckon::test::ets::brute_force(p);
    const auto cbc = reckon::cbc_ets_solver{}(p);
    const auto exact = reckon::exact_ets_solver{}(p);
    REQUIRE(cbc);
    REQUIRE(exact);
    CHECK(cbc->objective == reckon::test::Approx(brute.objective).margin(1e-9));
    if (!brute.unique) continue;
    ++unique;
    CHECK(cbc->keep == brute.keep);
    CHECK(exact->keep == brute.keep);
  }
  CHECK(unique >= 50);
}

TEST_CASE("cbc_ets_solver: rejects a malformed program and a bad time limit before building a model", "[adapters][cbc][ets]") {
  reckon::ets_program p;
  p.outcome = {0.5, 0.5};
  p.branches = {{0}, {1}};
  p.branch_count = 1;
  const auto got = reckon::cbc_ets_solver{}(p);
  REQUIRE_FALSE(got);
  CHECK(got.error().code == reckon::errc::invalid_argument);
  CHECK(got.error().message.find("not below branch_count") != std::string::npos);
  p.branch_count = 2;
  REQUIRE(reckon::cbc_ets_solver{}(p));
  for (double seconds : {0.0, -1.0, std::nan(""), double(INFINITY)}) {
    const auto timed = reckon::cbc_ets_solver{.max_seconds = seconds}(p);
    REQUIRE_FALSE(timed);
    CHECK(timed.error().code == reckon::errc::invalid_argument);
    CHECK(timed.error().message.find("max_seconds") != std::string::npos);
  }
}

TEST_CASE("cbc_ets_solver: timing against exact_ets_solver", "[.cbc_timing]") {
  for (std::uint32_t n : {16u, 64u, 256u}) {
    const int count = n == 256 ? 20 : 50;
    double cbc_ms = 0.0, exact_ms = 0.0;
    int agree = 0;
    for (int r = 0; r < count; ++r) {
      reckon::test::ets::shape s;
      s.frontier = n;
      const reckon::ets_program p = reckon::test::ets::random_program(1000u * n + static_cast<std::uint64_t>(r), s);
      auto t0 = std::chrono::steady_clock::now();
      const auto c = reckon::cbc_ets_solver{}(p);
      auto t1 = std::chrono::steady_clock::now();
      const auto e = reckon::exact_ets_solver{}(p);
      auto t2 = std::chrono::steady_clock::now();
      REQUIRE(c);
      REQUIRE(e);
      cbc_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
      exact_ms += std::chrono::duration<double, std::milli>(t2 - t1).count();
      agree += std::abs(c->objective - e->objective) <= 1e-9;
    }
    std::printf("N=%u: %d programs, cbc mean %.2f ms, exact mean %.2f ms, same objective %d/%d\n", n, count,
                cbc_ms / count, exact_ms / count, agree, count);
  }
}

#endif
