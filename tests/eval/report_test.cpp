// SPDX-License-Identifier: Apache-2.0
// Tests of the result writers: the JSON row format (public interface), CSV, the table, the SVG plot.
#include <reckon/eval/report.hpp>

#include <support/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

using namespace reckon::eval;

namespace {
std::vector<result_row> rows() {
  result_row a;
  a.strategy = "majority";
  a.budget = 4;
  a.accuracy = 0.5;
  a.ci_low = 0.25;
  a.ci_high = 0.75;
  a.tokens_mean = 1200;
  a.calls_mean = 1;
  a.prm_calls_mean = 0;
  a.problems = 300;
  a.kv_peak_mean = 640;
  a.kv_mean = 412.5;
  result_row b = a;
  b.budget = 1;
  b.tokens_mean = 300;
  b.accuracy = 0.4;
  result_row c = a;
  c.strategy = "best-of-n:<prm>&\"x\"";
  c.accuracy = 0.6;
  return {a, b, c};
}
} // namespace

TEST_CASE("a JSON row has exactly the documented keys, in order", "[eval][report]") {
  auto r = rows()[0];
  CHECK(to_json(r) == "{\"strategy\":\"majority\",\"budget\":4,\"accuracy\":0.5,\"ci95\":[0.25,0.75],"
                      "\"tokens_mean\":1200.0,\"calls_mean\":1.0,\"prm_calls_mean\":0.0,\"problems\":300,"
                      "\"kv_peak_mean\":640.0,\"kv_mean\":412.5}");
  r.budget_is_n = true;
  CHECK(to_json(r).find("\"n\":4,") != std::string::npos);
  r.tokens_mean = std::nan("");
  CHECK(to_json(r).find("\"tokens_mean\":null,") != std::string::npos);
  r.strategy = "bad\xff";
  CHECK(to_json(r).find("\"strategy\":\"bad\xef\xbf\xbd\"") != std::string::npos); // U+FFFD, not a throw
  // And it parses back.
  const auto v = nlohmann::json::parse(to_json(rows()[2]));
  CHECK(v.at("strategy") == "best-of-n:<prm>&\"x\"");
  CHECK(v.at("ci95") == nlohmann::json::array({0.25, 0.75}));
}

TEST_CASE("CSV and table", "[eval][report]") {
  const auto rs = rows();
  const std::string csv = to_csv(rs);
  CHECK(csv.rfind("strategy,budget,accuracy,ci95_low,ci95_high,tokens_mean,calls_mean,prm_calls_mean,problems,answered,errors,"
                  "kv_peak_mean,kv_mean\n",
                  0) == 0);
  CHECK(csv.find("majority,4,0.500000,0.250000,0.750000,1200.000,1.000,0.000,300,0,0,640.000,412.500\n") != std::string::npos);
  CHECK(csv.find("\"best-of-n:<prm>&\"\"x\"\"\"") != std::string::npos);
  const std::string table = to_table(rs);
  CHECK(table.find("accuracy") != std::string::npos);
  CHECK(table.find("[0.250, 0.750]") != std::string::npos);
  // Aligned: every line has the same length.
  std::size_t first = table.find('\n'), pos = first + 1, lines = 1;
  while (pos < table.size()) {
    const std::size_t end = table.find('\n', pos);
    CHECK(end - pos == first);
    pos = end + 1;
    ++lines;
  }
  CHECK(lines == 4);
}

TEST_CASE("the SVG has axes, a legend and one line per strategy, escaped", "[eval][report]") {
  const auto rs = rows();
  const std::string svg = to_svg(rs, plot_params{"Title", "mixed suite", 760, 500});
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(svg.find("</svg>\n") == svg.size() - 7);
  CHECK(svg.find("log scale") != std::string::npos);
  CHECK(svg.find(">accuracy (95% interval)<") != std::string::npos);
  CHECK(svg.find("best-of-n:&lt;prm&gt;&amp;&quot;x&quot;") != std::string::npos);
  std::size_t lines = 0;
  for (std::size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) ++lines;
  CHECK(lines == 2);
  CHECK(svg.find(">1k<") != std::string::npos); // a decade tick label
  CHECK_THROWS_AS(to_svg(std::vector<result_row>{}), reckon::exception);
}
