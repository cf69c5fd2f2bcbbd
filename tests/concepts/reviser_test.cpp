// SPDX-License-Identifier: Apache-2.0
// Conformance tests of reviser.
#include <reckon/concepts/archetypes.hpp>
#include <reckon/concepts/reviser.hpp>

#include <support/catch.hpp>

#include <span>
#include <string>
#include <vector>

namespace {
using reckon::problem;
using reckon::result;
using reckon::revision_request;
using reckon::sample_batch;
using reckon::sampling_params;

struct untagged {
  result<sample_batch> revise(const problem&, std::span<const revision_request>, const sampling_params&);
};
struct without_params {
  using reckon_model_concept = reckon::reviser_tag;
  result<sample_batch> revise(const problem&, std::span<const revision_request>);
};
struct returns_strings {
  using reckon_model_concept = reckon::reviser_tag;
  result<std::vector<std::string>> revise(const problem&, std::span<const revision_request>, const sampling_params&);
};

static_assert(reckon::reviser<reckon::archetypes::reviser>);
static_assert(!reckon::reviser<untagged>);
static_assert(!reckon::reviser<without_params>);
static_assert(!reckon::reviser<returns_strings>);
static_assert(!reckon::reviser<reckon::archetypes::sampling_model>);
} // namespace

TEST_CASE("the reviser archetype returns each candidate joined", "[concepts][reviser]") {
  const std::vector<std::string> steps{"a ", "b"};
  const std::vector<double> feedback{0.9, 0.1};
  const std::vector<revision_request> reqs{{{steps, true, 0}, feedback, false, 7}};
  reckon::archetypes::reviser r;
  auto out = r.revise(problem{}, reqs, sampling_params{});
  REQUIRE(out);
  REQUIRE(out->completions.size() == 1);
  CHECK(out->completions[0].text == "a b");
}
