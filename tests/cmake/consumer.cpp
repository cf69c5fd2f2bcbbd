// SPDX-License-Identifier: Apache-2.0
// The program every consumer test builds: includes the umbrella and uses a few of its types.
#include <reckon/reckon.hpp>

#include <fmt/format.h>

int main() {
  reckon::random_stream stream(reckon::stream_key{.seed = 7, .problem = reckon::stable_id("p1")});
  const double u = reckon::uniform01(stream);
  const reckon::result<int> r = reckon::fail(reckon::errc::no_capacity, "demo");
  if (!(u >= 0.0 && u < 1.0) || r.has_value()) return 1;
  fmt::print("reckon {} ok ({})\n", reckon::version_string, r.error());
  return 0;
}
