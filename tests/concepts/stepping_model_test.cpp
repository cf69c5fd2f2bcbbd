// SPDX-License-Identifier: Apache-2.0
// Conformance tests of stepping_model and rollback_model.
#include <reckon/concepts/archetypes.hpp>
#include <reckon/concepts/stepping_model.hpp>

#include <support/catch.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace {
using reckon::problem;
using reckon::result;
using reckon::step_batch;
using reckon::step_params;
using seeds_t = std::span<const std::uint64_t>;

template <class Seq>
struct base_stepper {
  using reckon_model_concept = reckon::stepping_model_tag;
  using sequence = Seq;
  result<sequence> begin(const problem&);
  result<sequence> fork(sequence);
  void release(sequence) noexcept;
  result<step_batch> extend(std::span<const sequence>, const step_params&, seeds_t);
};
using good = base_stepper<int>;

struct untagged {
  using sequence = int;
  result<sequence> begin(const problem&);
  result<sequence> fork(sequence);
  void release(sequence) noexcept;
  result<step_batch> extend(std::span<const sequence>, const step_params&, seeds_t);
};
struct no_sequence_type {
  using reckon_model_concept = reckon::stepping_model_tag;
  result<int> begin(const problem&);
  result<int> fork(int);
  void release(int) noexcept;
  result<step_batch> extend(std::span<const int>, const step_params&, seeds_t);
};
struct release_may_throw : good {
  void release(sequence); // not noexcept: strategies release on error paths
};
struct fork_cannot_fail {
  using reckon_model_concept = reckon::stepping_model_tag;
  using sequence = int;
  result<sequence> begin(const problem&);
  sequence fork(sequence); // must be result<sequence>: fork can run out of capacity
  void release(sequence) noexcept;
  result<step_batch> extend(std::span<const sequence>, const step_params&, seeds_t);
};
struct extend_without_seeds {
  using reckon_model_concept = reckon::stepping_model_tag;
  using sequence = int;
  result<sequence> begin(const problem&);
  result<sequence> fork(sequence);
  void release(sequence) noexcept;
  result<step_batch> extend(std::span<const sequence>, const step_params&);
};
struct extend_one_at_a_time {
  using reckon_model_concept = reckon::stepping_model_tag;
  using sequence = int;
  result<sequence> begin(const problem&);
  result<sequence> fork(sequence);
  void release(sequence) noexcept;
  result<step_batch> extend(sequence, const step_params&, std::uint64_t);
};
struct not_comparable {
  int id;
};
using move_only_handle = base_stepper<std::unique_ptr<int>>;
using incomparable_handle = base_stepper<not_comparable>;

struct sampling_tagged_stepper : good {
  using reckon_model_concept = reckon::sampling_model_tag;
};

struct with_rollback : good {
  static constexpr bool supports_rollback = true;
  result<void> rollback(sequence, std::uint32_t);
};
struct rollback_not_declared : good { // has the member but does not say so in its traits
  result<void> rollback(sequence, std::uint32_t);
};
struct rollback_declared_only : good {
  static constexpr bool supports_rollback = true;
};

static_assert(reckon::stepping_model<good>);
static_assert(reckon::stepping_model<reckon::archetypes::stepping_model>);
static_assert(reckon::stepping_model<reckon::archetypes::introspective_model>);
static_assert(!reckon::stepping_model<untagged>);
static_assert(!reckon::stepping_model<no_sequence_type>);
static_assert(!reckon::stepping_model<release_may_throw>);
static_assert(!reckon::stepping_model<fork_cannot_fail>);
static_assert(!reckon::stepping_model<extend_without_seeds>);
static_assert(!reckon::stepping_model<extend_one_at_a_time>);
static_assert(!reckon::stepping_model<move_only_handle>);
static_assert(!reckon::stepping_model<incomparable_handle>);
static_assert(!reckon::stepping_model<sampling_tagged_stepper>);
static_assert(!reckon::stepping_model<reckon::archetypes::sampling_model>);

static_assert(reckon::rollback_model<with_rollback>);
static_assert(!reckon::rollback_model<rollback_not_declared>);
static_assert(!reckon::rollback_model<rollback_declared_only>);
static_assert(!reckon::rollback_model<reckon::archetypes::stepping_model>);
} // namespace

TEST_CASE("the stepping archetype begins, forks and extends in one batch", "[concepts][stepping]") {
  reckon::archetypes::stepping_model m;
  auto a = m.begin(problem{});
  REQUIRE(a);
  auto b = m.fork(*a);
  REQUIRE(b);
  CHECK(*a != *b);
  const std::vector<std::uint32_t> seqs{*a, *b};
  const std::vector<std::uint64_t> seeds{1, 2};
  auto out = m.extend(seqs, step_params{}, seeds);
  REQUIRE(out);
  CHECK(out->steps.size() == 2);
  CHECK(out->steps[0].done);
  CHECK(out->usage.engine_calls == 1);
  const std::vector<std::uint64_t> one_seed{1};
  auto mismatched = m.extend(seqs, step_params{}, one_seed);
  REQUIRE_FALSE(mismatched);
  CHECK(mismatched.error().code == reckon::errc::invalid_argument);
  m.release(*a);
  m.release(*b);
}
