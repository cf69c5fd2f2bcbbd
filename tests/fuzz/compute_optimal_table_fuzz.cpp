// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the compute-optimal table reader (compute_optimal_io.hpp) on any bytes. A table it accepts passes
// check(), and writing it out and reading it back gives the same table (the accuracy, which is
// informative only, where it is finite).
#include <reckon/strategy/compute_optimal_io.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

bool same(const reckon::compute_optimal_table& a, const reckon::compute_optimal_table& b) {
  if (a.budget != b.budget || a.probe != b.probe || a.edges != b.edges || a.bins.size() != b.bins.size()) return false;
  for (std::size_t i = 0; i < a.bins.size(); ++i) {
    const auto& x = a.bins[i];
    const auto& y = b.bins[i];
    if (x.method != y.method || x.n != y.n || x.length != y.length) return false;
    if (std::isfinite(x.accuracy) && x.accuracy != y.accuracy) return false;
  }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto table = reckon::compute_optimal_table_from_json(text);
  if (!table) {
    if (table.error().code != reckon::errc::invalid_argument || table.error().message.empty()) std::abort();
    return 0;
  }
  if (!table->check()) std::abort();
  for (const auto& c : table->bins)
    if (reckon::to_string(c.method).empty()) std::abort();
  const auto again = reckon::compute_optimal_table_from_json(reckon::compute_optimal_table_to_json(*table));
  if (!again || !same(*table, *again)) std::abort();
  return 0;
}
