// SPDX-License-Identifier: Apache-2.0
// Tests of model_traits: defaults, overrides from static members, and user specialisation.
#include <reckon/concepts/model_traits.hpp>

#include <support/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>

namespace {
struct plain {};
struct declares_all {
  static constexpr std::size_t max_sequences = 64;
  static constexpr bool supports_rollback = true;
  static constexpr std::uint32_t logprob_top_k = 20;
  static constexpr bool full_logits = true;
  static constexpr double cost_per_token = 4.0;
};
struct declares_some {
  static constexpr int max_sequences = 8; // any integral type converts
};
struct wrong_kind { // a member function of the name is not a trait
  static std::size_t max_sequences() { return 3; }
};
struct third_party {};
} // namespace

template <>
struct reckon::model_traits<third_party> {
  static constexpr std::size_t max_sequences = 2;
  static constexpr bool supports_rollback = false;
  static constexpr std::uint32_t logprob_top_k = 5;
  static constexpr bool full_logits = false;
  static constexpr double cost_per_token = 0.5;
};

namespace {
using reckon::model_traits;
static_assert(model_traits<plain>::max_sequences == std::numeric_limits<std::size_t>::max());
static_assert(!model_traits<plain>::supports_rollback);
static_assert(model_traits<plain>::logprob_top_k == 0);
static_assert(!model_traits<plain>::full_logits);
static_assert(model_traits<plain>::cost_per_token == 1.0);

static_assert(model_traits<declares_all>::max_sequences == 64);
static_assert(model_traits<declares_all>::supports_rollback);
static_assert(model_traits<declares_all>::logprob_top_k == 20);
static_assert(model_traits<declares_all>::full_logits);
static_assert(model_traits<declares_all>::cost_per_token == 4.0);

static_assert(model_traits<declares_some>::max_sequences == 8);
static_assert(!model_traits<declares_some>::supports_rollback);
static_assert(model_traits<wrong_kind>::max_sequences == std::numeric_limits<std::size_t>::max());

static_assert(model_traits<third_party>::max_sequences == 2);
static_assert(model_traits<third_party>::cost_per_token == 0.5);
static_assert(!model_traits<third_party>::supports_rollback && !model_traits<third_party>::full_logits);
} // namespace

TEST_CASE("model_traits are usable at run time too", "[concepts][traits]") {
  std::size_t cap = model_traits<declares_all>::max_sequences;
  CHECK(cap == 64);
  CHECK(model_traits<third_party>::logprob_top_k == 5);
}
