// SPDX-License-Identifier: Apache-2.0
// Every strategy reckon ships, registered under its stable reckon-eval name: the default registry.
#pragma once

#include <reckon/eval/register_adaptive.hpp>
#include <reckon/eval/register_search.hpp>
#include <reckon/eval/registry.hpp>

namespace reckon::eval {

/// Registers every strategy reckon ships: the sample-based ones (register_builtin_strategies), the
/// PRM-guided searches (register_search_strategies) and the adaptive allocators (register_adaptive).
inline void register_all_strategies(strategy_registry& r) {
  register_builtin_strategies(r);
  register_search_strategies(r);
  register_adaptive(r);
}

/// The registry reckon-eval uses: every strategy, registered once (thread-safe).
[[nodiscard]] inline const strategy_registry& default_registry() {
  static const strategy_registry registry = [] {
    strategy_registry r;
    register_all_strategies(r);
    return r;
  }();
  return registry;
}

} // namespace reckon::eval
