// SPDX-License-Identifier: Apache-2.0
// Tests of the compute-optimal table's JSON I/O (opt-in, nlohmann_json): round trip, strict reading
// with errors that name the field.
#include <reckon/strategy/compute_optimal_io.hpp>

#include <support/catch.hpp>

#include <string>
#include <string_view>

using namespace reckon;

namespace {
std::string table_error(std::string_view text) {
  const auto r = compute_optimal_table_from_json(text);
  REQUIRE(!r);
  CHECK(r.error().code == errc::invalid_argument);
  return r.error().message;
}
} // namespace

TEST_CASE("compute_optimal_table: JSON round trip and strict reading", "[strategy][compute_optimal]") {
  compute_optimal_table t;
  t.budget = 8;
  t.probe = 2;
  t.edges = {0.1, 0.2, 0.35, 0.5};
  t.bins = {{co_method::majority, 2, 0.9}, {co_method::weighted_orm, 4, 0.8}, {co_method::best_prm, 8, 0.7},
            {co_method::free_energy, 8, 0.6}, {co_method::weighted_prm, 8, 0.5}};
  const std::string json = compute_optimal_table_to_json(t);
  CHECK(json.rfind(R"({"budget":8,"probe":2,"edges":[0.1,0.2,0.35,0.5],"bins":[{"method":"majority","n":2,"accuracy":0.9},)", 0) == 0);
  auto back = compute_optimal_table_from_json(json);
  REQUIRE(back);
  CHECK(compute_optimal_table_to_json(*back) == json);
  CHECK(back->edges == t.edges);
  CHECK(back->bins[3].method == co_method::free_energy);
  CHECK(back->bin_of(0.0) == 0);
  CHECK(back->bin_of(0.2) == 2);
  CHECK(back->bin_of(0.9) == 4);
  // Accuracy is informative: a table without it reads (as 0).
  CHECK(compute_optimal_table_from_json(R"({"budget":8,"probe":2,"edges":[],"bins":[{"method":"majority","n":2}]})"));
}

TEST_CASE("compute_optimal_table: reading errors name the field", "[strategy][compute_optimal]") {
  CHECK(table_error("{\"budget\":8}") == "compute_optimal_table: 'probe' must be a non-negative integer");
  CHECK(table_error(R"({"budget":-1,"probe":2,"edges":[],"bins":[]})") ==
        "compute_optimal_table: 'budget' must be a non-negative integer");
  CHECK(table_error(R"({"budget":8,"probe":2,"edges":[0.5,"x"],"bins":[]})") == "compute_optimal_table: edges[1] must be a number");
  CHECK(table_error(R"({"budget":8,"probe":2,"edges":[],"bins":[{"method":"magic","n":2}]})") ==
        "compute_optimal_table: bins[0].method: unknown method 'magic'");
  CHECK(table_error(R"({"budget":8,"probe":2,"edges":[],"bins":[{"method":"majority","n":2.5}]})") ==
        "compute_optimal_table: 'bins[0].n' must be a non-negative integer");
  CHECK(table_error(R"({"budget":8,"probe":2,"edges":[],"bins":[7]})") == "compute_optimal_table: bins[0] must be an object");
  CHECK(table_error(R"({"budget":8,"probe":2,"edges":[],"bins":[{"method":"majority","n":9}]})").find("outside [1, budget]") !=
        std::string::npos);
  CHECK(table_error(R"({"budget":8,"probe":2,"edges":[0.5,0.1],"bins":[{"method":"majority","n":2},{"method":"majority","n":2},{"method":"majority","n":2}]})")
            .find("ascending") != std::string::npos);
  CHECK(table_error("[1,").find("compute_optimal_table: parse error at line 1, column 4") == 0);
  CHECK(table_error("[1]") == "compute_optimal_table: expected an object");
  CHECK(table_error(R"({"budget":8,"probe":2,"edges":[1e999],"bins":[]})").find("number overflow") != std::string::npos);
}
