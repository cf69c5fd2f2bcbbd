// SPDX-License-Identifier: Apache-2.0
// ETS's selection program solved by COIN-OR CBC, the MILP solver ETS's code uses (through PuLP).
//
// Opt-in: the target reckon::cbc exists where CBC is found (Debian: coinor-libcbc-dev). The model
// is the program exactly as rebase.py:397-518 writes it, not the reduced form reckon's exact solver
// searches: binaries x_i (N), y_j (M) and, with a coverage term, c_k (K); objective
// sum_i (O_i + gC) x_i + sum_j gC y_j + sum_k (lambda_s / K) c_k, maximised; rows y_j - sum_{i in L(j)} x_i <= 0,
// y_j - x_i >= 0 for each i in L(j), c_k - sum_{i in k} x_i <= 0 and sum_i x_i >= 1 (the c_k only
// with clusters and lambda_s > 0, rebase.py:468). CBC runs with its log off (msg=0, rebase.py:518)
// and with zero absolute and relative gaps, so that its optimum can be compared with reckon's.
#pragma once

#include <reckon/core/result.hpp>
#include <reckon/optimize/ets_program.hpp>

#include <Cbc_C_Interface.h> // CBC's pkg-config puts include/coin on the path

#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace reckon {

/// Solves an ets_program with CBC's C interface: the ILP as ETS's code builds it.
/// Returns errc::invalid_argument for a program validate() rejects, errc::engine_failure when CBC
/// finds no solution or throws, errc::invalid_argument for a max_seconds that is not > 0.
struct cbc_ets_solver {
  double max_seconds = 60.0; ///< CBC's time limit; a stopped search returns its best set with proven_optimal = false

  /// CBC's answer with the objective value CBC itself reports for it.
  struct answer {
    ets_selection selection;    ///< objective: ets_objective(program, keep)
    double ilp_objective = 0.0; ///< Cbc_getObjValue: the ILP's objective at CBC's x, y, c
  };

  [[nodiscard]] result<ets_selection> operator()(const ets_program& program) const {
    auto got = solve(program);
    if (!got) return got.error();
    return std::move(got->selection);
  }

  /// As operator(), keeping CBC's own objective value.
  [[nodiscard]] result<answer> solve(const ets_program& program) const {
    if (auto ok = validate(program); !ok) return ok.error();
    if (!(max_seconds > 0.0) || !std::isfinite(max_seconds))
      return fail(errc::invalid_argument, "cbc_ets_solver: max_seconds is not a finite value > 0");
    try {
      return build_and_solve(program);
    } catch (const std::exception& e) {
      return fail(errc::engine_failure, std::string("cbc_ets_solver: CBC threw: ") + e.what());
    } catch (...) {
      return fail(errc::engine_failure, "cbc_ets_solver: CBC threw a non-standard exception");
    }
  }

private:
  [[nodiscard]] result<answer> build_and_solve(const ets_program& p) const {
    struct model_deleter {
      void operator()(Cbc_Model* m) const noexcept { Cbc_deleteModel(m); }
    };
    const std::unique_ptr<Cbc_Model, model_deleter> model(Cbc_newModel());
    if (!model) return fail(errc::engine_failure, "cbc_ets_solver: Cbc_newModel failed");
    Cbc_Model* m = model.get();
    const int n = static_cast<int>(p.outcome.size());
    const int branches = static_cast<int>(p.branch_count);
    const bool coverage = !p.cluster.empty() && p.coverage_weight > 0.0; // rebase.py:468
    const int clusters = coverage ? static_cast<int>(p.cluster_count) : 0;
    const double cost = detail::ets_node_cost(p);
    const double cover = detail::ets_cover_value(p);
    // Columns: x_0..x_{N-1}, y_0..y_{M-1}, c_0..c_{K-1}.
    for (int i = 0; i < n; ++i) Cbc_addCol(m, ("x_" + std::to_string(i)).c_str(), 0.0, 1.0, p.outcome[i] + cost, 1, 0, nullptr, nullptr);
    for (int j = 0; j < branches; ++j) Cbc_addCol(m, ("y_" + std::to_string(j)).c_str(), 0.0, 1.0, cost, 1, 0, nullptr, nullptr);
    for (int k = 0; k < clusters; ++k) Cbc_addCol(m, ("c_" + std::to_string(k)).c_str(), 0.0, 1.0, cover, 1, 0, nullptr, nullptr);
    std::vector<std::vector<int>> below(p.branch_count);
    for (int i = 0; i < n; ++i)
      for (std::uint32_t j : p.branches[static_cast<std::size_t>(i)]) below[j].push_back(i);
    std::vector<int> cols;
    std::vector<double> coefs;
    int rows = 0;
    const auto row = [&](const char* name, char sense, double rhs) {
      const std::string unique = name + std::to_string(rows++);
      Cbc_addRow(m, unique.c_str(), static_cast<int>(cols.size()), cols.data(), coefs.data(), sense, rhs);
    };
    for (int j = 0; j < branches; ++j) {
      cols.assign(1, n + j), coefs.assign(1, 1.0); // y_j <= sum_{i in L(j)} x_i
      for (int i : below[static_cast<std::size_t>(j)]) cols.push_back(i), coefs.push_back(-1.0);
      row("activation_", 'L', 0.0);
      for (int i : below[static_cast<std::size_t>(j)]) { // y_j >= x_i
        cols = {n + j, i}, coefs = {1.0, -1.0};
        row("link_", 'G', 0.0);
      }
    }
    for (int k = 0; k < clusters; ++k) {
      cols.assign(1, n + branches + k), coefs.assign(1, 1.0); // c_k <= sum_{i in k} x_i
      for (int i = 0; i < n; ++i)
        if (p.cluster[static_cast<std::size_t>(i)] == static_cast<std::uint32_t>(k)) cols.push_back(i), coefs.push_back(-1.0);
      row("coverage_", 'L', 0.0);
    }
    cols.clear(), coefs.clear();
    for (int i = 0; i < n; ++i) cols.push_back(i), coefs.push_back(1.0);
    row("keep_one_", 'G', 1.0);
    Cbc_setObjSense(m, -1.0); // maximise
    Cbc_setLogLevel(m, 0);
    Cbc_setAllowableGap(m, 0.0);
    Cbc_setAllowableFractionGap(m, 0.0);
    Cbc_setMaximumSeconds(m, max_seconds);
    Cbc_solve(m);
    const double* solution = Cbc_getColSolution(m);
    if (solution == nullptr || Cbc_isProvenInfeasible(m) || Cbc_isAbandoned(m))
      return fail(errc::engine_failure, "cbc_ets_solver: CBC found no solution (status " + std::to_string(Cbc_status(m)) +
                                            ", secondary " + std::to_string(Cbc_secondaryStatus(m)) + ")");
    answer a;
    ets_selection& out = a.selection;
    out.keep.assign(p.outcome.size(), 0);
    bool any = false;
    for (int i = 0; i < n; ++i) {
      out.keep[static_cast<std::size_t>(i)] = solution[i] > 0.5;
      any = any || solution[i] > 0.5;
    }
    if (!any) return fail(errc::engine_failure, "cbc_ets_solver: CBC returned a solution that keeps no node");
    out.objective = ets_objective(p, out.keep);
    out.nodes_explored = static_cast<std::uint64_t>(Cbc_getNodeCount(m));
    out.proven_optimal = Cbc_isProvenOptimal(m) != 0;
    a.ilp_objective = Cbc_getObjValue(m);
    return a;
  }
};

} // namespace reckon
