// SPDX-License-Identifier: Apache-2.0
// The compute-optimal table as JSON, read and written with nlohmann_json (target reckon::eval).
#pragma once

// Opt-in: <reckon/reckon.hpp> and compute_optimal.hpp need no JSON library; include this header
// (and link reckon::eval) to save a fitted table and load it back.
// Format: {"budget":8,"probe":2,"edges":[0.31,...],"bins":[{"method":"majority","n":8,"accuracy":0.9},...]};
// a "revisions" bin also has "length" (attempts per chain; written only there, optional when read,
// default 1, so tables written before it read unchanged); unknown members are ignored, "accuracy"
// is optional (informative), and a table that reads is one that compute_optimal_table::check()
// accepts. Errors (invalid_argument) name the field.

#include <reckon/core/result.hpp>
#include <reckon/strategy/compute_optimal.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace reckon {

/// The table as one line of JSON (a non-finite number is written as null, which does not read back).
[[nodiscard]] inline std::string compute_optimal_table_to_json(const compute_optimal_table& t) {
  nlohmann::ordered_json j;
  j["budget"] = t.budget;
  j["probe"] = t.probe;
  j["edges"] = t.edges;
  j["bins"] = nlohmann::ordered_json::array();
  for (const auto& b : t.bins) {
    j["bins"].push_back(nlohmann::ordered_json{{"method", to_string(b.method)}, {"n", b.n}, {"accuracy", b.accuracy}});
    if (b.method == co_method::revisions) j["bins"].back()["length"] = b.length;
  }
  return j.dump();
}

/// Reads a table written by compute_optimal_table_to_json; errors (invalid_argument) name the field.
[[nodiscard]] inline result<compute_optimal_table> compute_optimal_table_from_json(std::string_view text) {
  using json = nlohmann::json;
  auto bad = [](const std::string& why) { return fail(errc::invalid_argument, "compute_optimal_table: " + why); };
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    std::string_view what = e.what();
    if (const auto at = what.find("] "); at != std::string_view::npos) what.remove_prefix(at + 2);
    return bad(std::string(what));
  }
  if (!doc.is_object()) return bad("expected an object");
  auto count = [&](const json& obj, const char* key, const std::string& field) -> result<std::uint32_t> {
    const auto f = obj.find(key);
    const bool ok = f != obj.end() && f->is_number() && f->get<double>() >= 0.0 && f->get<double>() <= 4294967295.0 &&
                    std::floor(f->get<double>()) == f->get<double>();
    if (!ok) return bad(fmt::format("'{}' must be a non-negative integer", field));
    return static_cast<std::uint32_t>(f->get<double>());
  };
  compute_optimal_table t;
  auto b = count(doc, "budget", "budget");
  if (!b) return b.error();
  auto pr = count(doc, "probe", "probe");
  if (!pr) return pr.error();
  t.budget = *b;
  t.probe = *pr;
  const auto edges = doc.find("edges");
  if (edges == doc.end() || !edges->is_array()) return bad("'edges' must be an array");
  for (std::size_t i = 0; i < edges->size(); ++i) {
    if (!(*edges)[i].is_number()) return bad(fmt::format("edges[{}] must be a number", i));
    t.edges.push_back((*edges)[i].get<double>());
  }
  const auto bins = doc.find("bins");
  if (bins == doc.end() || !bins->is_array()) return bad("'bins' must be an array");
  for (std::size_t i = 0; i < bins->size(); ++i) {
    const json& e = (*bins)[i];
    if (!e.is_object()) return bad(fmt::format("bins[{}] must be an object", i));
    const auto m = e.find("method");
    if (m == e.end() || !m->is_string()) return bad(fmt::format("bins[{}].method must be a string", i));
    const auto method = parse_co_method(m->get_ref<const std::string&>());
    if (!method) return bad(fmt::format("bins[{}].method: unknown method '{}'", i, m->get_ref<const std::string&>()));
    auto n = count(e, "n", fmt::format("bins[{}].n", i));
    if (!n) return n.error();
    double accuracy = 0.0;
    if (const auto acc = e.find("accuracy"); acc != e.end() && acc->is_number()) accuracy = acc->get<double>();
    std::uint32_t length = 1;
    if (e.contains("length")) {
      auto l = count(e, "length", fmt::format("bins[{}].length", i));
      if (!l) return l.error();
      length = *l;
    }
    t.bins.push_back(co_choice{*method, *n, accuracy, length});
  }
  if (auto ok = t.check(); !ok) return ok.error();
  return t;
}

} // namespace reckon
